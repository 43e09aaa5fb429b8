"""Beats tracked from the notes (`beats.track_beats`) on songs whose beats are known from their tempo maps.

    python bench/beats.py --rwc DIR --scores DIR [--json PATH] [--band-every N] [--limit N]

Songs: every MIDI file below --rwc, and the files of --scores that are 4/4 throughout (every
time signature event 4/4; byte-identical duplicates once). Each is re-written as a transcriber
writes it (condition A: every track with the same notes at the same seconds, one 120 bpm tempo,
no time signature, written and read back), and again as a live player would play it (condition
B: a tempo swinging +-5 % over 40 s, random phase, and +-20 ms of uniform noise on every onset;
the true beats moved by the same warp).

Measured, per condition:
- beat F and downbeat F: mir_eval's F-measure (+-70 ms), on the span of the notes, the first
  5 s left out as `mir_eval.beat.trim_beats` does; tempo found; tracking seconds;
- against two ground truths: the tempo map as it is ("map"), and the file's grid moved onto
  its notes ("notes"): for RWC, whose files were re-timed to recordings, the tempo-map beats
  shifted by their notes' smooth local offset (`aligned`: songs whose notes stay within 1/5
  beat of the map's half-beats throughout; the others have no usable ground truth), minus
  the songs whose kicks and snares fall mostly on that ground truth's half-beats (it is then
  shifted by half a beat); for the scores, the songs whose notes sit on their own grid
  (`beats.needs_tracking` false on the original);
- `--beats auto` on the re-written files: how many are tracked;
- the band: every --band-every'th song (scores all) accompanied as a user would (`musegan
  accompany FOLDER --exp exp/accompaniment/piano --seed 0`) from its original file and from
  its re-written ones; the share of the band's onsets on the song's true 16th grid (+-0.04
  beat; the tempo-map grid, warped in B).
- the cost of tracking a 5-minute song in a fresh process (start, imports, tracking).

Prints a table as the songs are done, then the summary; JSON with every song's figures.
"""
import argparse
import hashlib
import io
import json
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import mido
import numpy as np
import pretty_midi
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from musegan.music import beats  # noqa: E402

WINDOW = 0.07  # seconds: the standard beat-tracking tolerance
ON_GRID = 0.04  # beats: a band onset this close to the true 16th grid is on it


def read(path: Path) -> Optional[pretty_midi.PrettyMIDI]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pretty_midi.PrettyMIDI(str(path))
    except Exception:  # noqa: BLE001 (unreadable files are counted, not benchmarked)
        return None


def songs_of(rwc: Path, scores: Path) -> Tuple[List[dict], dict]:
    """Every benchmarked song: corpus, name, path, notes, true beats and downbeats (seconds)."""
    out, info, seen = [], {"unreadable": [], "duplicates": [], "not_44": 0}, set()
    files = [("rwc", p) for p in sorted(rwc.rglob("*.mid"))] + [("scores", p) for p in sorted(scores.glob("*.mid"))]
    for corpus, path in files:
        digest = hashlib.md5(path.read_bytes()).hexdigest()
        if digest in seen:
            info["duplicates"].append(path.name)
            continue
        seen.add(digest)
        pm = read(path)
        if pm is None:
            info["unreadable"].append(path.name)
            continue
        meters = [(t.numerator, t.denominator) for t in pm.time_signature_changes]
        if corpus == "scores" and (not meters or any(m != (4, 4) for m in meters)):
            info["not_44"] += 1
            continue
        notes = beats.notes_of(pm)
        if len(notes):
            out.append({"corpus": corpus, "name": path.name, "path": path, "notes": notes, "pm": pm,
                        "beats": pm.get_beats(), "downbeats": pm.get_downbeats()})
    return out, info


def transcription(pm: pretty_midi.PrettyMIDI, seed: Optional[int] = None) -> bytes:
    """`pm` as a transcriber writes it: every track (program, name, drums) with the same notes
    at their seconds, one 120 bpm tempo, no time signature. With `seed` (condition B) the
    notes are played live: under `warp(seed)`, every onset moved by up to +-20 ms.

    The tracks stay apart, as a multi-instrument transcriber (MT3) writes them: the part
    accompany takes is then the same as in the original file, and the band differs from the
    original's only by what the beats do."""
    f = warp(seed) if seed is not None else None
    noise = np.random.default_rng(seed + 1) if seed is not None else None
    out = pretty_midi.PrettyMIDI(resolution=480, initial_tempo=120.0)
    for inst in pm.instruments:
        notes = sorted(inst.notes, key=lambda n: (n.start, n.pitch))
        if not notes:
            continue
        onset = np.array([n.start for n in notes])
        offset = np.maximum(np.array([n.end for n in notes]), onset + 1e-3)
        if f is not None:
            length = np.maximum(f(offset) - f(onset), 0.01)
            onset = np.maximum(f(onset) + noise.uniform(-0.02, 0.02, onset.shape), 0.0)
            offset = onset + length
        track = pretty_midi.Instrument(inst.program, is_drum=inst.is_drum, name=inst.name)
        track.notes = [pretty_midi.Note(int(n.velocity), int(n.pitch), float(a), float(b))
                       for n, a, b in zip(notes, onset, offset)]
        out.instruments.append(track)
    buffer = io.BytesIO()
    out.write(buffer)
    return buffer.getvalue()


def warp(seed: int, period: float = 40.0, depth: float = 0.05) -> Callable[[np.ndarray], np.ndarray]:
    """A monotone time warp whose rate is 1 + depth * sin(2 pi t / period + a random phase)."""
    phase = np.random.default_rng(seed).uniform(0, 2 * np.pi)
    return lambda t: (np.asarray(t, np.float64) - depth * period / (2 * np.pi)
                      * (np.cos(2 * np.pi * np.asarray(t, np.float64) / period + phase) - np.cos(phase)))


def aligned(notes: beats.Notes, beat_times: np.ndarray, window: float = 16.0, hop: float = 4.0,
            tol: float = 0.12) -> Optional[np.ndarray]:
    """The tempo-map beats moved onto the notes by their smooth local offset (per 16 s window,
    the velocity-weighted mode of the onsets' half-beat phase, refined by its mean, median of 5
    windows), or None when the notes stray more than 1/5 beat from the map or jump between windows."""
    q = np.interp(notes.onset, beat_times, np.arange(beat_times.size), left=np.nan, right=np.nan)
    ok = np.isfinite(q)
    onset, weight, phase = notes.onset[ok], notes.velocity[ok] / 127.0, np.mod(2 * q[ok], 1.0)
    if onset.size == 0:
        return None
    bins = (np.arange(48) + 0.5) / 48
    centres, offsets = [], []
    for c in np.arange(onset[0] + window / 2, max(onset[-1] - window / 2, onset[0] + window / 2) + hop, hop):
        m = np.abs(onset - c) < window / 2
        if m.sum() < 12:
            continue
        d = ((phase[m][:, None] - bins[None, :]) + 0.5) % 1.0 - 0.5
        score = (weight[m][:, None] * (np.abs(d) < tol)).sum(0)
        j = int(np.argmax(score))
        if score[j] < 1.5 * weight[m].sum() * 2 * tol:
            continue
        near = np.abs(d[:, j]) < tol
        offset = (bins[j] + np.sum(weight[m][near] * d[near, j]) / np.sum(weight[m][near]) + 0.5) % 1.0 - 0.5
        centres.append(c)
        offsets.append(offset / 2)
    if not offsets:
        return None
    centres, offsets = np.array(centres), np.array(offsets)
    if offsets.size >= 5:
        padded = np.concatenate([offsets[:1], offsets[:1], offsets, offsets[-1:], offsets[-1:]])
        offsets = np.median(np.stack([padded[k:k + offsets.size] for k in range(5)]), axis=0)
    if np.any(np.abs(offsets) > 0.2) or (offsets.size > 1 and np.max(np.abs(np.diff(offsets))) >= 0.08):
        return None
    period = np.interp(centres, beat_times[1:], np.diff(beat_times))
    return beat_times + np.interp(beat_times, centres, offsets * period)


def distance(t: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Seconds from each of `t` to the nearest point of the sorted `grid`."""
    j = np.clip(np.searchsorted(grid, t), 1, grid.size - 1)
    return np.minimum(np.abs(t - grid[j - 1]), np.abs(t - grid[j]))


def drums_contradict(notes: beats.Notes, beat_times: np.ndarray) -> bool:
    """Kicks and snares fall 1.5 times as often within 50 ms of the half-beats as of the beats."""
    drums = notes.onset[notes.is_drum & np.isin(notes.pitch, beats._KICK + beats._SNARE)]
    if drums.size < 50:
        return False
    on = np.sum(distance(drums, beat_times) < 0.05)
    return bool(np.sum(distance(drums, 0.5 * (beat_times[1:] + beat_times[:-1])) < 0.05) > 1.5 * on)


def fmeasure(truth: np.ndarray, found: np.ndarray, notes: beats.Notes) -> float:
    import mir_eval

    truth = truth[(truth >= notes.onset.min() - WINDOW) & (truth <= notes.offset.max())]
    truth, found = mir_eval.beat.trim_beats(np.asarray(truth)), mir_eval.beat.trim_beats(np.asarray(found))
    if truth.size == 0:
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(mir_eval.beat.f_measure(truth, found, WINDOW))


def band_on_grid(out: Path, truth: np.ndarray, n_given: int) -> Optional[float]:
    """Share of the generated tracks' onsets within ON_GRID beats of the 16th grid of `truth` beats.

    The piano model's output holds the conductor, Drums, the `n_given` tracks of the given part,
    then Guitar, Bass and Strings."""
    pm, mf = read(out), mido.MidiFile(str(out))
    onsets = []
    for track in [mf.tracks[1], *mf.tracks[2 + n_given:]]:
        tick = 0
        for msg in track:
            tick += msg.time
            if msg.type == "note_on" and msg.velocity > 0:
                onsets.append(pm.tick_to_time(tick))
    onsets = np.array(onsets)
    grid = np.concatenate([(truth[:-1, None] + np.diff(truth)[:, None] * np.arange(4) / 4).ravel(), truth[-1:]])
    onsets = onsets[(onsets >= truth[0]) & (onsets <= truth[-1])]
    if onsets.size == 0:
        return None
    beat = np.interp(onsets, truth[1:], np.diff(truth))
    return float(np.mean(distance(onsets, grid) <= ON_GRID * beat))


def accompanied(folder: Path, out: Path) -> Dict[str, dict]:
    """`musegan accompany FOLDER --exp exp/accompaniment/piano --out OUT --seed 0`: every file's summary."""
    from musegan.accompany import accompany_folder

    def progress(line: str) -> None:  # accompany's own line a file: "[i/n, ETA ...] name: ..."
        if line.startswith("["):
            print(f"\r{folder.name}: {line.split(']')[0]}]", end="", file=sys.stderr, flush=True)

    result = accompany_folder(folder, ROOT / "exp/accompaniment/piano", out, seed=0, log=progress)
    print(file=sys.stderr)
    return result["accompanied"]


def cold_cost(song: dict) -> dict:
    """Seconds for a fresh process to start, import the tracker and track `song`'s notes."""
    n = song["notes"]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "notes.npz"
        np.savez(path, onset=n.onset, offset=n.offset, pitch=n.pitch, velocity=n.velocity, is_drum=n.is_drum)
        code = (f"import time; t = time.perf_counter(); import sys; sys.path.insert(0, {str(ROOT)!r}); "
                "import numpy as np; from musegan.music import beats; "
                f"d = np.load({str(path)!r}); beats.track_beats(beats.notes_from_arrays(d['onset'], d['offset'], "
                "d['pitch'], d['velocity'], d['is_drum'])); print(time.perf_counter() - t)")
        runs = []
        for _ in range(3):
            t = time.perf_counter()
            inside = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                          check=True).stdout)
            runs.append((round(time.perf_counter() - t, 3), round(inside, 3)))
    return {"song": song["name"], "seconds_of_music": float(n.offset.max()), "notes": len(n),
            "process_s": [r[0] for r in runs], "imports_and_tracking_s": [r[1] for r in runs]}


def measure(song: dict, seed: int) -> dict:
    """Beat and downbeat F of one song in conditions A and B, against both ground truths; the
    re-written files' bytes are left in song["A"] and song["B"] for `band`."""
    notes, truth, bars = song["notes"], song["beats"], song["downbeats"]
    on_notes = aligned(notes, truth) if song["corpus"] == "rwc" else None
    if song["corpus"] == "rwc":
        usable = on_notes is not None and not drums_contradict(notes, on_notes)
    else:
        usable = not beats.needs_tracking(song["pm"], notes)
        on_notes = truth
    song["on_notes"] = on_notes if usable else None
    bar_index = np.clip(np.searchsorted(truth, bars - 1e-6), 0, truth.size - 1)
    row = {"corpus": song["corpus"], "name": song["name"], "usable": bool(usable),
           "tempo": float(60 / np.median(np.diff(truth)))}
    f = warp(seed)
    for cond in ("A", "B"):
        song[cond] = transcription(song["pm"], seed if cond == "B" else None)
        written = read_bytes(song[cond])
        heard = beats.notes_of(written)
        row[f"auto_tracks_{cond}"] = bool(beats.needs_tracking(written, heard))
        move = f if cond == "B" else (lambda t: t)  # noqa: E731
        t = time.perf_counter()
        found = beats.track_beats(heard)
        row[f"seconds_{cond}"] = time.perf_counter() - t
        row[f"tempo_{cond}"] = found.tempo
        downbeats = found.times[found.downbeats]
        row[f"beat_f_{cond}_map"] = fmeasure(move(truth), found.times, heard)
        row[f"downbeat_f_{cond}_map"] = fmeasure(move(bars), downbeats, heard)
        if usable:
            row[f"beat_f_{cond}_notes"] = fmeasure(move(on_notes), found.times, heard)
            row[f"downbeat_f_{cond}_notes"] = fmeasure(move(on_notes[bar_index]), downbeats, heard)
    return row


def read_bytes(data: bytes) -> pretty_midi.PrettyMIDI:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pretty_midi.PrettyMIDI(io.BytesIO(data))


def band(songs: List[dict], rows: List[dict]) -> None:
    """The band's on-grid share from the original files and from their A and B re-writes (into `rows`)."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for i, (song, row) in enumerate(zip(songs, rows)):
            (tmp / "original").mkdir(exist_ok=True)
            (tmp / "original" / f"{i:03d}.mid").write_bytes(song["path"].read_bytes())
            for cond in ("A", "B"):
                (tmp / cond).mkdir(exist_ok=True)
                (tmp / cond / f"{i:03d}.mid").write_bytes(song[cond])
        for cond in ("original", "A", "B"):
            summaries = accompanied(tmp / cond, tmp / f"out_{cond}")
            for i, (song, row) in enumerate(zip(songs, rows)):
                summary = summaries.get(f"{i:03d}.mid")
                move = warp(row["seed"]) if cond == "B" else (lambda t: t)
                for truth, key in ((song["beats"], "map"), (song["on_notes"], "notes")):
                    row[f"band_{cond}_{key}"] = (band_on_grid(tmp / f"out_{cond}" / f"{i:03d}.mid", move(truth),
                                                              len(summary["parts"]))
                                                 if summary and truth is not None else None)
                if summary and cond != "original":
                    row[f"band_beats_{cond}"] = summary["beats"]


def median(rows: List[dict], key: str) -> Tuple[int, Optional[float], Optional[float]]:
    v = np.array([r[key] for r in rows if r.get(key) is not None], dtype=np.float64)
    v = v[np.isfinite(v)]
    return int(v.size), (float(np.median(v)) if v.size else None), (float(np.mean(v)) if v.size else None)


def table(rows: List[dict]) -> List[str]:
    """The README's table: per corpus and ground truth, beat and downbeat F (median / mean) in A and B."""
    def cell(sel, key):
        n, med, mean = median(sel, key)
        return f"{med:.3f} / {mean:.3f}" if n else "-"

    lines = ["| songs | ground truth | n | beat F, A | beat F, B | downbeat F, A | downbeat F, B |",
             "|---|---|---|---|---|---|---|"]
    for corpus in ("scores", "rwc"):
        for truth in ("map", "notes"):
            sel = [r for r in rows if r["corpus"] == corpus and (truth == "map" or r["usable"])]
            label = {"map": "tempo map as it is", "notes": "file's grid on its notes"}[truth]
            lines.append(f"| {corpus} | {label} | {len(sel)} | " + " | ".join(
                cell(sel, f"{kind}_f_{c}_{truth}") for kind in ("beat", "downbeat") for c in "AB") + " |")
    lines += ["", "| songs | true 16th grid | n | band on it: original file | A | B | tracked (auto): A | B |",
              "|---|---|---|---|---|---|---|---|"]
    for corpus in ("scores", "rwc"):
        for truth in ("map", "notes"):
            sel = [r for r in rows if r["corpus"] == corpus and r.get(f"band_original_{truth}") is not None]
            label = {"map": "tempo map as it is", "notes": "file's grid on its notes"}[truth]
            if sel:
                lines.append(f"| {corpus} | {label} | {len(sel)} | " + " | ".join(
                    cell(sel, f"band_{c}_{truth}") for c in ("original", "A", "B"))
                    + "".join(f" | {sum(r.get(f'band_beats_{c}') == 'notes' for r in sel)}" for c in "AB") + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rwc", type=Path, required=True)
    parser.add_argument("--scores", type=Path, required=True)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--band-every", type=int, default=3, help="accompany every Nth RWC song (scores: all); 0: none")
    parser.add_argument("--limit", type=int, default=0, help="about N songs (a quick look)")
    args = parser.parse_args()
    songs, info = songs_of(args.rwc, args.scores)
    if args.limit:
        songs = songs[::max(1, len(songs) // args.limit)]
    rows = []
    for i, song in enumerate(tqdm(songs, desc="tracking", unit="song")):
        rows.append({**measure(song, seed=i), "seed": i})
    for song in songs:
        del song["pm"]  # keeps memory bounded while the band is accompanied
    if args.band_every:
        rwc = [i for i, s in enumerate(songs) if s["corpus"] == "rwc"]
        chosen = [i for i, s in enumerate(songs) if s["corpus"] == "scores"] + rwc[::args.band_every]
        band([songs[i] for i in chosen], [rows[i] for i in chosen])
    longest = min(songs, key=lambda s: abs(s["notes"].offset.max() - 300.0))
    cost = cold_cost(longest)
    auto = {cond: {c: (sum(r[f"auto_tracks_{cond}"] for r in rows if r["corpus"] == c),
                       sum(r["corpus"] == c for r in rows)) for c in ("scores", "rwc")} for cond in "AB"}
    lines = table(rows)
    lines += ["", *(f"--beats auto on the {c} re-writes: tracked {auto[c]['scores'][0]} of {auto[c]['scores'][1]} "
                   f"scores, {auto[c]['rwc'][0]} of {auto[c]['rwc'][1]} RWC songs" for c in "AB"),
              f"tracking a {cost['seconds_of_music']:.0f} s song ({cost['notes']} notes) in a fresh process: "
              f"{', '.join(f'{s:.2f}' for s in cost['process_s'])} s (imports and tracking "
              f"{', '.join(f'{s:.2f}' for s in cost['imports_and_tracking_s'])} s)",
              f"songs: {len(rows)} ({info['not_44']} scores not 4/4 throughout, {len(info['unreadable'])} "
              f"unreadable, {len(info['duplicates'])} duplicates left out)"]
    print("\n".join(lines))
    if args.json:
        args.json.write_text(json.dumps({"summary": lines, "info": info, "cold": cost, "songs": rows}, indent=1,
                                        default=str))


if __name__ == "__main__":
    main()
