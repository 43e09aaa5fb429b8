"""The JAX backend of training, for machines with JAX and no TensorFlow: the step
(musegan.training.step) as one jitted call per iteration (`n_dis_updates_per_gen_update` D
updates and one G update, batches sampled on the device), with an Adam that reproduces
tf.compat.v1's (`adam_update`; separate beta powers for D and G). Training states live in
`EXP_DIR/state/step-STEP/` (musegan.weights.store) under the TensorFlow variable names, the
optimizer's included, so `musegan import-state` and `export-state` move them to and from
the tf backend's checkpoints. Nothing here imports TensorFlow.
"""
import time
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from musegan.errors import CheckpointError, UsageError
from musegan.music.data import PackedPhrases
from musegan.nets.jax_ops import JaxOps, Lookup, init_variables, variable_specs
from musegan.nets.network import MuseGAN
from musegan.nets.spec import trained_generator_scopes
from musegan.training import step as train_step
from musegan.training.jax_state import adam_init, adam_update, from_flat, to_flat
from musegan.training.losses import learning_rate
from musegan.weights import store
from musegan.weights.states import load_generator, load_state, state_step, warm_start_values

__all__ = ["Trainer", "JaxTraining", "warm_start_weights"]

Array = jnp.ndarray
Params = Dict[str, Array]
MOVING = ("/moving_mean", "/moving_variance")


class _KeyDraw:
    """`musegan.training.step.Draw` from a PRNG key, split once per draw."""

    def __init__(self, key):
        self.key = key

    def _next(self):
        self.key, key = jax.random.split(self.key)
        return key

    def integers(self, shape, low: int, high: int) -> Array:
        return jax.random.randint(self._next(), shape, low, high, jnp.int32)

    def normal(self, shape) -> Array:
        return jax.random.normal(self._next(), shape, jnp.float32)

    def uniform(self, shape) -> Array:
        return jax.random.uniform(self._next(), shape, jnp.float32)


class Trainer:
    """The training step as pure functions of a state pytree:
    {"g": trainable G variables, "bn": G moving averages, "d": D variables,
     "g_adam", "d_adam": Adam slots and beta powers, "step": int32 G updates, "key": PRNG key}
    and with `ema_decay` > 0 "ema": an exponential moving average of "g", the generator a
    run evaluates and ships."""

    def __init__(self, params: dict, config: dict):
        self.params, self.config, self.ema = params, config, config["ema_decay"]
        self.specs = variable_specs(params)
        self.g_names = [n for n in self.specs if n.startswith("Generator/") and not n.endswith(MOVING)]
        # the G variables a G update changes (`train_tracks`)
        self.trained_scopes = trained_generator_scopes(params, config["train_tracks"])
        self.trained_names = [n for n in self.g_names if n.startswith(self.trained_scopes)]
        self.bn_names = [n for n in self.specs if n.endswith(MOVING)]
        self.d_names = [n for n in self.specs if n.startswith("Discriminator/")]

    def model(self, values: Optional[Mapping[str, Array]] = None) -> MuseGAN:
        """The networks on variables `values` {TF name: array} (None: array ops only)."""
        return MuseGAN(self.params, JaxOps(None if values is None else Lookup(values)))

    # ---------------------------------------------------------------- state
    def init_state(self, key) -> dict:
        """Fresh weights (TF's initializers), fresh Adam, step 0."""
        k_init, k_train = jax.random.split(key)
        values = init_variables(self.specs, k_init)
        b1, b2 = self.config["adam_beta1"], self.config["adam_beta2"]
        g = {n: values[n] for n in self.g_names}
        d = {n: values[n] for n in self.d_names}
        state = {"g": g, "bn": {n: values[n] for n in self.bn_names}, "d": d,
                 "g_adam": adam_init({n: g[n] for n in self.trained_names}, b1, b2), "d_adam": adam_init(d, b1, b2),
                 "step": jnp.int32(0), "key": k_train}
        return self.with_ema(state)

    def with_ema(self, state: dict, ema: Optional[Params] = None) -> dict:
        """`state` with its "ema" (given, else a copy of G's weights) when EMA is on."""
        if not self.ema:
            return state
        return {**state, "ema": ema if ema is not None else {n: jnp.array(v) for n, v in state["g"].items()}}

    def warm_start(self, state: dict, weights: Mapping[str, np.ndarray]) -> Tuple[dict, int, int, List[str]]:
        """`state` (fresh) with G and D variables set from another model's `weights` by
        musegan.weights.states.warm_start_values; the EMA restarts from the new G.
        Returns (state, copied, widened, names left fresh)."""
        values, widened, fresh = warm_start_values({n: shape for n, (shape, _) in self.specs.items()}, weights)
        state = dict(state)
        for part in ("g", "bn", "d"):
            state[part] = {n: jnp.asarray(values[n]) if n in values else v for n, v in state[part].items()}
        state.pop("ema", None)
        return self.with_ema(state), len(values), widened, fresh

    def generator_weights(self, state: dict) -> Dict[str, Array]:
        """{TF name: array} of the generator a user gets: the EMA of G where kept, and the
        batch-norm moving averages (what a shipped generator.npz holds)."""
        return {**state.get("ema", state["g"]), **state["bn"]}

    def n_parameters(self) -> Dict[str, int]:
        size = lambda names: int(sum(np.prod(self.specs[n][0]) for n in names))
        return {"generator": size(self.g_names), "discriminator": size(self.d_names),
                "trained": size(self.trained_names)}

    # ---------------------------------------------------------------- steps
    def d_update(self, state: dict, packed: Array, draw) -> Tuple[dict, Array]:
        """One D update on inputs from `draw`: (new state, d_loss before the update)."""
        real, z, eps = train_step.d_inputs(self.model(), draw, self.config, packed)
        loss, grads = jax.value_and_grad(lambda d: train_step.d_loss(
            self.model({**state["g"], **state["bn"], **d}), self.config, real, z, eps))(state["d"])
        lr = learning_rate(JaxOps(), state["step"], self.config)
        d, slots = adam_update(state["d"], grads, state["d_adam"], lr, self.config["adam_beta1"],
                               self.config["adam_beta2"])
        return {**state, "d": d, "d_adam": slots}, loss

    def g_update(self, state: dict, packed: Array, draw) -> Tuple[dict, Array]:
        """One G update on inputs from `draw`: Adam on the trained G variables, the batch-norm
        moving averages from this update's batch, the EMA, step + 1; (new state, g_loss)."""
        real, z = train_step.g_inputs(self.model(), draw, self.config, packed)

        def loss(trained):
            model = self.model({**state["g"], **trained, **state["bn"], **state["d"]})
            value = train_step.g_loss(model, self.config, real, z)
            return value, train_step.moving_average_steps(model.ops, self.trained_scopes)

        (value, decrease), grads = jax.value_and_grad(loss, has_aux=True)(
            {n: state["g"][n] for n in self.trained_names})
        lr = learning_rate(JaxOps(), state["step"], self.config)
        trained, slots = adam_update({n: state["g"][n] for n in self.trained_names}, grads, state["g_adam"], lr,
                                     self.config["adam_beta1"], self.config["adam_beta2"])
        g = {**state["g"], **trained}
        bn = {n: v - decrease[n] if n in decrease else v for n, v in state["bn"].items()}
        new = {**state, "g": g, "g_adam": slots, "bn": bn, "step": state["step"] + 1}
        if "ema" in state:
            new["ema"] = {n: e + train_step.ema_step(e, g[n], self.ema) for n, e in state["ema"].items()}
        return new, value

    def _d_updates(self, state: dict, packed: Array, key, n: int) -> Tuple[dict, Array]:
        """`n` D updates, the `i`th on inputs drawn from `fold_in(key, i)`: (state, last d_loss)."""
        return lax.fori_loop(0, n, lambda i, carry: self.d_update(carry[0], packed, _KeyDraw(jax.random.fold_in(key, i))),
                             (state, jnp.float32(0.0)))

    def critic_updates(self, state: dict, packed: Array, n: int) -> Tuple[dict, Array]:
        """`n` D-only updates (the step unchanged): (state, last d_loss). Jit it with `n` static."""
        key, k_iter = jax.random.split(state["key"])
        state, d_loss = self._d_updates(state, packed, k_iter, n)
        return {**state, "key": key}, d_loss

    def iteration(self, state: dict, packed: Array) -> Tuple[dict, Tuple[Array, Array]]:
        """`n_dis_updates_per_gen_update` D updates then one G update, each on fresh batches,
        latents and eps: (state, (last d_loss, g_loss)). Jit it (`compile`)."""
        n_dis = self.config["n_dis_updates_per_gen_update"]
        key, k_iter = jax.random.split(state["key"])
        state, d_loss = self._d_updates(state, packed, k_iter, n_dis)
        state, g_loss = self.g_update(state, packed, _KeyDraw(jax.random.fold_in(k_iter, n_dis)))
        return {**state, "key": key}, (d_loss, g_loss)

    def compile(self, state: dict, packed: Array):
        """The iteration compiled for these shapes (the state's buffers are donated)."""
        return jax.jit(self.iteration, donate_argnums=0).lower(state, packed).compile()

    def generate(self, g: Params, bn: Params, z: Array, condition: Optional[Array]) -> Array:
        """The generator in inference mode on weights `g` and moving averages `bn`."""
        return self.model({**g, **bn}).generator(z, condition, training=False)


@jax.jit
def _all_finite(weights: dict) -> Array:
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(weights)]))


def _finite(state: dict) -> bool:
    """All weights finite (one compiled reduction)."""
    return bool(_all_finite({part: state[part] for part in ("g", "bn", "d", "ema") if part in state}))


def _state_dir(exp_dir: Path, checkpoint: Path) -> Path:
    """Where the training state of a checkpoint goes (`musegan export-state EXP THERE`)."""
    return exp_dir / store.STATE / f"step-{store.step_of(checkpoint)}"


def warm_start_weights(source: Path) -> Tuple[Dict[str, np.ndarray], str]:
    """The weights `init_from` names for a jax run, and where they come from: the source's
    latest training state, else its shipped generator. A TensorFlow checkpoint newer than
    any state is what the tf backend would start from, and JAX cannot read it: refused
    rather than silently taking older weights."""
    source = Path(source)
    checkpoint = store.newer_checkpoint(source)
    if checkpoint is not None:
        raise UsageError(f"{source}: init_from names an experiment whose latest weights are a TensorFlow "
                         f"checkpoint ({checkpoint}), which the jax backend cannot read; where TensorFlow is, "
                         f"`musegan export-state {source} {_state_dir(source, checkpoint)}` makes it a training state")
    state = store.latest_state(source)
    if state is not None:
        return store.state_weights(state), str(state)
    shipped = source / store.PRETRAINED
    if shipped.is_file():
        return load_generator(shipped), str(shipped)
    raise store.no_model(source)


class JaxTraining:
    """A training run's JAX side (musegan.training.loop's backend): the state on the device,
    restored from the latest in `EXP_DIR/state/` or initialized (`fresh`)."""

    name = "jax"
    warmup_chunk = 50  # D updates per jitted call in the critic warm-up

    def __init__(self, exp_dir: Path, params: dict, config: dict, train_data: PackedPhrases, log):
        self.exp_dir, self.params, self.config = Path(exp_dir), params, config
        self.save_dir = self.exp_dir / store.STATE
        log(f"jax {jax.__version__}, backend {jax.default_backend()}, devices "
            f"{', '.join(str(d) for d in jax.devices())}")
        checkpoint = store.newer_checkpoint(self.exp_dir)
        if checkpoint is not None:
            raise CheckpointError(f"{checkpoint}: a TensorFlow checkpoint newer than any training state in "
                                  f"{self.save_dir}; continue it with `--backend tf`, or here after `musegan "
                                  f"export-state {self.exp_dir} {_state_dir(self.exp_dir, checkpoint)} --with-adam`")
        latest = store.latest_state(self.exp_dir)
        self.trainer = trainer = Trainer(params, config)
        self.n_params = trainer.n_parameters()
        key = jax.random.fold_in(jax.random.PRNGKey(config["seed"]), 0)
        self.fresh = latest is None
        if latest is not None:
            flat = load_state(latest)
            # a fresh random stream per resumed step, so a resumed run does not replay batches
            self.state, notes = from_flat(trainer, flat, str(latest), jax.random.fold_in(key, state_step(flat)))
            log(f"resumed from {latest}" + "".join(f"; {n}" for n in notes))
        else:
            self.state = trainer.init_state(key)
        self.step = int(self.state["step"])
        self.packed = jax.device_put(jnp.asarray(train_data.packed))
        if config["save_summaries_steps"]:
            log("save_summaries_steps: TensorBoard summaries need TensorFlow; the jax backend writes none")
        t = time.time()
        self._iteration = trainer.compile(self.state, self.packed)
        log(f"compiled one iteration ({config['n_dis_updates_per_gen_update']} D + 1 G updates) "
            f"in {time.time() - t:.1f} s")
        self._critic = jax.jit(trainer.critic_updates, static_argnums=2, donate_argnums=0)
        self._generate = jax.jit(trainer.generate)

    def warm_start(self, source: Path, log) -> List[str]:
        """G and D from another experiment (`init_from`); the names left fresh."""
        weights, where = warm_start_weights(source)
        self.state, copied, widened, fresh = self.trainer.warm_start(self.state, weights)
        if not copied:
            raise CheckpointError(f"{where}: no variable of it matches this model; init_from must name an "
                                  "experiment of the same multitrack model")
        log(f"warm start from {where}: {copied} variables copied ({widened} with new input rows at zero), "
            f"{len(fresh)} fresh" + (f", e.g. {fresh[0]}" if fresh else ""))
        return fresh

    def iteration(self) -> Tuple[Array, Array]:
        self.state, losses = self._iteration(self.state, self.packed)
        return losses

    def critic_updates(self, n: int) -> Array:
        self.state, d_loss = self._critic(self.state, self.packed, n)
        return d_loss

    def generate(self, z: np.ndarray, condition: Optional[np.ndarray]) -> np.ndarray:
        """The generator (its EMA where kept) in inference mode, in batches of `batch_size` (the
        last one padded, so that one compiled program serves)."""
        batch, out = self.config["batch_size"], []
        weights = self.state.get("ema", self.state["g"])
        for start in range(0, len(z), batch):
            k = min(batch, len(z) - start)
            pad = lambda a: None if a is None else np.concatenate(
                [a[start:start + k], np.zeros((batch - k, *a.shape[1:]), np.float32)])
            out.append(np.asarray(self._generate(weights, self.state["bn"], pad(z), pad(condition)))[:k])
        return np.concatenate(out)

    def generator_weights(self) -> Dict[str, np.ndarray]:
        return {n: np.asarray(v, np.float32) for n, v in jax.device_get(self.trainer.generator_weights(self.state)).items()}

    def flat_state(self, with_adam: bool = False) -> Dict[str, np.ndarray]:
        return to_flat(self.trainer, self.state, with_adam)

    def finite(self) -> bool:
        return _finite(self.state)

    def save(self, step: int) -> str:
        return str(store.save_training_state(self.exp_dir, self.flat_state(with_adam=True), step,
                                             self.config["keep_checkpoint_max"]))

    def summarize(self, step: int, scalars: Dict[str, float], image: Optional[np.ndarray] = None) -> None:
        """TensorBoard needs TensorFlow: nothing (said once at the start)."""

    def close(self) -> None:
        pass
