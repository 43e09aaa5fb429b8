"""Every bad input of the corpus (tests/bad_inputs/make_corpus.py) through the real CLI.

Each case must end with its exit code (2 bad usage/config, 1 bad data or
checkpoint, 0 where the input is odd but usable), one error line
`musegan CMD: error: ...` naming the file and the problem, no traceback, within
its time bound (no hang), and its folder exactly as before (no output left
behind, a previous result untouched), apart from the files the case says a run
creates.

Cases answered before TensorFlow is imported run one `python -m musegan` each
(under a second apiece, with a `tensorflow` that cannot be imported, to prove
it); the TensorFlow ones share one process, which calls
the same `musegan.cli.main` once per case (`make_corpus.py --batch`), so
TensorFlow is imported once instead of ~20 times.
"""
import fnmatch
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("make_corpus", HERE / "bad_inputs" / "make_corpus.py")
corpus = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(corpus)

FAST = [c for c in corpus.CASES if not c.tf]
WITH_TF = [c for c in corpus.CASES if c.tf]


REPO = HERE.parent
# subprocesses import this checkout's musegan, whatever an installed one points to
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "",
       "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
BATCH_TIMEOUT = 600  # the whole TensorFlow batch, seconds (about 1 minute on 2 busy cores)


def params(cases, slow: bool = False):
    """pytest params. A known, reported problem (`Case.xfail`) is a strict xfail: fixing it makes
    the case pass, and then the mark must go. Slow: the TensorFlow batch and `Case.slow`."""
    return [pytest.param(c, id=c.name, marks=[pytest.mark.xfail(strict=True, reason=c.xfail)] * bool(c.xfail)
                         + [pytest.mark.slow] * (slow or c.slow)) for c in cases]


def test_corpus_is_big_enough_and_names_are_unique():
    names = [c.name for c in corpus.CASES]
    assert len(names) == len(set(names)) and len(names) >= 30
    assert sum(c.code != 0 and not c.xfail for c in corpus.CASES) >= 30


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("bad_inputs")


@pytest.fixture(scope="module")
def no_tensorflow(tmp_path_factory):
    """Environment in which importing TensorFlow fails: the fast cases must answer without it."""
    stub = tmp_path_factory.mktemp("no_tensorflow")
    (stub / "tensorflow").mkdir()
    (stub / "tensorflow" / "__init__.py").write_text(
        'raise ImportError("this case must be answered before TensorFlow is imported")\n')
    return {**ENV, "PYTHONPATH": os.pathsep.join(filter(None, [str(stub), ENV.get("PYTHONPATH")]))}


def check(case, d: Path, code: int, stdout: str, stderr: str, changes) -> None:
    assert "Traceback" not in stderr, stderr
    assert code == case.code, f"exit {code}, expected {case.code}\nstdout: {stdout}\nstderr: {stderr}"
    command = case.argv[0]
    if case.code:
        errors = [line for line in stderr.splitlines() if line.startswith("musegan ")]
        assert len(errors) == 1, stderr
        line = errors[0]
        assert stderr.strip().splitlines()[-1] == line, "the error line must come last"
        assert line.startswith(f"musegan {command}: error: ")
        problem = line.replace(str(d), "<case folder>")  # the folder is named after the case: no free match
        for raw, fragment in zip(case.expect, case.fragments(d)):
            assert fragment in (line if "{d}" in raw else problem), f"{fragment!r} not in {line!r}"
    else:
        for fragment in case.fragments(d):
            assert fragment in stdout, f"{fragment!r} not in stdout:\n{stdout}"
    unexpected = [c for c in changes if not (c.split(" ", 1)[0] in ("added", "changed") and
                                             any(fnmatch.fnmatch(c.split(" ", 1)[1], g) for g in case.creates))]
    assert not unexpected, f"the run left its folder changed: {unexpected}"


@pytest.mark.parametrize("case", params(FAST))
def test_case_without_tensorflow(root, no_tensorflow, case):
    corpus.build(root, [case])
    d = root / case.name
    before = corpus.snapshot(d)
    try:
        proc = subprocess.run([sys.executable, "-m", "musegan", *case.args(d)], capture_output=True, text=True,
                              timeout=case.timeout, env=no_tensorflow, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        pytest.fail(f"musegan {' '.join(case.args(d))} did not finish within {case.timeout:.0f} s")
    check(case, d, proc.returncode, proc.stdout, proc.stderr, corpus.changes(before, corpus.snapshot(d)))


@pytest.fixture(scope="module")
def tf_results(root):
    results = root / "tf_results.json"
    proc = subprocess.run([sys.executable, str(HERE / "bad_inputs" / "make_corpus.py"), "--batch", str(root),
                           str(results), *(c.name for c in WITH_TF)],
                          capture_output=True, text=True, timeout=BATCH_TIMEOUT, env=ENV, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0 and results.is_file(), proc.stderr[-3000:]
    return json.loads(results.read_text())


@pytest.mark.parametrize("case", params(WITH_TF, slow=True))
def test_case_with_tensorflow(root, tf_results, case):
    r = tf_results[case.name]
    assert r["seconds"] < case.timeout, f"took {r['seconds']} s, bound {case.timeout} s"
    check(case, root / case.name, r["code"], r["stdout"], r["stderr"], r["changes"])


@pytest.mark.slow
def test_one_tensorflow_case_through_a_real_process(root, tf_results):
    """The batch calls musegan.cli.main in-process; one case through `python -m musegan` agrees with it."""
    case = next(c for c in WITH_TF if c.name == "checkpoint_none")
    d = root / case.name
    before = corpus.snapshot(d)
    proc = subprocess.run([sys.executable, "-m", "musegan", *case.args(d)], capture_output=True, text=True,
                          timeout=120, env=ENV, stdin=subprocess.DEVNULL)
    check(case, d, proc.returncode, proc.stdout, proc.stderr, corpus.changes(before, corpus.snapshot(d)))
    assert proc.stderr.strip().splitlines()[-1] == tf_results[case.name]["stderr"].strip().splitlines()[-1]


def test_collect_goes_on_when_files_vanish_or_turn_unreadable_mid_run(tmp_path, monkeypatch, capsys):
    """Files deleted or replaced by something unreadable after collect listed them: the run
    finishes with the rest, and names them (printed, and in the summary)."""
    from musegan import cli
    from musegan.music import midi

    folder = tmp_path / "in"
    for name in "abcd":
        corpus.write(folder / f"{name}.mid", corpus.band_bytes())
    read = midi.read_mido

    def meanwhile(path, warn=None):
        if Path(path).name == "a.mid":  # while the first file is read, two others change
            (folder / "c.mid").unlink()
            (folder / "b.mid").unlink()
            os.mkfifo(folder / "b.mid")
        return read(path, warn)

    monkeypatch.setattr(midi, "read_mido", meanwhile)
    cli.main(["collect", str(folder), str(tmp_path / "out.npz"), "--jobs", "1"])
    out = capsys.readouterr().out
    assert "collected 10 phrases from 2 of 4 files" in out
    assert "b.mid: not a regular file" in out and "c.mid: file not found" in out
    summary = json.loads((tmp_path / "out.summary.json").read_text())
    assert summary["skipped"]["vanished"]["files"] == {"c.mid": "file not found"}
    assert summary["skipped"]["unreadable"]["files"] == {"b.mid": "not a regular file"}


def test_collect_fails_clearly_when_a_worker_process_is_killed(tmp_path, monkeypatch, capsys):
    """A worker killed mid-run (the OOM killer on a huge file) is an error naming a file, not a hang,
    and leaves no output behind."""
    import signal

    from musegan import cli
    from musegan.music import collect

    folder = tmp_path / "in"
    for name in "abcd":
        corpus.write(folder / f"{name}.mid", corpus.band_bytes())
    collect_file = collect.collect_file

    def killed_on_c(path, *args):
        if Path(path).name == "c.mid":
            os.kill(os.getpid(), signal.SIGKILL)
        return collect_file(path, *args)

    monkeypatch.setattr(collect, "collect_file", killed_on_c)   # the forked workers inherit it
    with pytest.raises(SystemExit) as stop:
        cli.main(["collect", str(folder), str(tmp_path / "out.npz"), "--jobs", "2"])
    assert stop.value.code != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "a collect worker process died" in err[0] and "--jobs 1" in err[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]
