"""Training state as plain npz files keyed by TensorFlow variable names: how weights travel
between the training backends (TensorFlow checkpoints, musegan.weights.checkpoints; the jax
backend's states, musegan.weights.store). numpy only, so either side reads it without the
other framework.

A state is a mapping {TF variable name: array}, e.g. `Generator/bar/drums/time0/kernel`,
`Discriminator/all/score/bias`, `Generator/.../bn/moving_mean`, `global_step`, and
optionally the Adam slots (`optimizers/<variable>/d_adam`, `..._1`) and beta powers.

On disk it is a folder of shards `state-00.npz`, `state-01.npz`, ... (uncompressed),
each at most `SHARD_BYTES`, so that no file of a state grows with the model. An array too
big for one shard is cut along its first axis into parts stored under
`__state__/part/<i>/<k>/<name>`. Each shard also holds `__state__/shard`,
`__state__/n_shards` and `__state__/step`, so a folder mixing two saves, or missing a
shard, is refused instead of loading weights of two different steps. Each shard is
written to a temporary file and renamed into place; shards of an earlier save with
more shards are deleted afterwards.
"""
import re
import zipfile
import zlib
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from musegan.errors import CheckpointError
from musegan.atomic import save_npz

PathLike = Union[str, Path]
SHARD_BYTES = 15 * 2 ** 20
META = "__state__/"
STEP = "global_step"
OPTIMIZER = "optimizers/"
EMA = "ema/"  # an exponential moving average of G's weights (config `ema_decay`): ema/<TF name>
_SHARD = re.compile(r"^state-(\d+)\.npz$")
# bytes an npz member costs beyond its data: npy header (~128), zip local header and
# central directory entry (~100 + twice the name)
_OVERHEAD = 512


def _member_bytes(name: str, array: np.ndarray) -> int:
    return array.nbytes + _OVERHEAD + 2 * len(name.encode())


def _contiguous(value) -> np.ndarray:
    """C-ordered array; 0-d stays 0-d (np.ascontiguousarray would make it 1-d)."""
    array = np.asarray(value)
    return np.ascontiguousarray(array) if array.ndim else array


def _pieces(name: str, array: np.ndarray, max_bytes: int) -> List[Tuple[str, np.ndarray]]:
    """`[(key, array)]`: the array whole, or cut along axis 0 into parts that fit a shard."""
    if _member_bytes(name, array) <= max_bytes:
        return [(name, array)]
    row = array.nbytes // max(array.shape[0], 1) if array.ndim else array.nbytes
    rows = (max_bytes - _OVERHEAD - 2 * len(name.encode())) // max(row, 1)
    if array.ndim == 0 or rows < 1:
        raise ValueError(f"'{name}' {array.shape}: one row of it is larger than a shard ({max_bytes} bytes)")
    k = -(-array.shape[0] // rows)
    return [(f"{META}part/{i}/{k}/{name}", array[i * rows:(i + 1) * rows]) for i in range(k)]


def save_state(out_dir: PathLike, arrays: Mapping[str, np.ndarray], max_bytes: int = SHARD_BYTES) -> List[Path]:
    """Write `arrays` (which must hold `global_step`) as shards `out_dir/state-NN.npz`; return their paths."""
    out_dir = Path(out_dir)
    if STEP not in arrays:
        raise ValueError(f"a state needs '{STEP}'")
    step = int(np.asarray(arrays[STEP]))
    budget = max_bytes - 3 * (_OVERHEAD + 64) - 22  # room for the 3 meta arrays and the zip's end record
    pieces = [p for name in sorted(arrays) for p in _pieces(name, _contiguous(arrays[name]), budget)]
    shards: List[List[Tuple[str, np.ndarray]]] = [[]]
    used = 0
    for key, array in pieces:
        size = _member_bytes(key, array)
        if shards[-1] and used + size > budget:
            shards.append([])
            used = 0
        shards[-1].append((key, array))
        used += size
    paths = []
    for i, shard in enumerate(shards):
        meta = {f"{META}shard": np.int64(i), f"{META}n_shards": np.int64(len(shards)), f"{META}step": np.int64(step)}
        paths.append(save_npz(out_dir / f"state-{i:02d}.npz", compressed=False, **dict(shard), **meta))
    for stale in out_dir.glob("state-*.npz"):  # an earlier save had more shards
        m = _SHARD.match(stale.name)
        if m and int(m.group(1)) >= len(shards):
            stale.unlink()
    return paths


def shard_paths(path: PathLike) -> List[Path]:
    """The shard files of a state folder (sorted), or `[path]` for a single npz."""
    path = Path(path)
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if _SHARD.match(p.name))
        if not found:
            raise CheckpointError(f"{path}: no state files (state-00.npz, ...) in this folder")
        return found
    if not path.is_file():
        raise CheckpointError(f"{path}: no such state file or folder")
    return [path]


def _read(path: Path) -> Dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        raise CheckpointError(f"{path}: cannot read state ({' '.join(str(e).split()) or type(e).__name__})") from None


def load_state(path: PathLike) -> Dict[str, np.ndarray]:
    """{TF variable name: array} from a state folder or a single npz (shards checked to be
    one complete save)."""
    paths = shard_paths(path)
    arrays: Dict[str, np.ndarray] = {}
    parts: Dict[str, Dict[int, np.ndarray]] = {}
    n_parts: Dict[str, int] = {}
    seen: Dict[int, Path] = {}
    expect = None
    for p in paths:
        data = _read(p)
        meta = tuple(int(data.pop(f"{META}{k}", -1)) for k in ("shard", "n_shards", "step"))
        if meta[1] != -1:
            if expect is None:
                expect = meta[1:]
            if meta[1:] != expect:
                raise CheckpointError(f"{p}: shard of a save at step {meta[2]} with {meta[1]} shards, the others "
                                      f"are of step {expect[1]} with {expect[0]}; the folder mixes two saves")
            if meta[0] in seen:
                raise CheckpointError(f"{p}: shard {meta[0]} is also in {seen[meta[0]]}")
            seen[meta[0]] = p
        for key, array in data.items():
            if key.startswith(f"{META}part/"):
                i, k, name = key[len(META) + 5:].split("/", 2)
                parts.setdefault(name, {})[int(i)] = array
                n_parts[name] = int(k)
            elif key in arrays:
                raise CheckpointError(f"{p}: '{key}' is given twice")
            else:
                arrays[key] = array
    if expect is not None and len(seen) != expect[0]:
        missing = sorted(set(range(expect[0])) - set(seen))
        where = Path(path) if Path(path).is_dir() else Path(path).parent
        raise CheckpointError(f"{where}: state of step {expect[1]} has {expect[0]} shards, "
                              f"shard(s) {', '.join(f'state-{m:02d}.npz' for m in missing)} missing")
    for name, got in parts.items():
        if sorted(got) != list(range(n_parts[name])):
            raise CheckpointError(f"{path}: '{name}' is incomplete ({len(got)} of {n_parts[name]} parts)")
        arrays[name] = np.concatenate([got[i] for i in range(n_parts[name])])
    if STEP not in arrays:
        raise CheckpointError(f"{path}: no '{STEP}' in this state")
    return arrays


def state_step(arrays: Mapping[str, np.ndarray]) -> int:
    """The training step (G updates done) a state was saved at."""
    return int(np.asarray(arrays[STEP]))


def mean_of(values: Sequence[np.ndarray]) -> np.ndarray:
    """The float32 mean of arrays of one shape, summed in float64 (checkpoint averaging:
    `average_states` and `checkpoint.averaged_generator` give the same bits)."""
    return np.mean(np.stack([np.asarray(v) for v in values]).astype(np.float64), axis=0).astype(np.float32)


def same_model(arrays: Sequence[Mapping[str, np.ndarray]], sources: Sequence[str], keep, what: str) -> List[str]:
    """The names (those `keep` accepts) all of `arrays` share with one shape each; else a
    CheckpointError naming the odd source and variable."""
    names = sorted(n for n in arrays[0] if keep(n))
    for theirs, source in zip(arrays[1:], sources[1:]):
        others = sorted(n for n in theirs if keep(n))
        if others != names:
            odd = sorted(set(others) ^ set(names))[0]
            raise CheckpointError(f"{source}: not a {what} of the same model as {sources[0]} ('{odd}' is in one only)")
        for n in names:
            if theirs[n].shape != arrays[0][n].shape:
                raise CheckpointError(f"{source}: '{n}' has shape {theirs[n].shape}, {arrays[0][n].shape} in {sources[0]}")
    return names


def average_states(states: Sequence[Mapping[str, np.ndarray]], sources: Sequence[str]) -> Dict[str, np.ndarray]:
    """The mean of the weights and moving averages of `states` (of one model: same names and
    shapes), at the latest of their steps. Checkpoint averaging smooths the generator as an
    exponential moving average of its weights would; Adam's moments are dropped (the mean of
    moments is no optimizer state), so training from the result restarts Adam."""
    if len(states) < 2:
        raise CheckpointError("averaging needs at least two states")
    names = same_model(states, sources, lambda n: not n.startswith(OPTIMIZER) and n != STEP, "state")
    out = {}
    for n in names:
        values = [np.asarray(s[n]) for s in states]
        out[n] = mean_of(values) if values[0].dtype.kind == "f" else values[0]
    out[STEP] = np.int64(max(state_step(s) for s in states))
    return out


def ema_as_generator(arrays: Mapping[str, np.ndarray]) -> Tuple[Dict[str, np.ndarray], int]:
    """`arrays` with each G weight that has an EMA (`ema/<name>`) replaced by it and the
    `ema/` entries dropped: the generator a user gets from a state. Returns
    (arrays, number of weights replaced)."""
    out = {n: v for n, v in arrays.items() if not n.startswith(EMA)}
    replaced = 0
    for n, v in arrays.items():
        if n.startswith(EMA) and n[len(EMA):] in out:
            out[n[len(EMA):]] = v
            replaced += 1
    return out, replaced


# ------------------------------------------------------------- shipped generators
# `EXP_DIR/pretrained/generator.npz`: the generator's variables only (G's weights and its
# batch-norm moving averages), written by `musegan export` and by a run's averaging (`average_from`).

def compact(name: str, value: np.ndarray) -> np.ndarray:
    """float16, except batch-norm statistics and anything float16 cannot hold: a trained
    generator's moving variances reach 1e5, past float16's 65504 (they became inf)."""
    if name.endswith(("moving_mean", "moving_variance")):
        return value.astype(np.float32)
    with np.errstate(over="ignore"):  # an overflow is what this checks for
        half = value.astype(np.float16)
    return half if np.isfinite(half).all() else value.astype(np.float32)


def save_generator(path: PathLike, weights: Mapping[str, np.ndarray]) -> Path:
    """Write generator weights {TF name: array} as a shipped generator.npz (see `compact`:
    about half the size of float32), atomically."""
    return save_npz(path, **{name: compact(name, np.asarray(value)) for name, value in weights.items()})


def load_generator(path: PathLike) -> Dict[str, np.ndarray]:
    """The arrays of a shipped generator.npz; a damaged file is one CheckpointError."""
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as e:  # a damaged npz raises any
        raise CheckpointError(f"{path}: cannot read weights ({' '.join(str(e).split()) or type(e).__name__})") from None


# --------------------------------------------------------------------- warm start
def widen(value: np.ndarray, shape: Sequence[int]) -> Optional[np.ndarray]:
    """`value` with zero rows appended to reach `shape` (a kernel `(n_in, ...)` that gained
    inputs), or None unless `shape` differs from it only by more rows."""
    shape = list(shape)
    if not (value.ndim == len(shape) >= 2 and list(value.shape[1:]) == shape[1:] and value.shape[0] < shape[0]):
        return None
    return np.concatenate([value, np.zeros([shape[0] - value.shape[0], *shape[1:]], np.float32)])


def warm_start_values(shapes: Mapping[str, Sequence[int]], weights: Mapping[str, np.ndarray]
                      ) -> Tuple[Dict[str, np.ndarray], int, List[str]]:
    """The values a fresh model with variables `shapes` {name: shape} takes from another
    model's `weights`: (values {name: float32 array}, how many were widened, names left fresh).

    Same name and shape: copied. A kernel with more input rows than the source's (the
    encoder's U-Net skips of a track-conditional model, concatenated after the layer's own
    input): copied into the leading rows, the new rows zero, so the model first plays
    exactly as the source and learns to use its condition. Anything else (the encoder, a
    track the source lacks, a discriminator where only a generator shipped) stays fresh."""
    values, widened, fresh = {}, 0, []
    for name, shape in shapes.items():
        value = np.asarray(weights[name], np.float32) if name in weights else None
        if value is not None and list(value.shape) != list(shape):
            value = widen(value, shape)
            widened += value is not None
        if value is None:
            fresh.append(name)
        else:
            values[name] = value
    return values, widened, fresh
