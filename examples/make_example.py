"""Write the example inputs of `musegan accompany`: one part of a song in C major, 4/4, 100 bpm.

    python examples/make_example.py [OUT.mid] [--bars N] [--part drums|piano|guitar|bass|strings]

Default: 16 bars of the part into examples/PART_example.mid (all committed; this
script rebuilds them byte for byte). The form is a pop progression,
| C | G | Am | F | three times, then | F | G | C | C |, each part as its
player would play it:
- piano: the left hand plays root and fifth in half notes, the right hand comps
  the chords in a syncopated rhythm (beats 1, 2+, 4, 4+) and adds a melody above
  from bar 5, the sustain pedal is caught every bar;
- bass: root for a dotted quarter and an eighth, the fifth on beat 3, the octave
  on beat 4;
- guitar: open chords strummed down, down-up, up-down-up (beats 1, 2, 2+, 3+,
  4, 4+), the strings of a stroke 10 ticks apart;
- strings: sustained three-voice chords, one per bar, with smooth voice leading;
- drums: a rock beat (kick on 1 and 3+, snare on 2 and 4, eighth hi-hats), a
  crash opening every 4 bars and a tom fill before the last 4.
Each part ends on a whole-note chord (drums: a crash). Longer songs (--bars,
e.g. 100 for the benchmark) repeat the form. Type-1 file, 480 ticks per beat:
a conductor track (tempo, meter, key) and one track named for the part,
General MIDI program 0 (piano), 25 (steel guitar), 33 (finger bass) or 48
(string ensemble) on channel 1; drums on channel 10.
"""
import argparse
import sys
from pathlib import Path

import mido

TPQ = 480
BPM = 100
HERE = Path(__file__).resolve().parent

# (right-hand chord, left-hand root, left-hand fifth) per chord name, MIDI pitches
CHORDS = {
    "C": ((60, 64, 67), 48, 43),
    "G": ((59, 62, 67), 43, 50),
    "Am": ((60, 64, 69), 45, 52),
    "F": ((60, 65, 69), 41, 48),
}
FORM = ["C", "G", "Am", "F"] * 3 + ["F", "G", "C", "C"]
GUITAR = {"C": (48, 52, 55, 60, 64), "G": (43, 47, 50, 55, 59, 67), "Am": (45, 52, 57, 60, 64),
          "F": (41, 48, 53, 57, 60, 65)}  # open-position voicings, low string first
STRUM = [(0.0, 1.0, 1), (1.0, 0.5, 1), (1.5, 1.0, -1), (2.5, 1.0, -1), (3.0, 0.5, 1), (3.5, 0.5, -1)]  # beat, length, stroke
STRINGS = {"C": (55, 64, 72), "G": (55, 62, 71), "Am": (57, 64, 72), "F": (57, 65, 72)}
KICK, SNARE, HAT, CRASH, TOMS = 36, 38, 42, 49, (50, 47, 45, 43)
COMP = [(0.0, 1.0), (1.5, 1.0), (3.0, 0.5), (3.5, 0.5)]  # (beat, length) of the chord hits in a bar

# Melody (pitch, length in beats) per bar of the form; None: no melody in that bar.
HOOK = [
    [(76, 1), (79, 1), (76, 0.5), (74, 0.5), (72, 1)],
    [(74, 1.5), (79, 0.5), (79, 1), (74, 1)],
    [(72, 1), (76, 1), (81, 1.5), (79, 0.5)],
    [(77, 1), (76, 0.5), (74, 0.5), (72, 2)],
]
MELODY = [None] * 4 + HOOK + HOOK + [
    [(81, 1), (79, 1), (77, 2)],
    [(74, 1), (76, 1), (77, 1), (74, 1)],
    [(76, 2), (72, 2)],
    None,
]


def _adder(notes):
    """add(beat, length, pitch, velocity) appending (start tick, end tick, pitch, velocity) to `notes`."""
    def add(beat: float, length: float, pitch: int, velocity: int) -> None:
        start = int(round(beat * TPQ))
        notes.append((start, start + int(round(length * TPQ)), pitch, velocity))
    return add


def bass_part(n_bars: int = 16) -> mido.MidiFile:
    """The bass example as a mido file, `n_bars` long (the 16-bar form repeated as needed)."""
    notes = []
    add = _adder(notes)
    for bar in range(n_bars):
        _, root, _ = CHORDS[FORM[bar % len(FORM)]]
        root -= 12  # an octave below the piano's left hand: C2..A2
        b0 = 4 * bar
        if bar == n_bars - 1:
            add(b0, 4, root, 96)
            continue
        for beat, length, pitch, velocity in ((0, 1.5, root, 100), (1.5, 0.5, root, 84),
                                              (2, 1, root + 7, 92), (3, 1, root + 12, 88)):
            add(b0 + beat, length, pitch, velocity)
    return _file(notes, n_bars, "Bass", program=33, pedal=False)


def guitar_part(n_bars: int = 16) -> mido.MidiFile:
    """The guitar example: strummed open chords, `n_bars` long."""
    notes = []
    add = _adder(notes)
    for bar in range(n_bars):
        chord, b0 = GUITAR[FORM[bar % len(FORM)]], 4 * bar
        hits = [(0.0, 4.0, 1)] if bar == n_bars - 1 else STRUM
        for beat, length, stroke in hits:
            order = chord if stroke > 0 else chord[::-1]
            for i, pitch in enumerate(order):
                lag = 10 * i / TPQ  # a stroke takes time: its strings sound one after another
                add(b0 + beat + lag, length - lag - 0.05, pitch, (90 if beat == 0 else 76) - 8 * (stroke < 0))
    return _file(notes, n_bars, "Guitar", program=25, pedal=False)


def strings_part(n_bars: int = 16) -> mido.MidiFile:
    """The strings example: one sustained chord a bar, `n_bars` long."""
    notes = []
    add = _adder(notes)
    for bar in range(n_bars):
        for pitch in STRINGS[FORM[bar % len(FORM)]]:
            add(4 * bar, 3.9, pitch, 80)
    return _file(notes, n_bars, "Strings", program=48, pedal=False)


def drums_part(n_bars: int = 16) -> mido.MidiFile:
    """The drums example: a rock beat with crashes and a fill, `n_bars` long."""
    notes = []
    add = _adder(notes)
    for bar in range(n_bars):
        b0 = 4 * bar
        if bar % 4 == 0 or bar == n_bars - 1:
            add(b0, 0.5, CRASH, 100)
        if bar == n_bars - 1:
            add(b0, 0.5, KICK, 110)
            continue
        fill = bar % 16 == 11
        for eighth in range(8):
            beat = eighth / 2
            if fill and beat >= 2:  # last two beats: down the toms
                add(b0 + beat, 0.25, TOMS[int(beat * 2) - 4], 96)
                continue
            add(b0 + beat, 0.25, HAT, 84 if eighth % 2 == 0 else 64)
            if beat in (0, 2.5):
                add(b0 + beat, 0.25, KICK, 108)
            if beat in (1, 3):
                add(b0 + beat, 0.25, SNARE, 104)
    return _file(notes, n_bars, "Drums", program=0, pedal=False, channel=9)


def piano_part(n_bars: int = 16) -> mido.MidiFile:
    """The piano example as a mido file, `n_bars` long (the 16-bar form repeated as needed)."""
    notes = []
    add = _adder(notes)
    for bar in range(n_bars):
        k = bar % len(FORM)
        chord, root, fifth = CHORDS[FORM[k]]
        b0 = 4 * bar
        last = bar == n_bars - 1
        if last:  # end on a held chord
            for pitch in (root, *chord):
                add(b0, 4, pitch, 84)
            continue
        add(b0, 2, root, 84)
        add(b0 + 2, 2, fifth, 76)
        for i, (beat, length) in enumerate(COMP):
            for pitch in chord:
                add(b0 + beat, length, pitch, 78 if i == 0 else 66)
        for beat, (pitch, length) in zip(_onsets(MELODY[k]), MELODY[k] or []):
            add(b0 + beat, length, pitch, 92)
    return _file(notes, n_bars, "Piano", program=0, pedal=True)


def _file(notes, n_bars: int, name: str, program: int, pedal: bool, channel: int = 0) -> mido.MidiFile:
    """Conductor track + one part of `notes` (start tick, end tick, pitch, velocity) on `channel`
    (0-based: 0 is channel 1, 9 the drums' channel 10)."""
    conductor = [
        (0, mido.MetaMessage("track_name", name=f"{name.lower()} example")),
        (0, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(BPM))),
        (0, mido.MetaMessage("time_signature", numerator=4, denominator=4)),
        (0, mido.MetaMessage("key_signature", key="C")),
    ]
    part = [
        (0, mido.MetaMessage("track_name", name=name)),
        (0, mido.Message("program_change", channel=channel, program=program)),
        (0, mido.Message("control_change", channel=channel, control=7, value=100)),
    ]
    for bar in range(n_bars if pedal else 0):  # pedal: up just before each bar line, down just after it
        part.append((4 * bar * TPQ + 10, mido.Message("control_change", channel=channel, control=64, value=127)))
        part.append((4 * (bar + 1) * TPQ - 10, mido.Message("control_change", channel=channel, control=64, value=0)))
    for start, end, pitch, velocity in notes:
        part.append((start, mido.Message("note_on", channel=channel, note=pitch, velocity=velocity)))
        part.append((end, mido.Message("note_off", channel=channel, note=pitch, velocity=0)))
    midi = mido.MidiFile(type=1, ticks_per_beat=TPQ)
    midi.tracks.append(_track(conductor))
    midi.tracks.append(_track(part))
    return midi


def _onsets(melody):
    beat, out = 0.0, []
    for _, length in melody or []:
        out.append(beat)
        beat += length
    return out


def _track(events) -> mido.MidiTrack:
    """Absolute-tick events -> a track; at one tick: meta, then note-offs, controls, note-ons."""
    order = {"note_off": 1, "control_change": 2, "program_change": 2, "note_on": 3}
    track, last = mido.MidiTrack(), 0
    for tick, msg in sorted(events, key=lambda e: (e[0], order.get(e[1].type, 0))):
        track.append(msg.copy(time=tick - last))
        last = tick
    track.append(mido.MetaMessage("end_of_track", time=0))
    return track


PART_FILES = {"drums": drums_part, "piano": piano_part, "guitar": guitar_part, "bass": bass_part,
              "strings": strings_part}
PARTS = tuple(PART_FILES)  # in the models' track order


def write(path: Path, n_bars: int = 16, part: str = "piano") -> Path:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from musegan.atomic import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp:
        PART_FILES[part](n_bars).save(str(tmp))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, nargs="?", default=None)
    parser.add_argument("--bars", type=int, default=16)
    parser.add_argument("--part", choices=PARTS, default="piano")
    args = parser.parse_args()
    if args.bars < 1:
        parser.error("--bars must be at least 1")
    out = args.out or HERE / f"{args.part}_example.mid"
    print(f"{write(out, args.bars, args.part)}: {args.bars} bars of {args.part}, 4/4, {BPM} bpm")


if __name__ == "__main__":
    main()
