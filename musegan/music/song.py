"""A user's song as `musegan accompany` reads it: its parts (track chunks with notes, or one
channel of a chunk with several), its song-wide meta events, and the part(s) the model is given.

Events are kept as mido messages at absolute ticks, so the output can carry the user's
part exactly as it was (every note, velocity, controller, at its original time).
"""
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import mido

from musegan.config import FAMILIES
from musegan.errors import DataError, UsageError
from musegan.music import midi

__all__ = ["CONDUCTOR_META", "Part", "Song", "read_song", "part_events", "select_parts", "song_tracks",
           "to_track", "absolute", "pretty_of_tracks"]


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



def read_song(path: Path, config: dict) -> Song:
    """Parse `path` (`midi.read_mido`) and list its parts; DataError for unreadable, corrupt,
    oversized and note-less files."""
    path = Path(path)
    mf = midi.read_mido(path)  # every check a user's file needs: one line for each problem
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
    """Absolute-tick events (sorted) -> a track of copies with delta times."""
    track, last = mido.MidiTrack(), 0
    for tick, msg in events:
        track.append(_copy(msg, time=tick - last))
        last = tick
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



def select_parts(song: Song, spec: Optional[str], condition: str) -> List[Part]:
    """The user's part(s): by `spec` (--track) or, without it, as the module docstring says.
    Drum parts only condition a drums model: drum keys are not pitches."""
    chosen = _select_parts(song, spec, condition)
    if condition.lower() != "drums" and any(p.family == "drums" for p in chosen):
        raise DataError(f"{song.path}: the part to accompany is drums, but this model is conditioned on "
                        f"{condition.lower()} (drum keys are not pitches); give a {condition.lower()} part "
                        f"with --track, or use exp/accompaniment/drums; tracks: "
                        f"{'; '.join(p.label for p in song.parts)}")
    return chosen



def _select_parts(song: Song, spec: Optional[str], condition: str) -> List[Part]:
    parts = song.parts
    listing = f"tracks: {'; '.join(p.label for p in parts)}"
    if spec is None:
        if len(parts) == 1:
            return parts
        chosen = [p for p in parts if p.family == condition.lower()]
        if not chosen:
            raise UsageError(f"{song.path}: {len(parts)} tracks and none is {condition.lower()} (the model's "
                             f"condition track); {CHOOSE}; {listing}")
        return chosen
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
