"""Training: the WGAN-GP step and loop in TensorFlow (`tf_trainer`) and JAX (`jax_trainer`), and
moving training states between them (`transfer`)."""
