"""A user's song as `musegan accompany` reads it: its parts (track chunks with notes, or one
channel of a chunk with several), its song-wide meta events, and the part(s) the model is given.

Events are kept as mido messages at absolute ticks, so the output can carry the user's
part exactly as it was (every note, velocity, controller, at its original time).

The model's part: `--track` chooses; without it a one-part file gives its part, and a file
with parts of the model's family gives those. A file without one gives the part that best
plays the role (`roles`): for piano, the most chordal pitched part (a guitar, a string or
choir pad, a synth...); for guitar, a chordal part in the middle register; for bass, the
lowest part that plays mostly one note at a time; for strings, the melody (a vocal or
melody track, a karaoke file's sung line) or else the most sustained part; for drums, a
drum channel. Only a file where no part can play the role is refused.
"""
import re
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import mido
import numpy as np

from musegan.config import FAMILIES
from musegan.errors import DataError, UsageError
from musegan.music import midi

__all__ = ["CONDUCTOR_META", "Part", "Song", "Texture", "read_song", "part_events", "select_parts", "role_part",
           "texture", "song_tracks", "to_track", "absolute", "pretty_of_tracks"]


# Meta events of the whole song: gathered into the output's conductor track.
CONDUCTOR_META = ("set_tempo", "time_signature", "key_signature", "smpte_offset")



CHOOSE = "choose with --track INDEX, NAME or FAMILY (comma-separate several)"



@dataclass(frozen=True)
class Part:
    """One part of the input: a track chunk with notes, or one channel of a chunk with several."""

    index: int  # position in `parts`, what --track INDEX means
    track: int  # the file's track chunk, from 0
    channel: Optional[int]  # None: the whole chunk; else only this channel's events
    name: str  # the chunk's track name ('' if none)
    program: int
    is_drum: bool
    family: str  # one of FAMILIES
    n_notes: int

    @property
    def label(self) -> str:
        name = f"'{self.name}'" if self.name else "(unnamed)"
        channel = f" channel {self.channel + 1}" if self.channel is not None else ""
        return f"{self.index} {name}{channel} ({self.family}, {self.n_notes} notes)"



@dataclass
class Song:
    """The input file, read: its mido file, parts and conductor events (absolute ticks)."""

    path: Path
    mido: mido.MidiFile
    parts: List[Part]
    conductor: List[Tuple[int, mido.Message]]
    conductor_is_track0: bool  # track 0 holds no notes and became the conductor whole



def read_song(path: Path, config: dict, warn: Optional[midi.Warn] = None) -> Song:
    """Parse `path` (`midi.read_mido`, which says in `warn` what it ignored) and list its
    parts; DataError for unreadable, corrupt, oversized and note-less files."""
    path = Path(path)
    mf = midi.read_mido(path, warn)  # every check a user's file needs: one line for each problem
    import pretty_midi

    parts = []
    for number, track in enumerate(mf.tracks):
        counts = Counter(m.channel for m in track if m.type == "note_on" and m.velocity > 0)
        if not counts:
            continue
        name = next((m.name.strip() for m in track if m.type == "track_name"), "")
        for channel in sorted(counts):
            program = next((m.program for m in track if m.type == "program_change" and m.channel == channel), 0)
            instrument = pretty_midi.Instrument(program=program, is_drum=channel == 9)
            family = FAMILIES[midi.family_of(instrument, config, FAMILIES)]
            parts.append(Part(index=len(parts), track=number, channel=channel if len(counts) > 1 else None,
                              name=name, program=program, is_drum=channel == 9, family=family,
                              n_notes=counts[channel]))
    if not parts:
        raise midi.MidiDataError(path, midi.EMPTY, "no notes")
    track0 = not any(p.track == 0 for p in parts)
    conductor = []
    for number, track in enumerate(mf.tracks):
        for tick, msg in absolute(track):
            if msg.type == "end_of_track":
                continue
            if (number == 0 and track0) or (msg.is_meta and msg.type in CONDUCTOR_META):
                conductor.append((tick, msg))
    conductor.sort(key=lambda e: e[0])  # stable: track order, then file order, at one tick
    return Song(path=path, mido=mf, parts=parts, conductor=conductor, conductor_is_track0=track0)



def absolute(track) -> List[Tuple[int, mido.Message]]:
    tick, out = 0, []
    for msg in track:
        tick += msg.time
        out.append((tick, msg))
    return out



def _copy(msg: mido.Message, **overrides) -> mido.Message:
    """A copy of a message read from a file: values already checked once, not again (mido's
    checks cost more than the rest of reading a long song)."""
    return msg.copy(**overrides) if msg.is_meta else msg.copy(skip_checks=True, **overrides)



def to_track(events: Sequence[Tuple[int, mido.Message]]) -> mido.MidiTrack:
    """Absolute-tick events (sorted) -> a track of copies with delta times, ending with
    end_of_track (a file's track always does: an empty one is not a track to pretty_midi)."""
    track, last = mido.MidiTrack(), 0
    for tick, msg in events:
        track.append(_copy(msg, time=tick - last))
        last = tick
    if not track or track[-1].type != "end_of_track":
        track.append(mido.MetaMessage("end_of_track", time=0))
    return track



def part_events(song: Song, part: Part) -> List[Tuple[int, mido.Message]]:
    """The part's events, as in the input, less the song-wide meta events (they go to the conductor)."""
    out = []
    for tick, msg in absolute(song.mido.tracks[part.track]):
        if msg.is_meta and msg.type in CONDUCTOR_META:
            continue
        if part.channel is not None and hasattr(msg, "channel") and msg.channel != part.channel:
            continue
        out.append((tick, msg))
    return out



def select_parts(song: Song, spec: Optional[str], condition: str,
                 warn: Optional[Callable[[str], None]] = None) -> List[Part]:
    """The user's part(s): by `spec` (--track) or, without it, as the module docstring says
    (a part taken for its role is named in one line to `warn`). Drum parts only condition a
    drums model: drum keys are not pitches."""
    chosen = _select_parts(song, spec, condition, warn)
    if condition.lower() != "drums" and any(p.family == "drums" for p in chosen):
        raise DataError(f"{song.path}: the part to accompany is drums, but this model is conditioned on "
                        f"{condition.lower()} (drum keys are not pitches); give a {condition.lower()} part "
                        f"with --track, or use exp/accompaniment/drums; tracks: "
                        f"{'; '.join(p.label for p in song.parts)}")
    return chosen



def _select_parts(song: Song, spec: Optional[str], condition: str,
                  warn: Optional[Callable[[str], None]]) -> List[Part]:
    parts = song.parts
    listing = f"tracks: {'; '.join(p.label for p in parts)}"
    if spec is None:
        if len(parts) == 1:
            return parts
        chosen = [p for p in parts if p.family == condition.lower()]
        if chosen:
            return chosen
        part, why = role_part(song, condition.lower())
        if part is None:
            raise midi.MidiDataError(song.path, midi.NO_PART, f"{why}; {listing}")
        if warn is not None:
            warn(f"{song.path}: no {condition.lower()} part: taking track {part.label}, {why}, as the model's "
                 f"{condition.lower()} part; {CHOOSE}")
        return [part]
    chosen = []
    for token in (t.strip() for t in str(spec).split(",")):
        if not token:
            continue
        if token.lstrip("-").isdigit():
            index = int(token)
            if not 0 <= index < len(parts):
                raise UsageError(f"--track {token}: {song.path} has tracks 0..{len(parts) - 1}; {listing}")
            found = [parts[index]]
        else:
            found = [p for p in parts if p.name.lower() == token.lower()]
            if not found and token.lower() in FAMILIES:
                found = [p for p in parts if p.family == token.lower()]
                if not found:
                    raise UsageError(f"--track {token}: {song.path} has no {token.lower()} track; {listing}")
            if not found:
                raise UsageError(f"--track {token}: no track of that index, name or family in {song.path}; "
                                 f"{listing}")
        chosen += [p for p in found if p not in chosen]
    if not chosen:
        raise UsageError(f"--track is empty; {CHOOSE}; {listing}")
    return chosen



# --------------------------------------------------------------------------- parts by role

# Track names that say a part is the tune (vocals and melody lines, in a few languages).
MELODY_NAME = re.compile(r"vocal|voice|vox|melod|lead|sing|chant|canto|gesang|stimme|karaoke|tune|theme", re.I)
NOTE_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")


@dataclass(frozen=True)
class Texture:
    """How a part plays, from its notes.

    n_notes; median_pitch (MIDI); chordal: mean number of its notes sounding while it sounds
    (1: one note at a time); single: fraction of that time with one note sounding; sustain:
    median note length in beats; sung: how well its onsets and the song's lyric syllables
    match (F-measure within a 32nd note: a karaoke file's melody near 1; no lyrics: 0).
    """

    n_notes: int
    median_pitch: float
    chordal: float
    single: float
    sustain: float
    sung: float


def _pitch_name(pitch: float) -> str:
    p = int(round(pitch))
    return f"{NOTE_NAMES[p % 12]}{p // 12 - 1}"


def _notes(events: Sequence[Tuple[int, mido.Message]]) -> np.ndarray:
    """float (n, 3): start tick, end tick, pitch of the notes in `events` (a note-on ends at
    the next note-off of its channel and pitch)."""
    open_notes: Dict[Tuple[int, int], List[int]] = {}
    notes = []
    for tick, msg in events:
        if msg.type == "note_on" and msg.velocity > 0:
            open_notes.setdefault((msg.channel, msg.note), []).append(tick)
        elif msg.type in ("note_off", "note_on"):
            starts = open_notes.get((msg.channel, msg.note))
            if starts:
                notes.append((starts.pop(0), tick, msg.note))
    return np.array(notes, dtype=np.float64).reshape(-1, 3)


def _syllables(song: Song) -> np.ndarray:
    """int: ticks of the song's lyric syllables (lyrics events, or a karaoke file's text events)."""
    ticks = []
    for track in song.mido.tracks:
        lyric = [t for t, m in absolute(track) if m.type == "lyrics"]
        text = [t for t, m in absolute(track) if m.type == "text" and not m.text.startswith("@")]
        ticks += lyric or (text if len(text) >= 16 else [])
    return np.unique(np.array(ticks, dtype=np.int64))


def _matched(a: np.ndarray, b: np.ndarray, tolerance: float) -> float:
    """Fraction of the (sorted, unique) times `a` with one of the sorted times `b` within `tolerance`."""
    i = np.searchsorted(b, a)
    gap = np.minimum(np.abs(b[np.clip(i, 0, len(b) - 1)] - a), np.abs(b[np.clip(i - 1, 0, len(b) - 1)] - a))
    return float((gap <= tolerance).mean())


def texture(song: Song, part: Part, syllables: Optional[np.ndarray] = None) -> Texture:
    """The `Texture` of one part (`syllables`: `_syllables(song)`, computed when not given)."""
    notes = _notes(part_events(song, part))
    notes = notes[notes[:, 1] > notes[:, 0]]
    if not len(notes):
        return Texture(0, 0.0, 0.0, 0.0, 0.0, 0.0)
    tpq = song.mido.ticks_per_beat
    # sweep the note starts (+1) and ends (-1), ends first at one tick: time at each polyphony
    times = np.concatenate([notes[:, 1], notes[:, 0]])
    steps = np.concatenate([-np.ones(len(notes)), np.ones(len(notes))])
    order = np.lexsort((steps, times))
    sounding = np.cumsum(steps[order])[:-1]
    spans = np.diff(times[order])
    busy = spans[sounding > 0].sum()
    onsets = np.unique(notes[:, 0])
    syllables = _syllables(song) if syllables is None else syllables
    sung = 0.0
    if len(syllables):
        recall, precision = _matched(syllables, onsets, tpq / 8), _matched(onsets, syllables, tpq / 8)
        sung = 2 * recall * precision / max(recall + precision, 1e-9)
    return Texture(n_notes=len(notes), median_pitch=float(np.median(notes[:, 2])),
                   chordal=float((spans * sounding).sum() / busy), single=float(spans[sounding == 1].sum() / busy),
                   sustain=float(np.median(notes[:, 1] - notes[:, 0]) / tpq), sung=sung)


def role_part(song: Song, role: str, exclude: Sequence[Part] = ()) -> Tuple[Optional[Part], str]:
    """The part (not in `exclude`) that best plays `role` (a family) and why, in words;
    (None, why not) when no part can (drums: no drum channel; other roles: only drum parts)."""
    parts = [p for p in song.parts if p not in exclude]
    if role == "drums":
        drums = [p for p in parts if p.is_drum]
        if not drums:
            return None, "no drum part (MIDI channel 10) for the drums model to take"
        return max(drums, key=lambda p: p.n_notes), "a drum channel"
    pitched = [p for p in parts if not p.is_drum]
    if not pitched:
        return None, f"only drum parts: none can play the model's {role} part (drum keys are not pitches)"
    syllables = _syllables(song)
    looks = {p.index: texture(song, p, syllables) for p in pitched}
    t = lambda p: looks[p.index]  # noqa: E731
    if role in ("piano", "guitar"):
        pool = pitched
        if role == "guitar":
            pool = [p for p in pitched if 48 <= t(p).median_pitch <= 76] or pitched
        part = max(pool, key=lambda p: (round(t(p).chordal, 2), p.n_notes))
        where = " in the middle register" if role == "guitar" and 48 <= t(part).median_pitch <= 76 else ""
        return part, f"the most chordal part{where} ({t(part).chordal:.1f} notes at a time)"
    if role == "bass":
        pool = [p for p in pitched if t(p).single >= 0.5] or pitched
        part = min(pool, key=lambda p: (t(p).median_pitch, -p.n_notes))
        kind = "one-note " if t(part).single >= 0.5 else ""
        return part, f"the lowest {kind}part (middle pitch {_pitch_name(t(part).median_pitch)})"
    sung = [p for p in pitched if t(p).sung >= 0.5]
    if sung:
        part = max(sung, key=lambda p: t(p).sung)
        return part, f"the sung melody (its notes fall on the lyrics' syllables: {t(part).sung:.0%} match)"
    named = [p for p in pitched if MELODY_NAME.search(p.name)]
    if named:
        part = max(named, key=lambda p: p.n_notes)
        return part, "the melody (by its name)"
    tunes = [p for p in pitched if t(p).single >= 0.7 and t(p).median_pitch >= 55]
    if tunes:
        part = max(tunes, key=lambda p: (t(p).median_pitch, p.n_notes))
        return part, f"the highest one-note part, the melody (middle pitch {_pitch_name(t(part).median_pitch)})"
    part = max(pitched, key=lambda p: (t(p).sustain, p.n_notes))
    return part, f"the most sustained part (notes of {t(part).sustain:.1f} beats)"



def pretty_of_tracks(tracks: Sequence[mido.MidiTrack], ticks_per_beat: int):
    """PrettyMIDI of fresh copies of `tracks` (pretty_midi rewrites the messages it is given)."""
    import pretty_midi

    mf = mido.MidiFile(type=1, ticks_per_beat=ticks_per_beat)
    mf.tracks.extend(mido.MidiTrack(_copy(m) for m in t) for t in tracks)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pretty_midi.PrettyMIDI(mido_object=mf)



def song_tracks(song: Song) -> List[mido.MidiTrack]:
    """The input as the output will have it: conductor first, song-wide meta events only there."""
    tracks = [to_track(song.conductor)]
    for number, track in enumerate(song.mido.tracks):
        if number == 0 and song.conductor_is_track0:
            continue
        tracks.append(to_track([(t, m) for t, m in absolute(track)
                                 if not (m.is_meta and m.type in CONDUCTOR_META)]))
    return tracks
