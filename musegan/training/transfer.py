"""Training states across the two backends: a TensorFlow checkpoint of an experiment written
as a state folder (`musegan export-state`) and back (`musegan import-state`), by variable name.
The tf backend's training graph is built (without data) so that the variables, Adam's
included, are exactly those `musegan train` saves and restores."""
import glob
from pathlib import Path
from typing import Callable, List, Optional

import numpy as np
import tensorflow as tf

from musegan.atomic import check_writable
from musegan.config import load_experiment
from musegan.errors import CheckpointError
from musegan.music.data import PackedPhrases
from musegan.training.tf_backend import TrainGraph
from musegan.weights import checkpoints
from musegan.weights.store import MODEL, prefixes, resolve_state, step_of
from musegan.weights.states import EMA, STEP, ema_as_generator, load_state, save_state, state_step

__all__ = ["import_state", "export_state"]

v1 = tf.compat.v1


def _is_model_variable(name: str) -> bool:
    """Weights, batch-norm moving averages, G's EMA and the step; the rest (optimizers/...) is Adam's."""
    return name.startswith(("Generator/", "Discriminator/", EMA)) or name == "global_step"


def _training_graph(exp_dir: Path):
    """(graph, TrainGraph, Saver, config) of an experiment, built without its data: the
    variables (Adam's included) are exactly those `musegan train` saves and restores."""
    config, params = load_experiment(exp_dir)
    shape = tuple(params["data_shape"])
    # one empty phrase stands in for the data: only its shape matters to the variables
    dummy = PackedPhrases(np.zeros((1, (int(np.prod(shape)) + 7) // 8), np.uint8), shape)
    v1.disable_eager_execution()
    graph = tf.Graph()
    with graph.as_default():
        tg = TrainGraph(params, config, dummy)
        saver_ = checkpoints.saver(max_to_keep=config["keep_checkpoint_max"])
    return graph, tg, saver_, config


def import_state(exp_dir: Path, state: Path, overwrite: bool = False, log: Callable = print) -> str:
    """Write the training state `state` (folder of shards or npz; a folder of states `step-STEP/`,
    such as `EXP_DIR/state`: its latest) as a checkpoint of `exp_dir` at the state's step;
    return its prefix. A state with an EMA of G (`ema_decay`) gives the
    EMA as the generator, unless the experiment keeps an EMA itself (`ema_decay`): then both
    come over (a state without one starts it from G). Every G and D variable and the step must be in
    the state; Adam's variables are taken when there, else start fresh (Adam restarts)."""
    exp_dir, state = Path(exp_dir), resolve_state(Path(state))
    arrays = load_state(state)
    step = state_step(arrays)
    model_dir = exp_dir / MODEL
    existing = checkpoints.latest(model_dir)
    if existing is not None and step_of(Path(existing)) >= step and not overwrite:
        raise CheckpointError(f"{existing}: a checkpoint at step {step_of(Path(existing))} exists, the state {state} "
                              f"is at step {step}; pass --overwrite to replace it (and any later ones)")
    graph, tg, saver_, _ = _training_graph(exp_dir)
    n_ema = 0
    if not tg.ema:
        arrays, n_ema = ema_as_generator(arrays)
    elif not all(e.op.name in arrays for e in tg.ema):
        arrays = {n: v for n, v in arrays.items() if not n.startswith(EMA)}
        arrays.update({e.op.name: arrays[e.op.name[len(EMA):]] for e in tg.ema if e.op.name[len(EMA):] in arrays})
    with graph.as_default():
        variables = {v.op.name: v for v in v1.global_variables()}
        missing = [n for n in variables if _is_model_variable(n) and n not in arrays]
        unknown = sorted(set(arrays) - set(variables))
        wrong = [(n, arrays[n].shape, tuple(variables[n].shape.as_list())) for n in arrays
                 if n in variables and tuple(arrays[n].shape) != tuple(variables[n].shape.as_list())]
        if missing or unknown or wrong:
            what = (f"'{wrong[0][0]}' is {wrong[0][1]} in the state, {wrong[0][2]} in the model" if wrong
                    else f"{len(missing)} variables are not in it, e.g. '{missing[0]}'" if missing
                    else f"'{unknown[0]}' ({len(unknown)} names in all) is not a variable of the model")
            raise CheckpointError(f"{state}: state does not match the model of {exp_dir} ({what})")
        names = sorted(arrays)
        holders = {n: v1.placeholder(variables[n].dtype.base_dtype, variables[n].shape, name=f"import_{i}")
                   for i, n in enumerate(names)}
        assign = tf.group(*[variables[n].assign(holders[n]) for n in names])
    graph.finalize()
    feed = {holders[n]: np.asarray(arrays[n]).astype(variables[n].dtype.base_dtype.as_numpy_dtype) for n in names}
    with v1.Session(graph=graph) as sess:
        sess.run(tg.init)  # Adam's variables absent from the state keep their initial values
        sess.run(assign, feed)
        if int(sess.run(tg.step)) != step:
            raise CheckpointError(f"{state}: '{STEP}' did not load")  # cannot happen; guards the save below
        if overwrite:  # the checkpoints being replaced: this step and later ones
            for prefix in prefixes(model_dir):
                if step_of(prefix) >= step:
                    for f in prefix.parent.glob(f"{glob.escape(prefix.name)}.*"):
                        f.unlink()
        checkpoints.count_existing(saver_, model_dir)
        checkpoints.save(sess, saver_, model_dir, step)
    prefix = str(model_dir / f"model.ckpt-{step}")
    adam = sum(1 for n in arrays if not _is_model_variable(n))
    log(f"{prefix}: imported {len(arrays)} variables from {state} at step {step}"
        + ("" if adam else " (no Adam state: the optimizer restarts)")
        + (f"; the generator's {n_ema} weights are the state's EMA of them" if n_ema else ""))
    return prefix


def export_state(exp_dir: Path, out: Path, with_adam: bool = False, overwrite: bool = False,
                 step: Optional[int] = None, log: Callable = print) -> List[Path]:
    """Write the latest checkpoint of `exp_dir` (or the one of `step`) as a training state in
    folder `out` (weights, moving averages and step; Adam's slots with `with_adam`)."""
    exp_dir, out = Path(exp_dir), Path(out)
    path = checkpoints.latest(exp_dir / "model") if step is None else checkpoints.at_step(exp_dir / "model", step)
    if path is None:
        raise CheckpointError(f"{exp_dir / 'model'}: no checkpoint to export; train one with "
                              f"`musegan train {exp_dir}` or import a state with `musegan import-state`")
    check_writable(out, overwrite)
    graph, tg, saver_, _ = _training_graph(exp_dir)
    with graph.as_default():
        variables = {v.op.name: v for v in v1.global_variables()
                     if with_adam or _is_model_variable(v.op.name)}
    graph.finalize()
    with v1.Session(graph=graph) as sess:
        checkpoints.restore(sess, saver_, path)
        values = sess.run(variables)
    paths = save_state(out, values)
    log(f"{out}: {len(values)} variables of {path} at step {int(values['global_step'])} "
        f"in {len(paths)} file(s)" + ("" if with_adam else " (without Adam's state)"))
    return paths
