"""A user's song read for an accompaniment model: the model's part chosen, the song's beats read
as the model's bars, the part quantized onto them and cut into the model's phrases.

`read_input` is what `musegan accompany` does before any weight is read (no TensorFlow): every
problem with the file is a one-line error naming it and a reason a musician understands.

Beats (`BEATS`, `--beats`): `file` reads the song's own tempo map and meters (`meter.read_bars`);
`notes` tracks the beats and 4/4 bars from the notes (`beats.track_beats`) and re-times the
song onto them (`tracked_song`): a tempo map that follows the tracked beats, every event at
the same second as in the input, bar 1 where the music puts it (moved by `shift` beats), a
pickup bar before it; `auto` tracks when `beats.needs_tracking` says the notes do not sit on
the file's own grid, else reads the file. Tracked beats are 4-beat bars already: `--meter`
changes nothing there.
"""
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Tuple

import mido
import numpy as np
import pretty_midi

from musegan.config import condition_index
from musegan.errors import MuseganError, UsageError
from musegan.music import beats, meter, midi, pianoroll, timing
from musegan.music.song import Part, Song, absolute, part_events, pretty_of_tracks, read_song, role_part, \
    select_parts, song_tracks, to_track

__all__ = ["BEATS", "Layout", "Reading", "phrase_layout", "read_input", "marked_bars", "check_beats", "written_beats",
           "tracked_song"]

BEATS = ("auto", "file", "notes")  # --beats: the file's grid when the notes sit on it, else tracked; or either
TRACKED_TICKS_PER_BEAT = 480  # at least, in a re-timed song: every event within half a millisecond of its second


@dataclass
class Layout:
    """Where the phrases lie: phrase p, bar j is song bar `bars[p, j]` (-1: padding)."""

    bars: np.ndarray  # int (n_phrases, n_bars)
    skipped: np.ndarray  # int: bars left unaccompanied (not complete 4/4)


def phrase_layout(bar_is_44: np.ndarray, n_bars: int) -> Layout:
    """Runs of consecutive 4/4 bars cut into phrases of `n_bars`, the last of each run padded."""
    rows = []
    run = []
    for bar, ok in enumerate(np.append(bar_is_44, False)):
        if ok:
            run.append(bar)
            continue
        for start in range(0, len(run), n_bars):
            chunk = run[start:start + n_bars]
            rows.append(chunk + [-1] * (n_bars - len(chunk)))
        run = []
    bars = np.array(rows, dtype=np.int64).reshape(-1, n_bars)
    return Layout(bars=bars, skipped=np.flatnonzero(~np.asarray(bar_is_44)))


def _bar_list(bars: np.ndarray) -> str:
    """1-based bar numbers as ranges: '1, 5-8'."""
    out, start = [], None
    for i, b in enumerate(bars):
        if start is None:
            start = b
        if i + 1 == len(bars) or bars[i + 1] != b + 1:
            out.append(f"{start + 1}" if start == b else f"{start + 1}-{b + 1}")
            start = None
    return ", ".join(out)


def _meters(grid: timing.Grid, n_bars: int) -> str:
    return ", ".join(sorted({f"{n}/{d}" for n, d in grid.bar_meters[:n_bars]}))


@dataclass
class Reading:
    """The input, read and quantized: everything generation and writing need."""

    song: Song
    chosen: List[Part]
    label: str
    tracks: List[mido.MidiTrack]  # the song as the output has it: conductor first
    chosen_tracks: List[mido.MidiTrack]  # the user's part(s), verbatim
    pm_song: object  # PrettyMIDI of `tracks`
    bars: meter.Bars  # the grid in the model's bars, and what was regrouped
    tempo: str  # the beats used and their tempo, in words ('120 bpm'; '97 bpm tracked from the notes, ...')
    tracked: Optional[beats.Beats]  # the beats tracked from the notes (seconds), None: the file's own
    user: np.ndarray  # bool (grid.n_steps, n_pitches): the user's part, quantized
    song_bars: int  # bars up to the song's last note
    layout: Layout
    conditions: np.ndarray  # bool (n_phrases, n_bars, n_steps, n_pitches)

    @property
    def grid(self) -> timing.Grid:
        return self.bars.grid


def check_beats(mode: str) -> str:
    """`mode` if it is one of BEATS, else a UsageError."""
    if mode not in BEATS:
        raise UsageError(f"--beats {mode}: must be one of {', '.join(BEATS)}")
    return mode


def read_input(input_path: Path, track: Optional[str], params: dict, config: dict, warn,
               meter_mode: str = "auto", shift: int = 0, beats_mode: str = "auto") -> Reading:
    """Read the song, choose the user's part, quantize it and cut the phrases.

    Every problem with the file is a one-line MuseganError naming the file and a reason a
    musician understands; a fault the checks here do not foresee is reported as such (a
    DataError naming the file, never an exception's text).
    """
    try:
        return _read_input(input_path, track, params, config, warn, meter_mode, shift, beats_mode)
    except MuseganError:
        raise
    except MemoryError:
        raise midi.MidiDataError(input_path, midi.TOO_LARGE, "too large to read in the memory available") from None
    except Exception as e:  # a file that passed every check, yet something below could not use it
        raise midi.MidiDataError(input_path, "unforeseen", "could not be read as a song: its events hold something "
                                 f"this program does not foresee (please report it with the file; "
                                 f"{type(e).__name__})") from None


def _read_input(input_path: Path, track: Optional[str], params: dict, config: dict, warn,
                meter_mode: str, shift: int, beats_mode: str) -> Reading:
    n_bars, n_steps, n_pitches, _ = params["data_shape"]
    condition = params["track_names"][condition_index(params)]
    song = read_song(input_path, config, warn)
    chosen = select_parts(song, track, condition, warn)
    for part in chosen:
        if track is not None and part.family != condition.lower():
            warn(f"using track {part.label} as the model's {condition} part")
    tracks = song_tracks(song)
    pm_song = pretty_of_tracks(tracks, song.mido.ticks_per_beat)
    notes = beats.notes_of(pm_song)
    tracked = None
    if beats_mode == "notes" or (beats_mode == "auto" and beats.needs_tracking(pm_song, notes)):
        tracked = beats.track_beats(notes)
    if tracked is not None:
        times, phase = written_beats(tracked, shift)
        tempo = _tracked_tempo(tracked, times[phase], "--beats notes" if beats_mode == "notes" else
                               f"the notes do not sit on the file's {_file_tempo(song)} grid")
        song = tracked_song(song, pm_song, times, phase)
        tracks = song_tracks(song)
        pm_song = pretty_of_tracks(tracks, song.mido.ticks_per_beat)
        bars = meter.read_bars(pm_song, params["beat_resolution"])
    else:
        tempo = _file_tempo(song)
        bars = meter.read_bars(pm_song, params["beat_resolution"], align=config["collect"]["align_to_grid"],
                               meter=meter_mode, shift=shift)
    grid = bars.grid
    user = _quantized(song, chosen, tracks, grid, params, config)
    if not user.any() and track is None and len(song.parts) > 1:
        # a family part with no note the model can use (all too short or out of range): the role's part
        part, why = role_part(song, condition.lower(), exclude=chosen)
        if part is not None:
            fallback = _quantized(song, [part], tracks, grid, params, config)
            if fallback.any():
                warn(f"{input_path}: the {condition.lower()} part {', '.join(p.label for p in chosen)} has no note "
                     f"the model can use: taking track {part.label}, {why}, instead; choose with --track")
                chosen, user = [part], fallback
    chosen_tracks = [to_track(part_events(song, p)) for p in chosen]
    label = ", ".join(p.label for p in chosen)
    if not user.any():
        low = params["lowest_pitch"]
        raise midi.MidiDataError(input_path, midi.NO_NOTES_IN_RANGE,
                                 f"no notes of track {label} within MIDI pitches {low}..{low + n_pitches - 1} "
                                 f"and at least {max(config['collect']['min_note_steps'], 2)} steps long")
    if bars.regrouped:
        warn(f"{input_path}: {bars.notice()}")
    # The song ends with its last note: a bar the grid starts there (it can, when that note
    # ends on a bar line) has nothing to accompany.
    end = timing.song_end(pm_song)
    song_bars = max(1, int(np.searchsorted(grid.step_times[grid.bar_starts], end - 1e-6)))
    layout = phrase_layout(grid.bar_is_44[:song_bars], n_bars)
    if not len(layout.bars):
        hint = ("" if meter_mode == "4/4" else "; --meter 4/4 plays it in 4-beat bars anyway (your choice: "
                "the band's bars then cross the song's)")
        raise midi.MidiDataError(input_path, midi.NOT_FOUR, f"no 4/4 bar to accompany (meters: "
                                 f"{_meters(grid, song_bars)}); the model plays bars of 4 beats{hint}")
    if len(layout.skipped):
        warn(f"{len(layout.skipped)} of {song_bars} bars are not complete 4/4 bars and are left "
             f"unaccompanied: bars {_bar_list(layout.skipped)} (meters: {_meters(grid, song_bars)})")
    conditions = np.zeros((len(layout.bars), n_bars, n_steps, n_pitches), dtype=bool)
    for (p, j), bar in np.ndenumerate(layout.bars):
        if bar >= 0:
            start = grid.bar_starts[bar]
            conditions[p, j] = user[start:start + n_steps]
    return Reading(song=song, chosen=chosen, label=label, tracks=tracks, chosen_tracks=chosen_tracks,
                   pm_song=pm_song, bars=bars, tempo=tempo, tracked=tracked, user=user, song_bars=song_bars,
                   layout=layout, conditions=conditions)


def _file_tempo(song: Song) -> str:
    """The file's tempo in words: '96 bpm', '3 tempos 90-120 bpm'."""
    tempos = sorted({round(mido.tempo2bpm(m.tempo), 1) for _, m in song.conductor if m.type == "set_tempo"})
    return (f"{tempos[0]:g} bpm" if len(tempos) == 1 else
            f"{len(tempos)} tempos {min(tempos):g}-{max(tempos):g} bpm" if tempos else "120 bpm")


def _tracked_tempo(tracked: beats.Beats, bar_1: float, why: str) -> str:
    """The tracked beats in words: tempo (and its range over 8-beat spans when it drifts), why, bar 1."""
    span = np.diff(tracked.times[::8]) / 8
    low, high = (60.0 / span.max(), 60.0 / span.min()) if len(span) > 2 else (tracked.tempo, tracked.tempo)
    drift = f" ({low:.0f}-{high:.0f})" if high - low >= 1.0 else ""
    return f"{tracked.tempo:.0f} bpm{drift} tracked from the notes ({why}), bar 1 at {bar_1:.2f} s"


def written_beats(tracked: beats.Beats, shift: int = 0) -> Tuple[np.ndarray, int]:
    """The beats a re-timed song is written on: float (n,) seconds from 0 (the tracked beats,
    extrapolated back to the file's start at their first period, the beat at or before 0 s
    moved to 0 s, or dropped when the next one is within a quarter beat of it), and the index
    (0..3) of bar 1's first beat among them, moved by `shift` beats."""
    times, phase = tracked.times, tracked.phase + int(shift)
    head = float(np.median(np.diff(times[:9])))
    if times[0] > 0:
        k = int(np.ceil(times[0] / head))
        times, phase = np.concatenate([times[0] - head * np.arange(k, 0, -1), times]), phase + k
    first = int(np.searchsorted(times, 0.0, side="right")) - 1  # the last beat at or before 0 s
    times, phase = times[first:].copy(), phase - first
    if len(times) > 2 and times[1] < 0.25 * head:
        times, phase = times[1:].copy(), phase - 1
    times[0] = 0.0
    return times, phase % 4


def tracked_song(song: Song, pm: pretty_midi.PrettyMIDI, times: np.ndarray, phase: int) -> Song:
    """`song` re-timed onto beats `times` (float (n,) seconds, the first 0): a conductor with a
    tempo at every beat (in whole microseconds, summed from the beats' own so no error grows),
    a pickup bar of `phase` beats then 4/4 (the input's other tempo and meter events dropped,
    its key and text events kept), and every event of every track at the tick of its second
    under `pm` (the input's tempo map), at `TRACKED_TICKS_PER_BEAT` or the input's finer
    resolution."""
    tpq = max(song.mido.ticks_per_beat, TRACKED_TICKS_PER_BEAT)
    micros = np.round(np.asarray(times) * 1e6).astype(np.int64)
    tempi = np.diff(micros)
    seconds = micros / 1e6
    last = tempi[-1] / 1e6

    def ticks_of(ticks: List[int]) -> np.ndarray:
        t = timing.ticks_to_seconds(pm, np.asarray(ticks, dtype=np.float64))
        beat = np.where(t <= seconds[-1], np.interp(t, seconds, np.arange(len(seconds))),
                        len(seconds) - 1 + (t - seconds[-1]) / last)
        return np.round(beat * tpq).astype(np.int64)

    def moved(events: List[Tuple[int, mido.Message]]) -> List[Tuple[int, mido.Message]]:
        events = [(t, m) for t, m in events if m.type not in ("set_tempo", "time_signature")]
        new = ticks_of([t for t, _ in events]) if events else []
        return [(int(t), m) for t, (_, m) in zip(new, events)]

    changes = [0, *np.flatnonzero(np.diff(tempi) != 0) + 1]
    conductor = [(int(i * tpq), mido.MetaMessage("set_tempo", tempo=int(tempi[i]))) for i in changes]
    if phase:
        conductor.append((0, mido.MetaMessage("time_signature", numerator=phase, denominator=4)))
    conductor.append((phase * tpq, mido.MetaMessage("time_signature", numerator=4, denominator=4)))
    conductor = sorted(moved(song.conductor) + conductor, key=lambda e: e[0])
    retimed = mido.MidiFile(type=1, ticks_per_beat=tpq)
    retimed.tracks.extend(to_track(moved(absolute(track))) for track in song.mido.tracks)
    return dataclasses.replace(song, mido=retimed, conductor=conductor)


def _quantized(song: Song, parts: List[Part], tracks: List[mido.MidiTrack], grid: timing.Grid, params: dict,
               config: dict) -> np.ndarray:
    """bool (grid.n_steps, n_pitches): `parts` on the grid by the training data's rules."""
    part_tracks = [to_track(part_events(song, p)) for p in parts]
    pm_part = pretty_of_tracks([tracks[0], *part_tracks], song.mido.ticks_per_beat)
    user = np.zeros((grid.n_steps, params["data_shape"][2]), dtype=bool)
    for instrument in pm_part.instruments:
        user |= pianoroll.instrument_roll(instrument, grid, params, config["collect"]["min_note_steps"])
    return user


def marked_bars(r: Reading, step_ticks: np.ndarray) -> mido.MidiTrack:
    """The conductor track with its time signatures replaced by the bars as played (4/4 where
    beats were regrouped), so a DAW shows the band's bars; every other event as it was."""
    grid = r.grid
    events = [(t, m) for t, m in absolute(r.tracks[0]) if m.type not in ("time_signature", "end_of_track")]
    previous = None
    for bar in range(min(r.song_bars, grid.n_bars)):
        label = tuple(int(v) for v in grid.bar_meters[bar])
        if label == previous:
            continue
        previous = label
        compound = label[0] % 3 == 0 and label[0] > 3
        events.append((int(step_ticks[grid.bar_starts[bar]]),
                       mido.MetaMessage("time_signature", numerator=label[0], denominator=label[1],
                                        clocks_per_click=36 if compound else 24)))
    events.sort(key=lambda e: e[0])  # stable: at one tick the old events, then the bar's meter
    return to_track(events)
