"""Training on tiny shapes: weights change, checkpoints are written, a second run resumes."""
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from musegan.train import train
from tiny_exp import make_experiment


def _reader(exp):
    return tf.train.load_checkpoint(tf.train.latest_checkpoint(str(exp / "model")))


@pytest.mark.parametrize("params", [{"multitrack": "hybrid", "condition_track": "piano"},
                                    {"multitrack": "jamming", "condition_track": None,
                                     "discriminator": {"use_chroma": True, "use_onset": True}}])
def test_train_checkpoints_and_resumes(tmp_path, params):
    exp = make_experiment(tmp_path, params=params)
    logs = []
    result = train(exp, steps=2, log=logs.append)
    assert result["step"] == 2 and np.isfinite(result["d_loss"])
    first = _reader(exp)
    assert first.get_tensor("global_step") == 2
    assert (exp / "results" / "training" / "step0000002.png").is_file()

    logs.clear()
    train(exp, steps=4, log=logs.append)
    assert any("resumed from" in line and "model.ckpt-2" in line for line in logs)
    second = _reader(exp)
    assert second.get_tensor("global_step") == 4
    names = [n for n in first.get_variable_to_shape_map() if n.endswith("kernel") and "adam" not in n]
    g = [n for n in names if n.startswith("Generator/")]
    d = [n for n in names if n.startswith("Discriminator/")]
    assert g and d
    for name in (g[0], d[0]):
        assert not np.allclose(first.get_tensor(name), second.get_tensor(name)), name


def test_finished_run_is_not_retrained(tmp_path):
    exp = make_experiment(tmp_path)
    train(exp, steps=2, log=lambda *_: None)
    before = sorted(p.name for p in (exp / "model").iterdir())
    assert train(exp, steps=2, log=lambda *_: None)["step"] == 2
    assert sorted(p.name for p in (exp / "model").iterdir()) == before


@pytest.mark.parametrize("params,message", [
    ({"multitrack": "orchestra"}, "'multitrack' must be one of jamming, composer, hybrid"),
    ({"condition_track": 7}, "'condition_track' 7 is out of range"),
    ({"condition_track": "kazoo"}, "'condition_track' 'kazoo' is not a track"),
    ({"data_shape": [4, 50, 24, 5]}, "'data_shape'"),
])
def test_config_errors_are_one_line(tmp_path, params, message):
    exp = make_experiment(tmp_path, params=params)
    proc = subprocess.run([sys.executable, "-m", "musegan", "train", str(exp)], capture_output=True, text=True)
    assert proc.returncode == 2
    lines = [l for l in proc.stderr.splitlines() if l.startswith("musegan")]
    assert len(lines) == 1 and message in lines[0] and str(exp / "params.yaml") in lines[0]
    assert "Traceback" not in proc.stderr
    assert not (exp / "model").exists()
