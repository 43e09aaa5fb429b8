"""Training on tiny shapes through the one loop, with both backends where the behaviour is
theirs to keep: weights change, checkpoints (tf) or states (jax) are written, a second run
resumes, warm starts, `train_tracks`, evaluation and the best state, averaging."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from musegan.errors import ConfigError
from musegan.training.loop import train
from tiny_exp import TINY_PARAMS, make_experiment, saved, three_track_experiment

BACKENDS = ["tf", "jax"]
SAVES = {"tf": "model.ckpt-{}", "jax": "step-{}"}


def _reader(exp):
    return tf.train.load_checkpoint(tf.train.latest_checkpoint(str(exp / "model")))


def _quiet(*_):
    pass


@pytest.mark.parametrize("backend", BACKENDS)
def test_train_saves_and_resumes(tmp_path, backend):
    exp = three_track_experiment(tmp_path)
    logs = []
    result = train(exp, backend, steps=2, log=logs.append)
    assert result["step"] == 2 and np.isfinite(result["d_loss"])
    first = saved(exp, backend)
    assert first["global_step"] == 2 and any(n.startswith("optimizers/") for n in first)
    assert (exp / "results" / "training" / "step0000002.png").is_file()
    assert any(line.startswith("first step done") for line in logs)
    assert any(line.startswith("step 2/2  d_loss") and "ETA" in line for line in logs)

    logs.clear()
    train(exp, backend, steps=4, log=logs.append)
    assert any("resumed from" in line and line.endswith(SAVES[backend].format(2)) for line in logs), logs
    second = saved(exp, backend)
    assert second["global_step"] == 4 and set(second) == set(first)
    names = [n for n in first if n.endswith("kernel") and not n.startswith("optimizers/")]
    for prefix in ("Generator/", "Discriminator/"):
        name = next(n for n in names if n.startswith(prefix))
        assert not np.allclose(first[name], second[name]), name


def test_train_with_every_discriminator_stream(tmp_path):
    exp = make_experiment(tmp_path, params={"multitrack": "jamming", "condition_track": None,
                                            "discriminator": {"use_chroma": True, "use_onset": True,
                                                              "use_rhythm": True, "minibatch_std": True}})
    assert train(exp, steps=1, log=_quiet)["step"] == 1
    assert _reader(exp).get_tensor("global_step") == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_finished_run_is_not_retrained(tmp_path, backend):
    exp = three_track_experiment(tmp_path)
    train(exp, backend, steps=2, log=_quiet)
    before = {p: p.stat().st_mtime_ns for p in exp.rglob("*") if p.is_file()}
    assert train(exp, backend, steps=2, log=_quiet)["step"] == 2
    assert {p: p.stat().st_mtime_ns for p in exp.rglob("*") if p.is_file()} == before


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


@pytest.fixture(scope="module")
def trained_source(tmp_path_factory):
    """A tiny hybrid trained from scratch for 2 steps: the warm start's source."""
    src = make_experiment(tmp_path_factory.mktemp("source"), "src")
    train(src, steps=2, log=lambda *_: None)
    return src


def test_warm_start_copies_matching_weights_and_zeroes_new_inputs(tmp_path, trained_source):
    from musegan.training.transfer import _training_graph
    from musegan.weights.checkpoints import warm_start

    src = trained_source
    dst = make_experiment(tmp_path, "dst", params={"condition_track": "bass"}, config={"init_from": str(src)})
    graph, tg, _, _ = _training_graph(dst)
    with graph.as_default():
        variables = [v for v in tf.compat.v1.global_variables() if v.op.name.startswith(("Generator/", "Discriminator/"))]
    names = [v.op.name for v in variables]
    logs = []
    with tf.compat.v1.Session(graph=graph) as sess:
        sess.run(tg.init)
        before = dict(zip(names, sess.run(variables)))
        warm_start(sess, variables, src, log=logs.append)
        after = dict(zip(names, sess.run(variables)))
    source = _reader(src)
    shapes = source.get_variable_to_shape_map()
    kinds = {"copied": 0, "widened": 0, "fresh": 0}
    for name in names:
        if name in shapes and list(shapes[name]) == list(after[name].shape):
            np.testing.assert_array_equal(after[name], source.get_tensor(name))
            kinds["copied"] += 1
        elif name in shapes:  # the layer also takes the encoder's skip: old rows first, new rows zero
            rows = shapes[name][0]
            np.testing.assert_array_equal(after[name][:rows], source.get_tensor(name))
            assert not after[name][rows:].any() and before[name][rows:].any(), name
            kinds["widened"] += 1
        else:
            np.testing.assert_array_equal(after[name], before[name])
            kinds["fresh"] += 1
    assert kinds["copied"] and kinds["widened"] and kinds["fresh"], kinds
    assert any(n.startswith("Discriminator/") and n in shapes for n in names)
    assert any(n.startswith("Generator/encoder/") for n in names)
    assert any("warm start from" in line and "model.ckpt-2" in line for line in logs)


def test_warm_start_only_when_fresh_and_bad_source_is_one_line(tmp_path, trained_source):
    src = trained_source
    dst = make_experiment(tmp_path, "dst", params={"condition_track": "bass"}, config={"init_from": str(src)})
    logs = []
    train(dst, steps=1, log=logs.append)
    assert any("warm start from" in line for line in logs)
    logs.clear()
    train(dst, steps=2, log=logs.append)
    assert any("resumed from" in line for line in logs) and not any("warm start" in line for line in logs)
    assert not any("critic warm-up" in line for line in logs)

    bad = make_experiment(tmp_path, "bad", config={"init_from": str(tmp_path / "nowhere")})
    proc = subprocess.run([sys.executable, "-m", "musegan", "train", str(bad)], capture_output=True, text=True)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    lines = [l for l in proc.stderr.splitlines() if l.startswith("musegan")]
    assert len(lines) == 1 and "nowhere" in lines[0] and "no trained model" in lines[0], proc.stderr


@pytest.mark.parametrize("backend", BACKENDS)
def test_warm_start_from_a_shipped_generator_trains_the_critic_first(tmp_path, trained_source, backend):
    """Only G's weights ship, so such a warm start leaves D fresh: the critic warm-up
    updates D alone before G's first update, and G (and its EMA) still hold the shipped weights."""
    import shutil

    from musegan.weights.export import export_generator

    shipped = tmp_path / "shipped"
    shutil.copytree(trained_source, shipped)
    export_generator(shipped)
    shutil.rmtree(shipped / "model")
    weights, logs = {}, {}
    for updates in (0, 3):
        dst = make_experiment(tmp_path, f"warmup{updates}",
                              config={"init_from": str(shipped), "critic_warmup_updates": updates,
                                      "ema_decay": 0.9})
        logs[updates] = []
        train(dst, backend, steps=0, log=logs[updates].append)
        weights[updates] = {n: v for n, v in saved(dst, backend).items()
                            if n.startswith(("Generator/", "Discriminator/", "ema/"))}
    assert any("critic warm-up 3/3" in line for line in logs[3])
    assert not any("critic warm-up" in line for line in logs[0])
    assert any(f"warm start from {shipped / 'pretrained' / 'generator.npz'}" in line for line in logs[3])
    with np.load(shipped / "pretrained" / "generator.npz") as g:
        for name in g.files:
            np.testing.assert_array_equal(weights[3][name], g[name].astype(np.float32), err_msg=name)
            np.testing.assert_array_equal(weights[0][name], weights[3][name], err_msg=name)
            if "ema/" + name in weights[3]:
                np.testing.assert_array_equal(weights[3]["ema/" + name], weights[3][name], err_msg=name)
    assert any(n.startswith("ema/") for n in weights[3])
    d = [n for n in weights[0] if n.startswith("Discriminator/") and n.endswith("kernel")]
    assert d and all(not np.allclose(weights[0][n], weights[3][n]) for n in d)


def test_ema_of_the_generator_trains_resumes_generates_and_travels(tmp_path, capsys):
    """ema_decay: after each G update ema += (1 - decay) (g - ema), kept across a resume as
    ema/<name> (as the jax backend's states name it); generation uses the EMA; export-state carries it,
    import-state brings it back (into an experiment without EMA: as the generator)."""
    from musegan.training.transfer import export_state, import_state
    from musegan.weights.checkpoints import generator_weights
    from musegan.cli import main as cli
    from musegan.errors import CheckpointError
    from musegan.generate import generate_phrases
    from musegan.weights.states import compact, load_state

    exp = make_experiment(tmp_path, config={"ema_decay": 0.75, "save_checkpoint_steps": 1})
    logs = []
    train(exp, steps=1, log=logs.append)
    assert any("an EMA of G (decay 0.75)" in line for line in logs)
    train(exp, steps=2, log=lambda *_: None)
    one, two = (tf.train.load_checkpoint(str(exp / "model" / f"model.ckpt-{k}")) for k in (1, 2))
    names = [n for n in one.get_variable_to_shape_map() if n.startswith("ema/")]
    g = [n[len("ema/"):] for n in names]
    assert g and all(n.startswith("Generator/") and "moving_" not in n for n in g)
    trainable = [n for n in one.get_variable_to_shape_map() if n.startswith("Generator/")
                 and not n.endswith(("moving_mean", "moving_variance"))]
    assert sorted(g) == sorted(trainable)
    for n in g:
        ema1, ema2, g2 = one.get_tensor("ema/" + n), two.get_tensor("ema/" + n), two.get_tensor(n)
        np.testing.assert_allclose(ema2, ema1 + 0.25 * (g2 - ema1), rtol=1e-5, atol=1e-7, err_msg=n)
    assert any(not np.array_equal(two.get_tensor(n), two.get_tensor("ema/" + n)) for n in g)

    weights, _ = generator_weights(exp)
    for n in g:
        np.testing.assert_array_equal(weights[n], two.get_tensor("ema/" + n))

    # an earlier checkpoint by its step (the states that checkpoint averaging takes)
    export_state(exp, tmp_path / "state1", step=1, log=lambda *_: None)
    first = load_state(tmp_path / "state1")
    assert int(first["global_step"]) == 1
    for n in g:
        np.testing.assert_array_equal(first["ema/" + n], one.get_tensor("ema/" + n), err_msg=n)
        np.testing.assert_array_equal(first[n], one.get_tensor(n), err_msg=n)
    with pytest.raises(CheckpointError, match=r"no checkpoint at step 7; steps there: 1, 2$"):
        export_state(exp, tmp_path / "state7", step=7, log=lambda *_: None)
    assert not (tmp_path / "state7").exists()

    # checkpoint averaging in one command: the mean of the EMA at steps 1 and 2 (and of the
    # moving averages), shipped into a new folder that generates with it
    cli(["export", str(exp), "--steps", "1:2:1", "--to", str(tmp_path / "avg")])
    assert "the mean of 2 checkpoints" in capsys.readouterr().out
    with np.load(tmp_path / "avg" / "pretrained" / "generator.npz") as f:
        for n in g:
            mean = ((one.get_tensor("ema/" + n).astype(np.float64) + two.get_tensor("ema/" + n)) / 2).astype(np.float32)
            np.testing.assert_array_equal(f[n], compact(n, mean), err_msg=n)
        moving = [n for n in f.files if n.endswith("moving_mean")]
        assert moving and set(f.files) == set(g) | set(moving) | {n.replace("moving_mean", "moving_variance") for n in moving}
        for n in moving:
            np.testing.assert_allclose(f[n], (one.get_tensor(n) + two.get_tensor(n)) / 2, rtol=1e-6, err_msg=n)
    assert (tmp_path / "avg" / "params.yaml").read_text() == (exp / "params.yaml").read_text()
    # --live: the weights the optimizer updated, not their EMA (alone, or averaged over steps)
    cli(["export", str(exp), "--live", "--to", str(tmp_path / "live")])
    assert "live weights, not their EMA" in capsys.readouterr().out
    cli(["export", str(exp), "--live", "--steps", "1,2", "--to", str(tmp_path / "live_avg")])
    cli(["export", str(exp), "--live", "--steps", "1", "--to", str(tmp_path / "live1")])
    assert f"from the checkpoint of {exp / 'model'} at step 1 (live weights" in capsys.readouterr().out
    with np.load(tmp_path / "live" / "pretrained" / "generator.npz") as f, \
            np.load(tmp_path / "live_avg" / "pretrained" / "generator.npz") as h, \
            np.load(tmp_path / "live1" / "pretrained" / "generator.npz") as at1:
        for n in g:
            np.testing.assert_array_equal(f[n], compact(n, two.get_tensor(n)), err_msg=n)
            np.testing.assert_array_equal(at1[n], compact(n, one.get_tensor(n)), err_msg=n)
            mean = ((one.get_tensor(n).astype(np.float64) + two.get_tensor(n)) / 2).astype(np.float32)
            np.testing.assert_array_equal(h[n], compact(n, mean), err_msg=n)
    with pytest.raises(SystemExit):  # shipped weights alone keep no live weights apart
        cli(["export", str(tmp_path / "avg"), "--live", "--to", str(tmp_path / "no_live")])
    assert "no checkpoint in" in capsys.readouterr().err
    assert not (tmp_path / "no_live").exists()
    assert generate_phrases(tmp_path / "avg", 2).shape == (2, *TINY_PARAMS["data_shape"])
    with pytest.raises(SystemExit):  # a step that is not there: one line, nothing written
        cli(["export", str(exp), "--steps", "1:7:3", "--to", str(tmp_path / "bad")])
    assert "no checkpoint at step 4; steps there: 1, 2" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()

    export_state(exp, tmp_path / "state", log=lambda *_: None)
    plain = make_experiment(tmp_path, "plain")
    import_state(plain, tmp_path / "state", log=lambda *_: None)
    imported = _reader(plain)
    assert not any(n.startswith("ema/") for n in imported.get_variable_to_shape_map())
    for n in g:
        np.testing.assert_array_equal(imported.get_tensor(n), two.get_tensor("ema/" + n))
    again = make_experiment(tmp_path, "again", config={"ema_decay": 0.5})
    import_state(again, tmp_path / "state", log=lambda *_: None)
    both = _reader(again)
    for n in g:
        np.testing.assert_array_equal(both.get_tensor(n), two.get_tensor(n))
        np.testing.assert_array_equal(both.get_tensor("ema/" + n), two.get_tensor("ema/" + n))

    # turned on for a run whose checkpoints keep no EMA: one line saying so
    (plain / "config.yaml").write_text((plain / "config.yaml").read_text() + "ema_decay: 0.5\n")
    with pytest.raises(CheckpointError, match="keeps no EMA of G; ema_decay can be turned on for a fresh run"):
        train(plain, steps=3, log=lambda *_: None)


def test_evaluation_while_training_logs_the_goal_count(tmp_path):
    """Every `evaluate_steps` a line gives the evaluation's goal count (musegan evaluate's first
    line): 17 metrics for a piano-conditional five-track model, then the distance sum, the
    on-drums rates and the following gap."""
    import re

    exp = make_experiment(tmp_path, params={"multitrack": "hybrid", "condition_track": "piano"},
                          config={"evaluate_steps": 1, "evaluate_bars": 8})
    logs = []
    train(exp, steps=2, log=logs.append)
    found = [re.search(r"^eval step (\d+): EB .* goal met on (\d+) of (\d+) metrics, distance sum [\d.]+; "
                       r"on drums % piano [\d.]+ .*; following gap -?[\d.]+ \(given phrases -?[\d.]+\) "
                       r"\([\d.]+ s\)$", line) for line in logs]
    found = [m.groups() for m in found if m]
    assert [step for step, _, _ in found] == ["1", "2"], logs
    assert all(total == "17" and 0 <= int(met) <= 17 for _, met, total in found)
    assert any("given training phrases' condition tracks" in line for line in logs)  # no selection split


def test_evaluation_conditions_on_the_selection_songs(tmp_path):
    """With selection_fraction the evaluation (which picks the best state) is given the condition
    tracks of the songs kept out of fitting, never the held-out ones; each song here has its
    own piano pitch, so a track tells its song."""
    from musegan.config import load_experiment
    from musegan.music.data import write_sparse_npz
    from musegan.music.splits import load_splits
    from musegan.training.evaluation import Evaluator
    from tiny_exp import THREE

    x = np.zeros((24, *THREE["data_shape"]), dtype=bool)
    songs = np.arange(24) // 3
    x[np.arange(24), :, 0, songs, 1] = True  # song i: piano holds pitch i
    x[:, :, 0, 12, 2] = True
    write_sparse_npz(tmp_path / "tiny.npz", x, song_ids=songs, song_names=[f"song{i}" for i in range(8)])
    exp = three_track_experiment(tmp_path, config={"validation_fraction": 0.25, "selection_fraction": 0.34})
    config, params = load_experiment(exp)
    train_data, selection, valid = load_splits(config, params["data_shape"])
    evaluator = Evaluator(exp, params, config, train_data, selection, 128)
    pitches = set(np.nonzero(evaluator.condition > 0)[3])
    assert pitches and pitches <= set(selection.song_ids) and not pitches & set(train_data.song_ids)
    assert not pitches & set(valid.song_ids)


@pytest.mark.parametrize("backend", BACKENDS)
def test_keep_best_keeps_the_best_scoring_state(tmp_path, backend):
    """keep_best: the start and every evaluated step are logged with the goal score, and
    EXP_DIR/best holds the state of the best-scoring one (more met metrics, then the smaller
    distance sum; the first of equals stays), its generator the EMA; a resumed run competes
    with it."""
    import re

    from musegan.weights.states import load_state, state_step

    exp = three_track_experiment(tmp_path, config={"evaluate_steps": 1, "evaluate_bars": 24, "keep_best": True,
                                                   "ema_decay": 0.5})
    logs = []
    result = train(exp, backend, steps=3, log=logs.append)
    lines = re.findall(r"^eval step (\d+): .* goal met on (\d+) of \d+ metrics, distance sum ([\d.]+).*; "
                       r"best: step (\d+)$", "\n".join(logs), re.M)
    scored = {int(s): (int(k), -float(d)) for s, k, d, _ in lines}
    assert sorted(scored) == [0, 1, 2, 3] and len(lines) == 4, logs  # each step once
    best = max(scored, key=lambda s: (scored[s], -s))
    assert result["best_step"] == best == int(lines[-1][3])
    kept = load_state(exp / "best")
    assert state_step(kept) == best and not any(n.startswith(("ema/", "optimizers/")) for n in kept)
    if best == 3:  # the last state: its EMA is the kept generator
        last = saved(exp, backend)
        name = next(n for n in kept if n.startswith("Generator/") and n.endswith("kernel"))
        np.testing.assert_array_equal(kept[name], last["ema/" + name])
    logs.clear()
    train(exp, backend, steps=3, log=logs.append)  # resumed at its end: the start is scored, no better
    assert any(line.startswith("eval step 3:") and line.endswith(f"best: step {best}") for line in logs), logs


@pytest.mark.parametrize("key", ["validation_fraction", "selection_fraction"])
def test_split_fractions_are_checked(key):
    from musegan import config as cfg

    assert cfg.load_config(overrides={key: 0.5})[key] == 0.5
    with pytest.raises(ConfigError, match=rf"'{key}' must be in \[0, 1\)"):
        cfg.load_config(overrides={key: 1.0})


@pytest.mark.parametrize("backend", BACKENDS)
def test_train_tracks_updates_only_those_tracks_generators(tmp_path, backend):
    """`train_tracks: [drums]` changes the drums' private generators (weights and batch-norm
    averages) and leaves every other G variable, shared ones included, exactly as it was; the
    optimizer keeps state for the trained variables only."""
    exp = three_track_experiment(tmp_path, "drums_only", config={"train_tracks": ["Drums"]})
    logs = []
    train(exp, backend, steps=0, log=logs.append)
    before = saved(exp, backend)
    train(exp, backend, steps=2, log=logs.append)
    after = saved(exp, backend)
    assert set(before) == set(after)
    names = [n for n in after if n.startswith("Generator/")]
    changed = {n for n in names if not np.array_equal(before[n], after[n])}
    drums = {n for n in names if n.startswith(("Generator/bar/drums/", "Generator/temporal_private/drums/"))}
    assert changed and changed <= drums, sorted(changed - drums)[:5]
    assert any(n.endswith("moving_mean") for n in changed)
    assert any("G trained only in Drums" in line for line in logs), logs
    adam = {n.split("/", 1)[1].rsplit("/", 1)[0] for n in after if n.startswith("optimizers/Generator/")}
    assert adam == {n for n in drums if not n.endswith(("moving_mean", "moving_variance"))}


def test_train_tracks_widened_on_resume_is_one_line(tmp_path):
    """The optimizer keeps state for the trained variables only: widening is for a fresh run."""
    exp = three_track_experiment(tmp_path, "drums_only", config={"train_tracks": ["Drums"]})
    train(exp, steps=1, log=_quiet)
    (exp / "config.yaml").write_text((exp / "config.yaml").read_text().replace("- Drums", "- Drums\n- Bass"))
    proc = subprocess.run([sys.executable, "-m", "musegan", "train", str(exp), "--steps", "3"],
                          capture_output=True, text=True)
    lines = [l for l in proc.stderr.splitlines() if l.startswith("musegan")]
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr
    assert len(lines) == 1 and "train_tracks can be widened for a fresh run only" in lines[0], proc.stderr


@pytest.mark.parametrize("backend", BACKENDS)
def test_average_of_the_generator_goes_on_across_a_resume(tmp_path, backend):
    """average_from 1, average_every 2: the mean of the generator (its EMA) at steps 1, 3 and 5,
    two of them before a resume, as a shipped generator.npz."""
    from musegan.weights.states import compact, load_generator

    exp = three_track_experiment(tmp_path, config={"ema_decay": 0.5, "average_from": 1, "average_every": 2,
                                                   "save_checkpoint_steps": 1, "keep_checkpoint_max": 10})
    train(exp, backend, steps=3, log=_quiet)
    logs = []
    train(exp, backend, steps=5, log=logs.append)
    assert any(line.startswith("averaged the generator at 3 steps (1-5, every 2) into") for line in logs), logs
    average = load_generator(exp / "average" / "generator.npz")
    states = [saved(exp, backend, step) for step in (1, 3, 5)]
    assert average and all(n.startswith("Generator/") for n in average)
    for n, value in average.items():
        mean = np.mean([s.get("ema/" + n, s[n]) for s in states], axis=0, dtype=np.float64).astype(np.float32)
        np.testing.assert_allclose(value.astype(np.float32), compact(n, mean).astype(np.float32), rtol=1e-6,
                                   atol=1e-7, err_msg=n)


@pytest.mark.parametrize("params, tracks, message", [
    ({"multitrack": "hybrid", "condition_track": "piano"}, ["piano"], "'piano', not a generated track"),
    ({"multitrack": "hybrid", "condition_track": "piano"}, [], "is empty"),
    ({"multitrack": "composer"}, ["drums"], "needs per-track generators"),
    ({"multitrack": "hybrid"}, "drums", "must be list or null"),
])
def test_train_tracks_errors_are_one_line(tmp_path, params, tracks, message):
    exp = make_experiment(tmp_path, params=params, config={"train_tracks": tracks})
    proc = subprocess.run([sys.executable, "-m", "musegan", "train", str(exp)], capture_output=True, text=True)
    lines = [l for l in proc.stderr.splitlines() if l.startswith("musegan")]
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr
    assert len(lines) == 1 and "train_tracks" in lines[0] and message in lines[0], proc.stderr


def test_precision_is_bfloat16_only_where_asked_or_where_the_cpu_has_the_units(tmp_path, monkeypatch):
    from musegan import runtime

    monkeypatch.setattr(runtime, "bf16_units", lambda: "AMX")
    assert runtime.use_bfloat16("auto", on_gpu=False) == (
        True, "precision: bfloat16 matmuls and convolutions, float32 weights (this CPU has AMX units; "
              "mixed_precision: false for float32)")
    assert runtime.use_bfloat16("auto", on_gpu=True)[0] is False
    assert runtime.use_bfloat16(False, on_gpu=False) == (False, "precision: float32 (mixed_precision: false)")
    monkeypatch.setattr(runtime, "bf16_units", lambda: None)
    assert runtime.use_bfloat16("auto", on_gpu=False) == (
        False, "precision: float32 (this CPU has no bfloat16 units)")
    assert runtime.use_bfloat16(True, on_gpu=False)[0] is True

    exp = three_track_experiment(tmp_path, config={"mixed_precision": "yes"})
    proc = subprocess.run([sys.executable, "-m", "musegan", "train", str(exp)], capture_output=True, text=True)
    assert proc.returncode == 2 and "'mixed_precision' must be true, false or auto, got 'yes'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_bfloat16_run_says_so_and_trains(tmp_path):
    exp = three_track_experiment(tmp_path, config={"mixed_precision": True})
    logs = []
    result = train(exp, "tf", steps=2, log=logs.append)
    assert "precision: bfloat16 matmuls and convolutions, float32 weights (mixed_precision: true)" in logs
    assert result["step"] == 2 and np.isfinite(result["d_loss"]) and np.isfinite(result["g_loss"])


def test_a_checkpoint_of_the_former_trainer_generates_and_resumes(tmp_path):
    """tests/fixtures/tf_checkpoint: a tiny hybrid with an EMA trained 2 steps by the TensorFlow
    trainer before the networks were written once over two backends (commit 3991653), with
    what its generator gave for fixed latents. The same weights must give the same music, and
    `musegan train` must go on from its step."""
    import shutil

    import yaml

    from musegan.generate import Generator

    make_experiment(tmp_path, "data_only")  # writes tmp_path/tiny.npz
    data = tmp_path / "tiny.npz"
    exp = tmp_path / "old"
    shutil.copytree(Path(__file__).parent / "fixtures" / "tf_checkpoint", exp)
    config = yaml.safe_load((exp / "config.yaml").read_text())
    (exp / "config.yaml").write_text(yaml.safe_dump({**config, "data": str(data), "mixed_precision": False}))
    before = np.load(exp / "generated.npz")
    gen = Generator(exp, batch_size=4)
    try:
        np.testing.assert_allclose(gen(before["z"]), before["out"], atol=1e-5)
    finally:
        gen.close()
    logs = []
    assert train(exp, "tf", steps=4, log=logs.append)["step"] == 4
    assert any("resumed from" in line and line.endswith(SAVES["tf"].format(2)) for line in logs), logs
