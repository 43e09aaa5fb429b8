"""Where an experiment keeps its weights, found by file name alone (no TensorFlow, no JAX):

- `EXP_DIR/model/model.ckpt-STEP.*`: TensorFlow Saver checkpoints (`musegan train`, the
  tf backend; read and written by musegan.weights.checkpoints);
- `EXP_DIR/state/step-STEP/state-NN.npz`: training states of the jax backend
  (musegan.weights.states: weights, Adam and the step under the TensorFlow variable names);
- `EXP_DIR/pretrained/generator.npz`: the shipped generator.

A state is written into a hidden folder beside its final name and renamed into place
whole, so a folder `step-STEP` is always one complete save; the oldest are deleted beyond
`keep_checkpoint_max`, as the Saver does with checkpoints.
"""
import glob
import re
import shutil
from pathlib import Path
from typing import Dict, List, Mapping, Optional

import numpy as np

from musegan.errors import CheckpointError
from musegan.weights.states import EMA, ema_as_generator, load_state, save_state

__all__ = ["MODEL", "STATE", "PRETRAINED", "prefixes", "step_of", "complete", "checkpoint_steps",
           "state_steps", "resolve_state", "latest_state", "save_training_state", "state_weights", "no_model", "newer_checkpoint", "newer_state"]

MODEL = "model"
STATE = "state"
PRETRAINED = Path("pretrained") / "generator.npz"
_STEP_DIR = re.compile(r"^step-(\d+)$")


# ------------------------------------------------------------- TensorFlow checkpoints
def prefixes(model_dir: Path) -> List[Path]:
    """Prefixes `model.ckpt-STEP` of the checkpoints whose index file is in `model_dir`."""
    return [p.with_suffix("") for p in Path(model_dir).glob("*.index") if step_of(p.with_suffix("")) is not None]


def step_of(prefix: Path) -> Optional[int]:
    number = Path(prefix).name.rpartition("-")[2]
    return int(number) if number.isdigit() else None


def complete(prefix: Path) -> bool:
    """Index and every data shard of the V2 checkpoint `prefix` exist."""
    prefix = Path(prefix)
    if not Path(f"{prefix}.index").is_file():
        return False
    shards = list(prefix.parent.glob(f"{glob.escape(prefix.name)}.data-*-of-*"))
    if not shards:
        return False
    total = shards[0].name.rpartition("-of-")[2]
    return total.isdigit() and len(shards) == int(total)


def checkpoint_steps(model_dir: Path) -> Dict[int, Path]:
    """{step: prefix} of the complete TensorFlow checkpoints in `model_dir` (`EXP_DIR/model`)."""
    return {step_of(p): p for p in prefixes(model_dir) if complete(p)}


# ------------------------------------------------------------------- training states
def state_steps(exp_dir: Path) -> Dict[int, Path]:
    """{step: folder} of the jax backend's training states of an experiment."""
    return _step_dirs(Path(exp_dir) / STATE)


def _step_dirs(folder: Path) -> Dict[int, Path]:
    if not folder.is_dir():
        return {}
    found = {}
    for path in folder.iterdir():
        m = _STEP_DIR.match(path.name)
        if m and path.is_dir():
            found[int(m.group(1))] = path
    return found


def resolve_state(path: Path) -> Path:
    """A state folder or npz as given; a folder of states `step-STEP/` (`EXP_DIR/state`): its latest."""
    steps = _step_dirs(Path(path))
    return steps[max(steps)] if steps else Path(path)


def latest_state(exp_dir: Path) -> Optional[Path]:
    """The folder of the experiment's latest training state, or None."""
    steps = state_steps(exp_dir)
    return steps[max(steps)] if steps else None


def save_training_state(exp_dir: Path, arrays: Mapping[str, np.ndarray], step: int, keep: int) -> Path:
    """Write `arrays` as the training state `EXP_DIR/state/step-STEP` (whole or not at all) and
    delete all but the `keep` latest; return its folder."""
    store = Path(exp_dir) / STATE
    final = store / f"step-{step}"
    staging = store / f".step-{step}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    save_state(staging, arrays)
    if final.exists():  # saved again at the same step (a resumed run that stopped at once)
        shutil.rmtree(final)
    staging.rename(final)
    steps = state_steps(exp_dir)
    for old in sorted(steps)[:-keep]:
        shutil.rmtree(steps[old], ignore_errors=True)
    return final


def state_weights(path: Path, generator_only: bool = False) -> Dict[str, np.ndarray]:
    """The weights a user would get from a training state: G's EMA in place of G where the
    state keeps one (`ema_decay`), the batch-norm moving averages, D's weights (not with
    `generator_only`); no optimizer state."""
    keep = ("Generator/", EMA + "Generator/") + (() if generator_only else ("Discriminator/",))
    arrays, _ = ema_as_generator({n: v for n, v in load_state(path).items() if n.startswith(keep)})
    return arrays


def no_model(exp_dir: Path) -> CheckpointError:
    """The error for an experiment with no weights at all."""
    exp_dir = Path(exp_dir)
    return CheckpointError(f"{exp_dir}: no trained model (neither a checkpoint in {exp_dir / MODEL}, "
                           f"a training state in {exp_dir / STATE} nor {exp_dir / PRETRAINED}); "
                           f"train one with `musegan train {exp_dir}`")


def newer_checkpoint(exp_dir: Path) -> Optional[Path]:
    """The experiment's latest TensorFlow checkpoint when it is at a later step than its latest
    training state (or there is none), else None."""
    found = checkpoint_steps(Path(exp_dir) / MODEL)
    state = latest_state(exp_dir)
    if not found or state is not None and step_of(state) >= max(found):
        return None
    return found[max(found)]


def newer_state(exp_dir: Path, checkpoint: Optional[Path]) -> Optional[Path]:
    """The experiment's latest training state when it is at a later step than `checkpoint`
    (its latest TensorFlow checkpoint, or None), else None."""
    state = latest_state(exp_dir)
    if state is None or (checkpoint is not None and step_of(state) <= step_of(checkpoint)):
        return None
    return state
