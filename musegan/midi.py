"""The one place that converts between MIDI files and binary pianorolls.

Reading: `load_midi` -> `song_grid` (the file's own beats, tempo changes and
meters) -> `instrument_roll` per instrument -> merged by family in
`midi_to_roll` -> cut into 4-bar training phrases by `phrases`.
Writing: `roll_to_midi` (the single pianoroll -> MIDI conversion) and
`save_pypianoroll_npz` (the format the original MuseGAN results use).

Pianorolls are boolean `(n_steps, n_pitches, n_tracks)`; row 0 of the pitch
axis is MIDI pitch `params["lowest_pitch"]`, tracks are in params order.
"""
import inspect
import io
import itertools
import os
import stat
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Collection, Dict, List, Optional, Sequence, Tuple, Union

import mido
import numpy as np
import pretty_midi

from musegan.config import FAMILIES
from musegan.errors import ConfigError, DataError

PathLike = Union[str, os.PathLike]

# File names read as MIDI (collect, evaluate --condition-dir, infer --condition).
MIDI_SUFFIXES = (".mid", ".midi", ".kar")

# Why a file could not be used; `collect` counts skipped files by these.
UNREADABLE = "unreadable"          # the OS refused (permissions, a folder, ...)
VANISHED = "vanished"              # listed, then gone before it was read
CORRUPT = "corrupt"                # not parseable as MIDI
EMPTY = "empty"                    # 0 bytes, or no notes at all
NO_NOTES_IN_RANGE = "no_notes_in_range"  # every note out of pitch range or too short
UNSUPPORTED = "unsupported"        # type-2 MIDI, SMPTE time division
TOO_LARGE = "too_large"            # over MAX_BYTES or MAX_BEATS: refused before it can exhaust memory

# Bounds on what is read at all. A song's grid, pianoroll and phrases grow with its
# length in beats (a 2-hour song at 120 bpm is 14,400 beats, ~0.7 GB peak in `collect`),
# and a few bytes can declare a song of millions of beats; mido parses ~1 MB/s.
MAX_BYTES = 32 * 2 ** 20
MAX_BEATS = 20_000  # 2 h 46 min at 120 bpm

# pretty_midi >= 0.2.10 takes a parsed mido.MidiFile; older ones only a file.
_TAKES_MIDO = "mido_object" in inspect.signature(pretty_midi.PrettyMIDI.__init__).parameters

# Tags each MIDI track's name with its track number while parsing, so every
# pretty_midi instrument can be traced back to its track (pretty_midi keys
# instruments by track internally but does not expose it).
_TRACK_TAG = "\x1f"


class MidiDataError(DataError):
    """A MIDI file that cannot be used; `reason` is one of the constants above."""

    def __init__(self, path: PathLike, reason: str, problem: str):
        super().__init__(f"{path}: {problem}")
        self.reason = reason
        self.problem = problem


@dataclass(frozen=True)
class Grid:
    """A song's own time grid: every beat split into `beat_resolution` equal steps.

    step_times: float (n_steps + 1,) seconds; step i spans
        [step_times[i], step_times[i + 1]), the last entry is the grid's end.
    bar_starts: int (n_bars,) first step of each bar.
    bar_meters: int (n_bars, 2) time signature (numerator, denominator) of each bar.
    bar_is_44: bool (n_bars,) True for complete 4/4 bars (4 beats of the meter 4/4);
        others (3/4, 2/4 fills, 6/8, a partial pickup bar...) are for callers to skip.
    warp: (scale, offset in ticks) moving the file's tick grid onto its notes
        (`fit_tick_warp`); (1.0, 0.0) when the grid is the file's own as written.
    """

    beat_resolution: int
    step_times: np.ndarray
    bar_starts: np.ndarray
    bar_meters: np.ndarray
    bar_is_44: np.ndarray
    warp: Tuple[float, float] = (1.0, 0.0)

    @property
    def n_steps(self) -> int:
        return len(self.step_times) - 1

    @property
    def n_bars(self) -> int:
        return len(self.bar_starts)

    @property
    def bar_ends(self) -> np.ndarray:
        """int (n_bars,) one past the last step of each bar."""
        return np.append(self.bar_starts[1:], self.n_steps)


# --------------------------------------------------------------------------- reading


def load_midi(path: PathLike) -> Tuple[pretty_midi.PrettyMIDI, List[int]]:
    """Parse `path`; returns the PrettyMIDI and each instrument's MIDI track number.

    Track numbers count the file's track chunks from 0 (the conductor track of
    a type-1 file is 0), as RWC's metadata_mapping_vocals.csv does. Raises
    MidiDataError (reasons vanished / unreadable / empty / corrupt / unsupported /
    too_large).
    """
    path = Path(path)
    midi = read_mido(path)
    try:
        for number, track in enumerate(midi.tracks):
            _tag_track_name(track, number)
        with warnings.catch_warnings():
            # pretty_midi warns about meta events outside track 0; not actionable here.
            warnings.simplefilter("ignore")
            pm = _pretty(midi)
    except Exception as e:  # pretty_midi raises many types on malformed input
        raise MidiDataError(path, CORRUPT, f"not a readable MIDI file ({_first_line(e)})") from None
    tracks = []
    for instrument in pm.instruments:
        name, sep, number = instrument.name.rpartition(_TRACK_TAG)
        instrument.name = name if sep else instrument.name
        tracks.append(int(number) if sep and number.isdigit() else -1)
    return pm, tracks


def read_mido(path: PathLike) -> mido.MidiFile:
    """Parse `path` with mido, after the checks every reader of user files needs.

    Refuses (MidiDataError, reasons as `load_midi`) missing, unreadable,
    non-regular (a FIFO would block) and empty files, files over MAX_BYTES,
    unparseable or truncated ones, type-2 files, SMPTE time division, 0 ticks
    per beat, a tempo of 0 and songs over MAX_BEATS beats (a few bytes can
    declare millions, which would exhaust memory further on).
    """
    path = Path(path)
    data = _read_bytes(path)
    if not data.startswith(b"MThd"):
        raise MidiDataError(path, CORRUPT, "not a MIDI file (it does not start with 'MThd')")
    try:
        # clip=True: out-of-range data bytes (common in scraped MIDI) are clipped, not fatal.
        midi = mido.MidiFile(file=io.BytesIO(data), clip=True, charset="latin1")
    except EOFError:
        raise MidiDataError(path, CORRUPT, "truncated: the file ends inside a chunk") from None
    except Exception as e:  # mido raises many types on malformed input
        raise MidiDataError(path, CORRUPT, f"not a readable MIDI file ({_first_line(e)})") from None
    _check_structure(path, midi)
    return midi


def _first_line(e: BaseException) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


def _read_bytes(path: Path) -> bytes:
    """The file's bytes; MidiDataError for a missing, unreadable, non-regular, empty or huge file."""
    try:
        info = path.stat()
        if stat.S_ISDIR(info.st_mode):
            raise MidiDataError(path, UNREADABLE, "is a folder, not a file")
        if not stat.S_ISREG(info.st_mode):  # a FIFO or device would block or never end
            raise MidiDataError(path, UNREADABLE, "not a regular file")
        if info.st_size > MAX_BYTES:
            raise MidiDataError(path, TOO_LARGE, f"{info.st_size / 2 ** 20:.0f} MB, over the "
                                                 f"{MAX_BYTES // 2 ** 20} MB a MIDI file is read up to")
        data = path.read_bytes()  # may vanish or fail between stat() and here
    except FileNotFoundError:
        raise MidiDataError(path, VANISHED, "file not found") from None
    except OSError as e:
        raise MidiDataError(path, UNREADABLE, f"cannot read ({e.strerror or e})") from None
    if not data:
        raise MidiDataError(path, EMPTY, "empty file (0 bytes)")
    return data


def _check_structure(path: Path, midi: mido.MidiFile) -> None:
    """MidiDataError for what parses but cannot be read as one song on a beat grid."""
    if midi.type == 2:
        raise MidiDataError(path, UNSUPPORTED, "type-2 MIDI (independent sequences) is not supported; "
                                               "save it as type 1")
    if midi.ticks_per_beat < 0:
        raise MidiDataError(path, UNSUPPORTED, "SMPTE time division (frames per second) is not supported; "
                                               "save it with ticks per beat")
    if midi.ticks_per_beat == 0:
        raise MidiDataError(path, CORRUPT, "0 ticks per beat in the header")
    if not midi.tracks:
        raise MidiDataError(path, EMPTY, "no tracks (a header only)")
    last = 0
    for number, track in enumerate(midi.tracks):
        tick = 0
        for msg in track:
            tick += msg.time
            if msg.type == "set_tempo" and msg.tempo == 0:
                raise MidiDataError(path, CORRUPT, f"tempo 0 (0 microseconds per beat) at tick {tick} "
                                                   f"of track {number}")
        last = max(last, tick)
    beats = last / midi.ticks_per_beat
    if beats > MAX_BEATS:
        raise MidiDataError(path, TOO_LARGE, f"{beats:,.0f} beats long (last event at tick {last:,}); "
                                             f"songs over {MAX_BEATS:,} beats are refused")


def _pretty(midi: mido.MidiFile) -> pretty_midi.PrettyMIDI:
    if _TAKES_MIDO:
        return pretty_midi.PrettyMIDI(mido_object=midi)
    buffer = io.BytesIO()
    midi.save(file=buffer)
    buffer.seek(0)
    return pretty_midi.PrettyMIDI(buffer)


def _tag_track_name(track: mido.MidiTrack, number: int) -> None:
    """Append the track number to every track_name of `track` (a leading one is added)."""
    first = ""
    for i, msg in enumerate(track):
        if msg.type == "track_name":
            first = first or msg.name
            track[i] = msg.copy(name=f"{msg.name}{_TRACK_TAG}{number}")
    # pretty_midi names an instrument after the name seen before its first note,
    # so a name event at time 0 makes sure every instrument carries the tag.
    track.insert(0, mido.MetaMessage("track_name", name=f"{first}{_TRACK_TAG}{number}", time=0))


def _beats_per_bar(numerator: int) -> int:
    """Beats per bar as pretty_midi counts them (compound meters: dotted beats)."""
    return numerator // 3 if numerator % 3 == 0 and numerator != 3 else numerator


def _meter_at(pm: pretty_midi.PrettyMIDI, time: float, tol: float = 1e-6) -> Tuple[int, int]:
    """Time signature in effect at `time` (give or take `tol` seconds); 4/4 before the first one (MIDI's default)."""
    meter = (4, 4)
    for ts in sorted(pm.time_signature_changes, key=lambda t: t.time):
        if ts.time <= time + tol:
            meter = (ts.numerator, ts.denominator)
    return meter


def _tempo_map(pm: pretty_midi.PrettyMIDI) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(times, ticks, ticks per second) at each tempo change of `pm`."""
    times, qpm = pm.get_tempo_changes()
    if not len(times) or times[0] > 0:
        times, qpm = np.insert(times, 0, 0.0), np.insert(qpm, 0, qpm[0] if len(qpm) else 120.0)
    rate = qpm / 60.0 * pm.resolution
    ticks = np.concatenate([[0.0], np.cumsum(np.diff(times) * rate[:-1])])
    return times, ticks, rate


def seconds_to_ticks(pm: pretty_midi.PrettyMIDI, seconds: np.ndarray) -> np.ndarray:
    """float ticks of `seconds` under pm's tempo map (extrapolated at both ends)."""
    times, ticks, rate = _tempo_map(pm)
    seconds = np.asarray(seconds, dtype=np.float64)
    i = np.clip(np.searchsorted(times, seconds, side="right") - 1, 0, len(times) - 1)
    return ticks[i] + (seconds - times[i]) * rate[i]


def ticks_to_seconds(pm: pretty_midi.PrettyMIDI, ticks_in: np.ndarray) -> np.ndarray:
    """Seconds of float `ticks_in` under pm's tempo map (extrapolated at both ends)."""
    times, ticks, rate = _tempo_map(pm)
    ticks_in = np.asarray(ticks_in, dtype=np.float64)
    i = np.clip(np.searchsorted(ticks, ticks_in, side="right") - 1, 0, len(ticks) - 1)
    return times[i] + (ticks_in - ticks[i]) / rate[i]


def fit_tick_warp(onset_ticks: np.ndarray, ticks_per_beat: int,
                  max_stretch: float = 0.06) -> Tuple[float, float]:
    """(scale, offset): notes sit at `scale * grid_tick + offset` of the file's own tick grid.

    Some files have their notes displaced from the grid they were sequenced on:
    the RWC files were re-timed to match their recordings, by a constant
    offset (tens of ticks) and for some a stretch of up to a few percent. The
    sixteenth-note periodicity of the onsets gives both: the scale maximizes
    the onsets' alignment to a sixteenth grid (phase-free, so any offset);
    the offset is the onsets' phase (their circular mean, or the most common
    phase when a minority pulls the mean away). The candidate that puts the
    most notes within 1/8 of a sixteenth of the grid wins; the file's own grid
    (1.0, 0.0) is kept unless a candidate beats it by 5 points. A moved grid
    then shifts by whole sixteenths (at most half a beat) to put the most
    notes on beats.
    """
    u, count = np.unique(np.round(np.asarray(onset_ticks, dtype=np.float64)), return_counts=True)
    if len(u) < 32:
        return 1.0, 0.0
    period = ticks_per_beat / 4.0

    def on_grid(scale: float, offset: float) -> float:
        x = (u - offset) / scale / period
        return float(count[np.abs(x - np.round(x)) <= 0.125].sum() / count.sum())

    if on_grid(1.0, 0.0) >= 0.9:  # quantized on its own grid: the common case, and fast
        return 1.0, 0.0

    def strength(scales: np.ndarray, x: np.ndarray) -> np.ndarray:
        return np.abs(np.exp(2j * np.pi * x[None, :] / (period * scales[:, None])).mean(axis=1))

    sub = u if len(u) <= 2000 else u[np.linspace(0, len(u) - 1, 2000).astype(int)]
    # Peaks in the scale are about period / span wide: sample them 4 times.
    n = int(np.ceil(2 * max_stretch * (sub[-1] - sub[0] + period) / period * 4)) + 1
    scales = np.linspace(1 - max_stretch, 1 + max_stretch, n)
    best = scales[np.argmax(strength(scales, sub))]
    width = 2 * max_stretch / max(n - 1, 1)
    fine = np.linspace(best - width, best + width, 41)
    r_fine = strength(fine, u)
    stretch = fine[np.argmax(r_fine)]
    # A stretch needs clear evidence: above chance (the max of ~n Rayleigh draws) and above 1.0's.
    if r_fine.max() < max(strength(np.ones(1), u)[0] + 0.05, 4.0 / np.sqrt(len(u))):
        stretch = 1.0

    candidates = []
    for scale in sorted({1.0, float(stretch)}):
        cycle = period * scale
        residue = np.mod(u, cycle)
        mean = np.angle((count * np.exp(2j * np.pi * residue / cycle)).sum()) / (2 * np.pi) * cycle
        bins = max(int(round(cycle)), 8)
        hist = np.bincount((residue / cycle * bins).astype(int) % bins, weights=count, minlength=bins)
        half = max(1, bins // 24)
        mode = (np.argmax(sum(np.roll(hist, k) for k in range(-half, half + 1))) + 0.5) * cycle / bins
        candidates += [(scale, mean), (scale, mode)]
    scale, offset = max(candidates, key=lambda c: on_grid(*c))
    if on_grid(scale, offset) < on_grid(1.0, 0.0) + 0.05:
        return 1.0, 0.0
    cycle = period * scale

    def on_beats(b: float) -> Tuple[int, float]:
        # Every note counts (a chord on the beat outweighs a hi-hat between beats).
        pos = np.round((u - b) / cycle).astype(np.int64) % 4
        return 2 * int(count[pos == 0].sum()) + int(count[pos == 2].sum()), -abs(b)

    offset = np.mod(offset, cycle)
    offset = max((offset + k * cycle for k in (-2, -1, 0, 1)), key=on_beats)
    return float(scale), float(offset)


def song_grid(pm: pretty_midi.PrettyMIDI, beat_resolution: int, align: bool = False) -> Grid:
    """The file's own beat/bar grid from pretty_midi's beats, downbeats and time signatures.

    Beats follow every tempo change and time signature; each beat is split into
    `beat_resolution` steps of equal ticks. The grid runs to the end of the last
    note (or of the file when it has none) and the last bar is completed, so
    notes near the end keep a full bar. A file without time signature is 4/4,
    as in MIDI. With `align`, the grid is moved onto the notes when they are
    displaced from it (`fit_tick_warp`; `Grid.warp` says by how much), so the
    notes stay where they are in time and the grid follows them.
    """
    starts = np.array([n.start for inst in pm.instruments for n in inst.notes], dtype=np.float64)
    ends = np.array([n.end for inst in pm.instruments for n in inst.notes], dtype=np.float64)
    end = ends.max() if len(ends) else pm.get_end_time()
    scale, offset = fit_tick_warp(seconds_to_ticks(pm, starts), pm.resolution) if align else (1.0, 0.0)
    # Several time signatures at one time (sequencers write repeats) make pretty_midi repeat a beat
    # and miscount every downbeat after it: keep the last one at each time, as MIDI means.
    meters = {}
    for ts in sorted(pm.time_signature_changes, key=lambda t: t.time):
        meters[round(ts.time, 9)] = ts
    pm.time_signature_changes = list(meters.values())
    beats = pm.get_beats()
    if not len(beats):
        beats = np.zeros(1)
    beats = beats[np.append(True, np.diff(beats) > 1e-9)]  # never a beat of length 0
    downbeats = pm.get_downbeats()
    # seconds of slack when matching times to beats: 1 us, less for absurd tempi (a beat of 1 us exists)
    gaps = np.diff(beats)
    tol = min(1e-6, 0.01 * gaps[gaps > 0].min()) if np.any(gaps > 0) else 1e-6
    bar_beats = np.unique(np.searchsorted(beats, downbeats - tol))
    bar_beats = bar_beats[bar_beats < len(beats)]
    if not len(bar_beats) or bar_beats[0] != 0:
        bar_beats = np.insert(bar_beats, 0, 0)  # music before the first downbeat: a pickup bar
    meters = np.array([_meter_at(pm, beats[b], tol) for b in bar_beats], dtype=np.int64).reshape(-1, 2)

    # Work in the file's ticks, where beats are evenly spaced within a meter and a warp is linear.
    ticks = seconds_to_ticks(pm, beats)
    period = ticks[-1] - ticks[-2] if len(ticks) > 1 else float(pm.resolution)
    end_tick = seconds_to_ticks(pm, np.array([end]))[0]
    if scale * ticks[-1] + offset < end_tick:  # a stretched grid ends before the notes: extend it
        extra = int(np.ceil(((end_tick - offset) / scale - ticks[-1]) / period)) + 1
        ticks = np.concatenate([ticks, ticks[-1] + period * np.arange(1, extra + 1)])
    n_keep = max(int(np.searchsorted(scale * ticks + offset, end_tick)), 1)
    ticks = ticks[:n_keep]
    keep_bars = bar_beats < n_keep
    bar_beats, meters = bar_beats[keep_bars], meters[keep_bars]
    per_bar = _beats_per_bar(int(meters[-1, 0]))
    n_more = max(0, (len(ticks) - 1 - bar_beats[-1]) // per_bar)  # bars of the extension
    bar_beats = np.append(bar_beats, bar_beats[-1] + per_bar * np.arange(1, n_more + 1))
    meters = np.concatenate([meters, np.repeat(meters[-1:], n_more, axis=0)])
    # Complete the last bar and give the last beat its end.
    missing = max(per_bar - (len(ticks) - bar_beats[-1]), 0)
    ticks = np.concatenate([ticks, ticks[-1] + period * np.arange(1, missing + 2)])
    n_beats = len(ticks) - 1

    frac = np.arange(beat_resolution) / beat_resolution
    step_ticks = np.append((ticks[:-1, None] + np.diff(ticks)[:, None] * frac).ravel(), ticks[-1])
    step_times = ticks_to_seconds(pm, scale * step_ticks + offset)
    beats_in_bar = np.diff(np.append(bar_beats, n_beats))
    is_44 = (meters[:, 0] == 4) & (meters[:, 1] == 4) & (beats_in_bar == 4)
    return Grid(beat_resolution=int(beat_resolution), step_times=step_times,
                bar_starts=(bar_beats * beat_resolution).astype(np.int64),
                bar_meters=meters, bar_is_44=is_44, warp=(scale, offset))


def family_of(instrument: pretty_midi.Instrument, config: Dict[str, Any],
              track_names: Sequence[str] = ("Drums", "Piano", "Guitar", "Bass", "Strings"),
              vocal: bool = False) -> Optional[int]:
    """Index in `track_names` of the instrument's family, or None when that family is not a track.

    Families by General MIDI program (SPEC): drums = is_drum; bass 32-39;
    guitar 24-31; piano 0-7, plus organs 16-23 when
    `config["collect"]["merge_organ_into_piano"]`; strings 40-51 and, as in the
    paper, every other instrument. A vocal-melody track (`vocal`) goes to
    `config["collect"]["vocal_family"]` instead. Track names are matched to
    families case-insensitively.
    """
    collect = config["collect"]
    if vocal and not instrument.is_drum:
        family = collect["vocal_family"]
    elif instrument.is_drum:
        family = "drums"
    else:
        program = instrument.program
        if 32 <= program <= 39:
            family = "bass"
        elif 24 <= program <= 31:
            family = "guitar"
        elif 0 <= program <= 7 or (16 <= program <= 23 and collect["merge_organ_into_piano"]):
            family = "piano"
        else:
            family = "strings"
    names = [n.lower() for n in track_names]
    return names.index(family) if family in names else None


def _nearest_step(step_times: np.ndarray, times: np.ndarray) -> np.ndarray:
    """int: index of the grid boundary (0..n_steps) nearest to each time."""
    i = np.clip(np.searchsorted(step_times, times), 1, len(step_times) - 1)
    left, right = step_times[i - 1], step_times[i]
    return np.where(times - left <= right - times, i - 1, i)


def instrument_roll(instrument: pretty_midi.Instrument, grid: Grid, params: Dict[str, Any],
                    min_note_steps: int = 2) -> np.ndarray:
    """bool (n_steps_total, n_pitches): one instrument on the song's grid.

    Rules, in order:
    - note on and note off each snap to the nearest step boundary of `grid`;
    - pitches outside lowest_pitch .. lowest_pitch + n_pitches - 1 are dropped;
    - drums keep onsets only: one step at the note's start, whatever its length;
    - other notes shorter than `min_note_steps` steps (at least 2: a one-step
      note would be all rest) are dropped;
    - every kept non-drum note occupies [start, end - 1): the one-step rest at
      its end keeps repeated notes of one pitch distinct.
    """
    n_pitches, low = params["data_shape"][2], params["lowest_pitch"]
    roll = np.zeros((grid.n_steps, n_pitches), dtype=bool)
    if not instrument.notes:
        return roll
    notes = np.array([(n.start, n.end, n.pitch) for n in instrument.notes], dtype=np.float64)
    start = _nearest_step(grid.step_times, notes[:, 0])
    end = _nearest_step(grid.step_times, notes[:, 1])
    pitch = notes[:, 2].astype(np.int64) - low
    keep = (pitch >= 0) & (pitch < n_pitches)
    if instrument.is_drum:
        keep &= start < grid.n_steps
        roll[start[keep], pitch[keep]] = True
        return roll
    keep &= end - start >= max(min_note_steps, 2)
    # Mark note spans with +1 at the start and -1 at the rest; a running sum > 0 is "sounding".
    edges = np.zeros((grid.n_steps + 1, n_pitches), dtype=np.int32)
    np.add.at(edges, (start[keep], pitch[keep]), 1)
    np.add.at(edges, (end[keep] - 1, pitch[keep]), -1)
    return np.cumsum(edges, axis=0)[:-1] > 0


def midi_to_roll(path: PathLike, params: Dict[str, Any], config: Dict[str, Any],
                 vocal_tracks: Collection[int] = ()) -> Tuple[np.ndarray, Grid, Dict[str, Any]]:
    """Read a MIDI file into bool (n_steps_total, n_pitches, n_tracks) on its own grid.

    Each instrument goes to its family (`family_of`; instruments on the MIDI
    track numbers in `vocal_tracks` count as vocals) and the instruments of one
    family are merged by logical OR. `info` counts instruments and notes per
    track. The grid is the file's own, moved onto displaced notes when
    `config["collect"]["align_to_grid"]` (`song_grid`). Raises MidiDataError
    for unreadable, corrupt or empty files and for files where no note
    survives (out of pitch range or too short).
    """
    track_names = params["track_names"]
    if not any(n.lower() in FAMILIES for n in track_names):
        raise ConfigError(f"params: 'track_names' {track_names} name none of the families "
                          f"{', '.join(FAMILIES)}; cannot map MIDI instruments to tracks")
    pm, tracks = load_midi(path)
    n_notes = sum(len(inst.notes) for inst in pm.instruments)
    if not n_notes:
        raise MidiDataError(path, EMPTY, "no notes")
    grid = song_grid(pm, params["beat_resolution"], align=config["collect"].get("align_to_grid", True))
    n_tracks = len(track_names)
    roll = np.zeros((grid.n_steps, params["data_shape"][2], n_tracks), dtype=bool)
    vocal_tracks = set(vocal_tracks)
    info = {"n_notes": n_notes, "instruments": [], "unmapped_notes": 0, "warp": grid.warp}
    min_steps = config["collect"]["min_note_steps"]
    for instrument, track in zip(pm.instruments, tracks):
        family = family_of(instrument, config, track_names, vocal=track in vocal_tracks)
        if family is None:
            info["unmapped_notes"] += len(instrument.notes)
            continue
        inst_roll = instrument_roll(instrument, grid, params, min_steps)
        roll[:, :, family] |= inst_roll
        info["instruments"].append({"name": instrument.name, "track": track,
                                    "program": instrument.program, "is_drum": instrument.is_drum,
                                    "family": track_names[family], "notes": len(instrument.notes),
                                    "vocal": track in vocal_tracks})
    if not roll.any():
        raise MidiDataError(path, NO_NOTES_IN_RANGE,
                            f"no notes left of {n_notes}: all outside MIDI pitches "
                            f"{params['lowest_pitch']}..{params['lowest_pitch'] + params['data_shape'][2] - 1}, "
                            f"shorter than {max(min_steps, 2)} steps or in no track")
    return roll, grid, info


def phrase_starts(grid: Grid, n_bars: int = 4, hop_bars: int = 1) -> np.ndarray:
    """int (n,): first bar of every window of `n_bars` consecutive 4/4 bars.

    Windows start every `hop_bars` bars, counted afresh from the first bar of
    each run of consecutive 4/4 bars (so a 2/4 fill realigns the phrases), and
    never include a bar of another meter.
    """
    starts, run_start = [], None
    for bar, ok in enumerate(np.append(grid.bar_is_44, False)):
        if ok and run_start is None:
            run_start = bar
        elif not ok and run_start is not None:
            starts.extend(range(run_start, bar - n_bars + 1, hop_bars))
            run_start = None
    return np.array(starts, dtype=np.int64)


def phrases(roll: np.ndarray, grid: Grid, n_bars: int = 4, hop_bars: int = 1,
            min_tracks: int = 3) -> Tuple[np.ndarray, np.ndarray]:
    """Cut a song into bar-aligned phrases of `n_bars` consecutive 4/4 bars (`phrase_starts`).

    roll: bool (n_steps_total, n_pitches, n_tracks) on `grid`. Phrases with
    fewer than `min_tracks` non-empty tracks are dropped.
    Returns bool (n, n_bars, 4 * beat_resolution, n_pitches, n_tracks) and the
    first bar of each kept phrase, int (n,).
    """
    n_steps = 4 * grid.beat_resolution
    starts = phrase_starts(grid, n_bars, hop_bars)
    if not len(starts):
        return np.zeros((0, n_bars, n_steps) + roll.shape[1:], dtype=bool), starts
    index = grid.bar_starts[starts][:, None] + np.arange(n_bars * n_steps)  # 4/4 bars: n_steps each
    windows = roll[index].reshape((len(starts), n_bars, n_steps) + roll.shape[1:])
    keep = windows.any(axis=(1, 2, 3)).sum(axis=1) >= min_tracks
    return windows[keep], starts[keep]


# --------------------------------------------------------------------------- writing


def roll_to_midi(roll: np.ndarray, params: Dict[str, Any], step_times: Optional[np.ndarray] = None,
                 tempo: Optional[float] = None, velocity: int = 100,
                 undo_rest: bool = True) -> pretty_midi.PrettyMIDI:
    """The pianoroll -> MIDI conversion: bool (..., n_steps, n_pitches, n_tracks) -> PrettyMIDI.

    Leading axes (e.g. bars) are flattened into time. Each track becomes an
    instrument with params' `programs`, `is_drums` and `track_names` (drums on
    channel 10). Each run of True steps is one note; drums are one step per
    True step. With `undo_rest` every non-drum note is one step longer than its
    run, undoing the note-end rest `instrument_roll` inserts, so
    roll -> MIDI -> roll gives back the same roll (with the default
    min_note_steps of 2) and notes get their original durations.
    Timing: on `step_times` (a `Grid.step_times`: n_steps + 1 boundaries; the
    file gets a tempo map that follows that song's beats, and its time 0 is
    step_times[0]) or, when None, a constant `tempo` (default params["tempo"],
    100 bpm) written into the file. Notes start and end only on grid
    positions; the file is in 4/4.
    """
    n_pitches, n_tracks = roll.shape[-2:]
    roll = np.asarray(roll).reshape(-1, n_pitches, n_tracks).astype(bool)
    n_steps = len(roll)
    res = params["beat_resolution"]
    ticks_per_step = max(1, 480 // res)
    tpq = ticks_per_step * res  # 480 for 12 or 24 steps per beat: a common, exact resolution
    midi = mido.MidiFile(type=1, ticks_per_beat=tpq)
    conductor = mido.MidiTrack()
    conductor.append(mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0))
    for tick, us in _tempo_events(n_steps, res, ticks_per_step, step_times,
                                  tempo if tempo is not None else params["tempo"]):
        conductor.append(mido.MetaMessage("set_tempo", tempo=us, time=tick))
    midi.tracks.append(_to_delta(conductor))
    midi.tracks.extend(roll_to_tracks(roll, params, np.arange(n_steps + 2) * ticks_per_step,
                                      velocity, undo_rest))
    return _pretty(midi)


def roll_to_tracks(roll: np.ndarray, params: Dict[str, Any], step_ticks: np.ndarray, velocity: int = 100,
                   undo_rest: bool = True, channels: Optional[Sequence[int]] = None) -> List[mido.MidiTrack]:
    """The notes of `roll_to_midi`: bool (n_steps, n_pitches, n_tracks) -> one mido track per track.

    Notes start and end at `step_ticks`, int (n_steps + 2,): the tick of every
    step boundary and one past the end (where a note lengthened by `undo_rest`
    at the very end stops); `roll_to_midi` uses its own even grid, `musegan
    accompany` a song's grid in that song's ticks so the tracks join its file.
    Non-drum tracks take `channels` in turn (default 0, 1, ... skipping 9),
    drums channel 9. Tracks have delta times and end_of_track.
    """
    n_pitches, n_tracks = roll.shape[-2:]
    roll = np.asarray(roll).reshape(-1, n_pitches, n_tracks).astype(bool)
    if n_tracks != len(params["track_names"]):
        raise DataError(f"pianoroll has {n_tracks} tracks but params name {len(params['track_names'])}: "
                        f"{', '.join(params['track_names'])}")
    step_ticks = np.asarray(step_ticks, dtype=np.int64)
    if len(step_ticks) < len(roll) + 2:
        raise DataError(f"step_ticks needs {len(roll) + 2} boundaries, got {len(step_ticks)}")
    low = params["lowest_pitch"]
    channels = itertools.cycle(channels if channels is not None else [c for c in range(16) if c != 9])
    tracks = []
    for t in range(n_tracks):
        drum = bool(params["is_drums"][t])
        channel = 9 if drum else next(channels)
        track = mido.MidiTrack()
        track.append(mido.MetaMessage("track_name", name=str(params["track_names"][t]), time=0))
        track.append(mido.Message("program_change", channel=channel, program=int(params["programs"][t]), time=0))
        by_pitch = roll[:, :, t].T
        if drum:  # every True step is a hit
            pitch, on = np.nonzero(by_pitch)
            off = on + 1
        else:  # runs of True steps, pitch by pitch
            edges = np.diff(np.pad(by_pitch, ((0, 0), (1, 1))).astype(np.int8), axis=1)
            pitch, on = np.nonzero(edges == 1)
            off = np.nonzero(edges == -1)[1] + (1 if undo_rest else 0)
        # In time; at one tick note-offs first, then pitch by pitch, run by run. Messages are
        # made once, unchecked (their values are valid by construction): mido's checks and
        # copies cost more than everything else here on a long song.
        ticks = np.concatenate([step_ticks[on], step_ticks[off]])
        is_on = np.repeat([True, False], len(on))
        runs = 2 * np.arange(len(on))
        order = np.lexsort((np.concatenate([runs, runs + 1]), is_on, ticks))
        for note, delta, note_on in zip((np.concatenate([pitch, pitch])[order] + low).tolist(),
                                        np.diff(ticks[order], prepend=0).tolist(), is_on[order].tolist()):
            track.append(mido.Message("note_on" if note_on else "note_off", channel=channel, note=note,
                                      velocity=int(velocity) if note_on else 0, time=delta, skip_checks=True))
        track.append(mido.MetaMessage("end_of_track", time=0))
        tracks.append(track)
    return tracks


def _tempo_events(n_steps: int, res: int, ticks_per_step: int, step_times: Optional[np.ndarray],
                  tempo: float) -> List[Tuple[int, int]]:
    """(absolute tick, microseconds per quarter) changes: one per beat of `step_times`."""
    if step_times is None:
        return [(0, int(round(60e6 / tempo)))]
    step_times = np.asarray(step_times, dtype=np.float64)
    if len(step_times) < 2:
        raise DataError(f"step_times needs at least 2 boundaries, got {len(step_times)}")
    # Beat b spans step_times[b*res] .. step_times[(b+1)*res]; extrapolate past the grid's end.
    n_beats = -(-(n_steps + 1) // res)
    last = step_times[-1] - step_times[-2]
    need = n_beats * res + 1
    if len(step_times) < need:
        extra = step_times[-1] + last * np.arange(1, need - len(step_times) + 1)
        step_times = np.concatenate([step_times, extra])
    beat_len = step_times[res:need:res] - step_times[0:need - 1:res]
    changes, current = [], None
    for b, seconds in enumerate(beat_len):
        us = max(1, int(round(seconds * 1e6)))
        if us != current:
            changes.append((b * res * ticks_per_step, us))
            current = us
    return changes


def _to_delta(track: mido.MidiTrack) -> mido.MidiTrack:
    """Absolute `time` ticks -> delta ticks, with end_of_track."""
    out, last = mido.MidiTrack(), 0
    for msg in track:
        out.append(msg.copy(time=msg.time - last))
        last = msg.time
    out.append(mido.MetaMessage("end_of_track", time=0))
    return out


def save_pypianoroll_npz(path: PathLike, roll: np.ndarray, params: Dict[str, Any],
                         tempo: Optional[float] = None) -> Path:
    """Save bool (..., n_steps, n_pitches, n_tracks) as a pypianoroll 0.5.3 Multitrack npz.

    `pypianoroll.Multitrack(path)` loads it and `.write("x.mid")` renders it;
    pitches are padded to 128 from `lowest_pitch`, tracks carry params' names,
    programs and drum flags, the tempo (default params["tempo"]) is constant
    and downbeats mark every 4 beats. Written atomically.
    """
    import pypianoroll

    from musegan.io import atomic_path

    n_pitches, n_tracks = roll.shape[-2:]
    roll = np.asarray(roll).reshape(-1, n_pitches, n_tracks).astype(bool)
    low, res = params["lowest_pitch"], int(params["beat_resolution"])
    tracks = []
    for t in range(n_tracks):
        full = np.zeros((len(roll), 128), dtype=bool)
        full[:, low:low + n_pitches] = roll[:, :, t]
        tracks.append(pypianoroll.Track(full, program=int(params["programs"][t]),
                                        is_drum=bool(params["is_drums"][t]),
                                        name=str(params["track_names"][t])))
    downbeat = np.zeros(len(roll), dtype=bool)
    downbeat[::4 * res] = True
    multitrack = pypianoroll.Multitrack(
        tracks=tracks, tempo=np.full(len(roll), float(tempo or params["tempo"])),
        downbeat=downbeat, beat_resolution=res, name=Path(path).stem)
    path = Path(path)
    with atomic_path(path) as tmp:  # its suffix is .npz, so pypianoroll keeps the name
        multitrack.save(str(tmp))
    return path
