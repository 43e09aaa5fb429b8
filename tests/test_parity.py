"""The two backends of musegan.nets.layers.Ops compute the same: each primitive (the layers,
batch norm in both modes, the binary neuron), the Adam step, the losses and the gradient
penalty, the batch sampling; then one whole training iteration (2 D updates, 1 G update)
from the same weights and the same random inputs (TensorFlow's random ops are fed the
values the JAX side draws from a list).

The networks, losses and step are written once, so what can differ is only how each
backend computes an op; the iteration checks that they add up.
"""
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tensorflow as tf

from musegan import config as cfg
from musegan.music.data import pack
from musegan.music.splits import transpose
from musegan.nets import layers
from musegan.nets.jax_ops import JaxOps, Lookup
from musegan.nets.network import MuseGAN
from musegan.nets.tf_ops import TFOps
from musegan.training import step as train_step
from musegan.training.jax_backend import Trainer
from musegan.training.jax_state import adam_init, adam_update, to_flat
from musegan.training.losses import gan_losses, gradient_penalty, learning_rate
from musegan.training.tf_backend import TrainGraph
from tiny_exp import TINY_CONFIG, TINY_PARAMS, tiny_phrases

v1 = tf.compat.v1
v1.disable_eager_execution()

# Few tracks keep the graphs small: conditional cases on piano between two generated tracks
# (the condition is spliced into the middle), from-scratch ones on two tracks; drums stay in.
THREE = {"data_shape": [4, 24, 24, 3], "track_names": ["Drums", "Piano", "Bass"], "programs": [0, 0, 33],
         "is_drums": [True, False, False]}
TWO = {"data_shape": [4, 24, 24, 2], "track_names": ["Drums", "Bass"], "programs": [0, 33], "is_drums": [True, False]}
ALL_STREAMS = {**TINY_PARAMS["discriminator"], "use_chroma": True, "use_onset": True, "use_rhythm": True,
               "minibatch_std": True}
CASES = {
    "hybrid-conditional": {**THREE, "multitrack": "hybrid", "condition_track": "piano"},
    "composer-all-streams-binary": {**TWO, "multitrack": "composer", "condition_track": None,
                                    "discriminator": ALL_STREAMS,
                                    "generator": {**TINY_PARAMS["generator"], "binary_neurons": True}},
    "jamming-conditional": {**THREE, "multitrack": "jamming", "condition_track": "piano"},
}
SLOW_CASES = ("jamming-conditional",)  # ~20 s (TF builds the graph, XLA compiles)
BATCH = 4


def _tf(build, feed=None):
    """Run what `build()` returns in a fresh graph, variables initialized (seed 0)."""
    with tf.Graph().as_default():
        v1.set_random_seed(0)
        out = build()
        with v1.Session() as sess:
            sess.run(v1.global_variables_initializer())
            return sess.run(out, feed)


def _close(got, want, atol=1e-5, what=""):
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-4, atol=atol, err_msg=what)


# ------------------------------------------------------------------------------- layers
LAYERS = {
    "dense": (lambda ops, x: layers.dense(ops, x, 7, "layer"), (12, 5)),
    "dense-no-bias": (lambda ops, x: layers.dense(ops, x, 7, "layer", use_bias=False), (12, 5)),
    "upsample": (lambda ops, x: layers.upsample(ops, x, 3, 4, "layer"), (12, 5)),
    "downsample": (lambda ops, x: layers.downsample(ops, x, 2, 4, "layer"), (12, 5)),
    "conv_stride2": (lambda ops, x: layers.conv_stride2(ops, x, 6, 4, "layer"), (12, 5)),
    "batch_norm-training": (lambda ops, x: layers.batch_norm(ops, x, True, "layer"), (12, 5)),
    "batch_norm-inference": (lambda ops, x: layers.batch_norm(ops, x, False, "layer"), (12, 5)),
    "binary": (lambda ops, x: layers.binary_straight_through(ops, ops.tanh(x)), (12, 5)),
}


@pytest.mark.parametrize("name", LAYERS)
def test_layer_matches_tf(name):
    """Output, batch statistics and the gradients (w.r.t. the input and every variable) from the
    same weights; the JAX side asks for TF's variable names and shapes."""
    build, shape = LAYERS[name]
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape).astype(np.float32)
    with tf.Graph().as_default():
        ops, xt = TFOps(), tf.constant(x)
        y = build(ops, xt)
        cotangent = rng.standard_normal(y.shape.as_list()).astype(np.float32)
        names = list(ops.variables)
        grads = tf.gradients(tf.reduce_sum(y * cotangent), [xt] + [ops.variables[n] for n in names])
        with v1.Session() as sess:
            sess.run(v1.global_variables_initializer())
            values = {n: rng.uniform(0.5, 1.5, ops.variables[n].shape.as_list()).astype(np.float32) for n in names}
            for n in names:
                ops.variables[n].load(values[n], sess)
            want = sess.run({"y": y, "stats": ops.batch_stats,
                             "grads": {n: g for n, g in zip(["x"] + names, grads) if g is not None}})

    def jax_side(x, values):
        ops = JaxOps(Lookup(values))
        return build(ops, x), ops.batch_stats

    (y, stats), vjp = jax.vjp(jax_side, jnp.asarray(x), values)
    _close(y, want["y"], what="output")
    assert set(stats) == set(want["stats"]) == ({"layer"} if name == "batch_norm-training" else set())
    for scope in stats:
        _close(stats[scope][0], want["stats"][scope][0], what="batch mean")
        _close(stats[scope][1], want["stats"][scope][1], what="batch variance")
    grad_x, grad_values = vjp((jnp.asarray(cotangent), jax.tree.map(jnp.zeros_like, stats)))
    assert "x" in want["grads"] and (len(want["grads"]) > 1 or name == "binary")
    for n, g in want["grads"].items():
        _close(grad_x if n == "x" else grad_values[n], g, atol=1e-4, what=f"gradient w.r.t. {n}")
    if name == "binary":  # forward thresholds, backward passes through
        assert set(np.unique(np.asarray(y))) == {-1.0, 1.0}


def test_adam_matches_tf_adam_optimizer():
    rng = np.random.default_rng(1)
    x0 = rng.normal(size=(3, 4)).astype(np.float32)
    grads = rng.normal(size=(5, 3, 4)).astype(np.float32) * np.float32(10.0) ** rng.integers(-6, 2, (5, 3, 4))
    lrs = [1e-3, 1e-3, 5e-4, 2e-4, 1e-4]
    with tf.Graph().as_default():
        var = v1.get_variable("x", initializer=x0)
        g, lr = v1.placeholder(tf.float32, [3, 4]), v1.placeholder(tf.float32, [])
        train = v1.train.AdamOptimizer(learning_rate=lr, beta1=0.5, beta2=0.9).apply_gradients([(g, var)])
        with v1.Session() as sess:
            sess.run(v1.global_variables_initializer())
            for grad, rate in zip(grads, lrs):
                sess.run(train, {g: grad, lr: rate})
            want = sess.run(var)
    x, slots = {"x": jnp.asarray(x0)}, adam_init({"x": jnp.asarray(x0)}, 0.5, 0.9)
    for grad, rate in zip(grads, lrs):
        x, slots = adam_update(x, {"x": jnp.asarray(grad)}, slots, jnp.float32(rate), 0.5, 0.9)
    assert np.max(np.abs(np.asarray(x["x"]) - want)) < 1e-6
    assert float(slots["beta1_power"]) == pytest.approx(0.5 ** 6) and float(slots["beta2_power"]) == pytest.approx(0.9 ** 6)


@pytest.mark.parametrize("kind", ["wasserstein-gp", "hinge", "classic", "nonsaturating"])
def test_gan_losses_match_tf(kind):
    rng = np.random.default_rng(1)
    d_real, d_fake = rng.normal(size=(2, 2, 5)).astype(np.float32) * 3
    want = _tf(lambda: gan_losses(TFOps(), kind, tf.constant(d_real), tf.constant(d_fake)))
    got = gan_losses(JaxOps(), kind, jnp.asarray(d_real), jnp.asarray(d_fake))
    _close(got, want)
    if kind == "wasserstein-gp":  # the paper's: E[D(fake)] - E[D(real)], summed over discriminators
        _close(got[0], (d_fake.mean(1) - d_real.mean(1)).sum())


def test_learning_rate_schedule():
    config = {"learning_rate": 0.001, "lr_decay_start": 10, "steps": 20}
    steps = [0, 10, 15, 20, 25]
    want = [0.001, 0.001, 0.0005, 0.0, 0.0]
    got = [float(learning_rate(JaxOps(), jnp.int32(s), config)) for s in steps]
    assert np.allclose(got, want)
    assert np.allclose(_tf(lambda: [learning_rate(TFOps(), tf.constant(s, tf.int64), config) for s in steps]), want)
    assert float(learning_rate(JaxOps(), jnp.int32(5), {**config, "lr_decay_start": 20})) == pytest.approx(0.001)


def test_gradient_penalty_and_its_gradient_match_tf():
    """The penalty of a discriminator with every stream on, and its gradient w.r.t. D's weights
    (the double backward TensorFlow takes with its LeakyReluGrad override)."""
    params = cfg.load_params(overrides={**TINY_PARAMS, **CASES["composer-all-streams-binary"]})
    rng = np.random.default_rng(1)
    real, fake = (np.where(rng.random((BATCH, *params["data_shape"])) < 0.1, 1.0, -1.0).astype(np.float32)
                  for _ in range(2))
    eps = rng.random(BATCH).astype(np.float32)
    with tf.Graph().as_default():
        model = MuseGAN(params, TFOps())
        penalty = gradient_penalty(model, tf.constant(real), tf.constant(fake), tf.constant(eps))
        names = list(model.ops.variables)
        grads = tf.gradients(penalty, [model.ops.variables[n] for n in names])
        with v1.Session() as sess:
            sess.run(v1.global_variables_initializer())
            values = dict(zip(names, sess.run([model.ops.variables[n] for n in names])))
            # a last bias moves no gradient w.r.t. the input: the penalty does not depend on it
            want, want_grads = sess.run([penalty, {n: g for n, g in zip(names, grads) if g is not None}])
    got, got_grads = jax.value_and_grad(lambda d: gradient_penalty(MuseGAN(params, JaxOps(Lookup(d))),
                                                                   real, fake, eps))(values)
    assert float(want) > 0.1 and len(want_grads) > 0.8 * len(names)
    _close(got, want, what="penalty")
    for n, g in want_grads.items():
        _close(got_grads[n], g, atol=1e-4, what=n)


# --------------------------------------------------------------------------------- data
class FixedDraw:
    """`step.Draw` answering the given arrays in order (their shapes checked)."""

    def __init__(self, values):
        self.values = list(values)

    def _next(self, shape):
        value = self.values.pop(0)
        assert tuple(value.shape) == tuple(shape)
        return jnp.asarray(value)

    integers = lambda self, shape, low, high: self._next(shape)
    normal = uniform = lambda self, shape: self._next(shape)


def test_sample_phrases_unpacks_and_transposes_as_numpy_in_both_backends():
    x = tiny_phrases(6, seed=4)[..., :3]
    packed = pack(x).packed
    index = np.array([5, 0, 3, 3, 1, 2], np.int32)
    shifts = np.array([-5, -1, 0, 3, 6, 30], np.int32)
    drums = [True, False, False]
    want = transpose(x[index], shifts, drums)

    got = train_step.sample_phrases(JaxOps(), FixedDraw([index, shifts]), jnp.asarray(packed), x.shape[1:], 6,
                                    drums, True)
    draws = [index, shifts]
    tf_got = _tf(lambda: train_step.sample_phrases(
        TFOps(), types.SimpleNamespace(integers=lambda *a: tf.constant(draws.pop(0))), tf.constant(packed),
        x.shape[1:], 6, drums, True))
    for batch in (got, tf_got):
        assert set(np.unique(np.asarray(batch))) == {-1.0, 1.0}
        np.testing.assert_array_equal(np.asarray(batch) > 0, want)


# ------------------------------------------------------------------------- one iteration
def _random_weights(shapes, rng):
    """Random values for every variable: kernels at their initial scale, the rest away from 0/1."""
    out = {}
    for name, shape in shapes.items():
        if name.endswith(("gamma", "moving_variance")):
            out[name] = rng.uniform(0.5, 1.5, shape)
        elif name.endswith(("beta", "moving_mean", "bias")):
            out[name] = rng.normal(0.0, 0.2, shape)
        else:
            fan_in = np.prod(shape[:-1]) * (2 if len(shape) == 3 else 1)
            out[name] = rng.normal(0.0, fan_in ** -0.5, shape)
    return {k: v.astype(np.float32) for k, v in out.items()}


def _draw_values(draw, rng):
    """Values for a TrainGraph's random ops (`d_draws`, `g_draws`), in their order."""
    values = []
    for tensor, (kind, *bounds) in zip(draw.tensors, draw.kinds):
        shape = tensor.shape.as_list()
        if kind == "integers":
            values.append(rng.integers(*bounds, shape).astype(np.int32))
        else:
            values.append((rng.standard_normal if kind == "normal" else rng.random)(shape).astype(np.float32))
    return values


@pytest.fixture(scope="module", params=[pytest.param(name, marks=[pytest.mark.slow] * (name in SLOW_CASES))
                                        for name in CASES])
def iteration(request):
    """One TrainGraph set to random weights runs 2 D updates and 1 G update on fed random
    inputs; the JAX Trainer runs the same from the same weights and inputs."""
    params = cfg.load_params(overrides={**TINY_PARAMS, **CASES[request.param]})
    config = cfg.load_config(overrides={**TINY_CONFIG, "batch_size": BATCH, "n_dis_updates_per_gen_update": 2,
                                        "ema_decay": 0.5})
    n_tracks = params["data_shape"][3]
    data = pack(tiny_phrases(8)[..., :n_tracks])
    graph = tf.Graph()
    with graph.as_default():
        tg = TrainGraph(params, config, data)
        variables = {v.op.name: v for v in v1.global_variables()}
        model_vars = {n: v for n, v in variables.items() if n.startswith(("Generator/", "Discriminator/"))}
        holders = {n: v1.placeholder(tf.float32, v.shape) for n, v in model_vars.items()}
        assign = tf.group(*[v.assign(holders[n]) for n, v in model_vars.items()])
    graph.finalize()
    rng = np.random.default_rng(1)
    weights = _random_weights({n: v.shape.as_list() for n, v in model_vars.items()}, rng)
    d_values = [_draw_values(tg.d_draws, rng) for _ in range(2)]
    g_values = _draw_values(tg.g_draws, rng)
    # one thread: TensorFlow's threaded reductions are not deterministic, which would make which
    # near-zero gradients change sign (see below) vary from run to run. (The thread counts take
    # effect only in a process's first Session: after others, this one runs with theirs.)
    one_thread = v1.ConfigProto(intra_op_parallelism_threads=1, inter_op_parallelism_threads=1)
    with v1.Session(graph=graph, config=one_thread) as sess:
        sess.run(tg.init)
        sess.run(assign, {holders[n]: w for n, w in weights.items()})
        sess.run(tg.ema_reset)
        tg.initialize(sess, data.packed)
        d_losses = [sess.run([tg.d_train, tg.d_loss], dict(zip(tg.d_draws.tensors, values)))[1] for values in d_values]
        g_loss = sess.run([tg.g_train, tg.g_loss], dict(zip(tg.g_draws.tensors, g_values)))[1]
        want = sess.run(variables)

    trainer = Trainer(params, config)
    state = {k: v for k, v in trainer.init_state(jax.random.PRNGKey(0)).items() if k != "ema"}
    for part in ("g", "bn", "d"):
        state[part] = {n: jnp.asarray(weights[n]) for n in state[part]}
    state = trainer.with_ema(state)  # as TF's ema_reset: the EMA starts at G

    @jax.jit
    def run(state, packed, d_values, g_values):  # the D updates in a scan: one D update to compile
        state, d_losses = jax.lax.scan(lambda st, values: trainer.d_update(st, packed, FixedDraw(values)),
                                       state, d_values)
        state, g_loss = trainer.g_update(state, packed, FixedDraw(g_values))
        return state, d_losses, g_loss

    stacked = [np.stack(values) for values in zip(*d_values)]
    after, got_d, got_g = run(state, jnp.asarray(data.packed), stacked, g_values)
    return types.SimpleNamespace(name=request.param, params=params, tf_names=list(variables), trainer=trainer,
                                 weights=weights, want=want, got=to_flat(trainer, after, with_adam=True),
                                 losses=(d_losses, g_loss), got_losses=([float(v) for v in got_d], float(got_g)))


def test_variables_are_tf_names_shapes_and_creation_order(iteration):
    tf_model = [(n, tuple(iteration.want[n].shape)) for n in iteration.tf_names
                if n.startswith(("Generator/", "Discriminator/"))]
    assert [(n, s) for n, (s, _) in iteration.trainer.specs.items()] == tf_model
    # the state's names (optimizer and EMA included) are the graph's
    assert set(iteration.got) == set(iteration.tf_names)
    assert iteration.got["global_step"].dtype == np.int64


def test_training_iteration_matches_tf(iteration):
    """Losses, and every variable, Adam slot, beta power, moving average, EMA and the step as
    TF's d_train/g_train leave them."""
    got, want, before = iteration.got, iteration.want, iteration.weights
    for g, w in zip(iteration.got_losses[0] + [iteration.got_losses[1]], iteration.losses[0] + [iteration.losses[1]]):
        assert g == pytest.approx(w, rel=1e-4, abs=1e-4)
    assert int(got["global_step"]) == int(want["global_step"]) == 1
    moved = [n for n in before if not np.allclose(want[n], before[n])]
    assert len(moved) > 0.9 * len(before)  # the iteration did update (nearly) everything
    # Adam's moments carry the gradients themselves: D's and the moving averages close everywhere.
    # G's gradients pass through D's activations at the generated phrases; where one sits at its
    # kink, round-off picks its slope, and a different summation order (TensorFlow with one
    # thread per op against two) moves every G gradient of that track by a few percent
    # (jamming-conditional: up to 8% of a slot's largest value). A wrong gradient is off by far more.
    for n in got:
        if n.startswith("optimizers/Generator/"):
            scale = float(np.abs(want[n]).max())
            _close(got[n], want[n], atol=max(1e-6, 0.1 * scale), what=n)
        elif n.startswith("optimizers/") or n.endswith(("moving_mean", "moving_variance")):
            _close(got[n], want[n], atol=1e-6 * max(1.0, float(np.abs(want[n]).max())), what=n)
    # One Adam step moves a variable by about lr = 1e-3 whatever the gradient's size, so where
    # a gradient is ~0 its sign is round-off and the step can go either way. So: 3e-5 (3% of a
    # step) for all but one in 1,000 elements, and no element off by more than two steps.
    # G's gradients moved by a kink (above) change the sign of G's near-zero ones more often: 2%.
    weights = [n for n in before if not n.endswith(("moving_mean", "moving_variance"))]
    diffs = {n: np.abs(np.asarray(got[n], np.float64) - np.asarray(want[n], np.float64)).ravel() for n in weights}
    for side, share in (("Discriminator/", 1e-3), ("Generator/", 2e-2)):
        mine = {n: d for n, d in diffs.items() if n.startswith(side)}
        off = {n: int((d >= 3e-5).sum()) for n, d in mine.items() if (d >= 3e-5).any()}
        assert (np.concatenate(list(mine.values())) >= 3e-5).mean() < share, off
    assert max(d.max() for d in diffs.values()) < 2.5e-3, max((d.max(), n) for n, d in diffs.items())
    # G's EMA (decay 0.5, started at G): half way from the old G to the new, on both sides
    ema = [n for n in got if n.startswith("ema/")]
    assert len(ema) == len(iteration.trainer.g_names)
    for side in (got, want):
        for n in ema:
            g = n[len("ema/"):]
            _close(side[n], before[g] + 0.5 * (side[g] - before[g]), atol=1e-6, what=n)
