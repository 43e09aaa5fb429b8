"""Generating from a trained experiment: `musegan infer`, `musegan interpolate`, and the
`Generator` every other caller (evaluation, accompaniment) uses.

Results go to `EXP_DIR/results/{inference,interpolation}/` in the original's layout
(`musegan.music.results`): raw arrays, both binarizations as arrays, grid images,
pypianoroll 0.5.3 npz files and one MIDI file per sample.
"""
import shutil
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import tensorflow as tf

from musegan import atomic
from musegan.config import condition_index, load_experiment
from musegan.errors import DataError, UsageError
from musegan.music import midi, pianoroll
from musegan.music.notes import to_notes
from musegan.music.results import save_results
from musegan.nets.network import MuseGAN
from musegan.nets.tf_ops import TFOps
from musegan.weights import checkpoints

v1 = tf.compat.v1


class Generator:
    """A loaded generator: `gen(z, condition) -> (n, n_bars, n_steps, n_pitches, n_tracks)` in [-1, 1]."""

    def __init__(self, exp_dir: Path, batch_size: int = 64):
        self.exp_dir = Path(exp_dir)
        self.config, self.params = load_experiment(self.exp_dir)
        self.condition = condition_index(self.params)
        self.batch_size = batch_size
        weights, self.source = checkpoints.generator_weights(self.exp_dir)
        v1.disable_eager_execution()
        self.graph = tf.Graph()
        with self.graph.as_default():
            self.model = MuseGAN(self.params, TFOps())
            shape = self.params["data_shape"]
            self.z = v1.placeholder(tf.float32, [None, self.model.latent_size], name="z")
            self.c = (v1.placeholder(tf.float32, [None, *shape[:3]], name="condition")
                      if self.condition is not None else None)
            getter = checkpoints.constant_getter(weights, self.source)
            with v1.variable_scope("", custom_getter=getter):
                self.out = self.model.generator(self.z, self.c, training=False)
        self.graph.finalize()
        proto = v1.ConfigProto()
        # grappler's constant folding over ~20 MB of weights costs more than it saves
        proto.graph_options.rewrite_options.disable_meta_optimizer = True
        self.sess = v1.Session(graph=self.graph, config=proto)

    @property
    def latent_size(self) -> int:
        return self.model.latent_size

    def __call__(self, z: np.ndarray, condition: Optional[np.ndarray] = None) -> np.ndarray:
        """z `(n, latent_size)`; condition bool `(n, n_bars, n_steps, n_pitches)` for conditional models."""
        if (condition is None) != (self.condition is None):
            need = "needs" if self.condition is not None else "takes no"
            raise UsageError(f"{self.exp_dir}: this model {need} a condition track")
        outs = []
        for start in range(0, len(z), self.batch_size):
            feed = {self.z: z[start:start + self.batch_size]}
            if self.c is not None:
                feed[self.c] = condition[start:start + self.batch_size].astype(np.float32) * 2 - 1
            outs.append(self.sess.run(self.out, feed))
        return np.concatenate(outs) if outs else np.zeros((0, *self.params["data_shape"]), np.float32)

    def close(self) -> None:
        self.sess.close()


def truncated_normal(rng: np.random.Generator, shape, lower: float, upper: float) -> np.ndarray:
    """Standard normal samples restricted to [lower, upper]."""
    from scipy.stats import truncnorm

    if not lower < upper:
        raise UsageError(f"--lower {lower} must be below --upper {upper}")
    return truncnorm.rvs(lower, upper, size=shape, random_state=rng).astype(np.float32)


def generate_phrases(exp_dir: Path, n_phrases: int, conditions: Optional[np.ndarray] = None,
                     seed: int = 0, binarization: str = "hard") -> np.ndarray:
    """Bool `(n_phrases, n_bars, n_steps, n_pitches, n_tracks)` from the experiment's model,
    with standard normal latents; conditional models take `conditions` bool
    `(n_phrases, n_bars, n_steps, n_pitches)`."""
    gen = Generator(exp_dir)
    try:
        rng = np.random.default_rng(seed)
        z = rng.standard_normal((n_phrases, gen.latent_size)).astype(np.float32)
        return to_notes(gen(z, conditions), gen.params, binarization, rng)
    finally:
        gen.close()


def load_conditions(gen: Generator, n: int, source: Optional[Path], rng: np.random.Generator) -> np.ndarray:
    """`n` condition tracks, bool `(n, n_bars, n_steps, n_pitches)`, from a MIDI or npz file,
    or (as the original did) from random phrases of the experiment's held-out data."""
    from musegan.music.data import load_phrases
    from musegan.music.splits import load_training_data

    c = gen.condition
    if source is None:
        path = Path(gen.config["data"])
        if not path.exists():
            raise DataError(f"{path}: no data to take condition tracks from; pass --condition FILE")
        train, valid = load_training_data(gen.config)
        phrases = valid if valid is not None else train
        x = phrases.unpack(rng.choice(len(phrases), size=n, replace=len(phrases) < n))
    elif Path(source).suffix.lower() in midi.MIDI_SUFFIXES:
        roll, grid, _ = pianoroll.midi_to_roll(source, gen.params, gen.config)
        x, _ = pianoroll.phrases(roll, grid, gen.params["data_shape"][0], hop_bars=1, min_tracks=1)
        x = x[np.any(x[..., c], axis=(1, 2, 3))] if len(x) else x
        if not len(x):
            raise DataError(f"{source}: no 4-bar 4/4 phrase with notes in the "
                            f"{gen.params['track_names'][c]} track")
        x = x[np.arange(n) % len(x)]
    else:
        phrases = load_phrases(source)
        x = phrases.unpack(np.arange(n) % len(phrases))
    if x.shape[1:] != tuple(gen.params["data_shape"]):
        raise DataError(f"{source}: phrases of shape {x.shape[1:]} do not match the model's "
                        f"{tuple(gen.params['data_shape'])}")
    return x[..., c]


def _run_generation(exp_dir: Path, kind: str, latents: Callable[[np.random.Generator, int, int], np.ndarray],
                    runs: int, rows: int, columns: int, condition: Optional[Path], seed: Optional[int],
                    wav: bool, overwrite: bool, log: Callable) -> Path:
    exp_dir = Path(exp_dir)
    n = rows * columns
    if rows < 1 or columns < 1 or runs < 1:
        raise UsageError("--rows, --columns and --runs must be at least 1")
    out = exp_dir / "results" / kind
    atomic.check_writable(out, overwrite)
    gen = Generator(exp_dir)
    rng = np.random.default_rng(seed)
    staging = out.with_name(f".{kind}.partial")
    atomic.fresh_dir(staging, overwrite=True)
    try:
        for run in range(runs):
            z = latents(rng, n, gen.latent_size)
            given = load_conditions(gen, n, condition, rng) if gen.condition is not None else None
            raw = gen(z, given)
            save_results(staging, run, raw, gen.params, rows, columns, rng, wav=wav)
            log(f"{kind}: run {run + 1}/{runs} written")
        atomic.replace_dir(staging, out)
    finally:
        gen.close()
        shutil.rmtree(staging, ignore_errors=True)  # a failed run leaves no partial results
    log(f"{kind}: results in {out} (weights: {gen.source})")
    return out


def infer(exp_dir: Path, runs: int = 1, rows: int = 4, columns: int = 4, lower: float = -2.0,
          upper: float = 2.0, condition: Optional[Path] = None, seed: Optional[int] = None,
          wav: bool = False, overwrite: bool = False, log: Callable = print) -> Path:
    """`runs` grids of rows x columns phrases from latents drawn from a normal truncated to
    [lower, upper], into EXP_DIR/results/inference (`musegan.music.results`)."""
    def latents(rng, n, size):
        return truncated_normal(rng, (n, size), lower, upper)

    return _run_generation(exp_dir, "inference", latents, runs, rows, columns, condition, seed, wav, overwrite, log)


def interpolate(exp_dir: Path, runs: int = 1, rows: int = 5, columns: int = 5, lower: float = -2.0,
                upper: float = 2.0, condition: Optional[Path] = None, seed: Optional[int] = None,
                wav: bool = False, overwrite: bool = False, log: Callable = print) -> Path:
    """`runs` grids whose latents interpolate bilinearly between four corner latents, into
    EXP_DIR/results/interpolation."""
    def latents(rng, n, size):
        corners = truncated_normal(rng, (4, size), lower, upper)
        r = np.linspace(0, 1, rows)[:, None, None]
        c = np.linspace(0, 1, columns)[None, :, None]
        top = corners[0] * (1 - c) + corners[1] * c
        bottom = corners[2] * (1 - c) + corners[3] * c
        return (top * (1 - r) + bottom * r).reshape(n, size).astype(np.float32)

    return _run_generation(exp_dir, "interpolation", latents, runs, rows, columns, condition, seed, wav,
                           overwrite, log)


