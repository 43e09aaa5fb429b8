"""Reading MIDI files: the checks every user's file needs, then pretty_midi's view of it.

`read_mido` refuses what cannot be read as one song (with a reason a musician
understands, `MidiDataError.reason` one of the constants below); `load_midi`
parses it with pretty_midi and keeps each instrument's track number;
`family_of` maps an instrument to one of the model's five families.
The song's time grid is `musegan.music.timing`; pianorolls to and from MIDI are
`musegan.music.pianoroll`; a user's song and its parts, `musegan.music.song`.
"""
import inspect
import io
import os
import stat
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import mido
import pretty_midi

from musegan.errors import DataError

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
            pm = pretty(midi)
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


def pretty(midi: mido.MidiFile) -> pretty_midi.PrettyMIDI:
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


# --------------------------------------------------------------------------- writing


