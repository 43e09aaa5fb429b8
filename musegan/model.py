"""MuseGAN generator, track-conditional encoder and discriminator as tf.compat.v1 graph builders.

Shapes: phrases are `(batch, n_bars, n_steps, n_pitches, n_tracks)` in [-1, 1];
the latent input is one vector per phrase, `(batch, latent_size)`, holding the
four kinds of latent of the paper side by side (see `latent_layout`). Inside,
networks run on grouped tensors `(g, rows, channels)` (musegan.ops): the
per-track generators and discriminators of one model are one batched matmul.
"""
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np
import tensorflow as tf

from musegan import ops
from musegan.config import condition_index

v1 = tf.compat.v1


@dataclass(frozen=True)
class Design:
    """What distinguishes the three multitrack models (paper, Section 4.1)."""

    shared_latent: bool  # z and z_t, common to all tracks
    private_latent: bool  # z_i and z_i,t, one per track
    one_generator: bool  # a single generator emitting all tracks as channels
    one_discriminator: bool  # a single discriminator over all tracks


# The one registry of model names; nothing else branches on them.
MODELS: Dict[str, Design] = {
    "jamming": Design(shared_latent=False, private_latent=True, one_generator=False, one_discriminator=False),
    "composer": Design(shared_latent=True, private_latent=False, one_generator=True, one_discriminator=True),
    "hybrid": Design(shared_latent=True, private_latent=True, one_generator=False, one_discriminator=True),
}


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
        self.generated = [i for i in range(self.n_tracks) if i != self.condition]
        self.names = [n.lower() for n in params["track_names"]]
        self.layout = latent_layout(params)

    # ------------------------------------------------------------------ latent
    @property
    def latent_size(self) -> int:
        return sum(size * count for size, count in self.layout.values())

    def split_latent(self, z: tf.Tensor) -> Dict[str, List[tf.Tensor]]:
        """`(batch, latent_size)` -> {kind: [(batch, size)] * count}, kinds in `latent_layout` order."""
        parts, start = {}, 0
        for kind, (size, count) in self.layout.items():
            parts[kind] = [z[:, start + k * size:start + (k + 1) * size] for k in range(count)]
            start += size * count
        return parts

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
            h = ops.dense(tf.reshape(condition, [-1, 12]), ch, "pitch_octave")  # rows (batch, bar, step, octave)
            h = ops.batch_norm(ops.leaky_relu(h), training, "pitch_octave/bn")
            features = [h]
            layers = [("pitch", self.n_pitches // 12)]
            layers += [(f"time{i}", f) for i, f in enumerate(_time_factors(self.n_steps)[::-1])]
            for name, factor in layers:
                h = ops.downsample(h, factor, ch, name)
                h = ops.batch_norm(ops.leaky_relu(h), training, name + "/bn")
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
        names = ["all"] if self.design.one_discriminator else [self.names[i] for i in self.generated]
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
            h = ops.leaky_relu(ops.dense(gx, dp["pitch_channels"][0], "pitch_octave"))
            h = ops.leaky_relu(ops.downsample(h, self.n_pitches // 12, dp["pitch_channels"][1], "pitch"))
            length = self.n_steps  # rows now (batch, bar, step)
            for i, units in enumerate(dp["time_channels"]):
                h = ops.leaky_relu(ops.conv_stride2(h, length, units, f"time{i}"))
                length //= 2
            streams = [tf.reshape(h, [-1, length * h.shape[-1]])]  # rows (batch, bar)
            if dp["use_chroma"]:
                streams.append(self._chroma_stream(gx, channels))
            if dp["use_onset"]:
                streams.append(self._onset_stream(gx, channels))
            h = ops.leaky_relu(ops.dense(tf.concat(streams, -1), dp["dense_channels"], "bar_dense"))
            h = ops.leaky_relu(ops.downsample(h, 2, dp["phrase_channels"], "phrase"))
            h = tf.reshape(h, [-1, (self.n_bars // 2) * dp["phrase_channels"]])
            return ops.dense(h, 1, "score")[:, 0]

    def _chroma_stream(self, gx: tf.Tensor, channels: int) -> tf.Tensor:
        """Pitch classes per beat, `(rows=(batch, bar), 64)`."""
        x = (tf.reshape(gx, [-1, 4, self.n_steps // 4, self.n_pitches // 12, 12 * channels]) + 1.0) / 2.0
        chroma = tf.reshape(tf.reduce_sum(x, axis=[2, 3]), [-1, 4 * 12 * channels])
        return ops.leaky_relu(ops.dense(chroma, 64, "chroma"))

    def _onset_stream(self, gx: tf.Tensor, channels: int) -> tf.Tensor:
        """Note onsets per step summed over pitch, `(rows=(batch, bar), 32)`."""
        x = (tf.reshape(gx, [-1, self.n_steps, self.n_pitches, channels]) + 1.0) / 2.0
        previous = tf.pad(x, [[0, 0], [1, 0], [0, 0], [0, 0]])[:, :-1]
        onset = tf.reduce_sum(tf.nn.relu(x - previous), axis=2)
        return ops.leaky_relu(ops.dense(tf.reshape(onset, [-1, self.n_steps * channels]), 32, "onset"))

    # --------------------------------------------------------------- variables
    @staticmethod
    def variables(scope: str) -> List[tf.Variable]:
        """All variables (trainable and moving averages) under `scope`."""
        return v1.get_collection(v1.GraphKeys.GLOBAL_VARIABLES, scope=scope + "/")


def latent_layout(params: dict) -> Dict[str, Tuple[int, int]]:
    """{kind: (size, count)} for the kinds of latent the model uses, in input order.

    The paper gives each bar generator 128 inputs: hybrid splits them into
    z, z_t, z_i, z_i,t (32 each); composer into z, z_t and jamming into z_i,
    z_i,t (64 each). Time-dependent kinds pass through a temporal generator.
    """
    design = MODELS[params["multitrack"]]
    n_kinds = 2 * (design.shared_latent + design.private_latent)
    size = params["latent_dim"] // n_kinds
    n_tracks = params["data_shape"][3] - (condition_index(params) is not None)
    layout = {}
    if design.shared_latent:
        layout.update(z=(size, 1), z_t=(size, 1))
    if design.private_latent:
        layout.update(z_i=(size, n_tracks), z_it=(size, n_tracks))
    return layout


def _time_factors(n_steps: int) -> List[int]:
    """Time upsampling factors after the first 2 steps: 2, 2, ..., then 3 (48 -> [2, 2, 2, 3])."""
    doublings = (n_steps // 6).bit_length() - 1
    return [2] * doublings + [3]


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
    first = 2 if n_bars % 2 == 0 else 1
    with v1.variable_scope(name):
        h = ops.upsample(z, first, channels, "layer0", use_bias=False)
        h = tf.nn.relu(ops.batch_norm(h, training, "layer0/bn"))
        h = ops.upsample(h, n_bars // first, d, "layer1", use_bias=False)
        return tf.nn.relu(ops.batch_norm(h, training, "layer1/bn"))


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
        h = tf.reshape(ops.dense(h, dense, "dense", use_bias=False), [-1, dense // 2])  # 2 steps per bar
        h = tf.nn.relu(ops.batch_norm(h, training, "dense/bn"))
        factors = _time_factors(n_steps)
        channels = gp["time_channels"][:len(factors) - 1] + gp["time_channels"][-1:]
        for i, (factor, units) in enumerate(zip(factors, channels)):
            h = ops.upsample(with_skip(h), factor, units, f"time{i}", use_bias=False)
            h = tf.nn.relu(ops.batch_norm(h, training, f"time{i}/bn"))
        h = ops.upsample(with_skip(h), n_pitches // 12, gp["pitch_channels"], "pitch", use_bias=False)
        h = tf.nn.relu(ops.batch_norm(h, training, "pitch/bn"))
        h = ops.dense(with_skip(h), 12 * n_out, "pitch_octave")
        return tf.tanh(tf.reshape(h, [-1, n_out]))


def count_parameters(variables) -> int:
    return int(sum(np.prod(v.shape.as_list()) for v in variables))
