"""Binary pianorolls to and from MIDI: the one place that converts between them.

Reading: `midi.load_midi` -> `meter.read_bars` (the file's own beats, tempo
changes and meters, read in the model's 4-beat bars) -> `instrument_roll` per instrument -> merged by family in
`midi_to_roll` -> cut into 4-bar training phrases by `phrases`.
Writing: `roll_to_midi` / `roll_to_tracks` (the single pianoroll -> MIDI
conversion) and `save_pypianoroll_npz` (the format the original MuseGAN results use).

Pianorolls are boolean `(n_steps, n_pitches, n_tracks)`; row 0 of the pitch
axis is MIDI pitch `params["lowest_pitch"]`, tracks are in params order.
"""
import itertools
from pathlib import Path
from typing import Any, Collection, Dict, List, Optional, Sequence, Tuple

import mido
import numpy as np
import pretty_midi

from musegan.config import FAMILIES
from musegan.errors import ConfigError, DataError
from musegan.music.meter import read_bars
from musegan.music.timing import Grid, nearest_step, phrase_starts
from musegan.music.midi import EMPTY, NO_NOTES_IN_RANGE, MidiDataError, PathLike, family_of, load_midi, pretty

__all__ = ["instrument_roll", "midi_to_roll", "phrases", "roll_to_midi", "roll_to_tracks", "save_pypianoroll_npz"]


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
    start = nearest_step(grid.step_times, notes[:, 0])
    end = nearest_step(grid.step_times, notes[:, 1])
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
    `config["collect"]["align_to_grid"]` (`timing.song_grid`), read in the model's
    4-beat bars as `musegan accompany` reads them (`meter.read_bars`: 1/4 and 2/4 marks
    regrouped; `info["regrouped"]` says whether they were; `info["ignored"]` what
    `midi.read_mido` dropped). Raises MidiDataError for unreadable, corrupt or empty files
    and for files where no note survives (out of pitch range or too short).
    """
    track_names = params["track_names"]
    if not any(n.lower() in FAMILIES for n in track_names):
        raise ConfigError(f"params: 'track_names' {track_names} name none of the families "
                          f"{', '.join(FAMILIES)}; cannot map MIDI instruments to tracks")
    ignored: List[str] = []
    pm, tracks = load_midi(path, ignored.append)
    n_notes = sum(len(inst.notes) for inst in pm.instruments)
    if not n_notes:
        raise MidiDataError(path, EMPTY, "no notes")
    bars = read_bars(pm, params["beat_resolution"], align=config["collect"].get("align_to_grid", True))
    grid = bars.grid
    n_tracks = len(track_names)
    roll = np.zeros((grid.n_steps, params["data_shape"][2], n_tracks), dtype=bool)
    vocal_tracks = set(vocal_tracks)
    info = {"n_notes": n_notes, "instruments": [], "unmapped_notes": 0, "warp": grid.warp,
            "regrouped": bars.regrouped, "ignored": ignored}
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
    return pretty(midi)



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

    from musegan.atomic import atomic_path

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
