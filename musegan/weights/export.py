"""Exporting weights: what a user needs to generate (`pretrained/generator.npz`), from an
experiment's training checkpoints (the latest, or the mean of several)."""
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

from musegan import atomic
from musegan.config import load_experiment
from musegan.errors import UsageError
from musegan.weights import checkpoints
from musegan.weights.states import save_generator
from musegan.weights.store import PRETRAINED

__all__ = ["export_generator", "parse_steps"]


def export_generator(exp_dir: Path, steps: Optional[Sequence[int]] = None, live: bool = False,
                     to: Optional[Path] = None, overwrite: bool = False, log: Callable = print) -> Path:
    """Write the generator of `exp_dir`'s latest checkpoint (or the mean over its checkpoints at
    `steps`; with `live`, G's own weights rather than the EMA the checkpoints keep) to
    `pretrained/generator.npz` of `exp_dir`, or of `to` with `exp_dir`'s yaml files beside it
    (a folder that generates with these weights). Returns the written path."""
    exp_dir = Path(exp_dir)
    steps = list(steps) if steps else None
    target = Path(to) if to else exp_dir
    out = target / PRETRAINED
    atomic.check_writable(out, overwrite)
    copies = {} if target == exp_dir else _experiment_files(exp_dir, target)
    _, params = load_experiment(exp_dir)
    from musegan.nets.tf_ops import generator_variable_names  # TensorFlow: only where a checkpoint is read

    names = generator_variable_names(params)
    # all checks pass before any write
    weights = checkpoints.generator_to_ship(exp_dir, names, steps, ema=not live)
    for path, text in copies.items():
        atomic.save_text(path, text)
    save_generator(out, weights)
    if not steps:
        source = checkpoints.generator_weights(exp_dir)[1]
    elif len(steps) == 1:
        source = f"the checkpoint of {exp_dir / 'model'} at step {steps[0]}"
    else:
        source = f"the mean of {len(steps)} checkpoints of {exp_dir / 'model'} (steps {steps[0]}-{steps[-1]})"
    source += " (live weights, not their EMA)" if live else ""
    log(f"{out}: generator weights from {source} ({out.stat().st_size / 1e6:.1f} MB)")
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


