"""The jax backend's own side: it runs where TensorFlow is not installed, its states name every
variable as TensorFlow does and travel to the tf backend and back (`import-state`,
`export-state`), and it refuses what only TensorFlow can read."""
import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from musegan import config as cfg
from musegan.errors import CheckpointError, UsageError
from musegan.training.jax_backend import Trainer, warm_start_weights
from musegan.training.jax_state import from_flat, to_flat
from musegan.weights import states as state_io
from tiny_exp import TINY_CONFIG, TINY_PARAMS, THREE, saved, three_track_experiment

REPO = Path(__file__).resolve().parents[1]


def _env(tmp_path: Path) -> dict:
    """This checkout's musegan first on the path, and a `tensorflow` that cannot be imported."""
    stub = tmp_path / "no_tensorflow"
    (stub / "tensorflow").mkdir(parents=True)
    (stub / "tensorflow" / "__init__.py").write_text('raise ImportError("the jax backend must not import TensorFlow")\n')
    return {**os.environ, "CUDA_VISIBLE_DEVICES": "",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(stub), str(REPO), os.environ.get("PYTHONPATH")]))}


@pytest.mark.slow
def test_jax_backend_trains_resumes_and_ships_without_tensorflow(tmp_path):
    """`musegan train EXP --backend jax` end to end with no TensorFlow: a state per save, a
    resume from the latest, the averaged generator as a shipped generator.npz."""
    exp = three_track_experiment(tmp_path, config={"ema_decay": 0.5, "average_from": 1, "average_every": 1,
                                                   "save_checkpoint_steps": 1})
    env = _env(tmp_path)
    run = lambda *args: subprocess.run([sys.executable, "-m", "musegan", "train", str(exp), "--backend", "jax", *args],
                                       capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, timeout=600)
    first = run("--steps", "2")
    assert first.returncode == 0, first.stderr[-3000:]
    assert "backend cpu" in first.stdout and "compiled one iteration" in first.stdout
    assert "first step done" in first.stdout and "step 2/2" in first.stdout
    second = run("--steps", "3")
    assert second.returncode == 0, second.stderr[-3000:]
    assert f"resumed from {exp / 'state' / 'step-2'}" in second.stdout
    assert "averaged the generator at 3 steps (1-3, every 1)" in second.stdout
    assert sorted(p.name for p in (exp / "state").iterdir()) == ["step-1", "step-2", "step-3"]
    average = state_io.load_generator(exp / "average" / "generator.npz")
    last = saved(exp, "jax")
    assert int(last["global_step"]) == 3 and "optimizers/beta1_power" in last
    assert set(average) == {n for n in last if n.startswith("Generator/")}


@pytest.mark.slow
def test_states_travel_between_the_backends(tmp_path, capsys):
    """jax -> import-state -> tf trains on -> export-state -> jax trains on, Adam continued; the
    commands that generate take whichever of checkpoint and state is newer; each backend
    refuses to start over beside the other's newer save."""
    from musegan.cli import main as cli
    from musegan.generate import Generator
    from musegan.training.loop import train

    exp = three_track_experiment(tmp_path, config={"ema_decay": 0.5})
    train(exp, "jax", steps=2, log=lambda line: None)
    state = saved(exp, "jax")
    name = "Generator/bar/drums/time0/kernel"
    assert not np.array_equal(state["ema/" + name], state[name])
    gen = Generator(exp)  # the state is the newest: generation uses its EMA
    assert gen.source == str(exp / "state" / "step-2")
    gen.close()
    with pytest.raises(CheckpointError, match=r"newer than any checkpoint .*`musegan import-state"):
        train(exp, "tf", steps=3, log=lambda line: None)

    cli(["import-state", str(exp), str(exp / "state")])
    assert f"from {exp / 'state' / 'step-2'} at step 2" in capsys.readouterr().out
    imported = saved(exp, "tf")
    for n in (name, "ema/" + name, "Discriminator/all/score/kernel", "optimizers/beta1_power"):
        np.testing.assert_array_equal(imported[n], state[n], err_msg=n)
    train(exp, "tf", steps=3, log=lambda line: None)  # resumes the imported checkpoint
    after_tf = saved(exp, "tf")
    assert int(after_tf["global_step"]) == 3
    assert float(after_tf["optimizers/beta1_power"]) == pytest.approx(float(state["optimizers/beta1_power"]) * 0.5 ** 5)
    with pytest.raises(CheckpointError, match=r"newer than any training state .* export-state"):
        train(exp, "jax", steps=4, log=lambda line: None)

    cli(["export-state", str(exp), str(exp / "state" / "step-3"), "--with-adam"])
    logs = []
    train(exp, "jax", steps=4, log=logs.append)
    assert any(line == f"resumed from {exp / 'state' / 'step-3'}" for line in logs), logs  # Adam's state there too
    resumed = saved(exp, "jax")
    assert float(resumed["optimizers/beta1_power"]) == pytest.approx(float(after_tf["optimizers/beta1_power"]) * 0.5 ** 5)
    cli(["infer", str(exp), "--rows", "1", "--columns", "2", "--seed", "0"])
    assert f"(weights: {exp / 'state' / 'step-4'})" in capsys.readouterr().out


def test_warm_start_weights_are_what_jax_can_read(tmp_path):
    """init_from for a jax run: the source's latest state, else its shipped generator; a newer
    TensorFlow checkpoint is refused with the command that makes it a state."""
    source = tmp_path / "source"
    with pytest.raises(CheckpointError, match="no trained model"):
        warm_start_weights(source)
    state_io.save_generator(source / "pretrained" / "generator.npz", {"Generator/k": np.ones(2, np.float32)})
    weights, where = warm_start_weights(source)
    assert where.endswith("generator.npz") and list(weights) == ["Generator/k"]
    model = source / "model"
    model.mkdir()
    for suffix in ("index", "data-00000-of-00001"):
        (model / f"model.ckpt-7.{suffix}").write_bytes(b"")
    with pytest.raises(UsageError, match=rf"cannot read; .*`musegan export-state {source} {source / 'state' / 'step-7'}`"):
        warm_start_weights(source)
    state_io.save_state(source / "state" / "step-9", {"global_step": np.int64(9), "Generator/k": np.zeros(2, np.float32),
                                                      "optimizers/Generator/k/g_adam": np.zeros(2, np.float32)})
    weights, where = warm_start_weights(source)
    assert where == str(source / "state" / "step-9") and list(weights) == ["Generator/k"]


def test_state_names_round_trip_with_what_a_state_may_lack():
    """A state without Adam restarts it, one without an EMA starts the EMA from G, an EMA the run
    does not keep is dropped; an incomplete optimizer state or a foreign name is refused."""
    params = cfg.load_params(overrides={**TINY_PARAMS, **THREE, "multitrack": "hybrid", "condition_track": "piano"})
    config = cfg.load_config(overrides={**TINY_CONFIG, "ema_decay": 0.75})
    trainer = Trainer(params, config)
    state = trainer.init_state(jax.random.PRNGKey(0))
    flat = to_flat(trainer, state, with_adam=True)
    back, notes = from_flat(trainer, flat, "s", jax.random.PRNGKey(1))
    assert notes == [] and to_flat(trainer, back, with_adam=True).keys() == flat.keys()
    plain = {n: v for n, v in flat.items() if not n.startswith(("ema/", "optimizers/"))}
    _, notes = from_flat(trainer, plain, "p", jax.random.PRNGKey(1))
    assert any("EMA of G starts from G's weights" in n for n in notes)
    assert sum("Adam restarts" in n for n in notes) == 2
    no_ema = Trainer(params, {**config, "ema_decay": 0.0})
    restored, notes = from_flat(no_ema, flat, "s", jax.random.PRNGKey(1))
    assert "ema" not in restored and any("EMA of G is not used" in n for n in notes)
    with pytest.raises(CheckpointError, match="incomplete optimizer state"):
        from_flat(trainer, {n: v for n, v in flat.items() if n != "optimizers/beta1_power"}, "s", jax.random.PRNGKey(1))
    with pytest.raises(CheckpointError, match="'Generator/extra' .* is not a variable"):
        from_flat(trainer, {**flat, "Generator/extra": np.zeros(1)}, "s", jax.random.PRNGKey(1))
