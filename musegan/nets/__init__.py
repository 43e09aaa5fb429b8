"""The MuseGAN networks: their framework-free description (`spec`), the generator,
track-conditional encoder and discriminator (`network`) written once over a small layer
interface (`layers`), and its two backends: TensorFlow graph ops (`tf_ops`) and JAX (`jax_ops`)."""
