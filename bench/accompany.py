"""Speed of `musegan accompany`: a 100-bar piano part with the paper-sized piano model.

    python bench/accompany.py [--bars 100] [--repeats 3] [--json PATH]

Targets: the whole shell command in <= 6 s (TensorFlow's import included) and
the generation itself (every phrase in one batched call, once the model is
loaded) in <= 0.2 s.

1. A throwaway experiment in a temp folder with exp/accompaniment/piano's
   params.yaml and config.yaml and a freshly initialised checkpoint of that
   shape (no trained weights needed: the timing is the same).
2. The song: examples/make_example.py's piano part, --bars long (4/4, 100 bpm).
3. `python -m musegan accompany SONG --exp TMP --out OUT` timed end to end as a
   subprocess, --repeats times, beside `python -c "import musegan, tensorflow"` (the
   floor any such command pays: TensorFlow imported with musegan's environment) and a
   failing command (a missing input: no TensorFlow).
4. In a worker process: the phases of one run (TensorFlow import, reading and
   quantizing, loading the model incl. its warm-up call, generating, writing),
   then the generation call alone repeated on the loaded model.

The machine is shared: the load average is recorded with the figures.
"""
import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXP = ROOT / "exp" / "accompaniment" / "piano"
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


def make_experiment(tmp: Path, density: float = 0.02, drum_density: float = 0.005) -> Path:
    """EXP's settings and a freshly initialised generator checkpoint under tmp/piano/model.

    Untrained, about half the outputs are above 0 (notes on half of all cells: some 650,000
    notes in 100 bars, whose writing would swamp the timing); so the last bias of each
    track's bar generator is set to put `density` of the cells above 0 (`drum_density` for
    drums, whose cells are hits), about what songs hold. Untrained notes are still far more
    fragmented than real ones (a note every few cells), so the note count stays well above a
    trained model's: `notes_in_output` in the results. The generator's work is the same.
    """
    import numpy as np
    import tensorflow as tf

    from musegan.weights import checkpoints
    from musegan.config import load_experiment
    from musegan.nets.network import MuseGAN
    from musegan.nets.tf_ops import TFOps

    v1 = tf.compat.v1
    v1.disable_eager_execution()
    exp = tmp / "piano"
    exp.mkdir(parents=True)
    for name in ("params.yaml", "config.yaml"):
        shutil.copy(EXP / name, exp / name)
    _, params = load_experiment(exp)
    with tf.Graph().as_default():
        model = MuseGAN(params, TFOps())
        z = v1.placeholder(tf.float32, [None, model.latent_size])
        c = v1.placeholder(tf.float32, [None, *params["data_shape"][:3]])
        out = model.generator(z, c, training=False)
        variables = v1.get_collection(v1.GraphKeys.GLOBAL_VARIABLES, scope="Generator/")
        with v1.Session() as sess:
            sess.run(v1.variables_initializer(variables))
            rng = np.random.default_rng(0)
            feed = {z: rng.standard_normal((8, model.latent_size)),
                    c: np.where(rng.random((8, *params["data_shape"][:3])) < 0.03, 1.0, -1.0)}
            pre = np.arctanh(np.clip(sess.run(out, feed), -0.999999, 0.999999))
            for t in model.generated:
                (bias,) = [v for v in variables if v.op.name.endswith(f"/{model.names[t]}/pitch_octave/bias")]
                d = drum_density if params["is_drums"][t] else density
                bias.load(np.full(bias.shape, -np.quantile(pre[..., t], 1 - d), np.float32), sess)
            checkpoints.save(sess, checkpoints.saver(var_list=variables), exp / "model", 0)
    return exp


def phases(exp: Path, song: Path, out: Path, repeats: int) -> dict:
    """One in-process run, phase by phase, then the batched generation call alone, repeated."""
    import musegan  # noqa: F401 (first: it sets TensorFlow's environment, read at its import)

    t = time.perf_counter()
    import tensorflow  # noqa: F401

    tf_import = time.perf_counter() - t
    import numpy as np

    from musegan import accompany
    from musegan.generate import Generator

    summary = accompany.accompany(song, exp, out, seed=0, overwrite=True, log=lambda *a: None)
    # The same batch again on a loaded model (what generate_s measures, repeated).
    from musegan.config import load_experiment

    gen = Generator(exp, batch_size=summary["phrases"])
    rng = np.random.default_rng(0)
    n = summary["phrases"]
    shape = load_experiment(exp)[1]["data_shape"]
    conditions = rng.random((n, *shape[:3])) < 0.02
    z = accompany.latents(rng, n, gen.model.params)
    gen(z[:1], conditions[:1])
    calls = []
    for _ in range(repeats):
        t = time.perf_counter()
        gen(z, conditions)
        calls.append(time.perf_counter() - t)
    gen.close()
    import pretty_midi

    notes = sum(len(i.notes) for i in pretty_midi.PrettyMIDI(str(out)).instruments)
    return {"tf_import_s": tf_import, **summary["timings"], "phrases": n,
            "generate_calls_s": calls, "notes_in_output": notes}


def timed(cmd, repeats: int, ok: bool = True):
    """Wall-clock and CPU (user + system) seconds of each run of `cmd`. On a shared machine the
    CPU time moves much less than the wall-clock time with the other load."""
    times, cpu = [], []
    for _ in range(repeats):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=ENV, cwd=ROOT)
        times.append(time.perf_counter() - t)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if (proc.returncode == 0) != ok:
            sys.exit(f"{' '.join(map(str, cmd))}: unexpected exit {proc.returncode}:\n{proc.stderr[-3000:]}")
    return times, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bars", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--worker", nargs=4, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.path.insert(0, str(ROOT))
    if args.worker:
        kind, a, b, c = args.worker
        if kind == "make":
            print(make_experiment(Path(a)))
        else:
            print(json.dumps(phases(Path(a), Path(b), Path(c), args.repeats)))
        return

    sys.path.insert(0, str(ROOT / "examples"))
    import make_example

    py = sys.executable
    with tempfile.TemporaryDirectory(prefix="bench_accompany.") as tmp:
        tmp = Path(tmp)
        song = make_example.write(tmp / f"song_{args.bars}.mid", args.bars)
        proc = subprocess.run([py, __file__, "--worker", "make", str(tmp), "-", "-"],
                              capture_output=True, text=True, env=ENV)
        if proc.returncode:
            sys.exit(f"could not make the checkpoint:\n{proc.stderr[-3000:]}")
        exp = Path(proc.stdout.strip().splitlines()[-1])
        out = tmp / "out.mid"
        load_before = os.getloadavg()[0]
        command = [py, "-m", "musegan", "accompany", str(song), "--exp", str(exp), "--out", str(out),
                   "--seed", "0", "--overwrite"]
        wall, cpu = timed(command, args.repeats)
        tf_floor, tf_cpu = timed([py, "-c", "import musegan, tensorflow"], args.repeats)
        fail, _ = timed([py, "-m", "musegan", "accompany", str(tmp / "missing.mid"), "--exp", str(exp),
                         "--out", str(tmp / "x.mid")], 1, ok=False)
        proc = subprocess.run([py, __file__, "--worker", "phases", str(exp), str(song), str(tmp / "p.mid"),
                               "--repeats", str(max(args.repeats, 5))], capture_output=True, text=True, env=ENV)
        if proc.returncode:
            sys.exit(f"phase timing failed:\n{proc.stderr[-3000:]}")
        ph = json.loads(proc.stdout.strip().splitlines()[-1])
        load_after = os.getloadavg()[0]

    key = f"{args.bars}_bars"
    result = {
        f"wall_s_{key}": statistics.median(wall),
        f"generate_s_{key}": statistics.median(ph["generate_calls_s"]),
        "wall_s_runs": wall,
        "wall_s_min": min(wall),
        f"cpu_s_{key}": statistics.median(cpu),
        "tf_import_only_s": statistics.median(tf_floor),
        "tf_import_only_cpu_s": statistics.median(tf_cpu),
        "fail_fast_s": fail[0],
        "phases": {k: ph[k] for k in ("tf_import_s", "read_s", "load_s", "warmup_s", "generate_s", "write_s")},
        "generate_calls_s": ph["generate_calls_s"],
        "phrases": ph["phrases"],
        "notes_in_output": ph["notes_in_output"],
        "bars": args.bars,
        "model": "exp/accompaniment/piano (hybrid, data_shape [4, 48, 84, 5]), untrained weights",
        "cpus": os.cpu_count(),
        "load_average": [load_before, load_after],
    }
    targets = {f"wall_s_{key}": 6.0, f"generate_s_{key}": 0.2}
    rows = [
        (f"wall_s_{key}", f"median of {args.repeats} shell runs (min {min(wall):.2f})"),
        (f"generate_s_{key}", f"median of {len(ph['generate_calls_s'])} batched calls, {ph['phrases']} phrases"),
        (f"cpu_s_{key}", "CPU seconds (user + system) of those runs, median"),
        ("tf_import_only_s", "python -c 'import musegan, tensorflow' (the floor)"),
        ("tf_import_only_cpu_s", "its CPU seconds"),
        ("fail_fast_s", "shell run with a missing input (no TensorFlow)"),
    ]
    print(f"{'figure':28s}{'seconds':>9s}{'target':>9s}  what")
    for name, what in rows:
        target = f"{targets[name]:.1f}" if name in targets else ""
        print(f"{name:28s}{result[name]:9.2f}{target:>9s}  {what}")
    print("phases of one run (in-process):")
    for name, value in result["phases"].items():
        print(f"  {name:26s}{value:9.3f}")
    print(f"{ph['notes_in_output']} notes in the output (the piano part and the generated tracks); "
          f"load average {load_before:.1f} -> {load_after:.1f} on {os.cpu_count()} CPUs")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
