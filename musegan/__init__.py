"""MuseGAN: multi-track sequential GANs for symbolic music generation and accompaniment.

A reimplementation of Dong et al., AAAI 2018, as tf.compat.v1 graph builders.
Arrays follow one shape convention: `(n, n_bars, n_steps, n_pitches, n_tracks)`.
"""

import os

# TensorFlow leaves oneDNN off on CPUs it does not recognise (some AMD CPUs among
# them); with it a training iteration runs faster (compare with bench/train.py).
# Set here because the variable is read once, when TensorFlow is first imported.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

__version__ = "2.0.0"
