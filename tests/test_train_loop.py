"""The training loop's own behaviour, on a stand-in backend (no framework, instant steps): when
it stops (steps, --stop-step, --minutes, a NaN), when it saves (steps, minutes), what it
logs, and the progress bar."""
import io
import json
import time
from pathlib import Path

import numpy as np
import pytest

from musegan.errors import TrainingError, UsageError
from musegan.training import loop
from tiny_exp import make_experiment


class FakeTraining:
    """A backend whose "weights" count its iterations; `FakeTraining.losses` (a list) gives
    each iteration's (d_loss, g_loss), `FakeTraining.seconds` its duration. Saves are a JSON
    file listing the saved steps."""

    name, warmup_chunk = "fake", 1
    losses, seconds = None, 0.0

    def __init__(self, exp_dir, params, config, train_data, log):
        self.path = Path(exp_dir) / "fake.json"
        self.saves = json.loads(self.path.read_text())["saves"] if self.path.is_file() else []
        self.fresh = not self.saves
        self.step = self.saves[-1] if self.saves else 0
        self.config, self.n_params = config, {"generator": 1, "discriminator": 1, "trained": 1}
        self.save_dir = self.path
        if not self.fresh:
            log(f"resumed from step {self.step}")

    def iteration(self):
        time.sleep(self.seconds)
        self.step += 1
        return self.losses[self.step - 1] if self.losses else (1.0, -1.0)

    def warm_start(self, source, log):
        return ["Discriminator/kernel"]  # as from a shipped generator: D fresh

    def critic_updates(self, n):
        time.sleep(self.seconds)
        return 1.0

    def finite(self):
        return True

    def save(self, step):
        self.saves.append(step)
        self.path.write_text(json.dumps({"saves": self.saves}))

    def generate(self, z, condition):
        return -np.ones((len(z), 4, 24, 24, 5), np.float32)

    def summarize(self, step, scalars, image=None):
        pass

    def close(self):
        pass


@pytest.fixture
def fake(monkeypatch, tmp_path):
    """An experiment trained by FakeTraining; returns (exp, a function listing its saves)."""
    monkeypatch.setattr(loop, "_open", lambda backend, *args: FakeTraining(*args))
    monkeypatch.setattr(FakeTraining, "losses", None)
    monkeypatch.setattr(FakeTraining, "seconds", 0.0)
    exp = make_experiment(tmp_path, config={"steps": 10, "save_checkpoint_steps": 4, "log_loss_steps": 3,
                                            "save_samples_steps": 1000})
    return exp, lambda: json.loads((exp / "fake.json").read_text())["saves"]


def test_steps_saves_and_log_lines(fake):
    exp, saves = fake
    logs = []
    result = loop.train(exp, "fake", log=logs.append)
    assert result["step"] == 10 and result["iterations"] == 10 and result["stopped_by"] is None
    assert saves() == [4, 8, 10]
    steps = [int(line.split()[1].split("/")[0]) for line in logs if line.startswith("step ")]
    assert steps == [3, 6, 9, 10]
    assert sum(line.startswith("first step done") for line in logs) == 1
    assert logs[-1] == "10 iterations in " + logs[-1].split(" in ", 1)[1] and logs[-1].endswith("step 10")


def test_stop_step_ends_early_on_the_same_schedule(fake):
    exp, saves = fake
    logs = []
    seen = []
    original = FakeTraining.__init__

    def spy(self, exp_dir, params, config, data, log):
        seen.append(config["steps"])
        original(self, exp_dir, params, config, data, log)

    FakeTraining.__init__ = spy
    try:
        assert loop.train(exp, "fake", stop_step=6, log=logs.append)["step"] == 6
        assert loop.train(exp, "fake", stop_step=7, log=logs.append)["step"] == 7
    finally:
        FakeTraining.__init__ = original
    assert seen == [10, 10]  # the learning-rate schedule still ends at config 'steps'
    assert saves() == [4, 6, 7]
    assert any(line.endswith("step 0/10, stopping at 6") for line in logs), logs
    with pytest.raises(UsageError, match="--stop-step -1"):
        loop.train(exp, "fake", stop_step=-1)


def test_minutes_stop_a_run_and_save_it(fake):
    exp, saves = fake
    FakeTraining.seconds = 0.05
    result = loop.train(exp, "fake", steps=1000, minutes=0.3 / 60, log=lambda line: None)
    assert 2 <= result["step"] < 20 and saves()[-1] == result["step"]
    with pytest.raises(UsageError, match="--minutes 0"):
        loop.train(exp, "fake", minutes=0)


def test_save_checkpoint_minutes(fake):
    exp, saves = fake
    FakeTraining.seconds = 0.05
    (exp / "config.yaml").write_text((exp / "config.yaml").read_text() + "save_checkpoint_minutes: 0.0025\n")
    loop.train(exp, "fake", steps=12, log=lambda line: None)
    # every 0.15 s (three steps or so) besides steps 4, 8 and the end
    assert len(saves()) >= 5 and saves()[-1] == 12 and saves() == sorted(set(saves()))


@pytest.mark.parametrize("bad_at, save_every", [(3, 1), (3, 100)])
def test_nan_stops_with_the_last_good_save_kept(fake, bad_at, save_every):
    exp, saves = fake
    FakeTraining.losses = [(1.0, -1.0)] * (bad_at - 1) + [(float("nan"), -1.0)] + [(1.0, -1.0)] * 20
    config = exp / "config.yaml"
    config.write_text(config.read_text().replace("save_checkpoint_steps: 4", f"save_checkpoint_steps: {save_every}"))
    with pytest.raises(TrainingError, match=f"loss became NaN/inf at step {bad_at} .*last good checkpoint is kept in "):
        loop.train(exp, "fake", log=lambda line: None)
    recorded = saves() if (exp / "fake.json").is_file() else []
    assert recorded == list(range(1, bad_at)) if save_every == 1 else recorded == []


def test_progress_bar_shows_rate_and_eta(fake):
    exp, _ = fake
    bar = io.StringIO()
    loop.train(exp, "fake", log=lambda line: None, progress=bar)
    text = bar.getvalue()
    assert "training" in text and "10/10" in text and "step/s" in text and "<" in text, text


def test_critic_warmup_shows_progress_and_saves_with_the_steps(fake):
    exp, saves = fake
    config = exp / "config.yaml"
    config.write_text(config.read_text() + "init_from: elsewhere\ncritic_warmup_updates: 7\n")
    logs, bar = [], io.StringIO()
    loop.train(exp, "fake", steps=2, log=logs.append, progress=bar)
    warmup = [line.split()[2] for line in logs if line.startswith("critic warm-up ") and "/" in line.split()[2]]
    assert warmup == ["1/7", "3/7", "6/7", "7/7"], logs  # the first update, every log_loss_steps, the last
    assert "critic warm-up" in bar.getvalue() and "7/7" in bar.getvalue()
    assert saves() == [2]
