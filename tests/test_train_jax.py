"""The JAX trainer (musegan.training.jax_trainer) against the TensorFlow graphs it ports.

For each model combination one TrainGraph is built and its variables set to random
values (batch-norm scales, offsets, moving averages and biases too, so that using
the wrong one shows); the JAX functions then run on those very weights and inputs.
Random inputs of the TF graph are fed (a feed replaces any tensor), so both sides
see the same batches, latents and gradient-penalty eps.
"""
import os
import types
from pathlib import Path

# Tiny programs: XLA's LLVM optimizations cost more compile time than they save here (halves
# this module's run time). Set before JAX starts its CPU backend, which reads it once.
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0").strip()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402
import yaml  # noqa: E402

from musegan.weights import checkpoints
from musegan.weights import states as state_io
from musegan.weights.averaging import average_generators
from musegan.training import jax_trainer as tj
from musegan import config as cfg
from musegan.music.data import pack, write_sparse_npz
from musegan.music.splits import transpose
from musegan.errors import CheckpointError, UsageError
from musegan.training.tf_trainer import TrainGraph, gan_losses
from musegan.training.jax_trainer import d_loss_of
from tiny_exp import TINY_CONFIG, TINY_PARAMS, make_experiment, tiny_phrases

v1 = tf.compat.v1
v1.disable_eager_execution()

# Few tracks keep the graphs small (TF builds each gradient in Python, XLA compiles each
# per-track network): conditional cases on piano between two generated tracks (the condition
# is spliced into the middle), from-scratch ones on two tracks; drums stay in.
THREE = {"data_shape": [4, 24, 24, 3], "track_names": ["Drums", "Piano", "Bass"], "programs": [0, 0, 33],
         "is_drums": [True, False, False]}
TWO = {"data_shape": [4, 24, 24, 2], "track_names": ["Drums", "Bass"], "programs": [0, 33], "is_drums": [True, False]}
CHROMA_ONSET = {**TINY_PARAMS["discriminator"], "use_chroma": True, "use_onset": True, "use_rhythm": True,
                "minibatch_std": True}
CASES = {
    "hybrid-conditional": {**THREE, "multitrack": "hybrid", "condition_track": "piano"},
    "hybrid-scratch": {**TWO, "multitrack": "hybrid", "condition_track": None},
    "jamming-conditional": {**THREE, "multitrack": "jamming", "condition_track": "piano"},
    "composer-chroma-onset-binary": {**TWO, "multitrack": "composer", "condition_track": None,
                                     "discriminator": CHROMA_ONSET,
                                     "generator": {**TINY_PARAMS["generator"], "binary_neurons": True}},
}
# ~20 s each here (TF builds the graph, XLA compiles): these two only with the slow tests
SLOW_CASES = ("hybrid-scratch", "jamming-conditional")
BATCH = 4
ATOL = 1e-4


def _phrases(n=8, seed=0):
    return tiny_phrases(n, seed)[..., :3]


def _random_weights(names_shapes, rng):
    """Random values for every variable: kernels as initialized scale, the rest away from 0/1."""
    out = {}
    for name, shape in names_shapes.items():
        if name.endswith(("gamma", "moving_variance")):
            out[name] = rng.uniform(0.5, 1.5, shape)
        elif name.endswith(("beta", "moving_mean", "bias")):
            out[name] = rng.normal(0.0, 0.2, shape)
        else:
            fan_in = np.prod(shape[:-1]) * (2 if len(shape) == 3 else 1)
            out[name] = rng.normal(0.0, fan_in ** -0.5, shape)
    return {k: v.astype(np.float32) for k, v in out.items()}


def _tf_run(case):
    """What TF computes for the fixture's inputs: generator (both modes) and D outputs; d_loss and
    its gradients (those d_train applies) with 2 D updates; g_loss and its gradients with 1 G
    update; then every variable."""
    tg, sess = case.tg, case.sess
    out = {}
    feed = {tg.z: case.latent[0], tg.real: case.real[0]}
    out["train"], out["scores"] = sess.run([tg.fake, tg.d_real], feed)
    feed = {tg.sample_z: case.latent[0]}
    if tg.sample_condition is not None:
        feed[tg.sample_condition] = case.real[0][..., 1]
    out["inference"] = sess.run(tg.samples, feed)
    d_feeds = [{tg.real: r, tg.z: z, tg.eps: case.eps.reshape(-1, 1, 1, 1, 1)} for r, z in zip(case.real, case.latent)]
    # the gradients Adam applies, fetched in the run that applies them (the apply waits for them)
    out["d_loss"], out["d_grads"], _ = sess.run([tg.d_loss, case.d_grads, tg.d_train], d_feeds[0])
    sess.run(tg.d_train, d_feeds[1])
    # g_train's batch-norm updates come from the D step's generator: feed it the G step's inputs
    g_feed = {tg.g_z: case.g_z, tg.z: case.g_z, tg.real: case.g_real}
    if tg.g_real is not None:
        g_feed[tg.g_real] = case.g_real
    out["g_loss"], out["g_grads"], _ = sess.run([tg.g_loss, case.g_grads, tg.g_train], g_feed)
    out["after"] = sess.run({n: v for n, v in case.variables.items()})
    return out


def _jax_run(case):
    """The same in JAX, one jitted function (op by op, each new op shape would compile alone)."""
    tr, model = case.trainer, case.trainer.model
    conditional = model.condition is not None

    @jax.jit
    def run(st, real, latent, eps, g_real, g_z):
        var = tj._Lookup({**st["g"], **st["bn"], **st["d"]})
        cond = real[0][..., 1] if conditional else None
        (train, stats), (inference, none) = (model.generator(var, latent[0], cond, t) for t in (True, False))
        out = {"train": train, "inference": inference, "n_stats": len(stats), "n_none": len(none),
               "scores": model.discriminator(var, real[0])}
        out["d_loss"], out["d_grads"] = tr.d_grads(st, real[0], latent[0], eps)
        # "train" is the D step's fake (same latent, condition from the same real batch)
        out["no_penalty"] = d_loss_of(case.config["gan_loss"], out["scores"], model.discriminator(var, train))
        st = tr.d_apply(st, out["d_grads"])  # the first D update, from the gradients above
        st, _ = tr.d_update(st, real[1], latent[1], eps)
        out["g_loss"], out["g_grads"], stats = tr.g_grads(st, g_real if conditional else None, g_z)
        out["after"] = tr.g_apply(st, out["g_grads"], stats)
        return out

    out = run(_jax_state(case), *(jnp.asarray(a) for a in (case.real, case.latent, case.eps, case.g_real, case.g_z)))
    out["after"] = tr.to_flat(out["after"], with_adam=True)
    return out


@pytest.fixture(scope="module", params=[pytest.param(name, marks=[pytest.mark.slow] * (name in SLOW_CASES))
                                        for name in CASES])
def case(request):
    """A TF TrainGraph with random weights, what it and the JAX Trainer compute from them."""
    params = cfg.load_params(overrides={**TINY_PARAMS, **CASES[request.param]})
    config = cfg.load_config(overrides={**TINY_CONFIG, "batch_size": BATCH})
    n_tracks = params["data_shape"][3]
    graph = tf.Graph()
    with graph.as_default():
        tg = TrainGraph(params, config, pack(tiny_phrases(8)[..., :n_tracks]))
        model = tg.model
        variables = {v.op.name: v for v in v1.global_variables()}
        d_vars = [n for n in variables if n.startswith("Discriminator/")]
        g_vars = [n for n in variables if n.startswith("Generator/") and not n.endswith(tj.MOVING)]
        # a few of each: first and last layers, a bias, batch-norm parameters and the encoder
        d_pick = [d_vars[0], d_vars[1], d_vars[4], d_vars[-2], d_vars[-1]]
        g_pick = [g_vars[0], g_vars[2], g_vars[-1], g_vars[-2]] + [n for n in g_vars if "encoder" in n][:2]
        # the gradient Adam applies to a variable: input 9 (grad) of its ResourceApplyAdam
        applied = {op.inputs[0].name: op.inputs[9] for op in graph.get_operations() if op.type == "ResourceApplyAdam"}
        d_grads = [applied[variables[n].handle.name] for n in d_pick]
        g_grads = [applied[variables[n].handle.name] for n in g_pick]
        model_vars = {n: v for n, v in variables.items() if n.startswith(("Generator/", "Discriminator/"))}
        holders = {n: v1.placeholder(tf.float32, v.shape) for n, v in model_vars.items()}
        assign = tf.group(*[v.assign(holders[n]) for n, v in model_vars.items()])
    graph.finalize()
    sess = v1.Session(graph=graph)
    weights = _random_weights({n: v.shape.as_list() for n, v in model_vars.items()}, np.random.default_rng(1))
    sess.run(tg.init)
    sess.run(assign, {holders[n]: w for n, w in weights.items()})
    tg.initialize(sess, pack(tiny_phrases(8)[..., :n_tracks]).packed)
    rng = np.random.default_rng(2)
    phrases = lambda *shape: np.where(rng.random(shape + (4, 24, 24, n_tracks)) < 0.1, 1.0, -1.0).astype(np.float32)
    case = types.SimpleNamespace(
        name=request.param, params=params, config=config, tg=tg, sess=sess, variables=variables,
        d_pick=d_pick, g_pick=g_pick, d_grads=d_grads, g_grads=g_grads, weights=weights,
        trainer=tj.Trainer(params, config),
        real=phrases(2, BATCH), latent=rng.standard_normal((2, BATCH, model.latent_size)).astype(np.float32),
        eps=rng.random(BATCH).astype(np.float32), g_real=phrases(BATCH),
        g_z=rng.standard_normal((BATCH, model.latent_size)).astype(np.float32))
    case.tf = _tf_run(case)
    case.jax = _jax_run(case)
    yield case
    sess.close()


def _jax_state(case):
    """The Trainer state holding the fixture's weights and fresh Adam, step 0."""
    flat = {**case.weights, "global_step": np.int64(0)}
    state, notes = case.trainer.from_flat(flat, "test", jax.random.PRNGKey(0))
    assert len(notes) == 2  # both optimizers start fresh
    return state


def _max_diff(a, b):
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))))


def _close(got, want, what):
    """Equal within ATOL, relative to the size of `want` where that is above 1."""
    assert _max_diff(got, want) < ATOL * max(1.0, float(np.max(np.abs(want)))), what


def test_variables_are_tf_names_shapes_and_creation_order(case):
    tf_vars = [(n, tuple(v.shape.as_list())) for n, v in case.variables.items()
               if n.startswith(("Generator/", "Discriminator/"))]
    assert [(n, s) for n, (s, _) in case.trainer.specs.items()] == tf_vars
    # the optimizer's names train_jax writes are the graph's
    flat = case.trainer.to_flat(_jax_state(case), with_adam=True)
    assert set(flat) == set(case.variables)
    assert flat["global_step"].dtype == np.int64


def test_generator_and_discriminator_match_tf(case):
    got, want = case.jax, case.tf
    _close(got["train"], want["train"], "generator, training mode (batch statistics)")
    _close(got["inference"], want["inference"], "generator, inference mode (moving averages)")
    assert _max_diff(want["train"], want["inference"]) > 1e-2  # the two modes differ: both are tested
    assert got["n_stats"] > 0 and got["n_none"] == 0  # batch statistics only in training mode
    if case.params["generator"]["binary_neurons"]:  # D sees binary fakes, as inference writes them
        assert set(np.unique(np.asarray(got["train"]))) == {-1.0, 1.0}  # (condition too: it is binary)
    if case.tg.g_real is not None:  # the condition passes through bit-exactly
        assert np.array_equal(np.asarray(got["inference"])[..., 1], case.real[0][..., 1])
    _close(got["scores"], want["scores"], "discriminator scores")


def test_losses_and_gradients_match_tf(case):
    got, want = case.jax, case.tf
    _close(got["d_loss"], want["d_loss"], "d_loss with gradient penalty")
    assert abs(float(got["no_penalty"]) - want["d_loss"]) > 1e-2  # the penalty counts in it
    for name, grad in zip(case.d_pick, want["d_grads"]):
        _close(got["d_grads"][name], grad, name)
    _close(got["g_loss"], want["g_loss"], "g_loss")
    for name, grad in zip(case.g_pick, want["g_grads"]):
        _close(got["g_grads"][name], grad, name)


def test_training_iteration_matches_tf(case):
    """2 D updates then 1 G update: every variable, Adam slot, beta power, moving average
    and the step as TF's d_train/g_train leave them."""
    got, want = case.jax["after"], case.tf["after"]
    assert set(got) == set(want)
    assert int(got["global_step"]) == int(want["global_step"]) == 1
    moved = [n for n in case.weights if not np.allclose(want[n], case.weights[n])]
    assert len(moved) > 0.9 * len(case.weights)  # the step did update (nearly) everything
    # One Adam step moves a variable by about lr = 1e-3 whatever the gradient's size, so
    # where a gradient is ~0 its sign is round-off (TF's threaded reductions are not
    # deterministic) and the step can go either way. So: 3e-5 (3% of a step) for all
    # but one in 1,000 elements, and no element off by more than two steps.
    diffs = {n: np.abs(np.asarray(got[n], np.float64) - np.asarray(want[n], np.float64)).ravel()
             for n in want if n != "global_step"}
    everything = np.concatenate(list(diffs.values()))
    off = {n: int((d >= 3e-5).sum()) for n, d in diffs.items() if (d >= 3e-5).any()}
    assert (everything >= 3e-5).mean() < 1e-3, off
    assert everything.max() < 2.5e-3, max((d.max(), n) for n, d in diffs.items())
    assert not any(n.endswith(("moving_mean", "moving_variance", "_power")) for n in off), off


def test_train_tracks_updates_only_those_tracks_and_names_the_state_as_tf():
    """`train_tracks: [drums]`: one G update changes the drums' private generators (weights,
    moving averages) and nothing else of G; the state's names, Adam slots included, are
    those of TF's TrainGraph for the same config (Adam only for the trained variables)."""
    params = cfg.load_params(overrides={**TINY_PARAMS, **CASES["hybrid-conditional"]})
    config = cfg.load_config(overrides={**TINY_CONFIG, "batch_size": BATCH, "train_tracks": ["drums"]})
    with tf.Graph().as_default():
        TrainGraph(params, config, pack(_phrases()))
        tf_names = {v.op.name for v in v1.global_variables()}
    trainer = tj.Trainer(params, config)
    state = trainer.init_state(jax.random.PRNGKey(0))
    assert set(trainer.to_flat(state, with_adam=True)) == tf_names
    rng = np.random.default_rng(0)
    g_real = jnp.asarray(np.where(_phrases(BATCH) > 0, 1.0, -1.0).astype(np.float32))
    g_z = jnp.asarray(rng.standard_normal((BATCH, trainer.model.latent_size)).astype(np.float32))
    after, _ = jax.jit(trainer.g_update)(state, g_real, g_z)
    before, after = trainer.to_flat(state), trainer.to_flat(after)
    changed = {n for n in before if n.startswith("Generator/") and not np.array_equal(before[n], after[n])}
    drums = {n for n in before if n.startswith(("Generator/bar/drums/", "Generator/temporal_private/drums/"))}
    assert changed and changed <= drums, sorted(changed - drums)[:5]
    assert any(n.endswith("moving_mean") for n in changed)


def test_adam_matches_tf_adam_optimizer():
    rng = np.random.default_rng(0)
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
    x, slots = {"x": jnp.asarray(x0)}, tj.adam_init({"x": jnp.asarray(x0)}, 0.5, 0.9)
    for grad, rate in zip(grads, lrs):
        x, slots = tj.adam_update(x, {"x": jnp.asarray(grad)}, slots, jnp.float32(rate), 0.5, 0.9)
    assert _max_diff(x["x"], want) < 1e-6
    assert float(slots["beta1_power"]) == pytest.approx(0.5 ** 6) and float(slots["beta2_power"]) == pytest.approx(0.9 ** 6)


@pytest.mark.parametrize("kind", ["wasserstein-gp", "hinge", "classic", "nonsaturating"])
def test_gan_losses_match_tf(kind):
    rng = np.random.default_rng(3)
    d_real, d_fake = rng.normal(size=(2, 2, 5)).astype(np.float32) * 3
    with tf.Graph().as_default(), v1.Session() as sess:
        want = sess.run(gan_losses(kind, tf.constant(d_real), tf.constant(d_fake)))
    got = tj.gan_losses(kind, jnp.asarray(d_real), jnp.asarray(d_fake))
    assert np.allclose(got, want, atol=1e-5)


def test_learning_rate_schedule():
    config = {"learning_rate": 0.001, "lr_decay_start": 10, "steps": 20}
    got = [float(tj.learning_rate(jnp.int32(s), config)) for s in (0, 10, 15, 20, 25)]
    assert np.allclose(got, [0.001, 0.001, 0.0005, 0.0, 0.0])
    assert float(tj.learning_rate(jnp.int32(5), {**config, "lr_decay_start": 20})) == pytest.approx(0.001)


def test_batch_norm_train_returns_bessel_corrected_variance():
    x = jnp.asarray(np.random.default_rng(0).normal(size=(6, 3)).astype(np.float32))
    y, mean, var = tj.batch_norm_train(x, jnp.ones(3), jnp.zeros(3))
    assert np.allclose(var, np.var(np.asarray(x), axis=0, ddof=1), rtol=1e-5)
    # normalized with the biased variance
    biased = np.var(np.asarray(x), axis=0)
    assert np.allclose(y, (np.asarray(x) - np.asarray(mean)) / np.sqrt(biased + 1e-3), atol=1e-5)


# ------------------------------------------------------------------------- data
def test_unpack_matches_packbits_and_transpose_matches_numpy():
    x = _phrases(6, seed=4)
    packed = pack(x).packed
    assert np.array_equal(np.asarray(tj.unpack_rows(jnp.asarray(packed), x.shape[1:])), x)
    shifts = np.array([-5, -1, 0, 3, 6, 30])
    drums = [True, False, False]
    got = tj.transpose_batch(jnp.asarray(x, jnp.float32), jnp.asarray(shifts), drums)
    assert np.array_equal(np.asarray(got) > 0, transpose(x, shifts, drums))


def test_sample_batch_draws_phrases_transposed_with_drums_fixed():
    x = tiny_phrases(16, seed=5)
    drums = [True, False, False, False, False]
    batch = tj.sample_batch(jax.random.PRNGKey(3), jnp.asarray(pack(x).packed), x.shape[1:], 32, drums, True)
    batch = np.asarray(batch)
    assert batch.shape == (32, *x.shape[1:]) and set(np.unique(batch)) <= {-1.0, 1.0}
    shifts = set()
    for phrase in batch > 0:
        # the drum track is untouched and names the phrase (random phrases: drum parts differ)
        source = [i for i in range(len(x)) if np.array_equal(x[i, ..., 0], phrase[..., 0])]
        assert len(source) == 1
        fits = [s for s in range(-5, 7) if np.array_equal(transpose(x[source], s, drums)[0], phrase)]
        assert fits, "non-drum tracks are not a transposition in -5..+6 of the phrase"
        shifts.update(fits)
    assert len(shifts) > 3  # the shifts vary
    plain = tj.sample_batch(jax.random.PRNGKey(3), jnp.asarray(pack(x).packed), x.shape[1:], 8, drums, False)
    for phrase in np.asarray(plain) > 0:
        assert any(np.array_equal(phrase, p) for p in x)


# ------------------------------------------------------------------------ state files
def _piano_experiment(tmp_path: Path) -> Path:
    """A tiny piano-conditional experiment on 24 phrases of 8 songs (its data written first, so
    that make_experiment keeps it)."""
    x = _phrases(24)
    write_sparse_npz(tmp_path / "tiny.npz", x, song_ids=np.arange(len(x)) // 3,
                     song_names=[f"song{i}" for i in range(len(x) // 3)])
    return make_experiment(tmp_path, params={**THREE, "multitrack": "hybrid", "condition_track": "piano"},
                           config={"batch_size": 4})


def test_state_shards_round_trip_and_refuse_mixed_saves(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {f"Generator/layer{i}/kernel": rng.normal(size=(64, 100)).astype(np.float32) for i in range(5)}
    arrays["Discriminator/big/kernel"] = rng.normal(size=(300, 100)).astype(np.float32)  # 120 kB: cut in parts
    arrays["global_step"] = np.int64(7)
    limit = 60_000
    paths = state_io.save_state(tmp_path / "s", arrays, max_bytes=limit)
    assert len(paths) > 3 and all(p.stat().st_size <= limit for p in paths)
    back = state_io.load_state(tmp_path / "s")
    assert set(back) == set(arrays) and all(np.array_equal(back[k], arrays[k]) for k in arrays)
    # a later save with fewer shards removes the extra ones
    small = {"global_step": np.int64(8), "x": np.zeros(3, np.float32)}
    state_io.save_state(tmp_path / "s", small, max_bytes=limit)
    assert [p.name for p in sorted((tmp_path / "s").iterdir())] == ["state-00.npz"]
    # a shard of another save, or a missing one, is refused
    state_io.save_state(tmp_path / "t", arrays, max_bytes=limit)
    (tmp_path / "t" / "state-01.npz").unlink()
    with pytest.raises(CheckpointError, match="state-01.npz missing"):
        state_io.load_state(tmp_path / "t")
    state_io.save_state(tmp_path / "u", arrays, max_bytes=limit)
    (tmp_path / "u" / "state-00.npz").write_bytes((tmp_path / "s" / "state-00.npz").read_bytes())
    with pytest.raises(CheckpointError, match="mixes two saves"):
        state_io.load_state(tmp_path / "u")


def test_average_states_is_the_mean_at_the_latest_step_without_adam():
    a = {"Generator/k": np.array([1.0, 2.0], np.float32), "Discriminator/b": np.array([0.5], np.float16),
         "optimizers/Generator/k/g_adam": np.ones(2, np.float32), "optimizers/beta1_power": np.float32(0.9),
         "global_step": np.int64(10)}
    b = {**a, "Generator/k": np.array([3.0, 6.0], np.float32), "Discriminator/b": np.array([1.5], np.float16),
         "global_step": np.int64(30)}
    got = state_io.average_states([a, b], ["a", "b"])
    assert set(got) == {"Generator/k", "Discriminator/b", "global_step"}  # Adam's moments dropped
    np.testing.assert_array_equal(got["Generator/k"], [2.0, 4.0])
    assert got["Discriminator/b"].dtype == np.float32 and got["Discriminator/b"][0] == 1.0
    assert int(got["global_step"]) == 30
    with pytest.raises(CheckpointError, match="b: not a state of the same model as a"):
        state_io.average_states([a, {**b, "Generator/extra": np.zeros(1)}], ["a", "b"])


def test_average_generators_writes_the_mean_as_a_shipped_generator(tmp_path, capsys):
    a = state_io.save_generator(tmp_path / "a.npz", {"Generator/k": np.array([1.0, 2.0], np.float32),
                                                     "Generator/bn/moving_variance": np.array([1e5], np.float32)})
    b = state_io.save_generator(tmp_path / "b.npz", {"Generator/k": np.array([2.0, 5.0], np.float32),
                                                     "Generator/bn/moving_variance": np.array([3e5], np.float32)})
    average_generators(tmp_path / "soup.npz", [a, b])
    assert "mean of 2 generators (2 arrays)" in capsys.readouterr().out
    got = state_io.load_generator(tmp_path / "soup.npz")
    assert got["Generator/k"].dtype == np.float16 and got["Generator/k"].tolist() == [1.5, 3.5]
    assert got["Generator/bn/moving_variance"].dtype == np.float32 and got["Generator/bn/moving_variance"][0] == 2e5
    with pytest.raises(UsageError, match="already exists"):
        average_generators(tmp_path / "soup.npz", [a, b])
    with pytest.raises(UsageError, match="one generator given"):
        average_generators(tmp_path / "one.npz", [a])
    other = state_io.save_generator(tmp_path / "c.npz", {"Generator/k": np.zeros(3, np.float32),
                                                         "Generator/bn/moving_variance": np.ones(1, np.float32)})
    with pytest.raises(CheckpointError, match=r"c.npz: 'Generator/k' has shape \(3,\)"):
        average_generators(tmp_path / "bad.npz", [a, other])
    assert not (tmp_path / "bad.npz").exists()


def test_ema_of_the_generator_updates_saves_resumes_and_is_what_best_holds(tmp_path, capsys):
    """--ema: after each G update ema += (1 - decay) (g - ema); states carry it as ema/<name>
    and resume it; selection scores the EMA and OUT/best holds it as the generator."""
    params = cfg.load_params(overrides={**TINY_PARAMS, **THREE, "multitrack": "hybrid", "condition_track": "piano"})
    config = cfg.load_config(overrides={**TINY_CONFIG, "batch_size": 4})
    trainer = tj.Trainer(params, config, ema=0.75)
    state = trainer.init_state(jax.random.PRNGKey(0))
    assert all(np.array_equal(state["ema"][n], state["g"][n]) for n in trainer.g_names)
    g0 = {n: np.asarray(v) for n, v in state["g"].items()}
    step_fn = trainer.compile(state, jnp.asarray(pack(_phrases(8)).packed))
    state, _ = step_fn(state, jnp.asarray(pack(_phrases(8)).packed))
    moved = 0
    for n in trainer.g_names:
        g1 = np.asarray(state["g"][n])
        np.testing.assert_allclose(np.asarray(state["ema"][n]), g0[n] + 0.25 * (g1 - g0[n]), rtol=1e-5, atol=1e-7)
        moved += not np.allclose(g1, g0[n])
    assert moved > 0.9 * len(trainer.g_names)
    flat = trainer.to_flat(state)
    assert {n for n in flat if n.startswith("ema/")} == {"ema/" + n for n in trainer.g_names}
    back, notes = trainer.from_flat(flat, "s", jax.random.PRNGKey(1))
    assert all(np.array_equal(back["ema"][n], state["ema"][n]) for n in trainer.g_names)
    plain, plain_notes = tj.Trainer(params, config).from_flat(flat, "s", jax.random.PRNGKey(1))
    assert "ema" not in plain and any("EMA of G is not used" in n for n in plain_notes)
    fresh, fresh_notes = trainer.from_flat(tj.Trainer(params, config).to_flat(plain), "p", jax.random.PRNGKey(1))
    assert any("EMA of G starts from G's weights" in n for n in fresh_notes)
    swapped = trainer.ema_generator(state)
    assert "ema" not in swapped and swapped["g"] is state["ema"]
    # leaving train_jax (import-state), the EMA is the generator
    arrays, replaced = state_io.ema_as_generator(flat)
    assert replaced == len(trainer.g_names) and not any(n.startswith("ema/") for n in arrays)
    assert all(np.array_equal(arrays[n], flat["ema/" + n]) for n in trainer.g_names)
    with pytest.raises(UsageError, match="--ema 1.0"):
        tj.Trainer(params, config, ema=1.0)
    # a run: OUT holds G and its EMA, OUT/best the EMA as G
    exp = _piano_experiment(tmp_path)
    out = tmp_path / "state"
    tj.train(exp, out, steps=2, save_every_minutes=0, select_every_minutes=1e-9, select_phrases=6, ema=0.5)
    assert "of the EMA of G (decay 0.5)" in capsys.readouterr().out
    last = state_io.load_state(out)
    assert {n for n in last if n.startswith("ema/")} == {"ema/" + n for n in trainer.g_names}
    # resumed at its last step, the run only scores that state: its best is that state's EMA
    tj.train(exp, tmp_path / "again", init=out, steps=2, save_every_minutes=0, select_every_minutes=1e-9,
             select_phrases=6, ema=0.5)
    best = state_io.load_state(tmp_path / "again" / "best")
    assert state_io.state_step(best) == 2 and not any(n.startswith("ema/") for n in best)
    assert all(np.array_equal(best[n], last["ema/" + n]) for n in trainer.g_names)
    assert not all(np.array_equal(best[n], last[n]) for n in trainer.g_names)  # not the live G


def _ship(exp: Path, weights) -> Path:
    """Write `weights` as exp's shipped generator (as `musegan export` would)."""
    return state_io.save_generator(exp / "pretrained" / "generator.npz", jax.device_get(weights))


def test_warm_start_from_a_shipped_generator_then_critic_warmup(tmp_path):
    """init_from in a JAX run: the from-scratch model's shipped generator fills the conditional
    model's G (the encoder's skip rows at zero), D stays fresh and trains alone first."""
    params = cfg.load_params(overrides={**TINY_PARAMS, **THREE, "multitrack": "hybrid", "condition_track": "piano"})
    source_params = cfg.load_params(overrides={**TINY_PARAMS, **THREE, "multitrack": "hybrid"})
    config = cfg.load_config(overrides={**TINY_CONFIG, "batch_size": 4})
    source = tmp_path / "scratch"
    src = tj.Trainer(source_params, config)
    _ship(source, src.generator_weights(src.init_state(jax.random.PRNGKey(3))))
    shipped = tj.warm_start_weights(source)

    trainer = tj.Trainer(params, config, ema=0.5)
    fresh_state = trainer.init_state(jax.random.PRNGKey(0))
    state, copied, widened, fresh = trainer.warm_start(fresh_state, shipped)
    assert copied > 0 and widened > 0
    assert all(n.startswith("Discriminator/") or "encoder" in n.lower() for n in fresh), fresh[:5]
    assert any(n.startswith("Discriminator/") for n in fresh)
    for n, v in {**state["g"], **state["bn"]}.items():
        v = np.asarray(v)
        if n in shipped and shipped[n].shape == v.shape:
            np.testing.assert_array_equal(v, shipped[n].astype(np.float32))
        elif n in shipped:  # widened: the source's rows, then zeros
            rows = shipped[n].shape[0]
            np.testing.assert_array_equal(v[:rows], shipped[n].astype(np.float32))
            assert not v[rows:].any()
    assert all(np.array_equal(state["ema"][n], state["g"][n]) for n in trainer.g_names)  # EMA restarts from G
    assert all(np.array_equal(state["d"][n], fresh_state["d"][n]) for n in trainer.d_names)

    packed = jnp.asarray(pack(_phrases(8)).packed)
    g_before = {n: np.asarray(v) for n, v in state["g"].items()}
    d_before = {n: np.asarray(v) for n, v in state["d"].items()}
    logs = []
    warmed = tj._critic_warmup(trainer, state, packed, 7, tj.Stop(), tmp_path, logs.append, chunk=5)
    assert int(warmed["step"]) == 0 and "critic warm-up 7/7" in logs[-1]
    assert all(np.array_equal(np.asarray(warmed["g"][n]), g_before[n]) for n in trainer.g_names)
    assert sum(not np.array_equal(np.asarray(warmed["d"][n]), d_before[n]) for n in trainer.d_names) > 0.9 * len(trainer.d_names)
    stopped = tj.Stop()
    stopped.signal = "SIGINT"
    assert tj._critic_warmup(trainer, warmed, packed, 7, stopped, tmp_path, logs.append) is None

    (source / "model").mkdir()
    (source / "model" / "checkpoint").write_text("model_checkpoint_path: 'model.ckpt-5'\n")
    with pytest.raises(UsageError, match="TensorFlow checkpoint"):
        tj.warm_start_weights(source)
    with pytest.raises(UsageError, match="without a shipped generator"):
        tj.warm_start_weights(tmp_path / "nowhere")


def test_averager_means_the_generator_at_the_chosen_steps(tmp_path):
    params = cfg.load_params(overrides={**TINY_PARAMS, **TWO, "multitrack": "hybrid"})
    config = cfg.load_config(overrides={**TINY_CONFIG, "batch_size": 4})
    trainer = tj.Trainer(params, config, ema=0.5)
    averager = tj.Averager(trainer, start=4, every=3)
    states = [trainer.init_state(jax.random.PRNGKey(i)) for i in range(4)]
    taken = [averager.observe(st, step) for st, step in zip(states, (3, 4, 7, 8))]
    assert taken == [False, True, True, False]
    out = tmp_path / "avg" / "generator.npz"
    assert "2 steps (4-7, every 3)" in averager.write(out)
    with np.load(out) as f:
        assert set(f.files) == set(trainer.g_names) | set(trainer.bn_names)
        name = trainer.g_names[0]  # the EMA's mean (here the EMA is still G), float16 as shipped
        want = (np.asarray(states[1]["ema"][name], np.float64) + np.asarray(states[2]["ema"][name])) / 2
        assert f[name].dtype == np.float16
        np.testing.assert_allclose(f[name], want, atol=2e-3)
    assert tj.Averager(trainer, 100, 10).write(tmp_path / "none.npz") is None
    with pytest.raises(UsageError, match="--average-every 0"):
        tj.Averager(trainer, 0, 0)


@pytest.mark.slow
def test_warm_started_run_stops_at_step_and_ships_an_average_tf_can_play(tmp_path, capsys):
    """A whole JAX run as the GPU recipe runs it (init_from, critic warm-up, --stop-step before
    config 'steps', --average-from): its average is a generator.npz the TF side generates from."""
    from musegan.generate import Generator

    exp = _piano_experiment(tmp_path)
    source = make_experiment(tmp_path, "scratch", params={**THREE, "multitrack": "hybrid"})
    source_config, source_params = cfg.load_experiment(source)
    src = tj.Trainer(source_params, source_config)
    _ship(source, src.generator_weights(src.init_state(jax.random.PRNGKey(3))))
    config_path = exp / "config.yaml"
    config = yaml.safe_load(config_path.read_text())
    config_path.write_text(yaml.safe_dump({**config, "init_from": str(source), "critic_warmup_updates": 3, "steps": 10}))
    out = tmp_path / "run"
    tj.main([str(exp), "--out", str(out), "--stop-step", "3", "--average-from", "1", "--average-every", "2",
             "--save-every-minutes", "0", "--ema", "0.5"])
    log = capsys.readouterr().out
    assert "warm start from" in log and "critic warm-up 3/3" in log
    assert "averaged the generator at 2 steps (1-3, every 2)" in log
    assert state_io.state_step(state_io.load_state(out)) == 3  # stopped at 3 of 10
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    for name in ("params.yaml", "config.yaml"):
        (shipped / name).write_text((exp / name).read_text())
    (shipped / "pretrained").mkdir()
    (shipped / "pretrained" / "generator.npz").write_bytes((out / "average" / "generator.npz").read_bytes())
    gen = Generator(shipped, batch_size=2)
    rng = np.random.default_rng(0)
    condition = _phrases(2)[..., 1]
    x = gen(rng.standard_normal((2, gen.latent_size)).astype(np.float32), condition)
    gen.close()
    assert x.shape == (2, 4, 24, 24, 3) and np.isfinite(x).all()


# ------------------------------------------------------------------------ end to end
@pytest.mark.slow
def test_train_jax_import_infer_export_resume(tmp_path, capsys):
    """train_jax -> state shards -> import-state -> infer/evaluate; export-state -> train_jax --init."""
    from musegan.cli import main as cli

    exp = _piano_experiment(tmp_path)
    out = tmp_path / "state"
    tj.main([str(exp), "--out", str(out), "--steps", "2", "--save-every-minutes", "0", "--ema", "0.5"])
    log = capsys.readouterr().out
    assert "backend cpu" in log and "compiled one iteration" in log and "saved step 2" in log
    flat = state_io.load_state(out)
    assert int(flat["global_step"]) == 2 and not any(n.startswith("optimizers/") for n in flat)
    name = "Generator/bar/drums/time0/kernel"
    assert not np.array_equal(flat["ema/" + name], flat[name])

    cli(["import-state", str(exp), str(out)])
    assert "weights are the state's EMA of them" in capsys.readouterr().out
    assert checkpoints.latest(exp / "model").endswith("model.ckpt-2")
    reader = tf.train.load_checkpoint(checkpoints.latest(exp / "model"))
    # the generator a user gets is the EMA; D and the moving averages are the state's own
    assert np.array_equal(reader.get_tensor(name), flat["ema/" + name]) and reader.get_tensor("global_step") == 2
    d_name = "Discriminator/all/score/kernel"
    assert np.array_equal(reader.get_tensor(d_name), flat[d_name])
    with pytest.raises(SystemExit):  # not backwards over a checkpoint at the same step
        cli(["import-state", str(exp), str(out)])
    assert "pass --overwrite" in capsys.readouterr().err
    cli(["import-state", str(exp), str(out), "--overwrite"])
    assert sorted(p.name for p in (exp / "model").glob("*.index")) == ["model.ckpt-2.index"]
    other = make_experiment(tmp_path, "other", params={**THREE, "multitrack": "composer", "condition_track": "piano"})
    with pytest.raises(SystemExit):  # a state of another model: one line naming the state
        cli(["import-state", str(other), str(out)])
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("musegan")]
    assert len(err) == 1 and str(out) in err[0] and "does not match" in err[0], err

    cli(["infer", str(exp), "--rows", "1", "--columns", "2", "--seed", "0"])
    assert list((exp / "results" / "inference" / "arrays").glob("fake_x_*.npy"))
    cli(["evaluate", str(exp), "--bars", "8"])
    assert (exp / "results" / "evaluation").is_dir()

    cli(["export-state", str(exp), str(tmp_path / "exported"), "--with-adam"])
    exported = state_io.load_state(tmp_path / "exported")
    assert int(exported["global_step"]) == 2 and "optimizers/beta1_power" in exported
    assert np.array_equal(exported[name], flat["ema/" + name])
    capsys.readouterr()
    tj.main([str(exp), "--out", str(tmp_path / "resumed"), "--init", str(tmp_path / "exported"),
             "--steps", "3", "--with-adam"])
    log = capsys.readouterr().out
    assert "initialized from" in log and "at step 2" in log and "Adam restarts" not in log
    resumed = state_io.load_state(tmp_path / "resumed")
    assert int(resumed["global_step"]) == 3
    # D's Adam continued from the exported beta powers: 5 more D updates
    assert float(resumed["optimizers/beta1_power"]) == pytest.approx(float(exported["optimizers/beta1_power"]) * 0.5 ** 5)
    assert not np.array_equal(resumed[name], exported[name])


@pytest.mark.slow
def test_sigterm_saves_the_state_and_exits_143(tmp_path):
    import signal
    import subprocess
    import sys

    x = _phrases(12)
    write_sparse_npz(tmp_path / "tiny.npz", x)
    exp = make_experiment(tmp_path, params={**THREE, "multitrack": "hybrid", "condition_track": None},
                          config={"batch_size": 4, "validation_fraction": 0.0})
    out = tmp_path / "state"
    proc = subprocess.Popen([sys.executable, "-m", "musegan.training.jax_trainer", str(exp), "--out", str(out),
                             "--steps", "1000000", "--save-every-minutes", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in proc.stdout:  # the first progress line comes after the first iteration
            if line.startswith("step "):
                break
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, stderr
    assert "SIGTERM" in stderr and "stopped by SIGTERM" in stdout
    assert state_io.state_step(state_io.load_state(out)) >= 1


@pytest.mark.slow
def test_selection_conditions_on_the_selection_split(tmp_path, capsys):
    """With selection_fraction > 0 the selector is given the condition tracks of the songs
    kept out of fitting (each song here has its own piano pitch, so a track tells its song)."""
    import re
    from musegan.music.splits import load_splits

    x = np.zeros((24, *THREE["data_shape"]), dtype=bool)
    songs = np.arange(24) // 3
    x[np.arange(24), :, 0, songs, 1] = True  # song i: piano holds pitch i
    x[:, :, 0, 12, 2] = True
    write_sparse_npz(tmp_path / "tiny.npz", x, song_ids=songs, song_names=[f"song{i}" for i in range(8)])
    exp = make_experiment(tmp_path, params={**THREE, "multitrack": "hybrid", "condition_track": "piano"},
                          config={"batch_size": 4, "validation_fraction": 0.25, "selection_fraction": 0.34})
    config, params = cfg.load_experiment(exp)
    train, selection, valid = load_splits(config, params["data_shape"])
    trainer = tj.Trainer(params, config)
    selector = tj.Selector(trainer, train, selection, 10, 0)
    pitches = set(np.nonzero(np.asarray(selector.condition) > 0)[3])
    assert pitches and pitches <= set(selection.song_ids) and not pitches & set(train.song_ids)

    tj.train(exp, tmp_path / "state", steps=1, save_every_minutes=0, select_every_minutes=1e-9, select_phrases=4)
    log = capsys.readouterr().out
    assert re.search(rf"given the condition tracks of the {len(selection)} selection-split phrases", log), log
    assert f"{len(train)} training phrases" in log, log


def test_selection_rank_puts_following_states_first():
    """With a minimum following, a state that follows its part outranks one that meets more
    goal metrics but ignores the part; at 0 the goal alone orders (more met, then the smaller sum)."""
    follows, ignores = ((5, 40.0), 5.0), ((7, 43.0), 0.4)      # (goal score, following gap)
    rank = lambda state, minimum: tj.selection_rank(state[0], state[1], 14.7, minimum)
    assert rank(follows, 0.3) > rank(ignores, 0.3)
    assert rank(ignores, 0.0) > rank(follows, 0.0)
    assert rank(((7, 42.0), 0.1), 0.0) > rank(((7, 43.0), 9.0), 0.0)
    assert rank(follows, 0.5) == (False, 5, -40.0)                 # 5 < 0.5 * 14.7
    assert tj.selection_rank((5, 40.0), None, 14.7, 0.3)[0] is False


def test_selection_keeps_the_best_scoring_state(tmp_path, capsys):
    """--select-every-minutes: the start and every scored step are logged with the goal score,
    and OUT/best holds the state of the best-scoring one (more met metrics, then the smaller
    distance sum)."""
    import re

    exp = _piano_experiment(tmp_path)
    out = tmp_path / "state"
    result = tj.train(exp, out, steps=4, save_every_minutes=0, select_every_minutes=1e-9, select_phrases=6)
    log = capsys.readouterr().out
    lines = re.findall(r"select step (\d+): goal met on (\d+) of \d+ metrics, distance sum ([\d.]+)", log)
    scored = {int(s): (int(k), -float(d)) for s, k, d in lines}
    assert [int(s) for s, _, _ in lines] == [0, 1, 2, 3, 4], log  # each step once
    # the model has drums: each line also names the on-drums rate of the tracks with notes
    assert all(re.search(r"distance sum [\d.]+; on drums % piano [\d.]+ bass [\d.]+; "
                         r"following gap -?[\d.]+ \(given phrases -?[\d.]+\) \(", l)
               for l in log.splitlines() if l.startswith("select step")), log
    best = max(scored, key=lambda s: (scored[s], -s))  # the first of equals stays
    assert result["best_step"] == best
    assert state_io.state_step(state_io.load_state(out / "best")) == best
    assert state_io.state_step(state_io.load_state(out)) == 4
