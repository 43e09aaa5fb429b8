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
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import mido
import pretty_midi

from musegan.errors import DataError

PathLike = Union[str, os.PathLike]
Warn = Callable[[str], None]  # takes one line about something in a file that was ignored

# File names read as MIDI (collect, evaluate --condition-dir, infer --condition).
MIDI_SUFFIXES = (".mid", ".midi", ".kar")

# Why a file could not be used; `collect` counts skipped files by these.
UNREADABLE = "unreadable"          # the OS refused (permissions, a folder, ...)
VANISHED = "vanished"              # listed, then gone before it was read
CORRUPT = "corrupt"                # not parseable as MIDI
EMPTY = "empty"                    # 0 bytes, or no notes at all
NO_NOTES_IN_RANGE = "no_notes_in_range"  # every note out of pitch range or too short
UNSUPPORTED = "unsupported"        # type-2 MIDI, SMPTE time division
TOO_LARGE = "too_large"            # over MAX_BYTES, MAX_BEATS or MAX_TICKS: refused before it can exhaust memory
NOT_FOUR = "not_4_beats"           # no bar the model plays (3/4, 6/8... without --meter 4/4)
NO_PART = "no_part"                # no part can play the model's condition track

# Bounds on what is read at all. A song's grid, pianoroll and phrases grow with its
# length in beats (a 2-hour song at 120 bpm is 14,400 beats, ~0.7 GB peak in `collect`),
# and a few bytes can declare a song of millions of beats; mido parses ~1 MB/s.
MAX_BYTES = 32 * 2 ** 20
MAX_BEATS = 20_000  # 2 h 46 min at 120 bpm
# pretty_midi keeps a float for every tick up to the last event: 2**25 ticks are 256 MB
# (20,000 beats at up to 1,677 ticks per beat).
MAX_TICKS = 2 ** 25
# An event other than a note this many beats after the last note ends is stray (a negative
# delta written as a huge unsigned one, a marker left far away): it is dropped, not read.
STRAY_BEATS = 256
# Time signatures outside these are not meters (a damaged byte: 0/4, 3/2**63): dropped.
MAX_NUMERATOR = 64
MAX_DENOMINATOR = 64

# pretty_midi >= 0.2.10 takes a parsed mido.MidiFile; older ones only a file.
_TAKES_MIDO = "mido_object" in inspect.signature(pretty_midi.PrettyMIDI.__init__).parameters

# Tags each MIDI track's name with its track number while parsing, so every
# pretty_midi instrument can be traced back to its track (pretty_midi keys
# instruments by track internally but does not expose it).
_TRACK_TAG = "\x1f"


class MetaSpec_time_signature(mido.midifiles.meta.MetaSpec_time_signature):  # noqa: N801 (mido's naming)
    """mido's time signature, its denominator checked and written exactly.

    mido 1.3 checks that a denominator is a power of two with a float logarithm, which is
    inexact for some powers (log2(2**29) = 29.000000000000004): one such byte in a file made
    the whole file unreadable. Registered in place of mido's when this module is imported.
    """

    def check(self, name, value):
        if name == "denominator":
            mido.midifiles.meta.check_int(value, 1, 2 ** 255)
            if value & (value - 1):
                raise ValueError("denominator must be a power of 2")
        else:
            super().check(name, value)

    def encode(self, message):
        return [message.numerator, message.denominator.bit_length() - 1, message.clocks_per_click,
                message.notated_32nd_notes_per_beat]


mido.midifiles.meta.add_meta_spec(MetaSpec_time_signature)


class MidiDataError(DataError):
    """A MIDI file that cannot be used; `reason` is one of the constants above."""

    def __init__(self, path: PathLike, reason: str, problem: str):
        super().__init__(f"{path}: {problem}")
        self.reason = reason
        self.problem = problem


# --------------------------------------------------------------------------- reading


def load_midi(path: PathLike, warn: Optional[Warn] = None) -> Tuple[pretty_midi.PrettyMIDI, List[int]]:
    """Parse `path`; returns the PrettyMIDI and each instrument's MIDI track number.

    Track numbers count the file's track chunks from 0 (the conductor track of
    a type-1 file is 0), as RWC's metadata_mapping_vocals.csv does. Raises
    MidiDataError (reasons vanished / unreadable / empty / corrupt / unsupported /
    too_large); what `read_mido` ignores goes to `warn`.
    """
    path = Path(path)
    midi = read_mido(path, warn)
    try:
        for number, track in enumerate(midi.tracks):
            _tag_track_name(track, number)
        with warnings.catch_warnings():
            # pretty_midi warns about meta events outside track 0; not actionable here.
            warnings.simplefilter("ignore")
            pm = pretty(midi)
    except Exception as e:  # pretty_midi raises many types on malformed input
        raise MidiDataError(path, CORRUPT, f"not a readable MIDI file ({_damage(e)})") from None
    tracks = []
    for instrument in pm.instruments:
        name, sep, number = instrument.name.rpartition(_TRACK_TAG)
        instrument.name = name if sep else instrument.name
        tracks.append(int(number) if sep and number.isdigit() else -1)
    return pm, tracks


def read_mido(path: PathLike, warn: Optional[Warn] = None) -> mido.MidiFile:
    """Parse `path` with mido, after the checks every reader of user files needs.

    Refuses (MidiDataError, reasons as `load_midi`) missing, unreadable,
    non-regular (a FIFO would block) and empty files, files over MAX_BYTES,
    unparseable or truncated ones, type-2 files, SMPTE time division, 0 ticks
    per beat and songs whose notes last over MAX_BEATS beats or MAX_TICKS ticks
    (a few bytes can declare millions, which would exhaust memory further on).
    A RIFF MIDI file (.rmi) is read as the MIDI file it wraps. Events that mean
    nothing are dropped with one line to `warn` (`_drop_junk`): time signatures
    that are no meter, tempi of 0, and stray events far after the last note.
    """
    path = Path(path)
    data = _unwrap_riff(_read_bytes(path))
    if not data.startswith(b"MThd"):
        raise MidiDataError(path, CORRUPT, "not a MIDI file (it does not start with 'MThd')")
    try:
        # clip=True: out-of-range data bytes (common in scraped MIDI) are clipped, not fatal.
        midi = mido.MidiFile(file=io.BytesIO(data), clip=True, charset="latin1")
    except EOFError:
        raise MidiDataError(path, CORRUPT, "truncated: the file ends inside a chunk") from None
    except Exception as e:  # mido raises many types on malformed input
        raise MidiDataError(path, CORRUPT, f"not a readable MIDI file ({_damage(e)})") from None
    notes_end = _check_structure(path, midi)
    _drop_junk(path, midi, notes_end, warn)
    return midi


def _unwrap_riff(data: bytes) -> bytes:
    """The MIDI file inside a RIFF MIDI (RMID) file's 'data' chunk; other bytes as they are."""
    if not (data.startswith(b"RIFF") and data[8:12] == b"RMID"):
        return data
    at = 12
    while at + 8 <= len(data):
        size = int.from_bytes(data[at + 4:at + 8], "little")
        if data[at:at + 4] == b"data":
            return data[at + 8:at + 8 + size]
        at += 8 + size + size % 2
    return data


def _damage(e: BaseException) -> str:
    """What a parse error means for the file, in plain words (mido's messages are a programmer's)."""
    text = str(e).lower()
    if "running status" in text:
        return "damaged data: a running status without a status byte"
    if "key" in text:
        return "damaged data: a key signature that names no key"
    if "mtrk" in text or "mthd" in text or "chunk" in text:
        return "damaged data: a track chunk is missing or misplaced"
    return "damaged data in its events"


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


def _check_structure(path: Path, midi: mido.MidiFile) -> int:
    """MidiDataError for what parses but cannot be read as one song on a beat grid; else the
    tick of the last note event (the song's length is its notes')."""
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
    for track in midi.tracks:
        tick = 0
        for msg in track:
            tick += msg.time
            if msg.type == "note_on" or msg.type == "note_off":
                last = max(last, tick)
    beats = last / midi.ticks_per_beat
    if beats > MAX_BEATS:
        raise MidiDataError(path, TOO_LARGE, f"{beats:,.0f} beats long (last note at tick {last:,}); "
                                             f"songs over {MAX_BEATS:,} beats are refused")
    if last > MAX_TICKS:
        raise MidiDataError(path, TOO_LARGE, f"{beats:,.0f} beats at {midi.ticks_per_beat:,} ticks per beat: "
                                             f"{last:,} ticks, over the {MAX_TICKS:,} a song is read up to")
    return last


def _is_junk(msg: mido.Message) -> Optional[str]:
    """What is wrong with a meta event that means nothing, or None."""
    if msg.type == "time_signature" and not (0 < msg.numerator <= MAX_NUMERATOR
                                             and 0 < msg.denominator <= MAX_DENOMINATOR):
        denominator = msg.denominator if msg.denominator < 10 ** 6 else f"2^{msg.denominator.bit_length() - 1}"
        return f"time signature {msg.numerator}/{denominator}"
    if msg.type == "set_tempo" and msg.tempo == 0:
        return "tempo of 0 microseconds per beat"
    return None


def _drop_junk(path: Path, midi: mido.MidiFile, notes_end: int, warn: Optional[Warn]) -> None:
    """Drop, in place, the events that mean nothing (`_is_junk`) and those more than
    STRAY_BEATS beats (and MAX_TICKS ticks) after the last note event (at `notes_end`): the
    song's length is its notes'. Says so in one line to `warn`."""
    limit = max(notes_end, min(notes_end + STRAY_BEATS * midi.ticks_per_beat, MAX_TICKS))
    junk: Dict[str, int] = {}
    stray: List[int] = []
    for number, track in enumerate(midi.tracks):
        tick, kept, carry, changed = 0, [], 0, False
        for msg in track:
            tick += msg.time
            if msg.type == "end_of_track":
                # the track ends with its last event kept, not at a stray one
                kept.append(msg.copy(time=0 if tick > limit else msg.time + carry))
                changed |= tick > limit or carry > 0
                carry = 0
                continue
            what = "stray" if tick > limit else _is_junk(msg)
            if what is None:
                kept.append(msg.copy(time=msg.time + carry) if carry else msg)
                carry = 0
                continue
            changed = True
            carry += msg.time
            if what == "stray":
                stray.append(tick)
            else:
                junk[what] = junk.get(what, 0) + 1
        if changed:
            midi.tracks[number] = mido.MidiTrack(kept)
    if warn is None or not (junk or stray):
        return
    what = [kind + (f" ({n} times)" if n > 1 else "") for kind, n in junk.items()]
    if stray:
        tpq = midi.ticks_per_beat
        what.append(f"{len(stray)} stray event{'s' if len(stray) > 1 else ''} after the last note (up to beat "
                    f"{max(stray) / tpq:,.0f}; the notes end at beat {notes_end / tpq:,.0f})")
    warn(f"{path}: ignored {'; '.join(what)}")


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


