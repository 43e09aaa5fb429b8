"""How often the downbeat found from the music is the written one, when a file's meter marks a pulse.

    python bench/downbeats.py DIR [DIR ...] [--json PATH]

For every MIDI file below each DIR whose written bars are mostly 4/4: the file is rewritten
with `k` beats of silence in front (k = 0..3, so bar 1 is not simply the first beat) and
every time signature replaced by one 1/4 at the start, as many exporters write files; it is
then read as `musegan accompany` reads it (`meter.read_bars`, which regroups its beats into
4-beat bars with bar 1 from `beats.downbeat_phase`). Compared with the file's own written
bars (`timing.song_grid`, moved onto its notes, shifted by k beats):

- file: the regrouped bar lines fall on the written downbeats of most of its 4/4 bars
  (the phase is right);
- bars: the share of written 4/4 bars whose downbeat is a regrouped bar line;
- beside it, what "bar 1 on the first beat" would score (the regrouping without a finder),
  and what the finder scores with the other weights of `WEIGHTS` (for choosing them).

A table per folder (printed as each folder is done), and JSON with every file's result.
RWC's files are where the finder's weights were fitted; other folders are held out.
"""
import argparse
import io
import json
import sys
import time
from pathlib import Path

import mido
import numpy as np
import pretty_midi

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from musegan.music import beats, meter, midi, timing  # noqa: E402

RES = 12
# The finder's weights (beats._WEIGHTS, the beat-tracking prototype's fit) and its first
# rounded guess, for comparison.
WEIGHTS = {"shipped": beats._WEIGHTS.copy(), "first guess": np.array([1.0, 0.7, 0.1, 0.3, 0.2, 0.3, 0.4, 0.2])}


def stripped(path: Path, k: int) -> pretty_midi.PrettyMIDI:
    """The file with k beats of silence in front and one 1/4 time signature for the whole song."""
    mf = midi.read_mido(path)
    for number, track in enumerate(mf.tracks):
        kept, carry = [], 0
        for msg in track:
            if msg.type == "time_signature":
                carry += msg.time
                continue
            kept.append(msg.copy(time=msg.time + carry))
            carry = 0
        if kept:
            kept[0] = kept[0].copy(time=kept[0].time + k * mf.ticks_per_beat)
        if number == 0:
            kept.insert(0, mido.MetaMessage("time_signature", numerator=1, denominator=4, time=0))
        mf.tracks[number] = mido.MidiTrack(kept)
    buffer = io.BytesIO()
    mf.save(file=buffer)
    buffer.seek(0)
    return pretty_midi.PrettyMIDI(buffer)


def downbeat_ticks(pm: pretty_midi.PrettyMIDI, grid: timing.Grid, which: np.ndarray) -> np.ndarray:
    """Ticks of the first step of the bars `which` (bool mask)."""
    return timing.seconds_to_ticks(pm, grid.step_times[grid.bar_starts[which]])


def measure(path: Path) -> dict:
    pm, _ = midi.load_midi(path)
    written = timing.song_grid(pm, RES, align=True)
    if written.bar_is_44.mean() < 0.8:
        return {"file": str(path), "skipped": f"{written.bar_is_44.mean():.0%} of its bars in 4/4"}
    truth = downbeat_ticks(pm, written, written.bar_is_44)
    tpq = pm.resolution
    trials = []
    for k in range(4):
        shifted = stripped(path, k)
        want = truth + k * tpq
        trial = {"k": k}
        for name, weights in WEIGHTS.items():
            beats._WEIGHTS = weights
            try:
                bars = meter.read_bars(shifted, RES, align=True)
            finally:
                beats._WEIGHTS = WEIGHTS["shipped"]
            found = np.sort(downbeat_ticks(shifted, bars.grid, bars.grid.bar_is_44))
            i = np.searchsorted(found, want)
            gap = np.minimum(np.abs(found[np.clip(i, 0, len(found) - 1)] - want),
                             np.abs(found[np.clip(i - 1, 0, len(found) - 1)] - want))
            hit = gap <= tpq / 4
            trial[name] = {"bars_right": float(hit.mean()), "file_right": bool(hit.mean() > 0.5)}
        # "bar 1 on the first beat": bar lines every 4 beats from the first
        first = np.round(want / tpq).astype(np.int64) % 4 == 0
        trial["first beat"] = {"bars_right": float(first.mean()), "file_right": bool(first.mean() > 0.5)}
        trials.append(trial)
    return {"file": str(path), "bars_44": int(written.bar_is_44.sum()), "trials": trials}


def summarize(results: list) -> dict:
    trials = [t for r in results if "trials" in r for t in r["trials"]]
    out = {"files": sum("trials" in r for r in results), "skipped": sum("skipped" in r for r in results),
           "trials": len(trials)}
    for name in [*WEIGHTS, "first beat"]:
        out[name] = {"file_right": float(np.mean([t[name]["file_right"] for t in trials])) if trials else 0.0,
                     "bars_right": float(np.mean([t[name]["bars_right"] for t in trials])) if trials else 0.0}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", type=Path, nargs="+")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    report = {}
    names = [*WEIGHTS, "first beat"]
    print("| folder | files (4 shifts each) | " + " | ".join(f"{n}: files right | bars" for n in names) + " |")
    print("|---|---|" + "---|---|" * len(names))
    for folder in args.folders:
        files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in midi.MIDI_SUFFIXES)
        results, t0 = [], time.perf_counter()
        for i, path in enumerate(files, 1):
            try:
                results.append(measure(path))
            except midi.MidiDataError as e:
                results.append({"file": str(path), "skipped": e.problem})
            print(f"\r{folder.name}: {i}/{len(files)} files, {time.perf_counter() - t0:.0f} s", end="",
                  file=sys.stderr, flush=True)
        print(file=sys.stderr)
        s = summarize(results)
        report[str(folder)] = {"summary": s, "files": results}
        print(f"| {folder.name} | {s['files']} ({s['skipped']} not mostly 4/4 or unreadable) | "
              + " | ".join(f"{s[n]['file_right']:.1%} | {s[n]['bars_right']:.1%}" for n in names) + " |",
              flush=True)
        if args.json:
            args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
