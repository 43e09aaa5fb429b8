"""Training: one loop (`loop`, `musegan train`) over one step (`step`, `losses`) with two backends,
TensorFlow (`tf_backend`) and JAX (`jax_backend`, `jax_state`); what a run measures and keeps
besides checkpoints (`evaluation`); moving training states between the backends (`transfer`)."""
