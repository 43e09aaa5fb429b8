"""Averages of weights of one model, numpy only: the mean of training states (checkpoint
averaging, `musegan average-states`) and of shipped generators (a weight soup of one lineage,
`musegan average-generators`)."""
from pathlib import Path
from typing import Callable, List, Sequence

from musegan import atomic
from musegan.errors import UsageError
from musegan.weights.states import (average_states, load_generator, load_state, mean_of, same_model, save_generator,
                                    save_state, state_step)

__all__ = ["average_state_files", "average_generators"]


def average_state_files(out: Path, sources: Sequence[Path], overwrite: bool = False,
                        log: Callable = print) -> List[Path]:
    """Write the mean of the training states `sources` (folders or npz files, two or more, of
    one model) as a state in folder `out`; Adam's moments are dropped (`states.average_states`)."""
    if len(sources) < 2:
        raise UsageError(f"{sources[0]}: one state given; averaging needs two or more")
    atomic.check_writable(out, overwrite)
    loaded = [load_state(p) for p in sources]
    paths = save_state(out, average_states(loaded, [str(p) for p in sources]))
    steps = ", ".join(f"{state_step(s):,}" for s in loaded)
    log(f"{out}: mean of {len(loaded)} states (steps {steps}) in {len(paths)} file(s)")
    return paths



def average_generators(out: Path, sources: Sequence[Path], overwrite: bool = False,
                       log: Callable = print) -> Path:
    """Write the mean of shipped generators `sources` (generator.npz files, two or more, of one
    model: a weight soup of one lineage, such as a model and its fine-tune) to `out`, itself a
    shipped generator.npz."""
    if len(sources) < 2:
        raise UsageError(f"{sources[0]}: one generator given; averaging needs two or more")
    atomic.check_writable(out, overwrite)
    weights = [load_generator(p) for p in sources]
    names = same_model(weights, [str(p) for p in sources], lambda n: True, "generator")
    save_generator(out, {n: mean_of([w[n] for w in weights]) for n in names})
    log(f"{out}: mean of {len(weights)} generators ({len(names)} arrays)")
    return Path(out)
