"""Interruptions lose nothing: training killed at random points resumes; results are written atomically.

A tiny experiment trains in a subprocess (`python -m musegan train`) that
saves a checkpoint every step, so kills land during and around saves. After
every interruption: each checkpoint on disk reads back whole (no half-written
one under a final name), `tf.train.latest_checkpoint` is loadable, and the
next run resumes from it: the step never goes backwards. SIGINT and SIGTERM
checkpoint the step they stopped at and exit 130 / 143.

The random delays come from MUSEGAN_INTERRUPT_SEED (printed on failure).
"""
import os
import queue
import random
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from tiny_exp import make_experiment, saved, three_track_experiment

SEED = int(os.environ.get("MUSEGAN_INTERRUPT_SEED", random.SystemRandom().randrange(10 ** 6)))
# subprocesses import this checkout's musegan, whatever an installed one points to
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "",
       "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[1]),
                                                   os.environ.get("PYTHONPATH")]))}
CONFIG = {"steps": 100_000, "save_checkpoint_steps": 1, "log_loss_steps": 1, "save_samples_steps": 100_000,
          "evaluate_steps": 0, "keep_checkpoint_max": 3}
STARTUP = 180  # seconds a run may take to import TensorFlow, build the graph and do its first step


class Run:
    """`musegan train EXP` in a subprocess, its output read line by line."""

    def __init__(self, exp: Path, *args: str):
        self.proc = subprocess.Popen([sys.executable, "-m", "musegan", "train", str(exp), *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV,
                                     stdin=subprocess.DEVNULL)
        self.lines, self._queue = [], queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, pattern: str, timeout: float = STARTUP) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=0.05)
            except queue.Empty:
                continue
            if line is None:
                break
            self.lines.append(line)
            match = re.search(pattern, line)
            if match:
                return match
        self.proc.kill()
        raise AssertionError(f"no line matching {pattern!r} (seed {SEED}); output:\n" + "\n".join(self.lines))

    def finish(self, timeout: float = 120) -> int:
        code = self.proc.wait(timeout=timeout)
        while True:
            line = self._queue.get(timeout=10)
            if line is None:
                return code
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "\n".join(self.lines)


def check_checkpoints(model_dir: Path) -> int:
    """Every checkpoint on disk reads back whole; returns the step of `tf.train.latest_checkpoint`."""
    import tensorflow as tf

    from musegan.weights import checkpoints

    latest = tf.train.latest_checkpoint(str(model_dir))
    assert latest is not None and latest == checkpoints.latest(model_dir), (latest, sorted(os.listdir(model_dir)))
    for index in model_dir.glob("*.index"):
        reader = tf.train.load_checkpoint(str(index.with_suffix("")))
        for name in reader.get_variable_to_shape_map():
            value = reader.get_tensor(name)
            assert np.all(np.isfinite(value)), name
    return int(tf.train.load_checkpoint(latest).get_tensor("global_step"))


@pytest.mark.slow
def test_sigint_sigterm_sigkill_then_resume(tmp_path):
    rng = random.Random(SEED)
    exp = make_experiment(tmp_path, config=CONFIG)
    model = exp / "model"
    history = []  # checkpointed step after each interruption

    # SIGINT (Ctrl-C) and SIGTERM (a scheduler's stop): checkpoint the current step, exit 128 + signal
    for sig, code in ((signal.SIGINT, 130), (signal.SIGTERM, 143)):
        run = Run(exp)
        if history:
            run.wait_for(rf"resumed from .*model\.ckpt-{history[-1]}$")
        run.wait_for(r"first step done")
        time.sleep(rng.uniform(0, 1.5))
        run.proc.send_signal(sig)
        assert run.finish() == code, run.output
        stopped = int(re.search(rf"stopped by {sig.name} at step (\d+)", run.output).group(1))
        assert f"{sig.name}: saving a checkpoint after this step" in run.output
        assert "Traceback" not in run.output
        assert check_checkpoints(model) == stopped >= (history[-1] if history else 1)
        history.append(stopped)

    # SIGKILL (out of memory, a power cut): right after a step's log line, i.e. while it is being saved
    for _ in range(int(os.environ.get("MUSEGAN_INTERRUPT_KILLS", 1))):
        run = Run(exp)
        run.wait_for(rf"resumed from .*model\.ckpt-{history[-1]}$")
        step = int(run.wait_for(r"^step (\d+)/").group(1))
        for _ in range(rng.randrange(3)):  # a few more saves, so the kill falls on a random one
            step = int(run.wait_for(r"^step (\d+)/").group(1))
        time.sleep(rng.uniform(0, 0.05))
        run.proc.kill()
        assert run.finish() == -signal.SIGKILL
        resumed = check_checkpoints(model)
        # step N is logged after step N - 1 was saved: that one at least survives the kill
        assert resumed >= max(history[-1], step - 1), (history, resumed, step, sorted(os.listdir(model)))
        history.append(resumed)

    # the last run finishes where asked, from where the kills left it
    run = Run(exp, "--steps", str(history[-1] + 2))
    run.wait_for(rf"resumed from .*model\.ckpt-{history[-1]}$")
    assert run.finish() == 0, run.output
    assert "WARNING" not in run.output and "deprecated" not in run.output, run.output  # a clean resume
    assert check_checkpoints(model) == history[-1] + 2
    assert history == sorted(history), f"the step went backwards: {history} (seed {SEED})"
    # max_to_keep holds across restarts: old runs' checkpoints were deleted as new ones came
    assert len(list(model.glob("*.index"))) <= CONFIG["keep_checkpoint_max"], sorted(os.listdir(model))


@pytest.mark.slow
def test_stop_during_the_critic_warmup_saves_nothing(tmp_path):
    """A warm start from a shipped generator trains the critic alone first; stopped then, the
    run writes no checkpoint (one at step 0 would resume without the rest of the warm-up) and
    the same command starts over."""

    from musegan.weights.export import export_generator
    from musegan.training.loop import train

    source = make_experiment(tmp_path, "source")
    train(source, steps=1, log=lambda *_: None)
    export_generator(source)
    for f in (source / "model").iterdir():
        f.unlink()
    exp = make_experiment(tmp_path, "warm", config={**CONFIG, "init_from": str(source),
                                                    "critic_warmup_updates": 100_000})
    for attempt in range(2):
        run = Run(exp)
        run.wait_for(r"warm start from .*generator\.npz")
        run.wait_for(r"^critic warm-up 1/100000")
        run.proc.send_signal(signal.SIGINT)
        assert run.finish() == 130, run.output
        assert "stopped by SIGINT during the critic warm-up; nothing saved" in run.output
        assert "SIGINT: stopping after this update; the critic warm-up saves nothing" in run.output
        assert "saving a checkpoint" not in run.output
        assert "Traceback" not in run.output
        assert not list((exp / "model").glob("*.index")), sorted(os.listdir(exp / "model"))


@pytest.mark.slow
def test_jax_backend_saves_the_step_it_stopped_at(tmp_path):
    """SIGTERM to `musegan train --backend jax`: the state of the step it stopped at is saved
    whole in EXP_DIR/state/, the exit is 143, and the next run resumes from it."""
    exp = three_track_experiment(tmp_path, config=CONFIG)
    run = Run(exp, "--backend", "jax")
    run.wait_for(r"^step 2/")
    run.proc.send_signal(signal.SIGTERM)
    assert run.finish() == 143, run.output
    stopped = int(re.search(r"stopped by SIGTERM at step (\d+)", run.output).group(1))
    assert stopped >= 2 and int(saved(exp, "jax")["global_step"]) == stopped
    assert "Traceback" not in run.output and not list((exp / "state").glob(".*")), run.output
    run = Run(exp, "--backend", "jax", "--steps", str(stopped + 1))
    run.wait_for(rf"resumed from .*step-{stopped}$")
    assert run.finish() == 0, run.output
    assert int(saved(exp, "jax")["global_step"]) == stopped + 1


def test_second_signal_stops_at_once():
    """The first SIGINT/SIGTERM asks for a checkpoint and a clean stop; a second one interrupts."""
    from musegan.runtime import Stop as _Stop

    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    with _Stop() as stop:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.01)
        assert stop.signal == "SIGTERM"
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.1)
    # the handlers found on entry come back (SIG_IGN, not Python's default, under a background `&`)
    assert {sig: signal.getsignal(sig) for sig in before} == before


def test_latest_checkpoint_survives_a_damaged_state_file(tmp_path):
    """The 'checkpoint' state file garbled, emptied or naming deleted files: the newest complete
    checkpoint on disk is used (tf.train.latest_checkpoint gives None or raises: training would
    restart from step 0). Training itself resuming so: corpus case train_state_file_garbage."""
    import tensorflow as tf

    from musegan.weights import checkpoints

    v1 = tf.compat.v1
    model = tmp_path / "model"
    graph = tf.Graph()
    with graph.as_default():
        step = v1.train.get_or_create_global_step()
        weights = v1.get_variable("w", [3, 4])
        init, saver = v1.global_variables_initializer(), checkpoints.saver(max_to_keep=5)
        increment = v1.assign_add(step, 1)
    with v1.Session(graph=graph) as sess:
        assert checkpoints.restore_or_initialize(sess, saver, model, init, step, log=None) == 0
        for k in (1, 2):
            sess.run(increment)
            checkpoints.save(sess, saver, model, k)
        expected = sess.run(weights)
    state = (model / "checkpoint").read_text()
    assert checkpoints.latest(model) == tf.train.latest_checkpoint(str(model)) == str(model / "model.ckpt-2")
    for damaged in (b"\x00\xff garbage {{", b"", state.replace("model.ckpt-2", "model.ckpt-9").encode()):
        (model / "checkpoint").write_bytes(damaged)
        assert checkpoints.latest(model) == str(model / "model.ckpt-2"), damaged
    for f in model.glob("model.ckpt-2.data*"):  # without its data, 2 is not a checkpoint: 1 is the newest
        f.unlink()
    assert checkpoints.latest(model) == str(model / "model.ckpt-1")
    logs = []
    with v1.Session(graph=graph) as sess:
        assert checkpoints.restore_or_initialize(sess, saver, model, init, step, log=logs.append) == 1
        np.testing.assert_array_equal(sess.run(weights), expected)
    assert logs == [f"resumed from {model / 'model.ckpt-1'}"]


# --------------------------------------------------------------------------- atomic result writers


def _results_of_every_kind(tmp_path: Path) -> None:
    """Run the writing commands (collect, process, evaluate --data, render) and inference's writer:
    npz, json, md, wav, npy, png, mid, pypianoroll npz."""
    from musegan import cli
    from musegan import generate
    from musegan.config import load_params

    cli.main(["collect", str(tmp_path / "in"), str(tmp_path / "x.npz"), "--jobs", "1"])
    cli.main(["process", str(tmp_path / "x.npz"), str(tmp_path / "x_packed.npz")])
    cli.main(["evaluate", "--data", str(tmp_path / "x_packed.npz"), "--out", str(tmp_path / "eval")])
    cli.main(["render", str(tmp_path / "in" / "a.mid"), str(tmp_path / "a.wav")])
    raw = np.random.default_rng(0).uniform(-1, 1, (2, 4, 48, 84, 5)).astype(np.float32)
    generate.save_results(tmp_path / "inference", 0, raw, load_params(), 1, 2, np.random.default_rng(0))


def test_every_result_writer_is_atomic(tmp_path, monkeypatch):
    """Every file a command writes is opened under a temporary name and renamed into place:
    no reader (and no crash) ever sees a half-written result under its final name."""
    import builtins
    import io

    real_open, real_replace = builtins.open, os.replace
    opened, renamed = [], {}

    def recording_open(file, mode="r", *args, **kwargs):
        if isinstance(file, (str, os.PathLike)) and any(m in mode for m in "wax+"):
            opened.append(Path(file))
        return real_open(file, mode, *args, **kwargs)

    def recording_replace(src, dst, *args, **kwargs):
        renamed[Path(dst)] = Path(src)
        return real_replace(src, dst, *args, **kwargs)

    from conftest import band, write_midi

    for name in ("a", "b"):  # the inputs
        write_midi(tmp_path / "in" / f"{name}.mid", band(8, "dpb"))
    monkeypatch.setattr(builtins, "open", recording_open)
    monkeypatch.setattr(io, "open", recording_open)
    monkeypatch.setattr(os, "replace", recording_replace)
    _results_of_every_kind(tmp_path)

    written = [p for p in opened if tmp_path in p.parents]
    assert written
    direct = [p for p in written if not (p.name.startswith(".") and ".tmp" in p.name)]
    assert not direct, f"written under their final names: {direct}"
    finals = [p for p in tmp_path.rglob("*") if p.is_file() and p.parent.name != "in"]
    kinds = {p.suffix for p in finals}
    assert {".npz", ".json", ".md", ".wav", ".npy", ".png", ".mid"} <= kinds, kinds
    for path in finals:
        assert path in renamed and renamed[path].name.startswith(f".{path.name}."), path
    assert not [p for p in tmp_path.rglob(".*")], "temporary files left behind"


@pytest.mark.parametrize("writer", ["npy", "npz", "text", "json", "png", "midi", "pypianoroll", "sparse",
                                    "sparse_rows", "cache", "wav"])
def test_interrupted_write_leaves_the_previous_result(tmp_path, monkeypatch, writer):
    """Interrupted at the worst moment (data all written, not yet renamed): the previous file is
    intact and no temporary file remains."""
    from musegan.music import audio
    from musegan.music import data
    from musegan import atomic as mio
    from musegan.music import pianoroll
    from musegan.config import load_params

    params = load_params()
    x = np.zeros((1, 4, 48, 84, 5), bool)
    x[0, 0, :4, 40, 1] = True
    song = tmp_path / "song.mid"
    mio.save_midi(song, pianoroll.roll_to_midi(x[0], params))
    writers = {
        "npy": ("a.npy", lambda p: mio.save_npy(p, x)),
        "npz": ("a.npz", lambda p: mio.save_npz(p, x=x)),
        "text": ("a.md", lambda p: mio.save_text(p, "# report\n")),
        "json": ("a.json", lambda p: mio.save_json(p, {"a": 1})),
        "png": ("a.png", lambda p: mio.save_png(p, np.zeros((4, 4), np.uint8))),
        "midi": ("a.mid", lambda p: mio.save_midi(p, pianoroll.roll_to_midi(x[0], params))),
        "pypianoroll": ("a.npz", lambda p: pianoroll.save_pypianoroll_npz(p, x[0], params)),
        "sparse": ("a.npz", lambda p: data.write_sparse_npz(p, x)),
        "sparse_rows": ("a.npz", lambda p: data.write_sparse_npz_rows(
            p, x.shape, int(x.sum()), lambda r: [np.array(x.nonzero()[r])])),
        "cache": ("a.npz", lambda p: data.save_cache(p, data.pack(x))),
        "wav": ("a.wav", lambda p: audio.render(song, p, overwrite=True, engine="sine")),
    }
    name, write = writers[writer]
    target = tmp_path / "out" / name
    target.parent.mkdir()
    target.write_bytes(b"previous result")

    def interrupted(src, dst, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write(target)
    assert target.read_bytes() == b"previous result"
    assert sorted(p.name for p in target.parent.iterdir()) == [name]
