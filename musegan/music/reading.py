"""A user's song read for an accompaniment model: the model's part chosen, the song's beats read
as the model's bars, the part quantized onto them and cut into the model's phrases.

`read_input` is what `musegan accompany` does before any weight is read (no TensorFlow): every
problem with the file is a one-line error naming it and a reason a musician understands.
"""
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

import mido
import numpy as np

from musegan.config import condition_index
from musegan.errors import MuseganError
from musegan.music import meter, midi, pianoroll, timing
from musegan.music.song import Part, Song, part_events, pretty_of_tracks, read_song, role_part, select_parts, \
    song_tracks, to_track

__all__ = ["Layout", "Reading", "phrase_layout", "read_input"]


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
    user: np.ndarray  # bool (grid.n_steps, n_pitches): the user's part, quantized
    song_bars: int  # bars up to the song's last note
    layout: Layout
    conditions: np.ndarray  # bool (n_phrases, n_bars, n_steps, n_pitches)

    @property
    def grid(self) -> timing.Grid:
        return self.bars.grid


def read_input(input_path: Path, track: Optional[str], params: dict, config: dict, warn,
               meter_mode: str = "auto", shift: int = 0) -> Reading:
    """Read the song, choose the user's part, quantize it and cut the phrases.

    Every problem with the file is a one-line MuseganError naming the file and a reason a
    musician understands; a fault the checks here do not foresee is reported as such (a
    DataError naming the file, never an exception's text).
    """
    try:
        return _read_input(input_path, track, params, config, warn, meter_mode, shift)
    except MuseganError:
        raise
    except MemoryError:
        raise midi.MidiDataError(input_path, midi.TOO_LARGE, "too large to read in the memory available") from None
    except Exception as e:  # a file that passed every check, yet something below could not use it
        raise midi.MidiDataError(input_path, "unforeseen", "could not be read as a song: its events hold something "
                                 f"this program does not foresee (please report it with the file; "
                                 f"{type(e).__name__})") from None


def _read_input(input_path: Path, track: Optional[str], params: dict, config: dict, warn,
                meter_mode: str, shift: int) -> Reading:
    n_bars, n_steps, n_pitches, _ = params["data_shape"]
    condition = params["track_names"][condition_index(params)]
    song = read_song(input_path, config, warn)
    chosen = select_parts(song, track, condition, warn)
    for part in chosen:
        if track is not None and part.family != condition.lower():
            warn(f"using track {part.label} as the model's {condition} part")
    tracks = song_tracks(song)
    pm_song = pretty_of_tracks(tracks, song.mido.ticks_per_beat)
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
                   pm_song=pm_song, bars=bars, user=user, song_bars=song_bars, layout=layout,
                   conditions=conditions)


def _quantized(song: Song, parts: List[Part], tracks: List[mido.MidiTrack], grid: timing.Grid, params: dict,
               config: dict) -> np.ndarray:
    """bool (grid.n_steps, n_pitches): `parts` on the grid by the training data's rules."""
    part_tracks = [to_track(part_events(song, p)) for p in parts]
    pm_part = pretty_of_tracks([tracks[0], *part_tracks], song.mido.ticks_per_beat)
    user = np.zeros((grid.n_steps, params["data_shape"][2]), dtype=bool)
    for instrument in pm_part.instruments:
        user |= pianoroll.instrument_roll(instrument, grid, params, config["collect"]["min_note_steps"])
    return user
