"""`musegan describe`: read accompaniments as a musician would, in numbers.

    musegan describe BAND.mid [BAND.mid ...] --exp exp/accompaniment/piano
                     [--reference SONG.mid | --reference-dir DIR]

For each generated track of files written by `musegan accompany --exp EXP`, pooled over
the files: notes per bar, their median length in 16ths, bars without a note, pitch
classes per bar, and how the track sits with the part it was given — notes whose pitch
class the given part sounds in that bar ("in the given harmony"; not for a drum part),
notes that start with a note of the given part (within a 32nd) — and, given the
original song (`--reference`), notes whose pitch class any pitched track of the song
sounds in that bar ("in the song's harmony": the parts the model never saw).

Continuity, over consecutive phrases of the model's `n_bars` bars (the file's bars taken
in order from its first): how alike the drum patterns are (drum onsets on a grid of
16ths of the bar, each drum sound apart) and the band's rhythm (the pitched generated tracks'
onsets on that grid, track by track), as cosine similarity (`musegan.arrange`'s
measures; phrases with a silent pattern left out); the silent bars of each track are in
the table. Given the original song, its own parts of the generated tracks' families get
the same table and figures, against the same given part.

Bars are those `accompany` played on: the file's own (its meters and tempo map, as
`accompany` kept them), moved onto its notes where they are displaced from the written
grid (`timing.song_grid`, the config's `align_to_grid`), as in songs re-timed to a
recording; lengths are in ticks, so tempo changes do not bend them.
"""
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Set, Tuple

import numpy as np
import pretty_midi

from musegan.arrange import similarity
from musegan.config import BAND_TEXT, condition_index, load_experiment
from musegan.music import midi, timing
from musegan.errors import DataError, UsageError

Note = pretty_midi.Note


@dataclass
class Band:
    """One accompaniment: the generated tracks by name, the given part's notes, the bars."""

    path: Path
    pm: pretty_midi.PrettyMIDI
    generated: Dict[str, pretty_midi.Instrument]
    bar_ticks: np.ndarray  # (n_bars + 1,) tick of each downbeat, then the end
    given_starts: np.ndarray  # sorted ticks at which the given part starts a note
    given_pcs: Optional[List[Set[int]]]  # its pitch classes per bar; None for a drum part


@dataclass
class Tally:
    """Running counts of one generated track over several files."""

    bars: int = 0
    silent_bars: int = 0
    lengths: List[float] = field(default_factory=list)  # in 16ths
    pitch_classes: List[int] = field(default_factory=list)  # per non-empty bar
    in_given: List[bool] = field(default_factory=list)
    with_given: List[bool] = field(default_factory=list)
    in_song: List[bool] = field(default_factory=list)


def read_band(path: Path, params: dict, config: dict) -> Band:
    """The tracks of `path`, a file of `musegan accompany` with the conditional model of
    `params` and `config`, on the bars `accompany` played on (`timing.song_grid`).

    The file holds, after its conductor track, the params' tracks in order with the
    user's part (one or more track chunks) in the condition's place; of the generated
    tracks only those its conductor track's `BAND_TEXT` event names, if it has one
    (`musegan accompany --band`)."""
    pm, numbers = midi.load_midi(path)
    names = params["track_names"]
    c = condition_index(params)
    chunks = midi.read_mido(path).tracks
    kept = [t for t in range(len(names)) if t != c]
    for msg in chunks[0] if chunks else []:
        if msg.type == "text" and msg.text.startswith(BAND_TEXT):
            listed = [n.strip() for n in msg.text[len(BAND_TEXT):].split(",")]
            kept = [t for t in kept if names[t] in listed]
    n_given = len(chunks) - 1 - len(kept)  # the conductor and the generated tracks take the rest
    if n_given < 1:
        raise DataError(f"{path}: not a file of `musegan accompany` with this model ({len(chunks)} tracks; "
                        f"it writes a conductor track, your part and {len(kept)} more)")
    before = sum(t < c for t in kept)
    chunk_of = {t: 1 + k + (n_given if k >= before else 0) for k, t in enumerate(kept)}
    generated, given = {}, []
    for instrument, number in zip(pm.instruments, numbers):
        track = next((t for t, n in chunk_of.items() if n == number), None)
        if track is None:
            given.extend(instrument.notes)
            continue
        if instrument.name != names[track]:
            raise DataError(f"{path}: track {number} is {instrument.name!r} where `musegan accompany` "
                            f"writes {names[track]!r}: not a file of this model")
        generated[names[track]] = instrument
    for t in chunk_of:  # a silent generated track has no instrument
        generated.setdefault(names[t], pretty_midi.Instrument(params["programs"][t], params["is_drums"][t], names[t]))
    if not given:
        raise DataError(f"{path}: the given part ({n_given} track(s) from track {1 + c}) has no notes")
    # The song's grid as `accompany` made it, moved onto displaced notes: the band's notes lie
    # on its ticks, rounded as `accompany` rounded them.
    grid = timing.song_grid(pm, params["beat_resolution"], align=config["collect"]["align_to_grid"])
    bounds = grid.step_times[np.append(grid.bar_starts, grid.n_steps)]
    bar_ticks = np.round(timing.seconds_to_ticks(pm, bounds)).astype(np.int64)
    starts = np.sort([pm.time_to_tick(n.start) for n in given])
    pcs = None if params["is_drums"][c] else pitch_classes_by_bar(given, pm, bar_ticks)
    return Band(path, pm, generated, bar_ticks, starts, pcs)


def pitch_classes_by_bar(notes: Sequence[Note], pm: pretty_midi.PrettyMIDI,
                         bar_ticks: np.ndarray) -> List[Set[int]]:
    """The pitch classes sounding in each bar (a note counts in every bar it overlaps)."""
    out: List[Set[int]] = [set() for _ in range(len(bar_ticks) - 1)]
    for note in notes:
        start, end = pm.time_to_tick(note.start), pm.time_to_tick(note.end)
        first = max(int(np.searchsorted(bar_ticks, start, side="right")) - 1, 0)
        last = max(int(np.searchsorted(bar_ticks, max(end - 1, start), side="right")) - 1, 0)
        for b in range(first, min(last, len(out) - 1) + 1):
            out[b].add(note.pitch % 12)
    return out


def tally(band: Band, name: str, reference: Optional[List[Set[int]]], into: Tally) -> None:
    """Add the generated track `name` of `band` to `into`."""
    pm, bar_ticks = band.pm, band.bar_ticks
    instrument = band.generated[name]
    sixteenth = pm.resolution / 4
    given_pcs, given_starts = band.given_pcs, band.given_starts
    tolerance = pm.resolution / 8  # a 32nd
    by_bar: List[Set[int]] = [set() for _ in range(len(bar_ticks) - 1)]
    for note in instrument.notes:
        start, end = pm.time_to_tick(note.start), pm.time_to_tick(note.end)
        b = min(max(int(np.searchsorted(bar_ticks, start, side="right")) - 1, 0), len(by_bar) - 1)
        by_bar[b].add(note.pitch % 12)
        into.lengths.append((end - start) / sixteenth)
        i = int(np.searchsorted(given_starts, start))
        near = [abs(given_starts[j] - start) for j in (i - 1, i) if 0 <= j < len(given_starts)]
        into.with_given.append(bool(near) and min(near) <= tolerance)
        if given_pcs is not None:
            into.in_given.append(note.pitch % 12 in given_pcs[b])
        if reference is not None:
            into.in_song.append(note.pitch % 12 in reference[b])
    into.bars += len(by_bar)
    into.silent_bars += sum(not s for s in by_bar)
    into.pitch_classes.extend(len(s) for s in by_bar if s)


@dataclass
class Continuity:
    """Similarities of consecutive phrases' drum patterns and band rhythms, over files."""

    drums: List[float] = field(default_factory=list)
    rhythm: List[float] = field(default_factory=list)

    def add(self, band: Band, names: Sequence[str], drums: Optional[str], phrase_bars: int) -> None:
        """Add the phrases of `band`'s tracks `names` (drum track `drums`, the rest pitched)."""
        pitched = [n for n in names if n != drums]
        rhythm = np.zeros((len(band.bar_ticks) - 1, 16, len(pitched)), dtype=bool)
        for k, name in enumerate(pitched):
            rhythm[..., k] = sixteenths_of(band.generated[name].notes, band.pm, band.bar_ticks, 1)[..., 0]
        self.rhythm.extend(_consecutive(rhythm, phrase_bars))
        if drums is not None:
            self.drums.extend(_consecutive(sixteenths_of(band.generated[drums].notes, band.pm, band.bar_ticks, 128,
                                                         by_pitch=True), phrase_bars))

    def figures(self) -> Dict[str, Optional[float]]:
        def mean(values: List[float]) -> Optional[float]:
            values = [v for v in values if np.isfinite(v)]
            return float(np.mean(values)) if values else None

        return {"drums": mean(self.drums), "rhythm": mean(self.rhythm)}


def sixteenths_of(notes: Sequence[Note], pm: pretty_midi.PrettyMIDI, bar_ticks: np.ndarray, n_keys: int,
                  by_pitch: bool = False) -> np.ndarray:
    """Bool `(n_bars, 16, n_keys)`: in which 16th of its bar (the bar cut in 16 equal parts,
    half a tick of slack for rounding) each note starts, by pitch (`by_pitch`) or in key 0."""
    out = np.zeros((len(bar_ticks) - 1, 16, n_keys), dtype=bool)
    for note in notes:
        start = pm.time_to_tick(note.start)
        b = min(max(int(np.searchsorted(bar_ticks, start, side="right")) - 1, 0), len(out) - 1)
        position = int((start - bar_ticks[b] + 0.5) * 16 // max(bar_ticks[b + 1] - bar_ticks[b], 1))
        out[b, min(max(position, 0), 15), note.pitch if by_pitch else 0] = True
    return out


def _consecutive(bars: np.ndarray, phrase_bars: int) -> List[float]:
    """Similarities of consecutive phrases of `phrase_bars` bars (the last padded with silence)
    of per-bar patterns `(n_bars, ...)`; NaN where either is silent."""
    n = -(-len(bars) // phrase_bars)
    padded = np.zeros((n * phrase_bars,) + bars.shape[1:], dtype=np.float32)
    padded[:len(bars)] = bars
    phrases = padded.reshape(n, -1)
    return list(similarity(phrases[:-1], phrases[1:])) if n > 1 else []


def song_band(path: Path, band: Band, params: dict, config: dict) -> Band:
    """The original song's own parts as a band: its instruments of each generated track's
    family merged into that track (`midi.family_of`), on `band`'s bars, against `band`'s
    given part."""
    pm, _ = midi.load_midi(path)
    names, c = params["track_names"], condition_index(params)
    generated = {name: pretty_midi.Instrument(params["programs"][t], params["is_drums"][t], name)
                 for t, name in enumerate(names) if t != c}
    for instrument in pm.instruments:
        t = midi.family_of(instrument, config, names)
        if t is not None and t != c:
            generated[names[t]].notes.extend(instrument.notes)
    return Band(path, band.pm, generated, band.bar_ticks, band.given_starts, band.given_pcs)


def _percent(flags: List[bool]) -> Optional[float]:
    return 100.0 * float(np.mean(flags)) if flags else None


def summary(t: Tally, drums: bool) -> Dict[str, Optional[float]]:
    """The figures of one track: notes/bar, median length (16ths), % silent bars,
    pitch classes per sounding bar, % in the given harmony, % with the given part's
    onsets, % in the song's harmony (None where not measured)."""
    n = len(t.lengths)
    return {
        "notes_per_bar": n / t.bars if t.bars else 0.0,
        "median_16ths": float(np.median(t.lengths)) if n else None,
        "silent_bars": 100.0 * t.silent_bars / t.bars if t.bars else None,
        "pitch_classes": None if drums or not t.pitch_classes else float(np.mean(t.pitch_classes)),
        "in_given_harmony": None if drums else _percent(t.in_given),
        "with_given_onsets": _percent(t.with_given),
        "in_song_harmony": None if drums else _percent(t.in_song),
    }


COLUMNS = [("notes_per_bar", "notes/bar", "{:.1f}"), ("median_16ths", "median length (16ths)", "{:.2f}"),
           ("silent_bars", "silent bars %", "{:.0f}"), ("pitch_classes", "pitch classes/bar", "{:.1f}"),
           ("in_given_harmony", "in the given harmony %", "{:.0f}"),
           ("with_given_onsets", "starts with the given part %", "{:.0f}"),
           ("in_song_harmony", "in the song's harmony %", "{:.0f}")]


def table(rows: Dict[str, Dict[str, Optional[float]]]) -> str:
    """A markdown table of `summary` rows by track."""
    cols = [c for c in COLUMNS if any(r[c[0]] is not None for r in rows.values())]
    lines = ["| track | " + " | ".join(c[1] for c in cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for name, r in rows.items():
        cells = ["–" if r[k] is None else fmt.format(r[k]) for k, _, fmt in cols]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def song_index(reference_dir: Path) -> Dict[str, List[Path]]:
    """The MIDI files under `reference_dir` by file stem (read once for all the bands)."""
    index: Dict[str, List[Path]] = {}
    for path in sorted(reference_dir.rglob("*")):
        if path.suffix.lower() in (".mid", ".midi"):
            index.setdefault(path.stem, []).append(path)
    return index


def find_reference(band: Path, reference: Optional[Path], index: Optional[Dict[str, List[Path]]],
                   reference_dir: Optional[Path]) -> Optional[Path]:
    """The original song of `band`: `reference`, or the file of the same name in `index`
    (`song_index(reference_dir)`), never the band itself."""
    if reference is not None:
        return reference
    if index is None:
        return None
    hits = [p for p in index.get(band.stem, []) if p.resolve() != band.resolve()]
    if not hits:
        raise DataError(f"{band}: no {band.stem}.mid under --reference-dir {reference_dir}")
    return hits[0]


def describe(paths: Sequence[Path], exp_dir: Path, reference: Optional[Path] = None,
             reference_dir: Optional[Path] = None) -> Tuple[Dict[str, Dict[str, Optional[float]]], dict]:
    """Pooled `summary` per generated track of the files `paths`, and about the files:
    bars, the given part's pitch classes per sounding bar (None for drums: a note of random
    pitch lands in the given harmony that many times in 12), `continuity` ({"band": figures,
    and with a reference "song": its own parts' figures}: drum-pattern and band-rhythm
    similarity of consecutive phrases) and, with a reference, `song_rows`: the song's own
    parts' `summary` by track."""
    if reference is not None and len(paths) > 1:
        raise UsageError("--reference names one song: give one file, or --reference-dir for several")
    config, params = load_experiment(exp_dir)
    if condition_index(params) is None:
        raise UsageError(f"--exp {exp_dir}: not a track-conditional model (its params.yaml sets no condition_track)")
    names, drums = params["track_names"], dict(zip(params["track_names"], params["is_drums"]))
    generated = [n for t, n in enumerate(names) if t != condition_index(params)]
    drum_track = next((n for n in generated if drums[n]), None)
    tallies: Dict[str, Tally] = {}
    song_tallies: Dict[str, Tally] = {}
    continuity = {"band": Continuity(), "song": Continuity()}
    bars, given_pcs = 0, []
    index = song_index(reference_dir) if reference_dir is not None else None
    song_notes: Dict[Path, List[Note]] = {}
    for path in paths:
        band = read_band(Path(path), params, config)
        ref_path = find_reference(Path(path), reference, index, reference_dir)
        ref = None
        if ref_path is not None:
            if ref_path not in song_notes:  # one song, several bands (seeds): read it once
                pm_ref, _ = midi.load_midi(ref_path)
                song_notes[ref_path] = [n for i in pm_ref.instruments if not i.is_drum for n in i.notes]
            # The band keeps the song's timeline: its bars index the original's too.
            ref = pitch_classes_by_bar(song_notes[ref_path], band.pm, band.bar_ticks)
            own = song_band(ref_path, band, params, config)
            for name in generated:
                tally(own, name, None, song_tallies.setdefault(name, Tally()))
            continuity["song"].add(own, generated, drum_track, params["data_shape"][0])
        played = [n for n in generated if n in band.generated]  # `--band` may have kept only some
        for name in played:
            tally(band, name, ref, tallies.setdefault(name, Tally()))
        continuity["band"].add(band, played, drum_track if drum_track in played else None, params["data_shape"][0])
        bars += len(band.bar_ticks) - 1
        if band.given_pcs is not None:
            given_pcs.extend(len(s) for s in band.given_pcs if s)
    about = {"bars": bars, "given_pitch_classes": float(np.mean(given_pcs)) if given_pcs else None,
             "continuity": {k: c.figures() for k, c in continuity.items() if k == "band" or song_tallies}}
    if song_tallies:
        about["song_rows"] = {name: summary(t, drums[name]) for name, t in song_tallies.items()}
    return {name: summary(t, drums[name]) for name, t in tallies.items()}, about


def report(paths: Sequence[Path], exp_dir: Path, reference: Optional[Path] = None,
           reference_dir: Optional[Path] = None) -> Tuple[str, dict]:
    """`describe` as the text `musegan describe` prints, and its figures."""
    if reference is not None and reference_dir is not None:
        raise UsageError("give --reference or --reference-dir, not both")
    rows, about = describe(paths, exp_dir, reference, reference_dir)
    lines = [f"{len(paths)} file(s), {about['bars']} bars, the generated tracks of {exp_dir}:", "", table(rows)]
    if "song_rows" in about:
        lines += ["", "The song's own parts of those tracks, against the same given part:", "",
                  table(about["song_rows"])]
    if about["given_pitch_classes"] is not None:
        k = about["given_pitch_classes"]
        lines += ["", f"The given part sounds {k:.1f} pitch classes in a bar where it plays: a note of random "
                      f"pitch is in the given harmony {100 * k / 12:.0f}% of the time."]
    _, params = load_experiment(exp_dir)
    lines += ["", f"Consecutive {params['data_shape'][0]}-bar phrases, how alike (cosine of their onsets on a "
                  "16th grid; 1 = the same):", "", continuity_table(about["continuity"])]
    return "\n".join(lines), {"rows": rows, **about}


def continuity_table(figures: Dict[str, Dict[str, Optional[float]]]) -> str:
    """A markdown table of the continuity figures of the band (and the song's own parts)."""
    label = {"band": "the band", "song": "the song's own parts"}
    lines = ["| | drum pattern | band rhythm |", "|---|---|---|"]
    for key, f in figures.items():
        cells = ["–" if f[k] is None else f"{f[k]:.2f}" for k in ("drums", "rhythm")]
        lines.append(f"| {label[key]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
