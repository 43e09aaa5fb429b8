"""Training speed of the MuseGAN models: seconds per iteration (5 D + 1 G updates).

    python bench/train.py [--models default accompaniment/piano jamming:piano default+bf16 ...]
                          [--phrases 102378] [--iterations 3] [--repeats 1] [--json PATH]
                          [--against-original [--peer DIR]]

A model is an experiment folder under exp/ (its params.yaml and config.yaml),
optionally with `:TRACK` to make it track-conditional on TRACK, and `+bf16` or
`+fp32` to set `mixed_precision` true or false (bfloat16 matmuls and convolutions
through oneDNN, or float32); without either, the experiment's setting (by default
`auto`: bfloat16 on a CPU with bfloat16 units) as `musegan train` would run it. Default: all six combinations (hybrid, jamming, composer x from scratch,
piano-conditional). With `--repeats N` the models run N times interleaved (A B A B
..., so that a machine's drift falls on each alike); each figure is then the median
of the N runs, and the JSON keeps every run's seconds per iteration in `runs`.
Each runs in a fresh process on synthetic data of the full published size
(102,378 phrases at 0.5% density, written once as a packed cache and read by
each worker as `musegan train` reads one), so peak RSS and time from process
start to the first finished step are what a real run sees.

The machine line gives the CPU's vector extensions and its measured float32
matmul rate (TensorFlow, one large square MatMul, all cores); each model's
`floor_s` is its FLOPs at that rate, the least any float32 implementation of
these networks could take here, and `of_peak` = floor_s / s_per_iteration.
For float32 models `products_s` is an iteration's matrix products alone, the
same shapes replayed in a graph of nothing else, run as training runs ops: what
a step would take if everything between its products cost nothing.
Compare speeds as ratios on one machine: a CPU without AVX-512 has about half
the float32 matmul rate of one with it, and no bfloat16 units.

`--against-original` first times the original MuseGAN's own training step (its
v3 code on current TensorFlow through tf.compat.v1, set up by `peer/setup.sh`
of the folder `--peer` names, default `../shared/peer` beside the repository;
set up when missing), then ours, one after the other in this process tree, on
the same synthetic data shape (N x 4 x 48 x 84 x 5 at 0.5% density), and prints
both and the ratio; the JSON gains `original` (its own report),
`original_s_per_iteration` and, per model, `speedup_vs_original`.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

T0 = time.time()
ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODELS = ["default", "accompaniment/piano", "jamming", "jamming:piano", "composer", "composer:piano"]


def synthetic_phrases(n: int, shape, density: float = 0.005, seed: int = 0):
    """Packed random phrases without ever holding them dense."""
    import numpy as np

    from musegan.music.data import PackedPhrases

    n_bytes = -(-int(np.prod(shape)) // 8)
    packed = np.empty((n, n_bytes), np.uint8)
    rng = np.random.default_rng(seed)
    p_byte = 1 - (1 - density) ** 8  # a byte with at least one note; one note per such byte
    for start in range(0, n, 4096):
        rows = packed[start:start + 4096]
        bits = (1 << rng.integers(0, 8, rows.shape, dtype=np.uint8)).astype(np.uint8)
        rows[:] = np.where(rng.random(rows.shape, dtype=np.float32) < p_byte, bits, 0)
    packed[:, -1] &= np.uint8((0xFF << (8 * n_bytes - int(np.prod(shape)))) & 0xFF)
    return PackedPhrases(packed=packed, shape=tuple(shape))


def run_ops(target):
    """The ops `target` runs: itself and its transitive inputs, control inputs included."""
    seen, stack = set(), [target]
    while stack:
        op = stack.pop()
        if op.name in seen:
            continue
        seen.add(op.name)
        yield op
        stack.extend(t.op for t in op.inputs)
        stack.extend(op.control_inputs)


def graph_flops(graph, target) -> int:
    """Float operations of the ops `target` runs, from each op's registered statistics
    (matmuls, elementwise ops) and the static shapes."""
    from tensorflow.python.framework import ops as tf_ops

    total = 0
    for op in run_ops(target):
        try:
            value = tf_ops.get_stats_for_node_def(graph, op.node_def, "flops").value
        except (ValueError, TypeError):
            value = None
        total += value or 0
    return total


def matmul_products(target) -> list:
    """The MatMul ops `target` runs: (shape of a, shape of b, transpose_a, transpose_b) each."""
    return [tuple(tuple(t.shape.as_list()) for t in op.inputs[:2]) + (op.get_attr("transpose_a"),
                                                                       op.get_attr("transpose_b"))
            for op in run_ops(target) if op.type == "MatMul"]


def products_seconds(products: list, config) -> float:
    """Seconds one run of `products` takes alone: the same matrix products on variables, in a
    graph of nothing else, run as the training Session runs ops (session_config); the median of
    5 runs. What a step would take if everything between its products cost nothing."""
    import numpy as np
    import tensorflow as tf

    v1 = tf.compat.v1
    with tf.Graph().as_default() as graph:
        operands = {shape: v1.Variable(tf.random.uniform(shape)) for a, b, _, _ in products for shape in (a, b)}
        run = tf.group(*[tf.matmul(operands[a], operands[b], transpose_a=ta, transpose_b=tb)
                         for a, b, ta, tb in products])
        init = v1.global_variables_initializer()
    config.graph_options.rewrite_options.disable_meta_optimizer = True  # nothing pruned or fused
    with v1.Session(graph=graph, config=config) as sess:
        sess.run(init)
        return float(np.median(_run_times(sess, run, 5)))


def _run_times(sess, op, n: int) -> list:
    """Seconds of each of `n` runs of `op`, after one run to warm up."""
    sess.run(op)
    times = []
    for _ in range(n):
        t = time.perf_counter()
        sess.run(op)
        times.append(time.perf_counter() - t)
    return times


def machine() -> dict:
    """CPU model, core count, vector extensions that matter to matmuls, and the measured
    float32 `tf.matmul` rate (best of 10 runs of 2048^3) in GFLOP/s."""
    import numpy as np

    import musegan  # noqa: F401 (sets TensorFlow's environment first)
    import tensorflow as tf

    from musegan.runtime import cpu

    name, flags = cpu()
    v1 = tf.compat.v1
    v1.disable_eager_execution()
    n = 2048
    with tf.Graph().as_default() as graph:
        rng = np.random.default_rng(0)
        a, b = (v1.Variable(rng.standard_normal((n, n), np.float32)) for _ in range(2))
        product = tf.reduce_sum(tf.matmul(a, b)).op
        with v1.Session(graph=graph) as sess:
            sess.run(v1.global_variables_initializer())
            times = _run_times(sess, product, 10)
    return {"cpu": name, "cores": os.cpu_count(),
            "extensions": sorted(flags & {"avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16"}),
            "matmul_gflops": 2 * n ** 3 / min(times) / 1e9}


def worker(model: str, cache: Path, iterations: int) -> dict:
    import musegan  # noqa: F401 (first: it sets TensorFlow's environment, read at its import)
    import tensorflow as tf
    from musegan import config as cfg
    from musegan.music.data import load_phrases
    from musegan.nets.tf_ops import count_parameters
    from musegan.runtime import use_bfloat16
    from musegan.training.tf_backend import TrainGraph, session_config

    v1 = tf.compat.v1
    v1.disable_eager_execution()
    model, _, precision = model.partition("+")
    name, _, track = model.partition(":")
    exp = ROOT / "exp" / name
    config, params = cfg.load_experiment(exp)
    if precision:
        config = {**config, "mixed_precision": {"bf16": True, "fp32": False}[precision]}
    bfloat16, _ = use_bfloat16(config["mixed_precision"], on_gpu=False)
    if track:
        params = cfg.validate_params({**params, "condition_track": track})
    data = load_phrases(cache)  # as `musegan train` reads a packed cache (`musegan process`)
    if tuple(data.shape) != tuple(params["data_shape"]):
        data = synthetic_phrases(len(data), params["data_shape"])
    t = time.time()
    graph = tf.Graph()
    with graph.as_default():
        tg = TrainGraph(params, config, data)
    build_s = time.time() - t
    sess = v1.Session(graph=graph, config=session_config(config, bfloat16))
    sess.run(tg.init)
    tg.initialize(sess, data.packed)
    del data
    n_d = config["n_dis_updates_per_gen_update"]
    for _ in range(n_d):
        sess.run(tg.d_train)
    sess.run(tg.g_train)
    first_step_s = time.time() - T0

    def timed(op, n):
        t = time.time()
        for _ in range(n):
            sess.run(op)
        return (time.time() - t) / n

    s_d = timed(tg.d_train, iterations * n_d)
    s_g = timed(tg.g_train, iterations)
    t = time.time()
    for _ in range(iterations):
        for _ in range(n_d):
            sess.run(tg.d_train)
        sess.run(tg.g_train)
    s_iter = (time.time() - t) / iterations

    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # before the products' replay
    flops = {"d": graph_flops(graph, tg.d_train), "g": graph_flops(graph, tg.g_train)}
    with graph.as_default():
        g_params = count_parameters(v1.trainable_variables("Generator/"))
        d_params = count_parameters(v1.trainable_variables("Discriminator/"))
    extra = {}
    if not bfloat16:  # grappler turns a bfloat16 step's products into other ops
        products = {k: products_seconds(matmul_products(op), session_config(config))
                    for k, op in (("d", tg.d_train), ("g", tg.g_train))}
        extra["products_s"] = n_d * products["d"] + products["g"]
    return {**extra,
        "s_per_iteration": s_iter,
        "s_per_d_update": s_d,
        "s_per_g_update": s_g,
        "graph_build_s": build_s,
        "first_step_s": first_step_s,
        "peak_rss_mb": peak_rss_mb,
        "gflop_per_iteration": (n_d * flops["d"] + flops["g"]) / 1e9,
        "g_params": g_params,
        "d_params": d_params,
        "batch_size": config["batch_size"],
        "precision": "bfloat16" if bfloat16 else "float32",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=DEFAULT_MODELS)
    parser.add_argument("--phrases", type=int, default=102378)
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=1, help="runs of each model, interleaved; medians reported")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--against-original", action="store_true",
                        help="also time the original MuseGAN's training step first and print the ratio")
    parser.add_argument("--peer", type=Path, default=ROOT.parent / "shared" / "peer",
                        help="folder of the original's benchmark (setup.sh, bench_original.py)")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--cache", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if args.worker:
        result = machine() if args.worker == "machine" else worker(args.worker, args.cache, args.iterations)
        print(json.dumps(result))
        return
    host = _run_worker("machine", None, 0)
    print(f"machine: {host['cpu']}, {host['cores']} cores, {' '.join(host['extensions'])}; "
          f"float32 matmul {host['matmul_gflops']:.0f} GFLOP/s", file=sys.stderr, flush=True)
    originals = []
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        from musegan.config import load_experiment
        from musegan.music.data import save_cache

        shape = load_experiment(ROOT / "exp" / "default")[1]["data_shape"]
        cache = save_cache(Path(tmp) / "phrases.npz", synthetic_phrases(args.phrases, shape))
        runs = {model: [] for model in args.models}
        for repeat in range(args.repeats):
            if args.against_original:
                originals.append(_run_original(args.peer, args.iterations))
            for model in args.models:
                runs[model].append(_run_worker(model, cache, args.iterations))
                print(f"{model} ({repeat + 1}/{args.repeats}): {runs[model][-1]['s_per_iteration']:.2f} s/it",
                      file=sys.stderr, flush=True)
        original = _median(originals) if originals else None
        for model in args.models:
            r = results[model] = _median(runs[model])
            r["floor_s"] = r["gflop_per_iteration"] / host["matmul_gflops"]
            r["of_peak"] = r["floor_s"] / r["s_per_iteration"]
            if original is not None:
                r["speedup_vs_original"] = original["s_per_iteration"] / r["s_per_iteration"]
    print(f"machine: {host['cpu']}, {host['cores']} cores, {' '.join(host['extensions'])}; "
          f"float32 matmul {host['matmul_gflops']:.0f} GFLOP/s")
    print(f"{'model':22s}" + "".join(f"{c:>20s}" for c in COLUMNS))
    for model, r in results.items():
        print(f"{model:22s}" + "".join(f"{'-':>20s}" if c not in r else f"{r[c]:20.2f}" if isinstance(r[c], float)
                                      else f"{r[c]:20,d}" for c in COLUMNS))
    extra = {}
    if original is not None:
        print(f"original MuseGAN (G {original['g_params']:,} / D {original['d_params']:,} parameters, batch 64): "
              f"{original['s_per_iteration']:.2f} s/it ({original['s_per_d_update']:.2f} s per D, "
              f"{original['s_per_g_update']:.2f} s per G update), peak RSS {original['peak_rss_mb']:.0f} MB")
        for model, r in results.items():
            print(f"{model}: {r['s_per_iteration']:.2f} s/it, {r['speedup_vs_original']:.2f}x the original's speed")
        extra = {"original": original, "original_s_per_iteration": original["s_per_iteration"]}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({**results, "machine": host, **extra}, indent=2) + "\n")


COLUMNS = ["s_per_iteration", "s_per_d_update", "s_per_g_update", "graph_build_s", "first_step_s",
           "peak_rss_mb", "gflop_per_iteration", "floor_s", "of_peak", "products_s", "g_params", "d_params"]


def _median(runs: list) -> dict:
    """One model's runs as one report: the median of each number, every run's s/it in `runs`."""
    import numpy as np

    out = dict(runs[0])
    for key, value in runs[0].items():
        if isinstance(value, float):
            out[key] = float(np.median([r[key] for r in runs]))
    out["runs"] = [r["s_per_iteration"] for r in runs]
    return out


def _run_original(peer: Path, iterations: int) -> dict:
    """The original's benchmark (`peer/bench_original.py`, in the virtual environment its
    `setup.sh` makes, set up first when missing): its JSON report."""
    base = Path(os.environ.get("TMPDIR", "/tmp"))
    python = base / "peer-venv" / "bin" / "python"
    if not (peer / "bench_original.py").is_file():
        sys.exit(f"{peer}: the original's benchmark (bench_original.py) is not there; name its folder with --peer")
    if not python.is_file() or not (base / "peer-src" / "src").is_dir():
        print(f"setting up the original's code ({peer / 'setup.sh'})", file=sys.stderr, flush=True)
        subprocess.run(["bash", str(peer / "setup.sh")], check=True)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "original.json"
        proc = subprocess.run([str(python), str(peer / "bench_original.py"), "--iterations", str(iterations),
                               "--json", str(out)], capture_output=True, text=True)
        if proc.returncode:
            sys.exit(f"the original's benchmark failed:\n{proc.stderr[-3000:]}")
        report = json.loads(out.read_text())
    print(f"original: {report['s_per_iteration']:.2f} s/it", file=sys.stderr, flush=True)
    return report


def _run_worker(model: str, cache: Optional[Path], iterations: int) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--worker", model, "--cache", str(cache),
                           "--iterations", str(iterations)], capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"{model}: benchmark failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
