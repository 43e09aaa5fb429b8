"""Benchmark the data layer at the published size: load time and peak memory.

    python bench/data.py [--n 102378] [--density 0.005] [--json results/bench_data.json]

Writes a synthetic sparse npz of shape (N, 4, 48, 84, 5) (streamed, so this
process stays small) into a temporary folder, then in a fresh subprocess loads
it with `load_phrases`; also converts it to the packed cache and times loading
that in another fresh subprocess. (Batches are drawn inside the trainers'
graphs; `bench/train.py` times those.) Memory is `ru_maxrss` of the subprocess, in MiB.
Targets at full size: load_s <= 60, peak_rss_mb <= 1.2 GB.
"""
import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PHRASE = (4, 48, 84, 5)
FULL_N = 102378
BLOCK = 2048  # phrases generated at a time


def _block_notes(block: int, n: int, density: float, seed: int) -> np.ndarray:
    """Sorted C-order flat indices of the notes of phrases [block*BLOCK, ...); same every call."""
    size = int(np.prod(PHRASE))
    start = block * BLOCK
    count = min(BLOCK, n - start)
    rng = np.random.default_rng([seed, block])
    # draws with replacement, duplicates removed: density falls short by ~density/2, negligible
    within = np.sort(rng.integers(0, size, size=(count, round(density * size))), axis=1)
    flat = (np.arange(start, start + count, dtype=np.int64)[:, None] * size + within).ravel()
    return flat[np.concatenate(([True], flat[1:] != flat[:-1]))]


def make_sparse(path: Path, n: int, density: float, seed: int) -> int:
    """Stream a synthetic sparse npz; returns the number of notes."""
    from musegan.music.data import write_sparse_npz_rows

    shape = (n,) + PHRASE
    blocks = range((n + BLOCK - 1) // BLOCK)
    n_notes = sum(len(_block_notes(b, n, density, seed)) for b in blocks)
    strides = np.cumprod((1,) + shape[:0:-1])[::-1]  # elements per step along each dimension

    def row_chunks(r):
        for b in blocks:
            yield _block_notes(b, n, density, seed) // strides[r] % shape[r]

    write_sparse_npz_rows(path, shape, n_notes, row_chunks)
    return n_notes


def child(path: str, cache: str) -> None:
    """Runs in a fresh interpreter: load, measure, save the cache; print one JSON line."""
    from musegan.music import data

    t = time.perf_counter()
    phrases = data.load_phrases(path)
    load_s = time.perf_counter() - t
    rss_load = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = dict(load_s=load_s, peak_rss_mb=rss_load, packed_mb=phrases.packed.nbytes / 2 ** 20,
                  n_phrases=len(phrases), density=phrases.density())
    if cache:
        t = time.perf_counter()
        data.save_cache(cache, phrases)
        result["cache_save_s"] = time.perf_counter() - t
    result["peak_rss_mb_total"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def _run_child(*args) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", *map(str, args)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=FULL_N, help=f"phrases (default {FULL_N}, the published set)")
    ap.add_argument("--density", type=float, default=0.005)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-cache", action="store_true", help="skip the packed-cache round")
    ap.add_argument("--tmp", type=Path, default=None, help="folder for the temporary files")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        path, cache = args.child
        return child(path, "" if cache == "-" else cache)

    with tempfile.TemporaryDirectory(prefix="musegan_bench_", dir=args.tmp) as tmp:
        sparse, cache = Path(tmp) / "sparse.npz", Path(tmp) / "cache.npz"
        t = time.perf_counter()
        n_notes = make_sparse(sparse, args.n, args.density, args.seed)
        make_s = time.perf_counter() - t
        res = _run_child(sparse, "-" if args.no_cache else cache)
        res.update(shape=[args.n, *PHRASE], n_notes=n_notes, make_s=make_s,
                   sparse_file_mb=sparse.stat().st_size / 2 ** 20)
        if not args.no_cache:
            c = _run_child(cache, "-")
            res.update(cache_file_mb=cache.stat().st_size / 2 ** 20, cache_load_s=c["load_s"],
                       cache_peak_rss_mb=c["peak_rss_mb"])

    rows = [("shape", res["shape"]), ("notes", f"{n_notes} (density {res['density']:.4%})"),
            ("sparse file (MiB)", f"{res['sparse_file_mb']:.0f}"),
            ("make synthetic (s)", f"{make_s:.1f}"),
            ("load sparse npz (s)", f"{res['load_s']:.1f}   target <= 60"),
            ("peak RSS after load (MiB)", f"{res['peak_rss_mb']:.0f}   target <= 1.2 GB"),
            ("packed (MiB)", f"{res['packed_mb']:.0f}")]
    rows.append(("peak RSS incl. cache save (MiB)", f"{res['peak_rss_mb_total']:.0f}"))
    if "cache_load_s" in res:
        rows += [("cache file (MiB)", f"{res['cache_file_mb']:.0f}"),
                 ("save cache (s)", f"{res['cache_save_s']:.1f}"),
                 ("load cache (s)", f"{res['cache_load_s']:.1f}"),
                 ("peak RSS cache load (MiB)", f"{res['cache_peak_rss_mb']:.0f}")]
    width = max(len(k) for k, _ in rows)
    print("\n".join(f"{k:<{width}}  {v}" for k, v in rows))
    if args.json:
        from musegan.atomic import save_json

        save_json(args.json, res)


if __name__ == "__main__":
    main()
