"""The MuseGAN networks: their framework-free description (`spec`) and the generator,
track-conditional encoder and discriminator (`network`) over TensorFlow layers (`tf_layers`)."""
