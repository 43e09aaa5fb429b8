"""TensorFlow checkpoints, and the weights the commands that generate read.

Training state of the tf backend: `tf.compat.v1.train.Saver` checkpoints in `EXP_DIR/model/`
(TensorFlow writes each to temporary names and renames it into place, and updates the
`checkpoint` index file atomically afterwards, so a kill leaves the previous checkpoint the
latest). A generator is read from the newest of the latest checkpoint and the jax backend's
latest training state (musegan.weights.store), else from the shipped
`EXP_DIR/pretrained/generator.npz` (the generator's variables only, mostly float16).
"""
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from musegan.errors import CheckpointError
from musegan.weights.states import EMA, load_generator, load_state, mean_of, warm_start_values
from musegan.weights.store import MODEL, PRETRAINED, checkpoint_steps, complete, newer_state, no_model, state_weights

v1 = tf.compat.v1


def saver(max_to_keep: int = 5, var_list=None) -> v1.train.Saver:
    return v1.train.Saver(var_list=var_list, max_to_keep=max_to_keep, save_relative_paths=True)


def latest(model_dir: Path) -> Optional[str]:
    """Prefix of the newest complete checkpoint in `model_dir`, or None.

    The one TensorFlow's `checkpoint` state file names, when its files are all
    there; else (state file missing, unreadable or naming deleted files) the
    highest step whose index and data files are all there. Never raises for a
    damaged state file: `tf.train.latest_checkpoint` raises for some and
    returns None for others, which would restart training from step 0.
    """
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        return None
    named = _state_file_names(model_dir)
    if named is not None and complete(named):
        return str(named)
    found = checkpoint_steps(model_dir)
    return str(found[max(found)]) if found else None


def _state_file_names(model_dir: Path) -> Optional[Path]:
    """The checkpoint prefix TensorFlow's `checkpoint` state file names, or None."""
    from google.protobuf import text_format
    from tensorflow.python.checkpoint.checkpoint_management import CheckpointState

    try:
        state = text_format.Parse((model_dir / "checkpoint").read_text(encoding="utf-8"), CheckpointState())
    except Exception:  # missing, unreadable, not UTF-8, not a CheckpointState: look at the files instead
        return None
    if not state.model_checkpoint_path:
        return None
    return model_dir / state.model_checkpoint_path  # absolute paths stay absolute


def _message(e: tf.errors.OpError) -> str:
    """The informative line of a TensorFlow error (its first line is often 'Graph execution error:')."""
    lines = [line.strip() for line in str(e.message).splitlines() if line.strip()]
    noise = ("Graph execution error", "Detected at node", "Node:", "[[", "Original stack trace", "File ")
    useful = [line for line in lines if not line.startswith(noise)]
    return " ".join((useful or lines or [type(e).__name__])[0].split())[:200]


def _check_shapes(path: str, variables) -> None:
    """CheckpointError unless the checkpoint holds every variable with its shape.

    Saver.restore does not check shapes of resource variables: a checkpoint of
    another model (or of params.yaml before an edit) would load and fail later.
    """
    try:
        shapes = tf.train.load_checkpoint(path).get_variable_to_shape_map()
    except (tf.errors.OpError, ValueError) as e:
        raise CheckpointError(f"{path}: cannot read checkpoint "
                              f"({_message(e) if isinstance(e, tf.errors.OpError) else e})") from None
    missing = [v.op.name for v in variables if v.op.name not in shapes]
    wrong = [(v.op.name, shapes[v.op.name], v.shape.as_list()) for v in variables
             if v.op.name in shapes and list(shapes[v.op.name]) != v.shape.as_list()]
    if missing and not wrong and all(n.startswith(EMA) for n in missing):
        raise CheckpointError(f"{path}: this checkpoint keeps no EMA of G; ema_decay can be turned on "
                              "for a fresh run only (set it to 0 to go on with this one)")
    if missing and not wrong and all(n.startswith("optimizers/Generator/") for n in missing):
        raise CheckpointError(f"{path}: this checkpoint has no optimizer state for {len(missing) // 2} of G's "
                              "variables; train_tracks can be widened for a fresh run only (set it back to "
                              "go on with this one)")
    if missing or wrong:
        what = (f"'{wrong[0][0]}' is {wrong[0][1]} in the checkpoint, {wrong[0][2]} in the model" if wrong
                else f"{len(missing)} variables are not in it, e.g. '{missing[0]}'")
        raise CheckpointError(f"{path}: checkpoint does not match this experiment's model ({what}); "
                              "was params.yaml changed after training?")


def restore(sess, saver_: v1.train.Saver, path: str, variables=None) -> None:
    if variables is None:
        variables = sess.graph.get_collection(v1.GraphKeys.GLOBAL_VARIABLES)
    _check_shapes(path, variables)
    try:
        saver_.restore(sess, path)
    except (tf.errors.NotFoundError, tf.errors.InvalidArgumentError) as e:
        raise CheckpointError(f"{path}: checkpoint does not match this experiment's model ({_message(e)})") from None
    except tf.errors.OpError as e:
        raise CheckpointError(f"{path}: cannot read checkpoint ({_message(e)})") from None


def restore_or_initialize(sess, saver_: v1.train.Saver, model_dir: Path, init_op, step: tf.Tensor,
                          log: Callable = print) -> int:
    """Restore the latest checkpoint in `model_dir`, or run `init_op`; return the step."""
    path = latest(model_dir)
    if path is None:
        sess.run(init_op)
    else:
        restore(sess, saver_, path)
        count_existing(saver_, Path(model_dir))
        log(f"resumed from {path}")
    return int(sess.run(step))


def count_existing(saver_: v1.train.Saver, model_dir: Path) -> None:
    """Make the checkpoints already in `model_dir` count towards max_to_keep (else every
    restart leaves its own). Saver.recover_last_checkpoints does this through a deprecated
    call that prints a warning; this passes the files' mtimes itself."""
    found = [p for _, p in sorted(checkpoint_steps(Path(model_dir)).items())]
    saver_.set_last_checkpoints_with_time([(str(p), Path(f"{p}.index").stat().st_mtime) for p in found])


def save(sess, saver_: v1.train.Saver, model_dir: Path, step: int) -> None:
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    prefix = str(model_dir / "model.ckpt")
    if latest(model_dir) == f"{prefix}-{step}":
        return
    saver_.save(sess, prefix, global_step=step, write_meta_graph=False)


def generator_weights(exp_dir: Path, generator_only: bool = True) -> Tuple[Mapping[str, np.ndarray], str]:
    """The generator's weights {variable name: array} and where they come from: the
    experiment's latest TensorFlow checkpoint (read lazily) or jax-backend training state,
    whichever is at the later step (where it keeps an EMA of G, `ema_decay`, the EMA), else
    its shipped `pretrained/generator.npz`. With `generator_only` False a checkpoint's or a
    state's discriminator comes too (a warm start's source)."""
    exp_dir = Path(exp_dir)
    path = latest(exp_dir / MODEL)
    state = newer_state(exp_dir, None if path is None else Path(path))
    if state is not None:
        return state_weights(state, generator_only), str(state)
    if path is not None:
        return _read(path), path
    shipped = exp_dir / PRETRAINED
    if shipped.is_file():
        return load_generator(shipped), str(shipped)
    raise no_model(exp_dir)


def _read(path: str, ema: bool = True) -> "_CheckpointWeights":
    """The variables of the checkpoint `path`, read as asked for (G's EMA where kept, unless
    `ema` is False: then G's live weights, the ones the optimizer updates)."""
    try:
        reader = tf.train.load_checkpoint(path)
        shapes = reader.get_variable_to_shape_map()
    except (tf.errors.OpError, ValueError) as e:
        raise CheckpointError(f"{path}: cannot read checkpoint ({_message(e) if isinstance(e, tf.errors.OpError) else e})") from None
    return _CheckpointWeights(reader, shapes, path, ema)


def averaged_generator(exp_dir: Path, steps: Sequence[int], names: Sequence[str],
                       ema: bool = True) -> Dict[str, np.ndarray]:
    """The mean of the generator variables `names` (G's EMA where kept and `ema`) over the
    experiment's checkpoints at `steps`: checkpoint averaging, as `musegan average-states` of the
    states `export-state --step` writes (`state.mean_of`), in one pass over the checkpoints."""
    model_dir = Path(exp_dir) / "model"
    readers = [_read(at_step(model_dir, step), ema) for step in steps]  # every step checked before any is read
    return {n: mean_of([r[n] for r in readers]) for n in names}


def warm_start(sess, variables, source_exp: Path, log: Callable = print) -> List[str]:
    """Set `variables` (a fresh model's G and D) from another experiment's weights: its
    latest checkpoint or training state, else its shipped generator (then D starts fresh), by the rule of
    `state.warm_start_values`. Returns the names of the variables left at their initializers."""
    weights, source = generator_weights(source_exp, generator_only=False)
    by_name = {v.op.name: v for v in variables}  # variables are not always hashable
    values, widened, fresh = warm_start_values({n: v.shape.as_list() for n, v in by_name.items()}, weights)
    if not values:
        raise CheckpointError(f"{source}: no variable of it matches this model; init_from must name an "
                              "experiment of the same multitrack model")
    # one run feeding the initial values: works on a finalized graph, and one run per variable costs seconds
    sess.run([by_name[n].initializer for n in values], {by_name[n].initial_value: v for n, v in values.items()})
    log(f"warm start from {source}: {len(values)} variables copied ({widened} with new input rows at zero), "
        f"{len(fresh)} fresh" + (f", e.g. {fresh[0]}" if fresh else ""))
    return fresh


class _CheckpointWeights(Mapping):
    """Variables of a checkpoint, read one at a time as the graph asks for them."""

    def __init__(self, reader, shapes, path: str, ema: bool = True):
        self._reader, self._shapes, self._path, self._ema = reader, shapes, path, ema

    def __getitem__(self, name):
        if name not in self._shapes:
            raise KeyError(name)
        if self._ema and EMA + name in self._shapes:  # the averaged generator is the one to play
            name = EMA + name
        try:
            return self._reader.get_tensor(name)
        except (tf.errors.OpError, RuntimeError) as e:  # a damaged data file shows only when read
            problem = _message(e) if isinstance(e, tf.errors.OpError) else " ".join(str(e).split())[:200]
            raise CheckpointError(f"{self._path}: cannot read checkpoint ({problem})") from None

    def __iter__(self):
        return iter(self._shapes)

    def __len__(self):
        return len(self._shapes)


def constant_getter(weights: Mapping[str, np.ndarray], source: str):
    """A variable-scope custom getter that builds each variable as a constant from `weights`.

    Inference graphs use it instead of variables plus a restore: creating and
    restoring ~200 resource variables takes seconds, constants a fraction of that.
    """
    def custom_getter(getter, name, shape=None, **kwargs):
        if name not in weights:
            raise CheckpointError(f"{source}: weights do not match this experiment's model (no '{name}')")
        value = weights[name]
        if shape is not None and tuple(value.shape) != tuple(shape):
            raise CheckpointError(f"{source}: '{name}' has shape {tuple(value.shape)}, "
                                  f"the model needs {tuple(shape)}")
        return tf.constant(np.asarray(value, np.float32), name=name.rsplit("/", 1)[-1])

    return custom_getter


def generator_to_ship(exp_dir: Path, names, steps: Optional[Sequence[int]] = None,
                      ema: bool = True) -> Dict[str, np.ndarray]:
    """The generator variables `names` of the experiment's latest checkpoint or training state
    (`generator_weights`), or their mean over its checkpoints at `steps` (`averaged_generator`):
    what `musegan export` writes. `ema=False` takes G's live weights where an EMA is kept too."""
    if steps:
        return averaged_generator(exp_dir, steps, names, ema)
    if not ema:
        path = latest(Path(exp_dir) / MODEL)
        state = newer_state(Path(exp_dir), None if path is None else Path(path))
        if state is not None:
            weights = load_state(state)
        elif path is not None:
            weights = _read(path, ema=False)
        else:
            raise CheckpointError(f"{exp_dir}: no checkpoint in {Path(exp_dir) / MODEL} to take live weights from")
    else:
        weights, _ = generator_weights(exp_dir)
    return {name: np.asarray(weights[name]) for name in names}


def at_step(model_dir: Path, step: int) -> str:
    """Prefix of the complete checkpoint of `step` in `model_dir`; CheckpointError naming the
    steps there otherwise."""
    model_dir = Path(model_dir)
    prefix = model_dir / f"model.ckpt-{step}"
    if complete(prefix):
        return str(prefix)
    steps = sorted(checkpoint_steps(model_dir))
    raise CheckpointError(f"{model_dir}: no checkpoint at step {step}; "
                          + (f"steps there: {', '.join(map(str, steps))}" if steps else "none there"))


