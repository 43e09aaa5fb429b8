"""Write the example inputs of `musegan accompany`: a piano or a bass part in C major, 4/4, 100 bpm.

    python examples/make_example.py [OUT.mid] [--bars N] [--part piano|bass]

Default: 16 bars of piano into examples/piano_example.mid, or of bass into
examples/bass_example.mid (both committed; this script rebuilds them byte
for byte). The form is a pop progression, | C | G | Am | F |
three times, then | F | G | C | C |: the left hand plays root and fifth in half
notes, the right hand comps the chords in a syncopated rhythm (beats 1, 2+, 4,
4+) and adds a melody above from bar 5, the sustain pedal is caught every bar.
The bass plays the same form: root for a dotted quarter and an eighth, the fifth
on beat 3, the octave on beat 4, a whole note in the last bar.
Longer songs (--bars, e.g. 100 for the benchmark) repeat the form.
Type-1 file, 480 ticks per beat: a conductor track (tempo, meter, key) and one
track "Piano" (program 0) or "Bass" (program 33), channel 1.
"""
import argparse
import sys
from pathlib import Path

import mido

TPQ = 480
BPM = 100
HERE = Path(__file__).resolve().parent
PARTS = ("piano", "bass")

# (right-hand chord, left-hand root, left-hand fifth) per chord name, MIDI pitches
CHORDS = {
    "C": ((60, 64, 67), 48, 43),
    "G": ((59, 62, 67), 43, 50),
    "Am": ((60, 64, 69), 45, 52),
    "F": ((60, 65, 69), 41, 48),
}
FORM = ["C", "G", "Am", "F"] * 3 + ["F", "G", "C", "C"]
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


def _file(notes, n_bars: int, name: str, program: int, pedal: bool) -> mido.MidiFile:
    """Conductor track + one part of `notes` (start tick, end tick, pitch, velocity) on channel 1."""
    conductor = [
        (0, mido.MetaMessage("track_name", name=f"{name.lower()} example")),
        (0, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(BPM))),
        (0, mido.MetaMessage("time_signature", numerator=4, denominator=4)),
        (0, mido.MetaMessage("key_signature", key="C")),
    ]
    part = [
        (0, mido.MetaMessage("track_name", name=name)),
        (0, mido.Message("program_change", channel=0, program=program)),
        (0, mido.Message("control_change", channel=0, control=7, value=100)),
    ]
    for bar in range(n_bars if pedal else 0):  # pedal: up just before each bar line, down just after it
        part.append((4 * bar * TPQ + 10, mido.Message("control_change", channel=0, control=64, value=127)))
        part.append((4 * (bar + 1) * TPQ - 10, mido.Message("control_change", channel=0, control=64, value=0)))
    for start, end, pitch, velocity in notes:
        part.append((start, mido.Message("note_on", channel=0, note=pitch, velocity=velocity)))
        part.append((end, mido.Message("note_off", channel=0, note=pitch, velocity=0)))
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


def write(path: Path, n_bars: int = 16, part: str = "piano") -> Path:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from musegan.io import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp:
        (bass_part if part == "bass" else piano_part)(n_bars).save(str(tmp))
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
