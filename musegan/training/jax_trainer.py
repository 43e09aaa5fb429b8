"""MuseGAN training in JAX: the networks of musegan.nets.network and the training step of
musegan.training.tf_trainer, for machines with a GPU and JAX but no TensorFlow.

Weights live in a flat dict keyed by the exact TensorFlow variable names
(`Generator/bar/drums/time0/kernel`, ...) with the same shapes and layouts, so a
state moves between the frameworks by name (musegan.weights.states). Every layer is the
same 2-D matrix product over the same row order as musegan.nets.tf_layers, batch norm in
training mode is TF's fused kernel (biased batch variance to normalize, epsilon
1e-3; the moving variance is updated with the Bessel-corrected variance the fused
op returns, momentum 0.99 by assign_sub), Adam is tf.compat.v1's (separate beta
powers for D and G). One jitted call runs one whole iteration: 5 D updates (config
`n_dis_updates_per_gen_update`) and one G update, batches sampled on the device
from the bit-packed training split of TensorFlow training (splits.load_splits).

Usage (no TensorFlow needed; `python3` with jax, numpy, pyyaml):

    python -m musegan.training.jax_trainer EXP_DIR --out STATE_DIR [--init STATE] [--minutes M]
        [--steps N] [--save-every-minutes K] [--data PATH] [--with-adam]
        [--select-every-minutes S] [--select-phrases N] [--ema DECAY]

trains EXP_DIR's model (its params.yaml and config.yaml) from scratch or from
`--init` (a state folder or npz, e.g. from `musegan export-state`), continuing its
global step, until global step N (default: config `steps`; it is also the end of the
learning-rate decay, as for `musegan train --steps`) or M minutes of wall-clock time
from the start (loading and compiling included), and writes the state to STATE_DIR
every K minutes, at the end and on SIGINT/SIGTERM. With S > 0 it also scores the
generator at the start, every S minutes and at the end (`Selector`: the evaluation's
goal metrics on fixed training-split conditions) and keeps the best-scoring state in
STATE_DIR/best. With `--ema DECAY` it also keeps an exponential moving average of G's
weights (state names `ema/<TF name>`), which the selection scores and STATE_DIR/best
holds as its generator. Then, where TensorFlow is:

    musegan import-state EXP_DIR STATE_DIR   # -> EXP_DIR/model/model.ckpt-STEP
    musegan infer EXP_DIR                    # or evaluate, accompany, train (resumes)

A GPU machine run (the repository copied there, the git-ignored data file carried
with it; $OUT is what comes back; paper-sized weights are ~30 MiB in 3 shards of at
most 15 MiB, Adam's moments would triple that):

    set -o pipefail; PYTHONUNBUFFERED=1 python3 -m musegan.training.jax_trainer exp/accompaniment/piano \
        --data data/train_x_rwc_phr.npz --out $OUT/state --minutes 8 --save-every-minutes 2 \
        --select-every-minutes 1 2>&1 | tee $OUT/train_jax.log

Measured on a 2-core CPU (jax 0.7.1): the piano-conditional model at batch 64 runs
0.18 it/s (TF: 0.12) after a 34 s compile.
"""
import argparse
import sys
import time
from collections import deque
from functools import partial
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from musegan.nets import spec
from musegan import metrics
from musegan.metrics.datasets import dataset_metrics
from musegan.metrics.goal import abs_difference, goal_checks, goal_score
from musegan.config import condition_index, load_experiment
from musegan.music.splits import TRANSPOSE_HIGH, TRANSPOSE_LOW, load_splits
from musegan.errors import CheckpointError, MuseganError, TrainingError, UsageError
from musegan.runtime import Stop, duration, exit_if_stopped
from musegan.music.notes import to_notes
from musegan.weights.states import (EMA, STEP, load_generator, load_state, save_generator, save_state,  # noqa: F401 (EMA re-exported)
                           state_step, warm_start_values)

Array = jnp.ndarray
Params = Dict[str, Array]
BN_EPSILON = 1e-3
BN_MOMENTUM = 0.99
ADAM_EPSILON = 1e-8
MOVING = ("/moving_mean", "/moving_variance")
# TF names of the optimizer state (read off the TrainGraph: both AdamOptimizers are built
# in scope "optimizers", D's first, so G's beta powers get the suffix "_1")
ADAM_TF = {"d": ("d_adam", "optimizers/beta1_power", "optimizers/beta2_power"),
           "g": ("g_adam", "optimizers/beta1_power_1", "optimizers/beta2_power_1")}


# ------------------------------------------------------------------------------ ops
# Each mirrors musegan.nets.tf_layers on 2-D `(rows, channels)` arrays, reshape for reshape.

def leaky_relu(x: Array) -> Array:
    return jnp.where(x > 0, x, 0.2 * x)


def binary_straight_through(x: Array) -> Array:
    """ops.binary_straight_through: forward `x > 0` as {-1, 1}, backward identity."""
    return x + jax.lax.stop_gradient(jnp.where(x > 0, 1.0, -1.0) - x)


def dense(x: Array, kernel: Array, bias: Optional[Array] = None) -> Array:
    """`(rows, c_in) @ (c_in, units) [+ bias] -> (rows, units)`."""
    y = x @ kernel
    return y if bias is None else y + bias


def upsample(x: Array, kernel: Array, units: int, bias: Optional[Array] = None) -> Array:
    """Transposed conv, kernel == stride: `(rows, c) @ (c, factor * units) -> (rows * factor, units)`."""
    y = (x @ kernel).reshape(-1, units)
    return y if bias is None else y + bias


def downsample(x: Array, factor: int, kernel: Array, bias: Array) -> Array:
    """Conv, kernel == stride == `factor`: `(rows, c) -> (rows / factor, units)`."""
    return dense(x.reshape(-1, factor * x.shape[-1]), kernel, bias)


def conv_stride2(x: Array, length: int, kernel: Array, bias: Array) -> Array:
    """Conv kernel 4, stride 2, SAME over sequences of `length` rows: `(rows, c) -> (rows / 2, units)`,
    kernel `(2, 2c, units)` (pairs of steps folded into channels, as musegan.nets.tf_layers)."""
    c, units = x.shape[-1], kernel.shape[-1]
    x = jnp.pad(x.reshape(-1, length, c), ((0, 0), (1, 1), (0, 0)))
    pairs = x.reshape(-1, 2 * c)  # (sequences * (length / 2 + 1), 2c)
    both = (pairs @ jnp.concatenate([kernel[0], kernel[1]], axis=1)).reshape(-1, length // 2 + 1, 2 * units)
    y = both[:, :-1, :units] + both[:, 1:, units:]
    return y.reshape(-1, units) + bias


def batch_norm_train(x: Array, gamma: Array, beta: Array,
                     epsilon: float = BN_EPSILON) -> Tuple[Array, Array, Array]:
    """TF fused batch norm, training: `(rows, c)` -> (y, batch mean `(c,)`, batch variance `(c,)`).

    Normalizes with the biased variance; returns the variance with Bessel's
    correction n / (n - 1), as the fused op does (that is what the moving
    average takes). Same arithmetic order as its CPU kernel.
    """
    n = x.shape[0]
    mean = jnp.sum(x, axis=0) * (1.0 / n)
    centered = x - mean
    var = jnp.sum(jnp.square(centered), axis=0) * (1.0 / n)
    y = centered * (lax.rsqrt(var + epsilon) * gamma) + beta
    return y, mean, var * (n / (n - 1) if n > 1 else 1.0)


def batch_norm_inference(x: Array, gamma: Array, beta: Array, mean: Array, var: Array,
                         epsilon: float = BN_EPSILON) -> Array:
    """TF fused batch norm with given (moving) statistics."""
    return (x - mean) * (lax.rsqrt(var + epsilon) * gamma) + beta


# ------------------------------------------------------------------------- variables
# A forward pass asks for each variable as get_variable does: by name, with its shape and
# initializer. `_Lookup` answers from a params dict; `_Recorder` answers zeros and notes
# the request, which (under jax.eval_shape, so nothing is computed) lists the variables.
Init = Tuple[str, float]  # ("truncated_normal", stddev) | ("zeros", 0) | ("ones", 0)


class _Lookup:
    def __init__(self, params: Params):
        self.params = params

    def __call__(self, name: str, shape: Sequence[int], init: Init) -> Array:
        value = self.params[name]
        if tuple(value.shape) != tuple(shape):
            raise ValueError(f"'{name}' has shape {tuple(value.shape)}, the model needs {tuple(shape)}")
        return value


class _Recorder:
    def __init__(self):
        self.specs: Dict[str, Tuple[Tuple[int, ...], Init]] = {}

    def __call__(self, name: str, shape: Sequence[int], init: Init) -> Array:
        self.specs.setdefault(name, (tuple(int(d) for d in shape), init))
        return jnp.zeros(shape, jnp.float32) if init[0] != "ones" else jnp.ones(shape, jnp.float32)


class _Layers:
    """musegan.nets.tf_layers with variables by TF name; collects batch statistics in training mode."""

    def __init__(self, var: Callable, training: bool):
        self.var, self.training = var, training
        self.stats: Dict[str, Tuple[Array, Array]] = {}  # bn scope -> (mean, Bessel-corrected var)

    def _kernel(self, name: str, shape: Sequence[int], fan_in: int) -> Array:
        return self.var(f"{name}/kernel", shape, ("truncated_normal", (1.0 / fan_in) ** 0.5))

    def _bias(self, name: str, units: int) -> Array:
        return self.var(f"{name}/bias", [units], ("zeros", 0.0))

    def dense(self, x: Array, units: int, name: str, use_bias: bool = True) -> Array:
        c_in = x.shape[-1]
        kernel = self._kernel(name, [c_in, units], c_in)
        return dense(x, kernel, self._bias(name, units) if use_bias else None)

    def upsample(self, x: Array, factor: int, units: int, name: str, use_bias: bool = True) -> Array:
        c_in = x.shape[-1]
        kernel = self._kernel(name, [c_in, factor * units], c_in)
        return upsample(x, kernel, units, self._bias(name, units) if use_bias else None)

    def downsample(self, x: Array, factor: int, units: int, name: str) -> Array:
        c_in = factor * x.shape[-1]
        kernel = self._kernel(name, [c_in, units], c_in)
        return downsample(x, factor, kernel, self._bias(name, units))

    def conv_stride2(self, x: Array, length: int, units: int, name: str) -> Array:
        c = x.shape[-1]
        kernel = self._kernel(name, [2, 2 * c, units], 4 * c)
        return conv_stride2(x, length, kernel, self._bias(name, units))

    def batch_norm(self, x: Array, name: str) -> Array:
        c = x.shape[-1]
        beta = self.var(f"{name}/beta", [c], ("zeros", 0.0))
        gamma = self.var(f"{name}/gamma", [c], ("ones", 0.0))
        moving_mean = self.var(f"{name}/moving_mean", [c], ("zeros", 0.0))
        moving_var = self.var(f"{name}/moving_variance", [c], ("ones", 0.0))
        if not self.training:
            return batch_norm_inference(x, gamma, beta, moving_mean, moving_var)
        y, mean, var = batch_norm_train(x, gamma, beta)
        self.stats[name] = (mean, var)
        return y


# -------------------------------------------------------------------------- networks
class MuseGANJax:
    """musegan.nets.network.MuseGAN as pure functions of a params dict keyed by TF variable names."""

    def __init__(self, params: dict):
        self.params = params
        self.design = spec.MODELS[params["multitrack"]]
        self.n_bars, self.n_steps, self.n_pitches, self.n_tracks = params["data_shape"]
        self.condition = condition_index(params)
        self.generated = spec.generated_tracks(params)
        self.names = spec.scope_names(params)
        self.slices = spec.latent_slices(params)
        self.latent_size = spec.latent_size(params)

    # ------------------------------------------------------------------ generator
    def generator(self, var: Callable, z: Array, condition: Optional[Array] = None,
                  training: bool = True) -> Tuple[Array, Dict[str, Tuple[Array, Array]]]:
        """Latent `(batch, latent_size)` [+ condition `(batch, n_bars, n_steps, n_pitches)`] ->
        (phrases `(batch, n_bars, n_steps, n_pitches, n_tracks)` in [-1, 1], batch statistics
        {bn scope: (mean, var)} when `training`). `var` is `_Lookup(params)` or a `_Recorder`."""
        layers = _Layers(var, training)
        shape = (-1, self.n_bars, self.n_steps, self.n_pitches)
        parts = {kind: [z[:, a:b] for a, b in spans] for kind, spans in self.slices.items()}
        shared = []
        if self.design.shared_latent:
            shared = [_per_bar(parts["z"][0], self.n_bars),
                      self._temporal(layers, parts["z_t"][0], "Generator/temporal_shared")]
        features = self._encoder(layers, condition) if self.condition is not None else None
        if self.design.one_generator:
            out = self._bar(layers, jnp.concatenate(shared, -1), features, len(self.generated), "Generator/bar")
            tracks = out.reshape(shape + (len(self.generated),))
        else:
            outs = []
            for k, i in enumerate(self.generated):
                private = [_per_bar(parts["z_i"][k], self.n_bars),
                           self._temporal(layers, parts["z_it"][k], f"Generator/temporal_private/{self.names[i]}")]
                out = self._bar(layers, jnp.concatenate(shared + private, -1), features, 1,
                                f"Generator/bar/{self.names[i]}")
                outs.append(out.reshape(shape))
            tracks = jnp.stack(outs, axis=-1)
        if self.condition is not None:
            c = self.condition
            tracks = jnp.concatenate([tracks[..., :c], condition[..., None], tracks[..., c:]], axis=-1)
        return tracks, layers.stats

    def _encoder(self, layers: _Layers, condition: Array) -> List[Array]:
        """Condition `(batch, n_bars, n_steps, n_pitches)` -> features at each generator
        resolution, finest first, each `(rows, encoder_channels)`."""
        ch = self.params["encoder_channels"]
        scope = "Generator/encoder"
        h = layers.dense(condition.reshape(-1, 12), ch, f"{scope}/pitch_octave")  # rows (batch, bar, step, octave)
        h = layers.batch_norm(leaky_relu(h), f"{scope}/pitch_octave/bn")
        features = [h]
        for name, factor in spec.encoder_layers(self.n_steps, self.n_pitches):
            h = layers.downsample(h, factor, ch, f"{scope}/{name}")
            h = layers.batch_norm(leaky_relu(h), f"{scope}/{name}/bn")
            features.append(h)
        return features

    def _temporal(self, layers: _Layers, z: Array, scope: str) -> Array:
        """G_temp: `(batch, d)` -> one vector per bar, `(batch * n_bars, d)`."""
        d = z.shape[1]
        first, second = spec.temporal_factors(self.n_bars)
        h = layers.upsample(z, first, self.params["generator"]["temporal_channels"], f"{scope}/layer0", use_bias=False)
        h = jax.nn.relu(layers.batch_norm(h, f"{scope}/layer0/bn"))
        h = layers.upsample(h, second, d, f"{scope}/layer1", use_bias=False)
        return jax.nn.relu(layers.batch_norm(h, f"{scope}/layer1/bn"))

    def _bar(self, layers: _Layers, h: Array, features: Optional[List[Array]], n_out: int, scope: str) -> Array:
        """G_bar: `(batch * n_bars, latent)` -> `(batch * n_bars * n_steps * n_pitches, n_out)`,
        with the encoder's features (coarsest first) concatenated at each layer's input."""
        gp = self.params["generator"]
        skips = list(features[::-1]) if features is not None else []

        def with_skip(x):
            return jnp.concatenate([x, skips.pop(0)], -1) if skips else x

        dense_ch = gp["dense_channels"]
        h = layers.dense(h, dense_ch, f"{scope}/dense", use_bias=False).reshape(-1, dense_ch // 2)  # 2 steps/bar
        h = jax.nn.relu(layers.batch_norm(h, f"{scope}/dense/bn"))
        for i, (factor, units) in enumerate(spec.bar_time_layers(self.n_steps, gp)):
            h = layers.upsample(with_skip(h), factor, units, f"{scope}/time{i}", use_bias=False)
            h = jax.nn.relu(layers.batch_norm(h, f"{scope}/time{i}/bn"))
        h = layers.upsample(with_skip(h), self.n_pitches // 12, gp["pitch_channels"], f"{scope}/pitch", use_bias=False)
        h = jax.nn.relu(layers.batch_norm(h, f"{scope}/pitch/bn"))
        h = layers.dense(with_skip(h), 12 * n_out, f"{scope}/pitch_octave")
        out = jnp.tanh(h.reshape(-1, n_out))
        return binary_straight_through(out) if gp["binary_neurons"] else out

    # -------------------------------------------------------------- discriminator
    def group(self, x: Array) -> List[Array]:
        """Phrases -> each discriminator's input `(rows, 12 * channels)`, rows (batch, bar, step, octave)."""
        if self.design.one_discriminator:
            return [x.reshape(-1, 12 * self.n_tracks)]
        groups = []
        for i in self.generated:
            own = [x[..., i]] + ([x[..., self.condition]] if self.condition is not None else [])
            groups.append(jnp.stack(own, -1).reshape(-1, 12 * len(own)))
        return groups

    def score(self, var: Callable, groups: List[Array]) -> Array:
        """Groups -> scores `(n_discriminators, batch)`."""
        layers = _Layers(var, training=False)  # no batch norm in D
        names = spec.discriminator_names(self.params)
        return jnp.stack([self._score(layers, gx, f"Discriminator/{name}") for gx, name in zip(groups, names)])

    def discriminator(self, var: Callable, x: Array) -> Array:
        """Phrases `(batch, n_bars, n_steps, n_pitches, n_tracks)` -> scores `(groups, batch)`."""
        return self.score(var, self.group(x))

    def _score(self, layers: _Layers, gx: Array, scope: str) -> Array:
        dp = self.params["discriminator"]
        channels = gx.shape[-1] // 12
        h = leaky_relu(layers.dense(gx, dp["pitch_channels"][0], f"{scope}/pitch_octave"))
        h = leaky_relu(layers.downsample(h, self.n_pitches // 12, dp["pitch_channels"][1], f"{scope}/pitch"))
        length = self.n_steps  # rows now (batch, bar, step)
        for i, units in enumerate(dp["time_channels"]):
            h = leaky_relu(layers.conv_stride2(h, length, units, f"{scope}/time{i}"))
            length //= 2
        streams = [h.reshape(-1, length * h.shape[-1])]  # rows (batch, bar)
        if dp["use_chroma"]:
            x = (gx.reshape(-1, 4, self.n_steps // 4, self.n_pitches // 12, 12 * channels) + 1.0) / 2.0
            chroma = jnp.sum(x, axis=(2, 3)).reshape(-1, 4 * 12 * channels)
            streams.append(leaky_relu(layers.dense(chroma, 64, f"{scope}/chroma")))
        if dp["use_onset"] or dp["use_rhythm"]:  # model._onsets
            x = (gx.reshape(-1, self.n_steps, self.n_pitches, channels) + 1.0) / 2.0
            previous = jnp.pad(x, ((0, 0), (1, 0), (0, 0), (0, 0)))[:, :-1]
            onset = jnp.sum(jax.nn.relu(x - previous), axis=2)
        if dp["use_onset"]:
            streams.append(leaky_relu(layers.dense(onset.reshape(-1, self.n_steps * channels), 32, f"{scope}/onset")))
        h = leaky_relu(layers.dense(jnp.concatenate(streams, -1), dp["dense_channels"], f"{scope}/bar_dense"))
        h = leaky_relu(layers.downsample(h, 2, dp["phrase_channels"], f"{scope}/phrase"))
        h = h.reshape(-1, (self.n_bars // 2) * dp["phrase_channels"])
        if dp["use_rhythm"]:  # model._rhythm_stream, model.beat_onset_share
            beat = self.n_steps // 4
            hist = jnp.sum(onset.reshape(-1, self.n_bars * 4, beat, channels), axis=1)
            share = hist / (jnp.sum(hist, axis=1, keepdims=True) + 1.0)
            h = jnp.concatenate([h, leaky_relu(layers.dense(share.reshape(-1, beat * channels), 32, f"{scope}/rhythm"))], -1)
        if dp["minibatch_std"]:  # model._minibatch_std
            std = jnp.sqrt(jnp.var(h, 0) + 1e-8)
            h = jnp.concatenate([h, jnp.full((h.shape[0], 1), jnp.mean(std), h.dtype)], -1)
        return layers.dense(h, 1, f"{scope}/score")[:, 0]

    # ------------------------------------------------------------------ variables
    def variable_specs(self) -> Dict[str, Tuple[Tuple[int, ...], Init]]:
        """{TF name: (shape, initializer)} of every G and D variable, in TF's creation order."""
        rec = _Recorder()

        def build(z, condition):
            x, _ = self.generator(rec, z, condition, training=True)
            return self.discriminator(rec, x)

        shape = (2, *self.params["data_shape"][:3])
        cond = jax.ShapeDtypeStruct(shape, jnp.float32) if self.condition is not None else None
        jax.eval_shape(build, jax.ShapeDtypeStruct((2, self.latent_size), jnp.float32), cond)
        return rec.specs


def _per_bar(z: Array, n_bars: int) -> Array:
    """`(batch, d)` -> the same vector for every bar, `(batch * n_bars, d)`."""
    return jnp.broadcast_to(z[:, None, :], (z.shape[0], n_bars, z.shape[1])).reshape(-1, z.shape[1])


def init_variables(specs: Dict[str, Tuple[Tuple[int, ...], Init]], key) -> Params:
    """Fresh values as TF's initializers give them (truncated normal within 2 stddev, zeros, ones)."""
    out = {}
    for i, (name, (shape, (kind, stddev))) in enumerate(specs.items()):
        if kind == "truncated_normal":
            out[name] = stddev * jax.random.truncated_normal(jax.random.fold_in(key, i), -2.0, 2.0, shape, jnp.float32)
        else:
            out[name] = (jnp.ones if kind == "ones" else jnp.zeros)(shape, jnp.float32)
    return out


# ------------------------------------------------------------------------------ data
def unpack_rows(rows: Array, shape: Sequence[int]) -> Array:
    """Packed bytes `(k, n_bytes)` (np.packbits, big bit order) -> 0/1 uint8 `(k, *shape)`."""
    n_bits = int(np.prod(shape))
    bits = (rows[..., None] >> jnp.arange(7, -1, -1, dtype=jnp.uint8)) & jnp.uint8(1)
    return bits.reshape(rows.shape[0], -1)[:, :n_bits].reshape(rows.shape[0], *shape)


def transpose_batch(x: Array, shifts: Array, is_drums: Sequence[bool]) -> Array:
    """Shift each phrase of `(k, n_bars, n_steps, n_pitches, n_tracks)` by `shifts[k]` semitones
    (up when positive); notes shifted out of range are dropped, drum tracks stay (splits.transpose)."""
    n_pitches = x.shape[3]
    source = jnp.arange(n_pitches)[None, :] - shifts[:, None]  # pitch p takes pitch p - shift
    valid = ((source >= 0) & (source < n_pitches)).astype(x.dtype)
    index = jnp.clip(source, 0, n_pitches - 1)[:, None, None, :, None]
    moved = jnp.take_along_axis(x, jnp.broadcast_to(index, x.shape), axis=3) * valid[:, None, None, :, None]
    return jnp.where(jnp.asarray(is_drums, bool), x, moved)


def sample_batch(key, packed: Array, shape: Sequence[int], batch_size: int, is_drums: Sequence[bool],
                 transpose: bool) -> Array:
    """Random phrases (uniform, with replacement, as train.sample_batch) of packed bytes
    `(n, n_bytes)` -> float32 `(batch, *shape)` in {-1, 1}, randomly transposed -5..+6."""
    k_index, k_shift = jax.random.split(key)
    index = jax.random.randint(k_index, (batch_size,), 0, packed.shape[0])
    x = unpack_rows(packed[index], shape).astype(jnp.float32)
    if transpose:
        shifts = jax.random.randint(k_shift, (batch_size,), TRANSPOSE_LOW, TRANSPOSE_HIGH + 1)
        x = transpose_batch(x, shifts, is_drums)
    return x * 2.0 - 1.0


# ---------------------------------------------------------------------------- losses
def _mean(t: Array) -> Array:
    """Mean over the batch, summed over discriminators (each is its own D, so losses add)."""
    return jnp.sum(jnp.mean(t, axis=1))


def d_loss_of(kind: str, d_real: Array, d_fake: Array) -> Array:
    """train.gan_losses' D loss from scores `(groups, batch)`."""
    if kind == "wasserstein-gp":
        return _mean(d_fake) - _mean(d_real)
    if kind == "hinge":
        return _mean(jax.nn.relu(1.0 - d_real)) + _mean(jax.nn.relu(1.0 + d_fake))
    return _mean(jax.nn.softplus(-d_real)) + _mean(jax.nn.softplus(d_fake))


def g_loss_of(kind: str, d_fake: Array) -> Array:
    """train.gan_losses' G loss."""
    if kind in ("wasserstein-gp", "hinge"):
        return -_mean(d_fake)
    if kind == "classic":  # G minimises log(1 - D(G(z)))
        return -_mean(jax.nn.softplus(d_fake))
    return _mean(jax.nn.softplus(-d_fake))  # nonsaturating


def gan_losses(kind: str, d_real: Array, d_fake: Array) -> Tuple[Array, Array]:
    """(d_loss, g_loss), as train.gan_losses."""
    return d_loss_of(kind, d_real, d_fake), g_loss_of(kind, d_fake)


def gradient_penalty(model: MuseGANJax, var: Callable, real: Array, fake: Array, eps: Array) -> Array:
    """Sum over discriminators of mean over examples of (||grad D(x_hat)|| - 1)^2,
    x_hat = eps * real + (1 - eps) * fake with one eps `(batch,)` per example (train.gradient_penalty)."""
    batch = real.shape[0]
    e = eps.reshape(batch, 1, 1, 1, 1)
    groups = model.group(e * real + (1.0 - e) * fake)
    grads = jax.grad(lambda gs: jnp.sum(model.score(var, gs)))(groups)
    penalty = 0.0
    for grad in grads:  # each discriminator sees only its own group
        norm = jnp.sqrt(jnp.sum(jnp.square(grad.reshape(batch, -1)), axis=1) + 1e-12)
        penalty += jnp.mean(jnp.square(norm - 1.0))
    return penalty


def learning_rate(step: Array, config: dict) -> Array:
    """train._learning_rate: constant, then linear decay to 0 from `lr_decay_start` to `steps`."""
    base, start, end = config["learning_rate"], config["lr_decay_start"], config["steps"]
    if start >= end:
        return jnp.float32(base)
    frac = (jnp.float32(end) - step.astype(jnp.float32)) / jnp.float32(end - start)
    return jnp.float32(base) * jnp.clip(frac, 0.0, 1.0)


def adam_init(variables: Params, beta1: float, beta2: float) -> dict:
    """tf.compat.v1 Adam state: zero slots m, v and beta powers starting at beta1, beta2."""
    zeros = jax.tree.map(jnp.zeros_like, variables)
    return {"m": zeros, "v": jax.tree.map(jnp.zeros_like, variables),
            "beta1_power": jnp.float32(beta1), "beta2_power": jnp.float32(beta2)}


def adam_update(variables: Params, grads: Params, slots: dict, lr: Array, beta1: float,
                beta2: float) -> Tuple[Params, dict]:
    """One tf.compat.v1.train.AdamOptimizer step (ResourceApplyAdam, then the beta powers
    multiplied): lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t); m += (g - m)(1 - beta1);
    v += (g^2 - v)(1 - beta2); var -= lr_t m / (sqrt(v) + 1e-8). All in float32, as TF."""
    b1, b2, one = jnp.float32(beta1), jnp.float32(beta2), jnp.float32(1.0)
    alpha = lr * jnp.sqrt(one - slots["beta2_power"]) / (one - slots["beta1_power"])
    m = jax.tree.map(lambda m, g: m + (g - m) * (one - b1), slots["m"], grads)
    v = jax.tree.map(lambda v, g: v + (jnp.square(g) - v) * (one - b2), slots["v"], grads)
    new = jax.tree.map(lambda x, m, v: x - (m * alpha) / (jnp.sqrt(v) + jnp.float32(ADAM_EPSILON)), variables, m, v)
    return new, {"m": m, "v": v, "beta1_power": slots["beta1_power"] * b1, "beta2_power": slots["beta2_power"] * b2}


# --------------------------------------------------------------------------- trainer
class Trainer:
    """train.TrainGraph in JAX. The state is a pytree:
    {"g": trainable G variables, "bn": G moving averages, "d": D variables,
     "g_adam", "d_adam": Adam slots and beta powers, "step": int32 G updates, "key": PRNG key}
    and with `ema` > 0 "ema": an exponential moving average of "g" (decay `ema` per G update),
    the generator a run selects and ships: averaging G's weights smooths its unsure outputs
    (checkpoint averaging lengthened the piano model's notes, its EVALUATION.md)."""

    def __init__(self, params: dict, config: dict, ema: float = 0.0):
        if not 0.0 <= ema < 1.0:
            raise UsageError(f"--ema {ema}: the decay must be in [0, 1) (e.g. 0.999; 0 = off)")
        self.params, self.config, self.ema = params, config, ema
        self.model = MuseGANJax(params)
        self.specs = self.model.variable_specs()
        self.g_names = [n for n in self.specs if n.startswith("Generator/") and not n.endswith(MOVING)]
        # the G variables (and batch-norm scopes) a G update changes: `train_tracks`, as TrainGraph
        self.trained_scopes = spec.trained_generator_scopes(params, config["train_tracks"])
        self.trained_names = [n for n in self.g_names if n.startswith(self.trained_scopes)]
        self.bn_names = [n for n in self.specs if n.endswith(MOVING)]
        self.d_names = [n for n in self.specs if n.startswith("Discriminator/")]
        self.shape = tuple(params["data_shape"])
        self.batch = config["batch_size"]

    # ---------------------------------------------------------------- state
    def init_state(self, key) -> dict:
        """Fresh weights (TF's initializers), fresh Adam, step 0."""
        k_init, k_train = jax.random.split(key)
        values = init_variables(self.specs, k_init)
        b1, b2 = self.config["adam_beta1"], self.config["adam_beta2"]
        g = {n: values[n] for n in self.g_names}
        d = {n: values[n] for n in self.d_names}
        state = {"g": g, "bn": {n: values[n] for n in self.bn_names}, "d": d,
                 "g_adam": adam_init({n: g[n] for n in self.trained_names}, b1, b2), "d_adam": adam_init(d, b1, b2),
                 "step": jnp.int32(0), "key": k_train}
        return self._with_ema(state)

    def _with_ema(self, state: dict, ema: Optional[Params] = None) -> dict:
        """`state` with its "ema" (given, else a copy of G's weights) when EMA is on."""
        if not self.ema:
            return state
        return {**state, "ema": ema if ema is not None else {n: jnp.array(v) for n, v in state["g"].items()}}

    def ema_generator(self, state: dict) -> dict:
        """The state whose generator is the EMA (what selection scores and `best` holds), or
        `state` itself when EMA is off."""
        if "ema" not in state:
            return state
        return {k: v for k, v in state.items() if k != "ema"} | {"g": state["ema"]}

    def warm_start(self, state: dict, weights: Mapping[str, np.ndarray]) -> Tuple[dict, int, int, List[str]]:
        """`state` (fresh) with G and D variables set from another model's `weights` by
        musegan.weights.states.warm_start_values, as `musegan train` does for `init_from`; the EMA
        restarts from the new G. Returns (state, copied, widened, names left fresh)."""
        values, widened, fresh = warm_start_values({n: shape for n, (shape, _) in self.specs.items()}, weights)
        state = dict(state)
        for part in ("g", "bn", "d"):
            state[part] = {n: jnp.asarray(values[n]) if n in values else v for n, v in state[part].items()}
        state.pop("ema", None)
        return self._with_ema(state), len(values), widened, fresh

    def critic_updates(self, state: dict, packed: Array, n: int) -> Tuple[dict, Array]:
        """`n` D-only updates (TrainGraph.d_train, the step unchanged): (state, last d_loss).
        Pure; jit it with `n` static."""
        key, k_iter = jax.random.split(state["key"])
        state, d_loss = lax.fori_loop(0, n, partial(self._d_step, k_iter, packed), (state, jnp.float32(0.0)))
        return {**state, "key": key}, d_loss

    def generator_weights(self, state: dict) -> Dict[str, Array]:
        """{TF name: array} of the generator a user would get: the EMA of G where kept, and the
        batch-norm moving averages (what `musegan export` writes to generator.npz)."""
        state = self.ema_generator(state)
        return {**state["g"], **state["bn"]}

    def n_parameters(self) -> Dict[str, int]:
        """Trainable parameters, as train.TrainGraph.n_params."""
        size = lambda names: int(sum(np.prod(self.specs[n][0]) for n in names))
        return {"generator": size(self.g_names), "discriminator": size(self.d_names)}

    def to_flat(self, state: dict, with_adam: bool = False) -> Dict[str, np.ndarray]:
        """{TF variable name: numpy array} of a state (what musegan.weights.states writes)."""
        state = jax.device_get(state)
        flat = {n: np.asarray(v, np.float32) for part in ("g", "bn", "d") for n, v in state[part].items()}
        flat[STEP] = np.asarray(state["step"], np.int64)
        for n, v in state.get("ema", {}).items():
            flat[EMA + n] = np.asarray(v, np.float32)
        if with_adam:
            for who in ("d", "g"):
                slot, p1, p2 = ADAM_TF[who]
                adam = state[f"{who}_adam"]
                for n in adam["m"]:
                    flat[f"optimizers/{n}/{slot}"] = np.asarray(adam["m"][n], np.float32)
                    flat[f"optimizers/{n}/{slot}_1"] = np.asarray(adam["v"][n], np.float32)
                flat[p1] = np.asarray(adam["beta1_power"], np.float32)
                flat[p2] = np.asarray(adam["beta2_power"], np.float32)
        return flat

    def from_flat(self, flat: Dict[str, np.ndarray], source: str, key) -> Tuple[dict, List[str]]:
        """A state from {TF name: array} (e.g. musegan.weights.states.load_state); every G and D
        variable and `global_step` must be there with its shape. Adam state is optional per
        optimizer (all of its slots and beta powers, or none: Adam restarts). Returns
        (state, notes) with a note for each optimizer that restarts."""
        required = list(self.specs) + [STEP]
        missing = [n for n in required if n not in flat]
        if missing:
            raise CheckpointError(f"{source}: state does not match this experiment's model "
                                  f"({len(missing)} variables are not in it, e.g. '{missing[0]}')")
        for name, (shape, _) in self.specs.items():
            if tuple(flat[name].shape) != shape:
                raise CheckpointError(f"{source}: '{name}' has shape {tuple(flat[name].shape)} in the state, "
                                      f"{shape} in the model; was params.yaml changed?")
        adam_names = {}
        for who, names in (("d", self.d_names), ("g", self.trained_names)):
            slot, p1, p2 = ADAM_TF[who]
            adam_names[who] = ([f"optimizers/{n}/{slot}" for n in names] + [f"optimizers/{n}/{slot}_1" for n in names]
                               + [p1, p2])
        known = set(required) | {n for names in adam_names.values() for n in names} | {EMA + n for n in self.g_names}
        unknown = sorted(set(flat) - known)
        if unknown:
            raise CheckpointError(f"{source}: '{unknown[0]}' ({len(unknown)} names in all) is not a variable "
                                  "of this experiment's model")
        f32 = lambda n: jnp.asarray(flat[n], jnp.float32)
        state = {"g": {n: f32(n) for n in self.g_names}, "bn": {n: f32(n) for n in self.bn_names},
                 "d": {n: f32(n) for n in self.d_names}, "step": jnp.int32(int(flat[STEP])), "key": key}
        notes = []
        ema_present = [n for n in self.g_names if EMA + n in flat]
        if self.ema:
            if len(ema_present) == len(self.g_names):
                state = self._with_ema(state, {n: f32(EMA + n) for n in self.g_names})
            else:
                state = self._with_ema(state)
                notes.append(f"the EMA of G starts from G's weights ({source} has no complete EMA)")
        elif ema_present:
            notes.append(f"{source}'s EMA of G is not used (EMA off): training goes on from its live G")
        for who, names in (("d", self.d_names), ("g", self.trained_names)):
            present = [n for n in adam_names[who] if n in flat]
            slot, p1, p2 = ADAM_TF[who]
            if not present:
                state[f"{who}_adam"] = adam_init({n: state[who][n] for n in names}, self.config["adam_beta1"],
                                                 self.config["adam_beta2"])
                notes.append(f"{who.upper()} Adam restarts (no optimizer state in {source})")
                continue
            if len(present) != len(adam_names[who]):
                absent = next(n for n in adam_names[who] if n not in flat)
                raise CheckpointError(f"{source}: incomplete optimizer state (has {len(present)} of "
                                      f"{len(adam_names[who])} {slot} variables, not '{absent}')")
            for n in names:
                if flat[f"optimizers/{n}/{slot}"].shape != flat[n].shape:
                    raise CheckpointError(f"{source}: 'optimizers/{n}/{slot}' does not have the shape of '{n}'")
            state[f"{who}_adam"] = {"m": {n: f32(f"optimizers/{n}/{slot}") for n in names},
                                    "v": {n: f32(f"optimizers/{n}/{slot}_1") for n in names},
                                    "beta1_power": f32(p1).reshape(()), "beta2_power": f32(p2).reshape(())}
        return state, notes

    # ---------------------------------------------------------------- steps
    def generate(self, g: Params, bn: Params, z: Array, condition: Optional[Array], training: bool = True):
        """(phrases, batch statistics) of the generator with variables `g` and `bn`."""
        return self.model.generator(_Lookup({**g, **bn}), z, condition, training)

    def condition_of(self, real: Optional[Array]) -> Optional[Array]:
        c = self.model.condition
        return None if c is None else real[..., c]

    def d_loss(self, d: Params, real: Array, fake: Array, eps: Array) -> Array:
        """TrainGraph.d_loss of D variables `d` for a real batch and the generator's `fake`
        (both `(batch, *data_shape)`) and gradient-penalty eps `(batch,)`."""
        var = _Lookup(d)
        loss = d_loss_of(self.config["gan_loss"], self.model.discriminator(var, real),
                         self.model.discriminator(var, fake))
        if self.config["gradient_penalty_weight"] > 0:
            loss += self.config["gradient_penalty_weight"] * gradient_penalty(self.model, var, real, fake, eps)
        return loss

    def g_loss(self, g: Params, bn: Params, d: Params, g_real: Optional[Array],
               g_z: Array) -> Tuple[Array, Dict[str, Tuple[Array, Array]]]:
        """(TrainGraph.g_loss, the generator's batch statistics)."""
        fake, stats = self.generate(g, bn, g_z, self.condition_of(g_real))
        return g_loss_of(self.config["gan_loss"], self.model.discriminator(_Lookup(d), fake)), stats

    def d_grads(self, state: dict, real: Array, z: Array, eps: Array) -> Tuple[Array, Params]:
        """(d_loss, its gradients w.r.t. the D variables) of TrainGraph.d_train's run."""
        fake, _ = self.generate(state["g"], state["bn"], z, self.condition_of(real))
        return jax.value_and_grad(self.d_loss)(state["d"], real, fake, eps)

    def d_apply(self, state: dict, grads: Params) -> dict:
        """D's Adam step at the current learning rate (the step counts G updates only)."""
        lr = learning_rate(state["step"], self.config)
        d, slots = adam_update(state["d"], grads, state["d_adam"], lr, self.config["adam_beta1"],
                               self.config["adam_beta2"])
        return {**state, "d": d, "d_adam": slots}

    def d_update(self, state: dict, real: Array, z: Array, eps: Array) -> Tuple[dict, Array]:
        """One run of TrainGraph.d_train: (new state, d_loss before the update)."""
        loss, grads = self.d_grads(state, real, z, eps)
        return self.d_apply(state, grads), loss

    def g_grads(self, state: dict, g_real: Optional[Array], g_z: Array):
        """(g_loss, its gradients w.r.t. the trainable G variables, batch statistics)."""
        (loss, stats), grads = jax.value_and_grad(self.g_loss, has_aux=True)(
            state["g"], state["bn"], state["d"], g_real, g_z)
        return loss, grads, stats

    def g_apply(self, state: dict, grads: Params, stats: Dict[str, Tuple[Array, Array]]) -> dict:
        """G's Adam step, the batch-norm moving averages from the G step's own batch
        statistics, step + 1 (TrainGraph.g_train)."""
        lr = learning_rate(state["step"], self.config)
        trained, slots = adam_update({n: state["g"][n] for n in self.trained_names},
                                     {n: grads[n] for n in self.trained_names}, state["g_adam"], lr,
                                     self.config["adam_beta1"], self.config["adam_beta2"])
        g = {**state["g"], **trained}
        decay = jnp.float32(1.0 - BN_MOMENTUM)
        bn = dict(state["bn"])
        for scope, (mean, var) in stats.items():
            if not scope.startswith(self.trained_scopes):
                continue
            for suffix, value in (("/moving_mean", mean), ("/moving_variance", var)):
                moving = bn[scope + suffix]
                bn[scope + suffix] = moving - decay * (moving - value)  # assign_sub, as ops.batch_norm
        new = {**state, "g": g, "g_adam": slots, "bn": bn, "step": state["step"] + 1}
        if "ema" in state:
            rate = jnp.float32(1.0 - self.ema)
            new["ema"] = {n: e + rate * (g[n] - e) for n, e in state["ema"].items()}
        return new

    def g_update(self, state: dict, g_real: Optional[Array], g_z: Array) -> Tuple[dict, Array]:
        """One run of TrainGraph.g_train: (new state, g_loss before the update)."""
        loss, grads, stats = self.g_grads(state, g_real, g_z)
        return self.g_apply(state, grads, stats), loss

    def sample(self, key, packed: Array) -> Array:
        return sample_batch(key, packed, self.shape, self.batch, self.params["is_drums"],
                            self.config["use_random_transpose"])

    def _d_step(self, k_iter, packed: Array, i, carry: Tuple[dict, Array]) -> Tuple[dict, Array]:
        """The `i`th D update of a loop keyed by `k_iter`: a fresh batch, latents and eps."""
        k_real, k_z, k_eps = jax.random.split(jax.random.fold_in(k_iter, i), 3)
        real = self.sample(k_real, packed)
        z = jax.random.normal(k_z, (self.batch, self.model.latent_size), jnp.float32)
        eps = jax.random.uniform(k_eps, (self.batch,), jnp.float32)
        return self.d_update(carry[0], real, z, eps)

    def iteration(self, state: dict, packed: Array) -> Tuple[dict, Tuple[Array, Array]]:
        """`n_dis_updates_per_gen_update` D updates then one G update, each on fresh batches,
        latents and eps: (state, (last d_loss, g_loss)). Pure; jit it (`compile`)."""
        key, k_iter = jax.random.split(state["key"])
        n_dis = self.config["n_dis_updates_per_gen_update"]
        state, d_loss = lax.fori_loop(0, n_dis, partial(self._d_step, k_iter, packed), (state, jnp.float32(0.0)))
        k_real, k_z = jax.random.split(jax.random.fold_in(k_iter, n_dis))
        g_real = self.sample(k_real, packed) if self.model.condition is not None else None
        g_z = jax.random.normal(k_z, (self.batch, self.model.latent_size), jnp.float32)
        state, g_loss = self.g_update(state, g_real, g_z)
        return {**state, "key": key}, (d_loss, g_loss)

    def compile(self, state: dict, packed: Array):
        """The iteration compiled for these shapes (the state's buffers are donated)."""
        return jax.jit(self.iteration, donate_argnums=0).lower(state, packed).compile()


# ------------------------------------------------------------------------- selection
def selection_rank(goal: Tuple[int, float], gap: Optional[float], data_gap: Optional[float],
                   min_following: float) -> Tuple[bool, int, float]:
    """Ordering key of a scored state, larger = better: first whether it follows the given part
    at least `min_following` times as much as the given phrases' own tracks do (always true at
    0), then more goal metrics met, then the smaller distance sum (metrics.goal.goal_score)."""
    follows = min_following <= 0 or (gap is not None and data_gap is not None and gap >= min_following * data_gap)
    return follows, goal[0], -goal[1]


class Selector:
    """Scores generator states on fixed inputs with the evaluation's goal (metrics.goal.goal_score):
    `n` phrases from fixed latents and, for a conditional model, the condition tracks of `n`
    fixed phrases of `conditions` (the selection split's songs, which the model is not fitted
    to, or else training phrases; never held-out ones: those stay for the report), compared
    with the metrics of the training split. A GAN's samples do not improve monotonically, so a
    run keeps the best state it has seen as well as its last; `min_following` > 0 puts states
    that follow the given part that much (`selection_rank`) before the others."""

    def __init__(self, trainer: "Trainer", train_data, conditions, n: int, seed: int,
                 min_following: float = 0.0):
        self.params = trainer.params
        self.reference = dataset_metrics(train_data, self.params)
        self.min_following = min_following
        rng = np.random.default_rng(seed)
        self.z = jnp.asarray(rng.standard_normal((n, trainer.model.latent_size)), jnp.float32)
        c = self.condition_track = trainer.model.condition
        self.condition = self.data_gap = None
        if c is not None:
            phrases = conditions.unpack(rng.choice(len(conditions), size=n, replace=len(conditions) < n))
            self.condition = jnp.asarray(phrases[..., c], jnp.float32) * 2.0 - 1.0
            self.data_gap = self._following_gap(phrases, metrics.all_metrics(phrases, self.params))
        self._generate = jax.jit(lambda g, bn, z, cond: trainer.generate(g, bn, z, cond, training=False)[0])
        self.best: Optional[Tuple[int, float]] = None
        self.best_rank: Optional[Tuple[bool, int, float]] = None
        self.best_step: Optional[int] = None
        self.last_step: Optional[int] = None

    def _following_gap(self, x: np.ndarray, m: Dict) -> Optional[float]:
        c = self.condition_track
        return metrics.following_gap(metrics.following_of(lambda: [x], x[..., c], c, self.params, own=m))

    def score(self, state: dict) -> Tuple[Tuple[int, float], int, Optional[float], str]:
        """((goal count, distance sum), number of goal metrics, following gap, extras) of a
        state's generator. Outside the goal: the gap (`metrics.following_gap`, None for an
        unconditional model) and, in extras, the on-drums rates when the model has drums."""
        x = to_notes(np.asarray(self._generate(state["g"], state["bn"], self.z, self.condition)), self.params)
        m = metrics.all_metrics(x, self.params)
        difference = abs_difference(m, self.reference)
        met, missed = goal_checks(difference, self.params)
        extras = ""
        if any(self.params["is_drums"]):
            rates = " ".join(f"{name} {v:.1f}" for name, v in m["on_drums"].items() if v is not None)
            extras = f"; on drums % {rates}"
        gap = self._following_gap(x, m) if self.condition_track is not None else None
        return goal_score(difference, self.params), len(met) + len(missed), gap, extras

    def observe(self, state: dict, save_best: Callable[[dict], None]) -> str:
        """Score `state`, hand it to `save_best` when it ranks above every state before it
        (`selection_rank`; the first of equals stays); the log line."""
        t = time.time()
        score, n_metrics, gap, extras = self.score(state)
        step = self.last_step = int(state["step"])
        rank = selection_rank(score, gap, self.data_gap, self.min_following)
        if self.best_rank is None or rank > self.best_rank:
            self.best, self.best_rank, self.best_step = score, rank, step
            save_best(state)
        if self.condition_track is not None:
            fmt = lambda v: "-" if v is None else f"{v:.2f}"
            extras += (f"; following gap {fmt(gap)} (given phrases {fmt(self.data_gap)})"
                       + ("" if rank[0] else ", below --select-min-following"))
        return (f"select step {step}: goal met on {score[0]} of {n_metrics} metrics, distance sum "
                f"{score[1]:.4f}{extras} ({time.time() - t:.1f} s); best: step {self.best_step}")


# ------------------------------------------------------------------------- averaging
class Averager:
    """The mean of the generator a user would get (`Trainer.generator_weights`: the EMA where
    kept) at global steps `start`, `start + every`, ... of a run: checkpoint averaging on the
    fly, so that only the averaged generator leaves the machine. Measured on the CPU (piano
    and drums EVALUATION.md), the mean of EMA checkpoints over a run's second half beat the
    EMA at its end and every single checkpoint on the held-out songs."""

    def __init__(self, trainer: "Trainer", start: int, every: int):
        if start < 0 or every < 1:
            raise UsageError(f"--average-from {start} --average-every {every}: need a step >= 0 and a period >= 1")
        self.trainer, self.start, self.every = trainer, start, every
        self.total: Optional[Dict[str, np.ndarray]] = None
        self.steps: List[int] = []

    def observe(self, state: dict, step: int) -> bool:
        """Add the state's generator when `step` is one of the averaged steps; whether it was."""
        if step < self.start or (step - self.start) % self.every:
            return False
        weights = jax.device_get(self.trainer.generator_weights(state))
        if self.total is None:
            self.total = {n: np.asarray(v, np.float64) for n, v in weights.items()}
        else:
            for n, v in weights.items():
                self.total[n] += v
        self.steps.append(step)
        return True

    def write(self, path: Path) -> Optional[str]:
        """Write the mean as a shipped generator.npz (musegan.weights.states.save_generator); the log
        line, or None when no step was averaged."""
        if not self.steps:
            return None
        n = len(self.steps)
        save_generator(path, {name: (v / n).astype(np.float32) for name, v in self.total.items()})
        return (f"averaged the generator at {n} steps ({self.steps[0]}-{self.steps[-1]}, every {self.every}) "
                f"into {path}")


def warm_start_weights(source: Path) -> Dict[str, np.ndarray]:
    """The weights `init_from` names for a JAX run: the experiment's shipped generator.
    A TensorFlow checkpoint (EXP/model/) is what `musegan train` would start from, and JAX
    cannot read it: refused rather than silently taking the older shipped file."""
    if (source / "model" / "checkpoint").is_file():
        raise UsageError(f"{source}: init_from names an experiment with a TensorFlow checkpoint ({source / 'model'}), "
                         "which JAX cannot read; where TensorFlow is, run `musegan train EXP --steps 0` and "
                         "`musegan export-state EXP STATE`, then --init STATE")
    shipped = source / "pretrained" / "generator.npz"
    if not shipped.is_file():
        raise UsageError(f"{source}: init_from names an experiment without a shipped generator ({shipped})")
    return load_generator(shipped)


# ---------------------------------------------------------------------------- loop
def _critic_warmup(trainer: "Trainer", state: dict, packed: Array, updates: int, stop: Stop, exp_dir: Path,
                   log: Callable[[str], None], chunk: int = 50) -> Optional[dict]:
    """`updates` D-only updates (musegan.training.tf_trainer's critic warm-up: a trained G facing a fresh
    critic would follow gradients that point nowhere), `chunk` per jitted call; the state,
    or None when a signal stopped them (nothing is saved: the warm-up is redone)."""
    log(f"critic warm-up: {updates} discriminator updates before the first generator update "
        "(the warm start left D fresh)")
    run = jax.jit(trainer.critic_updates, static_argnums=2, donate_argnums=0)
    stop.message = Stop.WARMUP
    t0, done, t_log = time.time(), 0, 0.0
    while done < updates:
        if stop.signal is not None:
            return None
        n = min(chunk, updates - done)
        state, d_loss = run(state, packed, n)
        done += n
        d_loss = float(d_loss)
        if not np.isfinite(d_loss):
            raise TrainingError(f"{exp_dir}: loss became NaN/inf in the critic warm-up before update {done} (d {d_loss})")
        now = time.time()
        if now - t_log >= 30.0 or done == updates:
            rate = done / max(now - t0, 1e-9)
            log(f"critic warm-up {done}/{updates}  d_loss {d_loss:9.4f}  {rate:.1f} updates/s  "
                f"ETA {duration((updates - done) / rate)}")
            t_log = now
    stop.message = Stop.SAVING
    return state


def _finite(state: dict) -> bool:
    """All weights finite (one device reduction)."""
    checks = [jnp.all(jnp.isfinite(x)) for part in ("g", "bn", "d", "ema") for x in state.get(part, {}).values()]
    return bool(jnp.all(jnp.stack(checks)))


def train(exp_dir: Path, out: Path, init: Optional[Path] = None, minutes: Optional[float] = None,
          steps: Optional[int] = None, save_every_minutes: float = 10.0, data: Optional[Path] = None,
          with_adam: bool = False, select_every_minutes: float = 0.0, select_phrases: int = 256,
          select_min_following: float = 0.0, ema: Optional[float] = None,
          stop_step: Optional[int] = None, average_from: Optional[int] = None, average_every: int = 200,
          log: Callable[[str], None] = print) -> dict:
    """Train EXP_DIR's model up to global step `steps` (default config) or `minutes`; save to `out`.
    With `select_every_minutes` > 0, also score the generator that often and at the end
    (Selector) and keep the best-scoring state in `out/best`. With `ema` > 0 the generator
    scored and written to `out/best` is the EMA of G's weights (Trainer); `out` keeps both.
    `ema` None: the config's `ema_decay`. A fresh run (no `init`) whose config names
    `init_from` warm-starts from that experiment's shipped generator and, with D left fresh,
    first gives D `critic_warmup_updates` updates, as `musegan train`. `stop_step` ends the
    run at that global step without moving the end of the learning-rate decay (`steps`).
    With `average_from`, the mean generator at every `average_every`th step from that step
    on is written to `out/average/generator.npz` at the end (Averager)."""
    t_start = time.time()
    deadline = t_start + 60.0 * minutes if minutes is not None else float("inf")
    exp_dir, out = Path(exp_dir), Path(out)
    config, params = load_experiment(exp_dir)
    if data is not None:
        config["data"] = str(data)
    if steps is not None:
        config["steps"] = steps
    devices = jax.devices()
    log(f"jax {jax.__version__}, backend {jax.default_backend()}, devices {', '.join(str(d) for d in devices)}")
    train_data, selection_data, _ = load_splits(config, params["data_shape"])
    trainer = Trainer(params, config, config["ema_decay"] if ema is None else ema)
    key = jax.random.fold_in(jax.random.PRNGKey(config["seed"]), 0)
    if init is not None:
        flat = load_state(init)
        step0 = state_step(flat)
        # a fresh random stream per resumed step, so a resumed run does not replay batches
        state, notes = trainer.from_flat(flat, str(init), jax.random.fold_in(key, step0))
        log(f"initialized from {init} at step {step0}" + "".join(f"; {n}" for n in notes))
    else:
        state = trainer.init_state(key)
    warmup = 0
    if init is None and config["init_from"]:
        source = Path(config["init_from"])
        state, copied, widened, fresh = trainer.warm_start(state, warm_start_weights(source))
        log(f"warm start from {source / 'pretrained' / 'generator.npz'}: {copied} variables copied ({widened} "
            f"with new input rows at zero), {len(fresh)} fresh" + (f", e.g. {fresh[0]}" if fresh else ""))
        if any(n.startswith("Discriminator/") for n in fresh):
            warmup = config["critic_warmup_updates"]
    end = config["steps"] if stop_step is None else min(stop_step, config["steps"])
    averager = Averager(trainer, average_from, average_every) if average_from is not None else None
    n = trainer.n_parameters()
    log(f"{exp_dir}: {params['multitrack']} model, condition track {params['condition_track']}, "
        f"G {n['generator']:,} / D {n['discriminator']:,} parameters, {len(train_data):,} training phrases, "
        f"batch {config['batch_size']}; step {int(state['step'])}/{config['steps']}")

    def save(state, losses) -> None:
        if losses is not None and not all(np.isfinite(float(x)) for x in losses):
            raise TrainingError(f"{exp_dir}: loss became NaN/inf (d {float(losses[0])}, g {float(losses[1])}) "
                                f"before step {int(state['step'])}; the last good state is kept in {out}")
        if not _finite(state):
            raise TrainingError(f"{exp_dir}: weights became NaN/inf before step {int(state['step'])}; "
                                f"the last good state is kept in {out}")
        t = time.time()
        paths = save_state(out, trainer.to_flat(state, with_adam))
        log(f"saved step {int(state['step'])} to {out} ({len(paths)} files, "
            f"{sum(p.stat().st_size for p in paths) / 2 ** 20:.1f} MiB, {time.time() - t:.1f} s)")

    selector = None
    if select_every_minutes > 0:
        t = time.time()
        selector = Selector(trainer, train_data, selection_data or train_data, select_phrases, config["seed"],
                            select_min_following)
        given = ""
        if trainer.model.condition is not None:
            given = (f", given the condition tracks of the {len(selection_data):,} selection-split phrases"
                     if selection_data else
                     ", given TRAINING phrases' condition tracks (selection_fraction is 0: the score rewards "
                     "fitting the training songs, which is not the held-out best)")
        log(f"selection: {select_phrases} phrases every {select_every_minutes:g} min{given}"
            + (f", of the EMA of G (decay {trainer.ema:g})" if trainer.ema else "") + ", scored against "
            f"the training split's metrics ({time.time() - t:.1f} s); the best state goes to {out / 'best'}")

    def select(state) -> None:
        log(selector.observe(trainer.ema_generator(state),
                             lambda best: save_state(out / "best", trainer.to_flat(best, with_adam))))

    with Stop() as stop:  # from here a SIGINT/SIGTERM saves the state and stops
        packed = jax.device_put(jnp.asarray(train_data.packed))
        t0 = time.time()
        step_fn = trainer.compile(state, packed)
        log(f"compiled one iteration ({config['n_dis_updates_per_gen_update']} D + 1 G updates) "
            f"in {time.time() - t0:.1f} s")
        step = first_step = int(state["step"])
        if warmup:
            state = _critic_warmup(trainer, state, packed, warmup, stop, exp_dir, log)
        if state is None:
            log(f"stopped by {stop.signal} during the critic warm-up; nothing saved, the same command starts over")
            return {"step": step, "iterations": 0, "seconds": 0.0, "stopped_by": stop.signal}
        losses = None
        if selector is not None:  # training may make it worse: the starting state is a candidate too
            select(state)
        pending = deque()
        t_loop = t_log = t_save = t_select = time.time()
        step_log = step
        while step < end and stop.signal is None and time.time() < deadline:
            state, losses = step_fn(state, packed)
            step += 1
            if averager is not None:
                averager.observe(state, step)
            pending.append(losses[1])
            if len(pending) > 2:  # keep the device queue short so the clock checks mean something
                pending.popleft().block_until_ready()
            now = time.time()
            if now - t_log >= 30.0 or step == first_step + 1:
                d_loss, g_loss = (float(x) for x in losses)
                now = time.time()
                rate = (step - step_log) / max(now - t_log, 1e-9)
                eta = min((end - step) / rate if rate > 0 else float("inf"), deadline - now)
                log(f"step {step}/{end}  d_loss {d_loss:9.4f}  g_loss {g_loss:9.4f}  "
                    f"{rate:.2f} it/s  ETA {duration(eta)}")
                if not (np.isfinite(d_loss) and np.isfinite(g_loss)):
                    raise TrainingError(f"{exp_dir}: loss became NaN/inf at step {step} (d {d_loss}, g {g_loss}); "
                                        f"the last good state is kept in {out}")
                t_log, step_log = now, step
            if save_every_minutes > 0 and now - t_save >= 60.0 * save_every_minutes:
                save(state, losses)
                t_save = time.time()
            if selector is not None and now - t_select >= 60.0 * select_every_minutes:
                select(state)
                t_select = time.time()
        jax.block_until_ready(state)
        wall = time.time() - t_loop
        save(state, losses)
        if averager is not None:
            log(averager.write(out / "average" / "generator.npz")
                or f"nothing averaged: no step from {average_from} every {average_every} was reached")
        if selector is not None and selector.last_step != step:
            select(state)
    done = step - first_step
    log(f"{done} iterations in {wall:.1f} s ({done / max(wall, 1e-9):.2f} it/s); step {step}"
        + (f"; stopped by {stop.signal}" if stop.signal else ""))
    result = {"step": step, "iterations": done, "seconds": wall, "stopped_by": stop.signal}
    if losses is not None:
        result.update(d_loss=float(losses[0]), g_loss=float(losses[1]))
    if selector is not None:
        result.update(best_step=selector.best_step, best_score=selector.best)
    return result


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m musegan.training.jax_trainer",
                                description="Train an experiment's MuseGAN in JAX; states are keyed by TF names.")
    p.add_argument("exp_dir", type=Path, help="experiment folder (params.yaml, config.yaml)")
    p.add_argument("--out", type=Path, required=True, help="folder for the state files state-NN.npz")
    p.add_argument("--init", type=Path, default=None, help="state folder or npz to start from (its step continues)")
    p.add_argument("--minutes", type=float, default=None, help="wall-clock budget from start, compile included")
    p.add_argument("--steps", type=int, default=None, help="target global step (overrides config 'steps')")
    p.add_argument("--save-every-minutes", type=float, default=10.0, help="0: save only at the end")
    p.add_argument("--data", type=Path, default=None, help="override config 'data'")
    p.add_argument("--with-adam", action="store_true", help="also write the Adam moments (3x the size)")
    p.add_argument("--select-every-minutes", type=float, default=0.0,
                   help="score the generator this often (goal metrics, given fixed phrases of the "
                        "selection split, else of the training split) and keep the best state in "
                        "OUT/best; 0: off")
    p.add_argument("--select-phrases", type=int, default=256, help="phrases generated per score")
    p.add_argument("--ema", type=float, default=None,
                   help="keep an exponential moving average of G's weights with this decay per step "
                        "(e.g. 0.999); selection scores it and OUT/best holds it as the generator; "
                        "0: off; default: the config's ema_decay")
    p.add_argument("--select-min-following", type=float, default=0.0,
                   help="conditional models: rank first the states whose following gap is at least this "
                        "times the given phrases' own (e.g. 0.5; 0 = the goal alone)")
    p.add_argument("--stop-step", type=int, default=None,
                   help="stop at this global step; unlike --steps the learning-rate decay still ends at "
                        "config 'steps' (a short run on the schedule of a long one)")
    p.add_argument("--average-from", type=int, default=None,
                   help="average the generator (its EMA where kept) at this global step and every "
                        "--average-every steps after it; written at the end to OUT/average/generator.npz "
                        "(a run resumed with --init starts a new average)")
    p.add_argument("--average-every", type=int, default=200, help="steps between averaged generators")
    return p


def main(argv=None) -> None:
    args = _parser().parse_args(argv)
    try:
        result = train(args.exp_dir, args.out, init=args.init, minutes=args.minutes, steps=args.steps,
                       save_every_minutes=args.save_every_minutes, data=args.data, with_adam=args.with_adam,
                       select_every_minutes=args.select_every_minutes, select_phrases=args.select_phrases,
                       select_min_following=args.select_min_following, ema=args.ema,
                       stop_step=args.stop_step, average_from=args.average_from,
                       average_every=args.average_every, log=lambda line: print(line, flush=True))
    except MuseganError as e:
        print(f"musegan train_jax: error: {e}", file=sys.stderr, flush=True)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        print("musegan train_jax: interrupted", file=sys.stderr, flush=True)
        sys.exit(130)
    exit_if_stopped(result["stopped_by"])


if __name__ == "__main__":
    main()
