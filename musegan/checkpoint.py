"""The one place that saves and loads model weights.

Training state: `tf.compat.v1.train.Saver` checkpoints in `EXP_DIR/model/`
(TensorFlow writes each to temporary names and renames it into place, and
updates the `checkpoint` index file atomically afterwards, so a kill leaves
the previous checkpoint the latest). Shipped weights: `EXP_DIR/pretrained/
generator.npz`, the generator's variables only, as float16.
"""
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import tensorflow as tf

from musegan.errors import CheckpointError
from musegan.io import save_npz

v1 = tf.compat.v1
PRETRAINED = Path("pretrained") / "generator.npz"


def saver(max_to_keep: int = 5, var_list=None) -> v1.train.Saver:
    return v1.train.Saver(var_list=var_list, max_to_keep=max_to_keep, save_relative_paths=True)


def latest(model_dir: Path) -> Optional[str]:
    return tf.train.latest_checkpoint(str(model_dir)) if Path(model_dir).is_dir() else None


def _restore(sess, saver_: v1.train.Saver, path: str) -> None:
    try:
        saver_.restore(sess, path)
    except (tf.errors.NotFoundError, tf.errors.InvalidArgumentError) as e:
        first = str(e.message).strip().splitlines()[0]
        raise CheckpointError(f"{path}: checkpoint does not match this experiment's model ({first[:200]})") from None
    except tf.errors.OpError as e:
        first = str(e.message).strip().splitlines()[0]
        raise CheckpointError(f"{path}: cannot read checkpoint ({first[:200]})") from None


def restore_or_initialize(sess, saver_: v1.train.Saver, model_dir: Path, init_op, step: tf.Tensor,
                          log: Callable = print) -> int:
    """Restore the latest checkpoint in `model_dir`, or run `init_op`; return the step."""
    path = latest(model_dir)
    if path is None:
        sess.run(init_op)
    else:
        _restore(sess, saver_, path)
        log(f"resumed from {path}")
    return int(sess.run(step))


def save(sess, saver_: v1.train.Saver, model_dir: Path, step: int) -> None:
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    prefix = str(model_dir / "model.ckpt")
    if latest(model_dir) == f"{prefix}-{step}":
        return
    saver_.save(sess, prefix, global_step=step, write_meta_graph=False)


def restore_generator(sess, exp_dir: Path) -> str:
    """Load generator weights into the session's graph: the experiment's latest
    training checkpoint, else its shipped `pretrained/generator.npz`. Returns the source."""
    exp_dir = Path(exp_dir)
    variables = v1.get_collection(v1.GraphKeys.GLOBAL_VARIABLES, scope="Generator/")
    path = latest(exp_dir / "model")
    if path is not None:
        _restore(sess, saver(var_list=variables), path)
        return path
    shipped = exp_dir / PRETRAINED
    if shipped.is_file():
        _assign_npz(sess, variables, shipped)
        return str(shipped)
    raise CheckpointError(f"{exp_dir}: no trained model (neither a checkpoint in {exp_dir / 'model'} "
                          f"nor {shipped}); train one with `musegan train {exp_dir}`")


def _assign_npz(sess, variables, path: Path) -> None:
    try:
        with np.load(path, allow_pickle=False) as f:
            values = {k: f[k] for k in f.files}
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{path}: cannot read weights ({e})") from None
    names = {v.op.name: v for v in variables}
    if set(values) != set(names):
        missing = sorted(set(names) - set(values))[:3]
        raise CheckpointError(f"{path}: weights do not match this experiment's model "
                              f"(missing e.g. {missing}, {len(set(values) - set(names))} unexpected)")
    for name, var in names.items():
        if tuple(values[name].shape) != tuple(var.shape.as_list()):
            raise CheckpointError(f"{path}: '{name}' has shape {values[name].shape}, "
                                  f"the model needs {tuple(var.shape.as_list())}")
        var.load(values[name].astype(np.float32), sess)


def export_generator(sess, out: Path) -> Path:
    """Write the session's generator variables to `out` as float16 (shipped weights)."""
    variables = v1.get_collection(v1.GraphKeys.GLOBAL_VARIABLES, scope="Generator/")
    values = sess.run({v.op.name: v for v in variables})
    return save_npz(out, **{k: v.astype(np.float16) for k, v in values.items()})
