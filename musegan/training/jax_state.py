"""The jax backend's optimizer (tf.compat.v1's Adam, reproduced) and its state as a flat
{TensorFlow variable name: array} (musegan.weights.states) and back, the optimizer's
variables named as the tf backend's TrainGraph names them."""
from typing import Dict, List, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from musegan.errors import CheckpointError
from musegan.weights.states import EMA, STEP

__all__ = ["ADAM_TF", "adam_init", "adam_update", "to_flat", "from_flat"]

Array = jnp.ndarray
Params = Dict[str, Array]
ADAM_EPSILON = 1e-8

# TF names of the optimizer state (read off the TrainGraph: both AdamOptimizers are built
# in scope "optimizers", D's first, so G's beta powers get the suffix "_1")
ADAM_TF = {"d": ("d_adam", "optimizers/beta1_power", "optimizers/beta2_power"),
           "g": ("g_adam", "optimizers/beta1_power_1", "optimizers/beta2_power_1")}


def adam_init(variables: Params, beta1: float, beta2: float) -> dict:
    """tf.compat.v1 Adam state: zero slots m, v and beta powers starting at beta1, beta2."""
    return {"m": jax.tree.map(jnp.zeros_like, variables), "v": jax.tree.map(jnp.zeros_like, variables),
            "beta1_power": jnp.float32(beta1), "beta2_power": jnp.float32(beta2)}


def adam_update(variables: Params, grads: Params, slots: dict, lr: Array, beta1: float,
                beta2: float) -> Tuple[Params, dict]:
    """One tf.compat.v1.train.AdamOptimizer step (ResourceApplyAdam, then the beta powers
    multiplied): lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t); m += (g - m)(1 - beta1);
    v += (g^2 - v)(1 - beta2); var -= lr_t m / (sqrt(v) + 1e-8). All in float32, as TF."""
    b1, b2, one = jnp.float32(beta1), jnp.float32(beta2), jnp.float32(1.0)
    alpha = lr * jnp.sqrt(one - slots["beta2_power"]) / (one - slots["beta1_power"])
    m = jax.tree.map(lambda m, g: m + (g - m) * (one - b1), slots["m"], grads)
    v = jax.tree.map(lambda v, g: v + (jnp.square(g) - v) * (one - b2), slots["v"], grads)
    new = jax.tree.map(lambda x, m, v: x - (m * alpha) / (jnp.sqrt(v) + jnp.float32(ADAM_EPSILON)), variables, m, v)
    return new, {"m": m, "v": v, "beta1_power": slots["beta1_power"] * b1, "beta2_power": slots["beta2_power"] * b2}


def to_flat(trainer, state: dict, with_adam: bool = False) -> Dict[str, np.ndarray]:
    """{TF variable name: numpy array} of a `Trainer` state (what musegan.weights.states writes)."""
    state = jax.device_get(state)
    flat = {n: np.asarray(v, np.float32) for part in ("g", "bn", "d") for n, v in state[part].items()}
    flat[STEP] = np.asarray(state["step"], np.int64)
    for n, v in state.get("ema", {}).items():
        flat[EMA + n] = np.asarray(v, np.float32)
    if with_adam:
        for who in ("d", "g"):
            slot, p1, p2 = ADAM_TF[who]
            adam = state[f"{who}_adam"]
            for n in adam["m"]:
                flat[f"optimizers/{n}/{slot}"] = np.asarray(adam["m"][n], np.float32)
                flat[f"optimizers/{n}/{slot}_1"] = np.asarray(adam["v"][n], np.float32)
            flat[p1] = np.asarray(adam["beta1_power"], np.float32)
            flat[p2] = np.asarray(adam["beta2_power"], np.float32)
    return flat


def from_flat(trainer, flat: Dict[str, np.ndarray], source: str, key) -> Tuple[dict, List[str]]:
    """A `Trainer` state from {TF name: array} (e.g. musegan.weights.states.load_state); every G
    and D variable and `global_step` must be there with its shape. Adam state is optional per
    optimizer (all of its slots and beta powers, or none: Adam restarts). Returns (state,
    notes) with a note for each optimizer that restarts and for the EMA where it does."""
    required = list(trainer.specs) + [STEP]
    missing = [n for n in required if n not in flat]
    if missing:
        raise CheckpointError(f"{source}: state does not match this experiment's model "
                              f"({len(missing)} variables are not in it, e.g. '{missing[0]}')")
    for name, (shape, _) in trainer.specs.items():
        if tuple(flat[name].shape) != shape:
            raise CheckpointError(f"{source}: '{name}' has shape {tuple(flat[name].shape)} in the state, "
                                  f"{shape} in the model; was params.yaml changed?")
    adam_names = {}
    for who, names in (("d", trainer.d_names), ("g", trainer.trained_names)):
        slot, p1, p2 = ADAM_TF[who]
        adam_names[who] = ([f"optimizers/{n}/{slot}" for n in names] + [f"optimizers/{n}/{slot}_1" for n in names]
                           + [p1, p2])
    known = set(required) | {n for names in adam_names.values() for n in names} | {EMA + n for n in trainer.g_names}
    unknown = sorted(set(flat) - known)
    if unknown:
        raise CheckpointError(f"{source}: '{unknown[0]}' ({len(unknown)} names in all) is not a variable "
                              "of this experiment's model")
    f32 = lambda n: jnp.asarray(flat[n], jnp.float32)
    state = {"g": {n: f32(n) for n in trainer.g_names}, "bn": {n: f32(n) for n in trainer.bn_names},
             "d": {n: f32(n) for n in trainer.d_names}, "step": jnp.int32(int(flat[STEP])), "key": key}
    notes = []
    ema_present = [n for n in trainer.g_names if EMA + n in flat]
    if trainer.ema:
        if len(ema_present) == len(trainer.g_names):
            state = trainer.with_ema(state, {n: f32(EMA + n) for n in trainer.g_names})
        else:
            state = trainer.with_ema(state)
            notes.append(f"the EMA of G starts from G's weights ({source} has no complete EMA)")
    elif ema_present:
        notes.append(f"{source}'s EMA of G is not used (ema_decay is 0): training goes on from its live G")
    for who, names in (("d", trainer.d_names), ("g", trainer.trained_names)):
        present = [n for n in adam_names[who] if n in flat]
        slot, p1, p2 = ADAM_TF[who]
        if not present:
            state[f"{who}_adam"] = adam_init({n: state[who][n] for n in names}, trainer.config["adam_beta1"],
                                             trainer.config["adam_beta2"])
            notes.append(f"{who.upper()} Adam restarts (no optimizer state in {source})")
            continue
        if len(present) != len(adam_names[who]):
            absent = next(n for n in adam_names[who] if n not in flat)
            raise CheckpointError(f"{source}: incomplete optimizer state (has {len(present)} of "
                                  f"{len(adam_names[who])} {slot} variables, not '{absent}')")
        for n in names:
            if flat[f"optimizers/{n}/{slot}"].shape != flat[n].shape:
                raise CheckpointError(f"{source}: 'optimizers/{n}/{slot}' does not have the shape of '{n}'")
        state[f"{who}_adam"] = {"m": {n: f32(f"optimizers/{n}/{slot}") for n in names},
                                "v": {n: f32(f"optimizers/{n}/{slot}_1") for n in names},
                                "beta1_power": f32(p1).reshape(()), "beta2_power": f32(p2).reshape(())}
    return state, notes
