"""Generating from a trained experiment: `musegan infer`, `musegan interpolate`, and the
`Generator` every other caller (evaluation, accompaniment) uses.

Output tree (as the original): `EXP_DIR/results/{inference,interpolation}/`
  arrays/      fake_x_{run}.npy (raw, [-1, 1]), fake_x_{hard_thresholding,bernoulli_sampling}_{run}.npy (bool)
  images/      fake_x_{...}_{run}.png and _colored.png (rows x columns grid)
  pianorolls/  fake_x_{...}_{run}.npz (pypianoroll 0.5.3 Multitrack, samples in sequence)
               and fake_x_{...}_{run}_{k}.mid, one MIDI file per sample.
"""
import shutil
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import tensorflow as tf

from musegan import checkpoint, image, io, midi
from musegan.config import condition_index, load_experiment
from musegan.errors import DataError, UsageError
from musegan.model import MuseGAN
from musegan.output import to_notes
from musegan.state import save_generator

v1 = tf.compat.v1
BINARIZATIONS = {"hard_thresholding": "hard", "bernoulli_sampling": "bernoulli"}


class Generator:
    """A loaded generator: `gen(z, condition) -> (n, n_bars, n_steps, n_pitches, n_tracks)` in [-1, 1]."""

    def __init__(self, exp_dir: Path, batch_size: int = 64):
        self.exp_dir = Path(exp_dir)
        self.config, self.params = load_experiment(self.exp_dir)
        self.condition = condition_index(self.params)
        self.batch_size = batch_size
        weights, self.source = checkpoint.generator_weights(self.exp_dir)
        v1.disable_eager_execution()
        self.graph = tf.Graph()
        with self.graph.as_default():
            self.model = MuseGAN(self.params)
            shape = self.params["data_shape"]
            self.z = v1.placeholder(tf.float32, [None, self.model.latent_size], name="z")
            self.c = (v1.placeholder(tf.float32, [None, *shape[:3]], name="condition")
                      if self.condition is not None else None)
            getter = checkpoint.constant_getter(weights, self.source)
            with v1.variable_scope("", custom_getter=getter):
                self.out = self.model.generator(self.z, self.c, training=False)
        self.weight_names = list(getter.names)
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
    from musegan.data import load_phrases, load_training_data

    c = gen.condition
    if source is None:
        path = Path(gen.config["data"])
        if not path.exists():
            raise DataError(f"{path}: no data to take condition tracks from; pass --condition FILE")
        train, valid = load_training_data(gen.config)
        phrases = valid if valid is not None else train
        x = phrases.unpack(rng.choice(len(phrases), size=n, replace=len(phrases) < n))
    elif Path(source).suffix.lower() in midi.MIDI_SUFFIXES:
        roll, grid, _ = midi.midi_to_roll(source, gen.params, gen.config)
        x, _ = midi.phrases(roll, grid, gen.params["data_shape"][0], hop_bars=1, min_tracks=1)
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


def save_phrases(out_dir: Path, name: str, x: np.ndarray, params: dict, rows: int = 0,
                 columns: int = 0) -> None:
    """Training samples: bool phrases -> `name.png` (grid) and `name.npz` (sparse phrases)."""
    from musegan.data import write_sparse_npz

    rows, columns = grid_shape(len(x), rows, columns)
    io.save_png(Path(out_dir) / f"{name}.png", image.grid_image(x, rows, columns))
    write_sparse_npz(Path(out_dir) / f"{name}.npz", x)


def grid_shape(n: int, rows: int = 0, columns: int = 0):
    """(rows, columns) of an image grid for `n` samples: as asked if it fits, else near-square."""
    if rows * columns >= n:
        return rows, columns
    columns = int(np.ceil(np.sqrt(n)))
    return int(np.ceil(n / columns)), columns


def save_results(out: Path, run: int, raw: np.ndarray, params: dict, rows: int, columns: int,
                 rng: np.random.Generator, wav: bool = False) -> Dict[str, np.ndarray]:
    """Write one run's raw output and both binarizations into the `out` tree."""
    io.save_npy(out / "arrays" / f"fake_x_{run}.npy", raw.astype(np.float32))
    results = {}
    for suffix, mode in BINARIZATIONS.items():
        x = to_notes(raw, params, mode, rng)
        name = f"fake_x_{suffix}_{run}"
        results[name] = x
        io.save_npy(out / "arrays" / f"{name}.npy", x)
        io.save_png(out / "images" / f"{name}.png", image.grid_image(x, rows, columns))
        io.save_png(out / "images" / f"{name}_colored.png", image.grid_image(x, rows, columns, colored=True))
        midi.save_pypianoroll_npz(out / "pianorolls" / f"{name}.npz", x, params)
        for k, phrase in enumerate(x):
            path = out / "pianorolls" / f"{name}_{k:02d}.mid"
            io.save_midi(path, midi.roll_to_midi(phrase, params))
            if wav:
                from musegan.audio import render

                render(path, path.with_suffix(".wav"), overwrite=True)
    return results


def _run_generation(args, kind: str, latents) -> Path:
    exp_dir = Path(args.exp_dir)
    n = args.rows * args.columns
    if args.rows < 1 or args.columns < 1 or args.runs < 1:
        raise UsageError("--rows, --columns and --runs must be at least 1")
    out = exp_dir / "results" / kind
    io.check_writable(out, args.overwrite)
    gen = Generator(exp_dir)
    rng = np.random.default_rng(args.seed)
    staging = out.with_name(f".{kind}.partial")
    io.fresh_dir(staging, overwrite=True)
    try:
        for run in range(args.runs):
            z = latents(rng, n, gen.latent_size, args)
            condition = load_conditions(gen, n, args.condition, rng) if gen.condition is not None else None
            raw = gen(z, condition)
            save_results(staging, run, raw, gen.params, args.rows, args.columns, rng, wav=args.wav)
            print(f"{kind}: run {run + 1}/{args.runs} written")
        io.replace_dir(staging, out)
    finally:
        gen.close()
        shutil.rmtree(staging, ignore_errors=True)  # a failed run leaves no partial results
    print(f"{kind}: results in {out} (weights: {gen.source})")
    return out


def _random_latents(rng, n, size, args):
    return truncated_normal(rng, (n, size), args.lower, args.upper)


def _grid_latents(rng, n, size, args):
    """Bilinear interpolation between four corner latents over the rows x columns grid."""
    corners = truncated_normal(rng, (4, size), args.lower, args.upper)
    r = np.linspace(0, 1, args.rows)[:, None, None]
    c = np.linspace(0, 1, args.columns)[None, :, None]
    top = corners[0] * (1 - c) + corners[1] * c
    bottom = corners[2] * (1 - c) + corners[3] * c
    return (top * (1 - r) + bottom * r).reshape(n, size).astype(np.float32)


def infer_main(args) -> Path:
    return _run_generation(args, "inference", _random_latents)


def interpolate_main(args) -> Path:
    return _run_generation(args, "interpolation", _grid_latents)


def export_main(args) -> Path:
    """`musegan export EXP_DIR [--steps A:B:K] [--live] [--to DIR]`: the generator of the latest checkpoint
    (or the mean over the checkpoints at `--steps`) -> pretrained/generator.npz of EXP_DIR, or of
    DIR with EXP_DIR's yaml files beside it (a folder that generates with these weights)."""
    exp_dir = Path(args.exp_dir)
    steps = parse_steps(args.steps) if args.steps else None
    target = Path(args.to) if args.to else exp_dir
    out = target / checkpoint.PRETRAINED
    io.check_writable(out, args.overwrite)
    copies = {} if target == exp_dir else _experiment_files(exp_dir, target)
    gen = Generator(exp_dir)
    gen.close()
    # all checks pass before any write
    weights = checkpoint.generator_to_ship(exp_dir, gen.weight_names, steps, ema=not args.live)
    for path, text in copies.items():
        io.save_text(path, text)
    save_generator(out, weights)
    if not steps:
        source = gen.source
    elif len(steps) == 1:
        source = f"the checkpoint of {exp_dir / 'model'} at step {steps[0]}"
    else:
        source = f"the mean of {len(steps)} checkpoints of {exp_dir / 'model'} (steps {steps[0]}-{steps[-1]})"
    source += " (live weights, not their EMA)" if args.live else ""
    print(f"{out}: generator weights from {source} ({out.stat().st_size / 1e6:.1f} MB)")
    return out


def parse_steps(spec: str) -> List[int]:
    """`A:B:K` (A, A + K, ... up to B inclusive) or `A,B,C` -> sorted steps; UsageError otherwise."""
    try:
        if ":" in spec:
            start, stop, every = (int(v) for v in spec.split(":"))
            if every < 1 or stop < start:
                raise ValueError
            steps = list(range(start, stop + 1, every))
        else:
            steps = sorted({int(v) for v in spec.split(",")})
    except ValueError:
        raise UsageError(f"--steps {spec}: expected FIRST:LAST:EVERY (e.g. 2000:3600:200) or a comma list of steps") from None
    if not steps or steps[0] < 0:
        raise UsageError(f"--steps {spec}: expected steps of 0 or more")
    return steps


def _experiment_files(exp_dir: Path, target: Path) -> Dict[Path, str]:
    """{path in target: text} of exp_dir's params.yaml and config.yaml to write beside exported
    weights; a target whose params.yaml differs is refused (the weights are exp_dir's model)."""
    copies = {}
    for name in ("params.yaml", "config.yaml"):
        src, dst = exp_dir / name, target / name
        if not src.is_file():
            continue
        text = src.read_text()
        if dst.is_file():
            if name == "params.yaml" and dst.read_text() != text:
                raise UsageError(f"{dst}: differs from {src}; the weights are {exp_dir}'s model "
                                 "(export to a new folder)")
            continue
        copies[dst] = text
    return copies
