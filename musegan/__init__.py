"""MuseGAN: multi-track sequential GANs for symbolic music generation and accompaniment.

A reimplementation of Dong et al., AAAI 2018, as tf.compat.v1 graph builders.
Arrays follow one shape convention: `(n, n_bars, n_steps, n_pitches, n_tracks)`.
"""

import os

# TensorFlow leaves oneDNN off on CPUs it does not recognise (some AMD CPUs among
# them); with it a training iteration runs faster (compare with bench/train.py).
# Set here because the variable is read once, when TensorFlow is first imported.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
# MuseGAN's graphs use no Keras, yet `import tensorflow` loads all of Keras 3 (and what it
# pulls in) eagerly: 1.5 s of every command's start. With this TensorFlow tries the legacy
# `tf_keras` package instead, which is not installed, and skips it. Set TF_USE_LEGACY_KERAS=0
# before importing musegan to have `tf.keras` in the same process.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

__version__ = "2.0.0"
