"""MuseGAN generator, track-conditional encoder and discriminator as tf.compat.v1 graph builders.

Shapes: phrases are `(batch, n_bars, n_steps, n_pitches, n_tracks)` in [-1, 1];
the latent input is one vector per phrase, `(batch, latent_size)`, holding the
four kinds of latent of the paper side by side (see `latent_layout`). Inside,
every network runs on 2-D tensors `(rows, channels)` (musegan.nets.tf_layers), and each
track of a per-track model has its own 2-D network (separate matmuls). What
layers exist, and their factors and widths, comes from musegan.nets.spec, shared
with the JAX port (musegan.training.jax_trainer).
"""
from typing import Dict, List, Optional

import numpy as np
import tensorflow as tf

from musegan.nets import tf_layers
from musegan.config import condition_index
from musegan.nets.spec import (MODELS, bar_time_layers, discriminator_names, encoder_layers, generated_tracks,
                            latent_layout, latent_size, latent_slices, scope_names, temporal_factors)

v1 = tf.compat.v1


class MuseGAN:
    """Builds generator and discriminator subgraphs for one `params` dict.

    Call `generator` and `discriminator` any number of times: variables live in
    the scopes `Generator` and `Discriminator` and are shared between calls.
    """

    def __init__(self, params: dict):
        self.params = params
        self.design = MODELS[params["multitrack"]]
        self.n_bars, self.n_steps, self.n_pitches, self.n_tracks = params["data_shape"]
        self.condition = condition_index(params)
        self.generated = generated_tracks(params)
        self.names = scope_names(params)
        self.layout = latent_layout(params)

    # ------------------------------------------------------------------ latent
    @property
    def latent_size(self) -> int:
        return latent_size(self.params)

    def split_latent(self, z: tf.Tensor) -> Dict[str, List[tf.Tensor]]:
        """`(batch, latent_size)` -> {kind: [(batch, size)] * count}, kinds in `latent_layout` order."""
        return {kind: [z[:, a:b] for a, b in spans] for kind, spans in latent_slices(self.params).items()}

    # --------------------------------------------------------------- generator
    def generator(self, z: tf.Tensor, condition: Optional[tf.Tensor] = None,
                  training: bool = True) -> tf.Tensor:
        """Latent `(batch, latent_size)` [+ condition track `(batch, n_bars, n_steps, n_pitches)`]
        -> phrases `(batch, n_bars, n_steps, n_pitches, n_tracks)` in [-1, 1].

        For a track-conditional model the condition passes through unchanged
        into its own track of the output.
        """
        gp = self.params["generator"]
        shape = [-1, self.n_bars, self.n_steps, self.n_pitches]
        with v1.variable_scope("Generator", reuse=v1.AUTO_REUSE):
            parts = self.split_latent(z)
            shared = []
            if self.design.shared_latent:
                shared = [_per_bar(parts["z"][0], self.n_bars),
                          _temporal_generator(parts["z_t"][0], self.n_bars, gp["temporal_channels"],
                                              "temporal_shared", training)]
            features = self.encoder(condition, training) if self.condition is not None else None
            if self.design.one_generator:
                out = _bar_generator(tf.concat(shared, -1), features, self.n_steps, self.n_pitches,
                                     len(self.generated), gp, training, "bar")
                tracks = tf.reshape(out, shape + [len(self.generated)])
            else:
                outs = []
                for k, i in enumerate(self.generated):
                    private = [_per_bar(parts["z_i"][k], self.n_bars),
                               _temporal_generator(parts["z_it"][k], self.n_bars, gp["temporal_channels"],
                                                   f"temporal_private/{self.names[i]}", training)]
                    out = _bar_generator(tf.concat(shared + private, -1), features, self.n_steps,
                                         self.n_pitches, 1, gp, training, f"bar/{self.names[i]}")
                    outs.append(tf.reshape(out, shape))
                tracks = tf.stack(outs, axis=-1)
            if self.condition is None:
                return tracks
            c = self.condition
            return tf.concat([tracks[..., :c], condition[..., None], tracks[..., c:]], axis=-1)

    def encoder(self, condition: tf.Tensor, training: bool) -> List[tf.Tensor]:
        """Track-conditional encoder E: the bar generator's layers in reverse.

        `(batch, n_bars, n_steps, n_pitches)` -> features at each generator
        resolution, finest first, each `(rows, encoder_channels)`.
        """
        ch = self.params["encoder_channels"]
        with v1.variable_scope("encoder"):
            h = tf_layers.dense(tf.reshape(condition, [-1, 12]), ch, "pitch_octave")  # rows (batch, bar, step, octave)
            h = tf_layers.batch_norm(tf_layers.leaky_relu(h), training, "pitch_octave/bn")
            features = [h]
            for name, factor in encoder_layers(self.n_steps, self.n_pitches):
                h = tf_layers.downsample(h, factor, ch, name)
                h = tf_layers.batch_norm(tf_layers.leaky_relu(h), training, name + "/bn")
                features.append(h)
            return features

    # ----------------------------------------------------------- discriminator
    def discriminator(self, x: tf.Tensor) -> tf.Tensor:
        """Phrases `(batch, n_bars, n_steps, n_pitches, n_tracks)` -> scores `(groups, batch)`.

        One discriminator over all tracks, or (jamming) one per generated track,
        each seeing its track and, if any, the condition track.
        """
        return self.score(self.group(x))

    def group(self, x: tf.Tensor) -> List[tf.Tensor]:
        """Phrases -> each discriminator's input `(rows, 12 * channels)`, rows ordered
        (batch, bar, step, octave). The gradient penalty is taken here."""
        if self.design.one_discriminator:
            return [tf.reshape(x, [-1, 12 * self.n_tracks])]
        groups = []
        for i in self.generated:
            own = [x[..., i]] + ([x[..., self.condition]] if self.condition is not None else [])
            groups.append(tf.reshape(tf.stack(own, -1), [-1, 12 * len(own)]))
        return groups

    def score(self, groups: List[tf.Tensor]) -> tf.Tensor:
        names = discriminator_names(self.params)
        with v1.variable_scope("Discriminator", reuse=v1.AUTO_REUSE):
            return tf.stack([self._score(gx, name) for gx, name in zip(groups, names)])

    def _score(self, gx: tf.Tensor, name: str) -> tf.Tensor:
        """One discriminator: `(rows, 12 * channels)` -> `(batch,)`.

        Bar level: pitch 84 -> 7 -> 1, then time halved per layer, dense;
        phrase level: pairs of bars, then one score.
        """
        dp = self.params["discriminator"]
        channels = gx.shape[-1] // 12
        with v1.variable_scope(name):
            h = tf_layers.leaky_relu(tf_layers.dense(gx, dp["pitch_channels"][0], "pitch_octave"))
            h = tf_layers.leaky_relu(tf_layers.downsample(h, self.n_pitches // 12, dp["pitch_channels"][1], "pitch"))
            length = self.n_steps  # rows now (batch, bar, step)
            for i, units in enumerate(dp["time_channels"]):
                h = tf_layers.leaky_relu(tf_layers.conv_stride2(h, length, units, f"time{i}"))
                length //= 2
            streams = [tf.reshape(h, [-1, length * h.shape[-1]])]  # rows (batch, bar)
            if dp["use_chroma"]:
                streams.append(self._chroma_stream(gx, channels))
            onset = self._onsets(gx, channels) if dp["use_onset"] or dp["use_rhythm"] else None
            if dp["use_onset"]:
                streams.append(self._onset_stream(onset))
            h = tf_layers.leaky_relu(tf_layers.dense(tf.concat(streams, -1), dp["dense_channels"], "bar_dense"))
            h = tf_layers.leaky_relu(tf_layers.downsample(h, 2, dp["phrase_channels"], "phrase"))
            h = tf.reshape(h, [-1, (self.n_bars // 2) * dp["phrase_channels"]])
            if dp["use_rhythm"]:
                h = tf.concat([h, self._rhythm_stream(onset)], -1)
            if dp["minibatch_std"]:
                h = tf.concat([h, _minibatch_std(h)], -1)
            return tf_layers.dense(h, 1, "score")[:, 0]

    def _chroma_stream(self, gx: tf.Tensor, channels: int) -> tf.Tensor:
        """Pitch classes per beat, `(rows=(batch, bar), 64)`."""
        x = (tf.reshape(gx, [-1, 4, self.n_steps // 4, self.n_pitches // 12, 12 * channels]) + 1.0) / 2.0
        chroma = tf.reshape(tf.reduce_sum(x, axis=[2, 3]), [-1, 4 * 12 * channels])
        return tf_layers.leaky_relu(tf_layers.dense(chroma, 64, "chroma"))

    def _onsets(self, gx: tf.Tensor, channels: int) -> tf.Tensor:
        """Note onsets per step summed over pitch, `(batch * n_bars, n_steps, channels)`."""
        x = (tf.reshape(gx, [-1, self.n_steps, self.n_pitches, channels]) + 1.0) / 2.0
        previous = tf.pad(x, [[0, 0], [1, 0], [0, 0], [0, 0]])[:, :-1]
        return tf.reduce_sum(tf.nn.relu(x - previous), axis=2)

    def _onset_stream(self, onset: tf.Tensor) -> tf.Tensor:
        """`_onsets` -> `(rows=(batch, bar), 32)`."""
        return tf_layers.leaky_relu(tf_layers.dense(tf.reshape(onset, [-1, self.n_steps * onset.shape[-1]]), 32, "onset"))

    def _rhythm_stream(self, onset: tf.Tensor) -> tf.Tensor:
        """`_onsets` -> each track's share of its phrase's onsets at each step of the beat, `(batch, 32)`.

        Swing lives in where within the beat the onsets fall, pooled over the phrase:
        seen side by side for all tracks, drums on the straight grid under a swung
        piano stand out (the other streams see one bar at a time).
        """
        beat = self.n_steps // 4
        share = beat_onset_share(onset, self.n_bars, beat)
        return tf_layers.leaky_relu(tf_layers.dense(tf.reshape(share, [-1, beat * onset.shape[-1]]), 32, "rhythm"))

    # --------------------------------------------------------------- variables
    @staticmethod
    def variables(scope: str) -> List[tf.Variable]:
        """All variables (trainable and moving averages) under `scope`."""
        return v1.get_collection(v1.GraphKeys.GLOBAL_VARIABLES, scope=scope + "/")


def beat_onset_share(onset: tf.Tensor, n_bars: int, beat: int) -> tf.Tensor:
    """Onsets `(batch * n_bars, n_steps, channels)` -> each channel's share of its phrase's
    onsets at each step of the beat, `(batch, beat, channels)` (4 beats per bar).

    The +1 in the denominator keeps a silent track's shares at 0 and their gradient bounded.
    """
    channels = onset.shape[-1]
    hist = tf.reduce_sum(tf.reshape(onset, [-1, n_bars * 4, beat, channels]), axis=1)
    return hist / (tf.reduce_sum(hist, axis=1, keepdims=True) + 1.0)


def _minibatch_std(h: tf.Tensor) -> tf.Tensor:
    """`(batch, features)` -> `(batch, 1)`: the features' standard deviation over the batch,
    averaged, the same for every example (ProGAN's minibatch standard deviation)."""
    std = tf.sqrt(tf.math.reduce_variance(h, 0) + 1e-8)
    return tf.tile(tf.reshape(tf.reduce_mean(std), [1, 1]), [tf.shape(h)[0], 1])


def _per_bar(z: tf.Tensor, n_bars: int) -> tf.Tensor:
    """`(batch, d)` -> the same vector for every bar, `(batch * n_bars, d)`."""
    return tf.reshape(tf.tile(z[:, None, :], [1, n_bars, 1]), [-1, z.shape[1]])


def _temporal_generator(z: tf.Tensor, n_bars: int, channels: int, name: str,
                        training: bool) -> tf.Tensor:
    """G_temp: `(batch, d)` -> one vector per bar, `(batch * n_bars, d)`.

    vector -> (2 steps, `channels`) -> (n_bars steps, d), BN + ReLU, as transposed
    convolutions over time whose kernel equals their stride.
    """
    d = z.shape[1]
    first, second = temporal_factors(n_bars)
    with v1.variable_scope(name):
        h = tf_layers.upsample(z, first, channels, "layer0", use_bias=False)
        h = tf.nn.relu(tf_layers.batch_norm(h, training, "layer0/bn"))
        h = tf_layers.upsample(h, second, d, "layer1", use_bias=False)
        return tf.nn.relu(tf_layers.batch_norm(h, training, "layer1/bn"))


def _bar_generator(h: tf.Tensor, features: Optional[List[tf.Tensor]], n_steps: int, n_pitches: int,
                   n_out: int, gp: dict, training: bool, name: str) -> tf.Tensor:
    """G_bar: `(batch * n_bars, latent)` -> bars `(batch * n_bars * n_steps * n_pitches, n_out)`.

    Grows time first (2 -> 4 -> ... -> n_steps) then pitch (1 -> n_pitches/12 -> n_pitches),
    BN + ReLU on every layer but the last (tanh). With `features` (encoder
    outputs, finest first) each layer also sees the encoder's output at its
    input resolution (U-Net skips).
    """
    skips = list(features[::-1]) if features is not None else []

    def with_skip(x):
        return tf.concat([x, skips.pop(0)], -1) if skips else x

    with v1.variable_scope(name):
        dense = gp["dense_channels"]
        h = tf.reshape(tf_layers.dense(h, dense, "dense", use_bias=False), [-1, dense // 2])  # 2 steps per bar
        h = tf.nn.relu(tf_layers.batch_norm(h, training, "dense/bn"))
        for i, (factor, units) in enumerate(bar_time_layers(n_steps, gp)):
            h = tf_layers.upsample(with_skip(h), factor, units, f"time{i}", use_bias=False)
            h = tf.nn.relu(tf_layers.batch_norm(h, training, f"time{i}/bn"))
        h = tf_layers.upsample(with_skip(h), n_pitches // 12, gp["pitch_channels"], "pitch", use_bias=False)
        h = tf.nn.relu(tf_layers.batch_norm(h, training, "pitch/bn"))
        h = tf_layers.dense(with_skip(h), 12 * n_out, "pitch_octave")
        out = tf.tanh(tf.reshape(h, [-1, n_out]))
        return tf_layers.binary_straight_through(out) if gp["binary_neurons"] else out


def count_parameters(variables) -> int:
    return int(sum(np.prod(v.shape.as_list()) for v in variables))


def generator_variable_names(params: dict) -> List[str]:
    """Names of the generator's variables (weights and batch-norm moving averages): what a
    shipped generator.npz holds. Built in a scratch graph; no values are computed."""
    graph = tf.Graph()
    with graph.as_default():
        model = MuseGAN(params)
        z = v1.placeholder(tf.float32, [None, model.latent_size])
        shape = params["data_shape"]
        condition = v1.placeholder(tf.float32, [None, *shape[:3]]) if model.condition is not None else None
        model.generator(z, condition, training=False)
        return [v.op.name for v in v1.global_variables()]
