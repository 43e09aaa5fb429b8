"""MuseGAN generator, track-conditional encoder and discriminator, written once over
`musegan.nets.layers.Ops` (TensorFlow graph ops or JAX arrays, whichever backend builds it).

Shapes: phrases are `(batch, n_bars, n_steps, n_pitches, n_tracks)` in [-1, 1];
the latent input is one vector per phrase, `(batch, latent_size)`, holding the
four kinds of latent of the paper side by side (see `musegan.nets.spec.latent_layout`).
Inside, every network runs on 2-D tensors `(rows, channels)` (musegan.nets.layers), and
each track of a per-track model has its own 2-D network (separate matmuls). What layers
exist, and their factors and widths, comes from musegan.nets.spec.

Variables live in the scopes `Generator` and `Discriminator`; their names and shapes are
those of every weight file and checkpoint (`Generator/bar/drums/time0/kernel`, ...).
"""
from typing import List, Optional

from musegan.config import condition_index
from musegan.nets import layers
from musegan.nets.layers import Array, Ops
from musegan.nets.spec import (MODELS, bar_time_layers, discriminator_names, encoder_layers, generated_tracks,
                               latent_layout, latent_size, latent_slices, scope_names, temporal_factors)

__all__ = ["MuseGAN", "beat_onset_share"]


class MuseGAN:
    """The networks of one `params` dict, built with `ops`.

    Call `generator` and `discriminator` any number of times: in TensorFlow the variables
    are created once and shared between calls; in JAX they are looked up by name.
    """

    def __init__(self, params: dict, ops: Ops):
        self.params, self.ops = params, ops
        self.design = MODELS[params["multitrack"]]
        self.n_bars, self.n_steps, self.n_pitches, self.n_tracks = params["data_shape"]
        self.condition = condition_index(params)
        self.generated = generated_tracks(params)
        self.names = scope_names(params)
        self.layout = latent_layout(params)
        self.latent_size = latent_size(params)

    # --------------------------------------------------------------- generator
    def generator(self, z: Array, condition: Optional[Array] = None, training: bool = True) -> Array:
        """Latent `(batch, latent_size)` [+ condition track `(batch, n_bars, n_steps, n_pitches)`]
        -> phrases `(batch, n_bars, n_steps, n_pitches, n_tracks)` in [-1, 1].

        For a track-conditional model the condition passes through unchanged into its own
        track of the output. In training mode batch norm uses the batch's statistics and
        records them in `ops.batch_stats`; otherwise the moving averages.
        """
        ops = self.ops
        shape = [-1, self.n_bars, self.n_steps, self.n_pitches]
        with ops.scope("Generator"):
            parts = {kind: [z[:, a:b] for a, b in spans] for kind, spans in latent_slices(self.params).items()}
            shared = []
            if self.design.shared_latent:
                shared = [self._per_bar(parts["z"][0]),
                          self._temporal(parts["z_t"][0], "temporal_shared", training)]
            features = self.encoder(condition, training) if self.condition is not None else None
            if self.design.one_generator:
                out = self._bar(ops.concat(shared, -1), features, len(self.generated), training, "bar")
                tracks = ops.reshape(out, shape + [len(self.generated)])
            else:
                outs = []
                for k, i in enumerate(self.generated):
                    private = [self._per_bar(parts["z_i"][k]),
                               self._temporal(parts["z_it"][k], f"temporal_private/{self.names[i]}", training)]
                    out = self._bar(ops.concat(shared + private, -1), features, 1, training, f"bar/{self.names[i]}")
                    outs.append(ops.reshape(out, shape))
                tracks = ops.stack(outs, axis=-1)
            if self.condition is None:
                return tracks
            c = self.condition
            return ops.concat([tracks[..., :c], condition[..., None], tracks[..., c:]], axis=-1)

    def encoder(self, condition: Array, training: bool) -> List[Array]:
        """Track-conditional encoder E: the bar generator's layers in reverse.

        `(batch, n_bars, n_steps, n_pitches)` -> features at each generator
        resolution, finest first, each `(rows, encoder_channels)`.
        """
        ops, ch = self.ops, self.params["encoder_channels"]
        with ops.scope("encoder"):
            h = layers.dense(ops, ops.reshape(condition, [-1, 12]), ch, "pitch_octave")  # rows (batch, bar, step, octave)
            h = layers.batch_norm(ops, ops.leaky_relu(h), training, "pitch_octave/bn")
            features = [h]
            for name, factor in encoder_layers(self.n_steps, self.n_pitches):
                h = layers.downsample(ops, h, factor, ch, name)
                h = layers.batch_norm(ops, ops.leaky_relu(h), training, name + "/bn")
                features.append(h)
            return features

    def _per_bar(self, z: Array) -> Array:
        """`(batch, d)` -> the same vector for every bar, `(batch * n_bars, d)`."""
        return self.ops.reshape(self.ops.tile(z[:, None, :], [1, self.n_bars, 1]), [-1, z.shape[1]])

    def _temporal(self, z: Array, name: str, training: bool) -> Array:
        """G_temp: `(batch, d)` -> one vector per bar, `(batch * n_bars, d)`.

        vector -> (2 steps, `temporal_channels`) -> (n_bars steps, d), BN + ReLU, as
        transposed convolutions over time whose kernel equals their stride.
        """
        ops, d = self.ops, z.shape[1]
        first, second = temporal_factors(self.n_bars)
        with ops.scope(name):
            h = layers.upsample(ops, z, first, self.params["generator"]["temporal_channels"], "layer0", use_bias=False)
            h = ops.relu(layers.batch_norm(ops, h, training, "layer0/bn"))
            h = layers.upsample(ops, h, second, d, "layer1", use_bias=False)
            return ops.relu(layers.batch_norm(ops, h, training, "layer1/bn"))

    def _bar(self, h: Array, features: Optional[List[Array]], n_out: int, training: bool, name: str) -> Array:
        """G_bar: `(batch * n_bars, latent)` -> bars `(batch * n_bars * n_steps * n_pitches, n_out)`.

        Grows time first (2 -> 4 -> ... -> n_steps) then pitch (1 -> n_pitches/12 -> n_pitches),
        BN + ReLU on every layer but the last (tanh). With `features` (encoder
        outputs, finest first) each layer also sees the encoder's output at its
        input resolution (U-Net skips).
        """
        ops, gp = self.ops, self.params["generator"]
        skips = list(features[::-1]) if features is not None else []

        def with_skip(x):
            return ops.concat([x, skips.pop(0)], -1) if skips else x

        with ops.scope(name):
            dense = gp["dense_channels"]
            h = ops.reshape(layers.dense(ops, h, dense, "dense", use_bias=False), [-1, dense // 2])  # 2 steps per bar
            h = ops.relu(layers.batch_norm(ops, h, training, "dense/bn"))
            for i, (factor, units) in enumerate(bar_time_layers(self.n_steps, gp)):
                h = layers.upsample(ops, with_skip(h), factor, units, f"time{i}", use_bias=False)
                h = ops.relu(layers.batch_norm(ops, h, training, f"time{i}/bn"))
            h = layers.upsample(ops, with_skip(h), self.n_pitches // 12, gp["pitch_channels"], "pitch", use_bias=False)
            h = ops.relu(layers.batch_norm(ops, h, training, "pitch/bn"))
            h = layers.dense(ops, with_skip(h), 12 * n_out, "pitch_octave")
            out = ops.tanh(ops.reshape(h, [-1, n_out]))
            return layers.binary_straight_through(ops, out) if gp["binary_neurons"] else out

    # ----------------------------------------------------------- discriminator
    def discriminator(self, x: Array, parts: int = 1) -> Array:
        """Phrases `(batch, n_bars, n_steps, n_pitches, n_tracks)` -> scores `(groups, batch)`.

        One discriminator over all tracks, or (jamming) one per generated track,
        each seeing its track and, if any, the condition track. With `parts` > 1 the batch
        is scored as that many equal slices, apart: the same scores (each example's own,
        unless minibatch_std compares them: then in one part) from independent ops, which
        a graph executor runs on separate cores at once.
        """
        if parts == 1 or self.params["discriminator"]["minibatch_std"]:
            return self.score(self.group(x))
        slices = self.ops.split(x, [(x.shape[0] + i) // parts for i in range(parts)], axis=0)
        return self.ops.concat([self.score(self.group(s)) for s in slices], axis=1)

    def group(self, x: Array) -> List[Array]:
        """Phrases -> each discriminator's input `(rows, 12 * channels)`, rows ordered
        (batch, bar, step, octave). The gradient penalty is taken here."""
        ops = self.ops
        if self.design.one_discriminator:
            return [ops.reshape(x, [-1, 12 * self.n_tracks])]
        groups = []
        for i in self.generated:
            own = [x[..., i]] + ([x[..., self.condition]] if self.condition is not None else [])
            groups.append(ops.reshape(ops.stack(own, -1), [-1, 12 * len(own)]))
        return groups

    def score(self, groups: List[Array]) -> Array:
        """Each discriminator's input (`group`) -> scores `(groups, batch)`."""
        with self.ops.scope("Discriminator"):
            return self.ops.stack([self._score(gx, name)
                                   for gx, name in zip(groups, discriminator_names(self.params))], 0)

    def _score(self, gx: Array, name: str) -> Array:
        """One discriminator: `(rows, 12 * channels)` -> `(batch,)`.

        Bar level: pitch 84 -> 7 -> 1, then time halved per layer, dense;
        phrase level: pairs of bars, then one score.
        """
        ops, dp = self.ops, self.params["discriminator"]
        channels = gx.shape[-1] // 12
        lrelu = ops.leaky_relu
        with ops.scope(name):
            h = lrelu(layers.dense(ops, gx, dp["pitch_channels"][0], "pitch_octave"))
            h = lrelu(layers.downsample(ops, h, self.n_pitches // 12, dp["pitch_channels"][1], "pitch"))
            length = self.n_steps  # rows now (batch, bar, step)
            for i, units in enumerate(dp["time_channels"]):
                h = lrelu(layers.conv_stride2(ops, h, length, units, f"time{i}"))
                length //= 2
            streams = [ops.reshape(h, [-1, length * h.shape[-1]])]  # rows (batch, bar)
            if dp["use_chroma"]:
                streams.append(self._chroma_stream(gx, channels))
            onset = self._onsets(gx, channels) if dp["use_onset"] or dp["use_rhythm"] else None
            if dp["use_onset"]:
                flat = ops.reshape(onset, [-1, self.n_steps * channels])
                streams.append(lrelu(layers.dense(ops, flat, 32, "onset")))
            h = lrelu(layers.dense(ops, ops.concat(streams, -1), dp["dense_channels"], "bar_dense"))
            h = lrelu(layers.downsample(ops, h, 2, dp["phrase_channels"], "phrase"))
            h = ops.reshape(h, [-1, (self.n_bars // 2) * dp["phrase_channels"]])
            if dp["use_rhythm"]:
                h = ops.concat([h, self._rhythm_stream(onset)], -1)
            if dp["minibatch_std"]:
                h = ops.concat([h, self._minibatch_std(h)], -1)
            return layers.dense(ops, h, 1, "score")[:, 0]

    def _chroma_stream(self, gx: Array, channels: int) -> Array:
        """Pitch classes per beat, `(rows=(batch, bar), 64)`."""
        ops = self.ops
        x = ops.reshape(gx, [-1, 4, self.n_steps // 4, self.n_pitches // 12, 12 * channels])
        # the sum of (x + 1) / 2 taken as (sum x + count) / 2: two passes over the phrases fewer
        count = (self.n_steps // 4) * (self.n_pitches // 12)
        chroma = (ops.reshape(ops.reduce_sum(x, axis=[2, 3]), [-1, 4 * 12 * channels]) + count) / 2.0
        return ops.leaky_relu(layers.dense(ops, chroma, 64, "chroma"))

    def _onsets(self, gx: Array, channels: int) -> Array:
        """Note onsets per step summed over pitch, `(batch * n_bars, n_steps, channels)`."""
        ops = self.ops
        x = ops.reshape(gx, [-1, self.n_steps, self.n_pitches, channels])
        # on x in [-1, 1] (silence -1 before the first step), halved after the sum:
        # relu((x + 1) / 2 - (p + 1) / 2) = relu(x - p) / 2, without two passes over the phrases.
        # A split, not a slice: TensorFlow's gradient of a strided slice of this (batch * bars,
        # steps, pitches, tracks) tensor took a tenth of a D update
        previous, _ = ops.split(ops.pad(x, [(0, 0), (1, 0), (0, 0), (0, 0)], -1.0), [self.n_steps, 1], axis=1)
        return ops.reduce_sum(ops.relu(x - previous), axis=2) / 2.0

    def _rhythm_stream(self, onset: Array) -> Array:
        """`_onsets` -> each track's share of its phrase's onsets at each step of the beat, `(batch, 32)`.

        Swing lives in where within the beat the onsets fall, pooled over the phrase:
        seen side by side for all tracks, drums on the straight grid under a swung
        piano stand out (the other streams see one bar at a time).
        """
        beat = self.n_steps // 4
        share = beat_onset_share(self.ops, onset, self.n_bars, beat)
        flat = self.ops.reshape(share, [-1, beat * onset.shape[-1]])
        return self.ops.leaky_relu(layers.dense(self.ops, flat, 32, "rhythm"))

    def _minibatch_std(self, h: Array) -> Array:
        """`(batch, features)` -> `(batch, 1)`: the features' standard deviation over the batch,
        averaged, the same for every example (ProGAN's minibatch standard deviation)."""
        ops = self.ops
        std = ops.sqrt(ops.reduce_variance(h, 0) + 1e-8)
        return ops.zeros_like(h[:, :1]) + ops.reduce_mean(std)


def beat_onset_share(ops: Ops, onset: Array, n_bars: int, beat: int) -> Array:
    """Onsets `(batch * n_bars, n_steps, channels)` -> each channel's share of its phrase's
    onsets at each step of the beat, `(batch, beat, channels)` (4 beats per bar).

    The +1 in the denominator keeps a silent track's shares at 0 and their gradient bounded.
    """
    hist = ops.reduce_sum(ops.reshape(onset, [-1, n_bars * 4, beat, onset.shape[-1]]), axis=1)
    return hist / (ops.reduce_sum(hist, axis=1, keepdims=True) + 1.0)
