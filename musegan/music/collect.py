"""`musegan collect IN_DIR OUT.npz`: 4-bar training phrases from a folder of MIDI files.

Every `.mid`/`.midi`/`.kar` under IN_DIR (recursively, in sorted path order)
is read by `musegan.music.midi` (own beat grid, families, quantization rules), its
beats read in 4-beat bars as `musegan accompany` reads them (`meter.read_bars`: 2/2
in quarter notes, 1/4 and 2/4 marks regrouped; the summary counts the regrouped
files), and cut into phrases of `data_shape[0]` consecutive 4-beat bars every
`collect.hop_bars` bars, keeping those with at least `collect.min_tracks`
non-empty tracks. Files are processed in parallel (order preserved); a file
that cannot be used is skipped and counted by reason, never stopping the run.

Output: the published sparse npz (`shape`, `nonzero`) plus `song_ids` (int32
per phrase) and `song_names` (`song_names[i]` is the path of song `i`,
relative to IN_DIR) so training can hold out whole songs; the same input gives
the same arrays. A summary (files, skips by reason with file names, phrases,
per-track non-empty ratios, speed) is printed and written beside OUT as
`OUT_STEM.summary.json`.

RWC: a folder holding a `metadata.csv` whose header has the columns `RWCID`,
`CollID` and `GenreMain` (`;`-separated) is an RWC Music Database folder, be
it IN_DIR itself or any folder below it. MIDI files under it are kept only
when their file name (e.g. `RWC_P001.mid`) is an RWCID whose GenreMain is in
`collect.rwc_genres` (default Popular, Rock, Dance: all of RWC-P and RWC-R,
and those pieces of RWC-G); its `metadata_mapping_vocals.csv`, when present,
names each song's vocal-melody tracks by MIDI track number, which go to
`collect.vocal_family` (rows commented "Not Vocal" are ignored). Files
elsewhere in IN_DIR are collected as usual.
"""
import csv
import os
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Set, Tuple

import numpy as np

from musegan.music import data
from musegan import atomic
from musegan.music import midi
from musegan.music import pianoroll
from musegan.music import timing
from musegan.config import FAMILIES
from musegan.errors import ConfigError, DataError, UsageError
from musegan.runtime import duration

LAKH_FILES = 176_581  # files in the Lakh MIDI Dataset (LMD-full), for the projection

# Skip reasons beyond midi's (unreadable, vanished, corrupt, empty, unsupported, too_large,
# no_notes_in_range).
NOT_44 = "not_4_4"
NO_PHRASE = "no_phrase_with_enough_tracks"
ERROR = "error"
REASONS = (midi.UNREADABLE, midi.VANISHED, midi.CORRUPT, midi.EMPTY, midi.UNSUPPORTED, midi.TOO_LARGE,
           midi.NO_NOTES_IN_RANGE, NOT_44, NO_PHRASE, ERROR)

RWC_COLUMNS = {"RWCID", "CollID", "GenreMain"}
SHOW_SKIPPED = 5  # skipped files printed per reason (the summary lists them all)


# --------------------------------------------------------------------------- finding files


@dataclass
class RwcFolder:
    """An RWC folder: which pieces to keep and the vocal tracks of each."""

    root: Path
    keep: Set[str]
    genre: Dict[str, str]
    vocal_tracks: Dict[str, Set[int]] = field(default_factory=dict)


def _read_csv(path: Path) -> List[Dict[str, str]]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            return list(csv.DictReader(f, delimiter=";"))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"{path}: cannot read ({e})") from None


def _is_rwc_metadata(path: Path) -> bool:
    try:
        with open(path, encoding="utf-8-sig") as f:
            header = f.readline()
    except (OSError, UnicodeDecodeError):
        return False
    return RWC_COLUMNS <= {c.strip() for c in header.split(";")}


def read_rwc(root: Path, genres: Sequence[str]) -> RwcFolder:
    """The RWC folder at `root`: pieces whose GenreMain is in `genres`, and vocal tracks."""
    rows = _read_csv(root / "metadata.csv")
    genre = {r["RWCID"].strip(): (r.get("GenreMain") or "").strip() for r in rows}
    wanted = {g.lower() for g in genres}
    folder = RwcFolder(root=root, keep={i for i, g in genre.items() if g.lower() in wanted}, genre=genre)
    mapping = root / "metadata_mapping_vocals.csv"
    if mapping.is_file():
        for r in _read_csv(mapping):
            if (r.get("comment") or "").strip().lower().startswith("not vocal"):
                continue
            try:
                track = int(r["MIDITrackNo"])
            except (KeyError, TypeError, ValueError):
                raise DataError(f"{mapping}: bad MIDITrackNo in row {r}") from None
            folder.vocal_tracks.setdefault(r["RWCID"].strip(), set()).add(track)
    return folder


def find_inputs(in_dir: Path) -> Tuple[List[Path], List[Path]]:
    """(MIDI files, RWC folders) under `in_dir`, both sorted; one walk of the tree."""
    files, rwc_roots = [], []
    for folder, dirs, names in os.walk(in_dir, onerror=None):
        dirs.sort()
        for name in names:
            path = Path(folder) / name
            if name.lower().endswith(midi.MIDI_SUFFIXES):
                files.append(path)
            elif name == "metadata.csv" and _is_rwc_metadata(path):
                rwc_roots.append(Path(folder))
    files.sort(key=lambda p: p.relative_to(in_dir).as_posix())
    return files, sorted(rwc_roots)


def select(files: List[Path], rwc: List[RwcFolder]) -> Tuple[List[Tuple[Path, Tuple[int, ...]]], Dict[str, str]]:
    """([(file, vocal track numbers)] to collect, {excluded file: why}) under the RWC rules."""
    tasks, excluded = [], {}
    for path in files:
        folder = next((f for f in rwc if f.root in path.parents), None)
        if folder is None:
            tasks.append((path, ()))
            continue
        rwc_id = path.stem
        if rwc_id not in folder.genre:
            excluded[str(path)] = "not in metadata.csv"
        elif rwc_id not in folder.keep:
            excluded[str(path)] = f"GenreMain {folder.genre[rwc_id] or '(none)'}"
        else:
            tasks.append((path, tuple(sorted(folder.vocal_tracks.get(rwc_id, ())))))
    return tasks, excluded


# --------------------------------------------------------------------------- one file


def _meters(grid: timing.Grid) -> str:
    counts = Counter(f"{n}/{d}" for n, d in grid.bar_meters)
    return ", ".join(f"{m} x{c}" for m, c in counts.most_common())


def _run_offsets(is_44: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """int: bars between each start and the first bar of its run of 4/4 bars."""
    run_start = np.zeros(len(is_44), dtype=np.int64)
    current = 0
    for bar, ok in enumerate(is_44):
        if not ok or bar == 0 or not is_44[bar - 1]:
            current = bar
        run_start[bar] = current
    return starts - run_start[starts]


def collect_file(path: Path, params: Dict[str, Any], config: Dict[str, Any],
                 vocal_tracks: Sequence[int] = ()) -> Dict[str, Any]:
    """Phrases of one file, sparse, or the reason it has none. Never raises for bad input.

    Returns reason (None when used), problem, n_phrases, nonzero (5 int32 arrays
    of the file's (n_phrases, n_bars, n_steps, n_pitches, n_tracks) array, C
    order), bar_active (bool (n_phrases, n_bars, n_tracks)), starts (first bar
    of each phrase), n_aligned (phrases on the hop = n_bars grid), bars,
    bars_44 (the 4-beat bars, regrouped ones included), warp, regrouped (1/4 or 2/4
    marks read as 4-beat bars), ignored (lines about events dropped), cpu_seconds.
    """
    out: Dict[str, Any] = {"reason": None, "problem": "", "n_phrases": 0, "n_aligned": 0,
                           "bars": 0, "bars_44": 0, "warp": (1.0, 0.0), "regrouped": False, "ignored": []}
    cpu = time.process_time()
    try:
        out.update(_phrases_of(path, params, config, vocal_tracks))
    except midi.MidiDataError as e:
        out.update(reason=e.reason, problem=e.problem)
    except MemoryError:
        out.update(reason=ERROR, problem="out of memory")
    except Exception as e:  # one bad file must never stop a run over thousands
        out.update(reason=ERROR, problem=f"could not be read: a fault no check foresaw ({type(e).__name__}); "
                                         "please report it with the file")
    out["cpu_seconds"] = time.process_time() - cpu
    return out


def _phrases_of(path: Path, params: Dict[str, Any], config: Dict[str, Any],
                vocal_tracks: Sequence[int]) -> Dict[str, Any]:
    c = config["collect"]
    n_bars = params["data_shape"][0]
    roll, grid, info = pianoroll.midi_to_roll(path, params, config, vocal_tracks)
    out = dict(bars=grid.n_bars, bars_44=int(grid.bar_is_44.sum()), warp=grid.warp, regrouped=info["regrouped"],
               ignored=info["ignored"])
    if not len(timing.phrase_starts(grid, n_bars, c["hop_bars"])):
        return dict(out, reason=NOT_44, problem=f"no {n_bars} consecutive 4/4 bars (bars: {_meters(grid)})")
    x, starts = pianoroll.phrases(roll, grid, n_bars, c["hop_bars"], c["min_tracks"])
    if not len(x):
        used = [params["track_names"][t] for t in np.flatnonzero(roll.any(axis=(0, 1)))]
        return dict(out, reason=NO_PHRASE, problem=f"no {n_bars}-bar phrase has {c['min_tracks']} non-empty "
                                                   f"tracks (tracks in the song: {', '.join(used) or 'none'})")
    return dict(out, n_phrases=len(x), nonzero=tuple(i.astype(np.int32) for i in x.nonzero()),
                bar_active=x.any(axis=(2, 3)), starts=starts,
                n_aligned=int((_run_offsets(grid.bar_is_44, starts) % n_bars == 0).sum()))


_WORKER: Dict[str, Any] = {}


def _init_worker(params: Dict[str, Any], config: Dict[str, Any]) -> None:
    _WORKER.update(params=params, config=config)


def _work(task: Tuple[str, Tuple[int, ...]]) -> Dict[str, Any]:
    path, vocal = task
    return collect_file(Path(path), _WORKER["params"], _WORKER["config"], vocal)


def _results(tasks: List[Tuple[str, Tuple[int, ...]]], params, config, jobs: int) -> Iterator[Dict[str, Any]]:
    """collect_file over `tasks`, in order, on `jobs` processes."""
    if jobs <= 1:
        _init_worker(params, config)
        yield from map(_work, tasks)
        return
    # concurrent.futures, not multiprocessing.Pool: a worker killed (out of memory on a huge file)
    # makes Pool.imap wait forever, while the executor fails every pending future.
    pool = ProcessPoolExecutor(jobs, initializer=_init_worker, initargs=(params, config))
    try:
        futures = [pool.submit(_work, task) for task in tasks]
        for i, (path, _) in enumerate(tasks):
            try:
                result = futures[i].result()
            except BrokenProcessPool:
                raise DataError(f"{path}: a collect worker process died while this or a file after it was "
                                "read (killed, or out of memory?); rerun with --jobs 1 to find the file") from None
            futures[i] = None  # a collected file's phrases are not kept twice
            yield result
    finally:  # an error or interrupt: never wait for the files still queued
        pool.shutdown(wait=False, cancel_futures=True)


# --------------------------------------------------------------------------- the run


class _Progress:
    """One line on stderr: rewritten in place on a terminal, every 10 s in a log."""

    def __init__(self, total: int, stream=None):
        self.total, self.stream = total, stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.start = self.last = time.monotonic()

    def update(self, done: int, phrases: int, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < (0.25 if self.tty else 10.0):
            return
        self.last = now
        rate = done / max(now - self.start, 1e-9)
        eta = (self.total - done) / rate if rate > 0 else float("inf")
        line = (f"collect: {done}/{self.total} files, {phrases} phrases, {rate:.1f} files/s, "
                f"ETA {duration(eta)}")
        print("\r" + line + "\033[K" if self.tty else line, end="" if self.tty else "\n",
              file=self.stream, flush=True)

    def close(self) -> None:
        if self.tty:
            print(file=self.stream, flush=True)


def summary_path(out: Path) -> Path:
    """Where the summary of `out` goes: OUT_STEM.summary.json beside it."""
    return out.with_name(out.stem + ".summary.json")


def _jobs(requested: Optional[int], config: Dict[str, Any], n_files: int) -> int:
    jobs = config["collect"]["n_jobs"] if requested is None else requested
    if jobs < 0:
        raise UsageError(f"--jobs must be 0 (all cores) or more, got {jobs}")
    return max(1, min(jobs or os.cpu_count() or 1, n_files))


def run(in_dir: Path, out: Path, params: Dict[str, Any], config: Dict[str, Any],
        jobs: Optional[int] = None, overwrite: bool = False, stream=None) -> Dict[str, Any]:
    """Collect `in_dir` into `out`; returns the summary (also written beside `out`)."""
    in_dir, out = Path(in_dir), Path(out)
    atomic.check_writable(out, overwrite)
    atomic.check_writable(summary_path(out), overwrite)  # a user's file of that name is theirs too
    if out.suffix != ".npz":
        raise UsageError(f"{out}: the output must be a .npz file")
    if not in_dir.is_dir():
        raise UsageError(f"{in_dir}: no such folder")
    if not any(n.lower() in FAMILIES for n in params["track_names"]):
        raise ConfigError(f"params: 'track_names' {params['track_names']} name none of the families "
                          f"{', '.join(FAMILIES)}")
    started = time.monotonic()
    files, rwc_roots = find_inputs(in_dir)
    rwc = [read_rwc(root, config["collect"]["rwc_genres"]) for root in rwc_roots]
    tasks, excluded = select(files, rwc)
    if not tasks:
        found = f"{len(files)} MIDI files, all excluded by RWC metadata" if files else "no .mid/.midi/.kar files"
        raise DataError(f"{in_dir}: {found}")
    jobs = _jobs(jobs, config, len(tasks))

    n_bars, n_steps, n_pitches, n_tracks = params["data_shape"]
    progress = _Progress(len(tasks), stream)
    kept, skipped = [], {}
    n_phrases, cpu_seconds = 0, 0.0
    t0 = time.monotonic()
    for (path, _), result in zip(tasks, _results([(str(p), v) for p, v in tasks], params, config, jobs)):
        result["file"] = path.relative_to(in_dir).as_posix()
        cpu_seconds += result["cpu_seconds"]
        if result["reason"] is None:
            kept.append(result)
            n_phrases += result["n_phrases"]
        else:
            skipped.setdefault(result["reason"], {})[result["file"]] = result["problem"]
        progress.update(len(kept) + sum(map(len, skipped.values())), n_phrases)
    progress.update(len(tasks), n_phrases, force=True)
    progress.close()
    seconds_files = time.monotonic() - t0

    summary = _summary(in_dir, out, params, config, jobs, files, tasks, excluded, rwc, kept, skipped)
    if kept:
        shape = (n_phrases, n_bars, n_steps, n_pitches, n_tracks)
        offsets = np.cumsum([0] + [r["n_phrases"] for r in kept])

        def rows(r: int) -> Iterator[np.ndarray]:
            for offset, result in zip(offsets, kept):
                yield result["nonzero"][r].astype(np.int64) + (offset if r == 0 else 0)

        n_notes = sum(len(r["nonzero"][0]) for r in kept)
        song_ids = np.repeat(np.arange(len(kept), dtype=np.int32), [r["n_phrases"] for r in kept])
        data.write_sparse_npz_rows(out, shape, n_notes, rows, song_ids=song_ids,
                                   song_names=[r["file"] for r in kept])
    seconds = time.monotonic() - started
    rate = len(tasks) / max(seconds_files, 1e-9)
    cpu = cpu_seconds / len(tasks)
    summary["speed"] = {"seconds": round(seconds, 2), "seconds_reading_files": round(seconds_files, 2),
                        "jobs": jobs, "files_per_second": round(rate, 3),
                        "projected_hours_lakh": round(LAKH_FILES / rate / 3600, 2),
                        # CPU time does not depend on what else the machine runs meanwhile
                        "cpu_seconds_per_file": round(cpu, 4),
                        "projected_hours_lakh_from_cpu": round(LAKH_FILES * cpu / jobs / 3600, 2),
                        "lakh_files": LAKH_FILES}
    atomic.save_json(summary_path(out), summary)
    if not kept:
        reasons = ", ".join(f"{k} {len(v)}" for k, v in skipped.items())
        name, problem = next((n, p) for files in skipped.values() for n, p in files.items())
        if len(tasks) == 1:
            raise DataError(f"{in_dir / name}: {problem}; no phrases collected (see {summary_path(out)})")
        raise DataError(f"{in_dir}: no phrases collected from {len(tasks)} MIDI files ({reasons}), "
                        f"e.g. {in_dir / name}: {problem}; see {summary_path(out)}")
    return summary


def _summary(in_dir, out, params, config, jobs, files, tasks, excluded, rwc, kept, skipped) -> Dict[str, Any]:
    c = config["collect"]
    names = params["track_names"]
    n_phrases = sum(r["n_phrases"] for r in kept)
    if kept:
        bar_active = np.concatenate([r["bar_active"] for r in kept])  # (n, n_bars, n_tracks)
        phrase_active = bar_active.any(axis=1)
        per_phrase = {n: round(float(v), 4) for n, v in zip(names, phrase_active.mean(axis=0))}
        per_bar = {n: round(float(v), 4) for n, v in zip(names, bar_active.mean(axis=(0, 1)))}
        n_active = Counter(int(k) for k in phrase_active.sum(axis=1))
    else:
        per_phrase = per_bar = {}
        n_active = Counter()
    warped = [r for r in kept if tuple(r["warp"]) != (1.0, 0.0)]
    regrouped = [r["file"] for r in kept if r["regrouped"]]
    ignored = {r["file"]: r["ignored"] for r in kept if r["ignored"]}
    stretched = [r for r in warped if r["warp"][0] != 1.0]
    return {
        "in_dir": str(in_dir), "out": str(out),
        "settings": {"data_shape": params["data_shape"], "beat_resolution": params["beat_resolution"],
                     "lowest_pitch": params["lowest_pitch"], "track_names": names,
                     **{k: c[k] for k in ("hop_bars", "min_tracks", "min_note_steps",
                                          "merge_organ_into_piano", "vocal_family", "align_to_grid")}},
        "rwc": [{"root": str(f.root), "genres": c["rwc_genres"],
                 "selected": sum(1 for p, _ in tasks if f.root in p.parents),
                 "with_vocal_tracks": sum(1 for p, v in tasks if f.root in p.parents and v)} for f in rwc],
        "files_found": len(files),
        "files_excluded_by_rwc_metadata": {Path(p).relative_to(in_dir).as_posix(): why
                                           for p, why in excluded.items()},
        "files_read": len(tasks),
        "files_used": len(kept),
        "files_skipped": sum(len(v) for v in skipped.values()),
        "skipped": {reason: {"count": len(skipped[reason]), "files": skipped[reason]}
                    for reason in REASONS if reason in skipped},
        "phrases": n_phrases,
        "phrases_on_hop_n_bars": sum(r["n_aligned"] for r in kept),
        "phrases_by_active_tracks": {str(k): n_active[k] for k in sorted(n_active)},
        "track_nonempty_ratio": {"phrases": per_phrase, "bars": per_bar},
        "bars": {"total": sum(r["bars"] for r in kept), "in_4_4": sum(r["bars_44"] for r in kept)},
        "regrouped_files": {"count": len(regrouped), "files": regrouped},
        "files_with_ignored_events": ignored,
        "grid_aligned_files": {"moved": len(warped), "stretched": len(stretched),
                               "files": {r["file"]: [round(r["warp"][0], 5), round(r["warp"][1], 1)]
                                         for r in warped}},
    }


def summary_text(summary: Dict[str, Any], path: Path) -> str:
    """What `musegan collect` prints of a `run`'s summary (written in full to `path`)."""
    s = summary
    lines = []
    add = lines.append
    add(f"collected {s['phrases']} phrases from {s['files_used']} of {s['files_read']} files "
          f"({s['phrases_on_hop_n_bars']} on a hop of {s['settings']['data_shape'][0]} bars) -> {s['out']}")
    if s["regrouped_files"]["count"]:
        add(f"  {s['regrouped_files']['count']} files marked 1/4 or 2/4 read in 4-beat bars (regrouped)")
    if s["files_with_ignored_events"]:
        add(f"  {len(s['files_with_ignored_events'])} files with events ignored (stray or meaningless; "
            "in the summary)")
    if s["files_excluded_by_rwc_metadata"]:
        add(f"  RWC: {len(s['files_excluded_by_rwc_metadata'])} files excluded by genre/metadata")
    for reason, v in s["skipped"].items():
        add(f"  skipped {reason}: {v['count']}")
        for name, problem in list(v["files"].items())[:SHOW_SKIPPED]:
            add(f"    {name}: {problem}")
        if v["count"] > SHOW_SKIPPED:
            add(f"    ... and {v['count'] - SHOW_SKIPPED} more (all in the summary)")
    ratios = ", ".join(f"{k} {v:.2f}" for k, v in s["track_nonempty_ratio"]["phrases"].items())
    if ratios:
        add(f"  non-empty tracks per phrase: {ratios}")
    sp = s["speed"]
    add(f"  {sp['seconds']:.1f} s, {sp['files_per_second']:.2f} files/s on {sp['jobs']} jobs, "
          f"{sp['cpu_seconds_per_file']:.2f} CPU s/file (Lakh's {sp['lakh_files']} files: "
          f"~{sp['projected_hours_lakh']:.1f} h at this rate, {sp['projected_hours_lakh_from_cpu']:.1f} h "
          f"on {sp['jobs']} free cores); summary: {path}")
    return "\n".join(lines)
