"""MuseGAN: multi-track sequential GANs for symbolic music generation and accompaniment.

A reimplementation of Dong et al., AAAI 2018, as tf.compat.v1 graph builders.
Arrays follow one shape convention: `(n, n_bars, n_steps, n_pitches, n_tracks)`.
"""

__version__ = "2.0.0"
