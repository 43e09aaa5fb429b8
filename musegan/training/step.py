"""One training step's computation, written once over `musegan.nets.layers.Ops`: the random
batches, the D and G losses, and the updates of the batch-norm moving averages and of G's EMA.

What differs between the backends stays with them (musegan.training.tf_backend,
musegan.training.jax_backend): how a random number is drawn (`Draw`), how gradients are
applied (tf.compat.v1's Adam, or its JAX twin) and how state is kept.

The whole training set lives on the device as bit-packed bytes `(n, n_bytes)`
(musegan.music.data.PackedPhrases); batches are sampled, unpacked and transposed there, so
a step costs no Python work and no host-to-device copies.
"""
from typing import Dict, Optional, Protocol, Sequence, Tuple

import numpy as np

from musegan.music.splits import TRANSPOSE_HIGH, TRANSPOSE_LOW
from musegan.nets.layers import BN_MOMENTUM, Array, Ops
from musegan.nets.network import MuseGAN
from musegan.training.losses import gan_losses, gradient_penalty

__all__ = ["Draw", "sample_phrases", "transpose_pitches", "d_inputs", "g_inputs", "d_loss", "g_loss",
           "moving_average_steps", "ema_step"]


class Draw(Protocol):
    """Random numbers, one call per draw (TensorFlow: random ops of the graph's seed; JAX: a
    key split per call)."""

    def integers(self, shape: Sequence[int], low: int, high: int) -> Array:
        """int32 uniform in [low, high)."""

    def normal(self, shape: Sequence[int]) -> Array:
        """float32 standard normal."""

    def uniform(self, shape: Sequence[int]) -> Array:
        """float32 uniform in [0, 1)."""


def sample_phrases(ops: Ops, draw: Draw, packed: Array, shape: Sequence[int], batch: int,
                   is_drums: Sequence[bool], transpose: bool) -> Array:
    """`batch` phrases drawn uniformly with replacement from packed bytes `(n, n_bytes)` ->
    float32 `(batch, *shape)` in {-1, 1}; with `transpose`, each phrase's non-drum tracks
    shifted by its own random -5..+6 semitones."""
    index = draw.integers([batch], 0, packed.shape[0])
    # bytes until the end: a byte pass costs a quarter of a float32 pass over the batch
    signs = ops.unpack_signs(ops.gather_rows(packed, index))
    x = ops.reshape(signs[:, :int(np.prod(shape))], [batch, *shape])
    if transpose:
        x = transpose_pitches(ops, x, draw.integers([batch], TRANSPOSE_LOW, TRANSPOSE_HIGH + 1), is_drums)
    return ops.to_float(x)


def transpose_pitches(ops: Ops, x: Array, shifts: Array, is_drums: Sequence[bool]) -> Array:
    """Each phrase of +-1 `(k, n_bars, n_steps, n_pitches, n_tracks)` shifted by `shifts[k]`
    semitones (up when positive); notes shifted out of range are dropped, drum tracks stay
    (musegan.music.splits.transpose)."""
    n_pitches = x.shape[3]
    pitch = ops.arange(n_pitches)[None, None, :]
    moved = pitch - shifts[:, None, None]  # pitch p takes pitch p - shift
    source = ops.where(np.asarray(is_drums, bool)[None, :, None], pitch, moved)  # (k, track, pitch)
    return ops.gather_pitches(x, ops.where((source >= 0) & (source < n_pitches), source, n_pitches))


def d_inputs(model: MuseGAN, draw: Draw, config: dict, packed: Array) -> Tuple[Array, Array, Array]:
    """A D update's random inputs: (real phrases, latents `(batch, latent_size)`, the gradient
    penalty's eps `(batch,)`)."""
    batch = config["batch_size"]
    real = sample_phrases(model.ops, draw, packed, model.params["data_shape"], batch, model.params["is_drums"],
                          config["use_random_transpose"])
    return real, draw.normal([batch, model.latent_size]), draw.uniform([batch])


def g_inputs(model: MuseGAN, draw: Draw, config: dict, packed: Array) -> Tuple[Optional[Array], Array]:
    """A G update's random inputs: (real phrases for their condition tracks, or None for a
    model from scratch; latents). Fresh ones, not the D update's."""
    batch = config["batch_size"]
    real = None
    if model.condition is not None:
        real = sample_phrases(model.ops, draw, packed, model.params["data_shape"], batch, model.params["is_drums"],
                              config["use_random_transpose"])
    return real, draw.normal([batch, model.latent_size])


def _condition(model: MuseGAN, real: Optional[Array]) -> Optional[Array]:
    return None if model.condition is None else real[..., model.condition]


def d_loss(model: MuseGAN, config: dict, real: Array, z: Array, eps: Array) -> Array:
    """D's loss: the GAN loss of `real` against the generator's phrases for `z` (conditions from
    `real`), plus the weighted gradient penalty."""
    fake = model.generator(z, _condition(model, real), training=True)
    loss, _ = gan_losses(model.ops, config["gan_loss"], model.discriminator(real), model.discriminator(fake))
    if config["gradient_penalty_weight"] > 0:
        loss += config["gradient_penalty_weight"] * gradient_penalty(model, real, fake, eps)
    return loss


def g_loss(model: MuseGAN, config: dict, real: Optional[Array], z: Array, parts: int = 1) -> Array:
    """G's loss for latents `z` (conditions from `real`); the generator's batch statistics are
    left in `model.ops.batch_stats` for `moving_average_steps`. D scores the batch in `parts`
    (`MuseGAN.discriminator`)."""
    fake = model.generator(z, _condition(model, real), training=True)
    _, loss = gan_losses(model.ops, config["gan_loss"], None, model.discriminator(fake, parts))
    return loss


def moving_average_steps(ops: Ops, scopes: Tuple[str, ...]) -> Dict[str, Array]:
    """{moving-average variable name: how much it decreases} for the batch-norm layers under
    `scopes` that the last generator pass through `ops` ran in training mode (`ops.batch_stats`):
    (1 - momentum) (moving - batch statistic).

    They follow the G update's own batch: a frozen part (`train_tracks`) keeps its moving
    averages too, so its output stays exactly as it was.
    """
    steps = {}
    for scope, (mean, variance) in ops.batch_stats.items():
        if scope.startswith(scopes):
            for suffix, value in (("moving_mean", mean), ("moving_variance", variance)):
                name = f"{scope}/{suffix}"
                steps[name] = (1.0 - BN_MOMENTUM) * (ops.variables[name] - value)
    return steps


def ema_step(ema: Array, weight: Array, decay: float) -> Array:
    """How much the exponential moving average of a G weight grows in one step:
    (1 - decay) (weight - ema)."""
    return (1.0 - decay) * (weight - ema)
