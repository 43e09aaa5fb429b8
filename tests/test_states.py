"""Training states and shipped generators on disk (numpy only): state shards, the jax
backend's store of states in EXP_DIR/state/, averaging states and generators."""
import numpy as np
import pytest

from musegan.errors import CheckpointError, UsageError
from musegan.weights import states as state_io
from musegan.weights import store
from musegan.weights.averaging import average_generators


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


def test_store_keeps_the_latest_states_whole(tmp_path):
    """Each save lands whole under `step-STEP` (written aside, renamed); the oldest go beyond
    `keep`; a folder of states resolves to its latest; a TensorFlow checkpoint counts only
    when complete, and a state counts as newer only past its step."""
    arrays = lambda step: {"global_step": np.int64(step), "Generator/k": np.full(3, step, np.float32)}
    for step in (1, 2, 3):
        store.save_training_state(tmp_path, arrays(step), step, keep=2)
    assert sorted(store.state_steps(tmp_path)) == [2, 3]
    assert sorted(p.name for p in (tmp_path / "state").iterdir()) == ["step-2", "step-3"]
    latest = store.latest_state(tmp_path)
    assert latest == tmp_path / "state" / "step-3" == store.resolve_state(tmp_path / "state")
    assert store.resolve_state(latest) == latest
    assert state_io.state_step(state_io.load_state(store.resolve_state(tmp_path / "state"))) == 3
    store.save_training_state(tmp_path, arrays(3), 3, keep=2)  # again at the same step: replaced
    assert sorted(store.state_steps(tmp_path)) == [2, 3]

    model = tmp_path / "model"
    model.mkdir()
    (model / "model.ckpt-5.index").write_bytes(b"")
    assert store.checkpoint_steps(model) == {}  # no data file: not a checkpoint
    (model / "model.ckpt-5.data-00000-of-00001").write_bytes(b"")
    assert store.checkpoint_steps(model) == {5: model / "model.ckpt-5"}
    assert store.newer_state(tmp_path, model / "model.ckpt-5") is None
    assert store.newer_state(tmp_path, model / "model.ckpt-2") == latest
    assert store.newer_state(tmp_path, None) == latest


def test_state_weights_give_the_ema_as_generator(tmp_path):
    """What a user gets from a state: G's EMA in G's place, the moving averages, D unless
    `generator_only`; no optimizer state, no step."""
    state = {"global_step": np.int64(4), "Generator/k": np.zeros(2, np.float32),
             "ema/Generator/k": np.ones(2, np.float32), "Generator/bn/moving_mean": np.full(2, 3, np.float32),
             "Discriminator/k": np.full(2, 5, np.float32), "optimizers/Generator/k/g_adam": np.ones(2, np.float32)}
    state_io.save_state(tmp_path / "s", state)
    weights = store.state_weights(tmp_path / "s")
    assert sorted(weights) == ["Discriminator/k", "Generator/bn/moving_mean", "Generator/k"]
    np.testing.assert_array_equal(weights["Generator/k"], [1, 1])
    assert sorted(store.state_weights(tmp_path / "s", generator_only=True)) == ["Generator/bn/moving_mean",
                                                                                 "Generator/k"]
