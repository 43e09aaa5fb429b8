"""Property-based fuzzing of MIDI -> pianoroll -> MIDI (musegan.music.midi.midi_to_roll / roll_to_midi).

Generated MIDI files (random tracks, programs, drums, notes, tempo changes,
meters, resolutions) must convert without any exception but our own clear
ones (MuseganError subclasses); the roll must hold every in-range note on the
grid (drums: its onset; others: start to one step before the end, notes under
2 steps dropped), and roll -> MIDI -> roll must give the same roll back. Wild
files (any meter, tempo, resolution, stray events) and byte-level mutations of
valid files must convert or fail with a MuseganError.

The same wild and damaged files are read as `musegan accompany` reads them
(`reading.read_input`, no TensorFlow): a song, or a one-line refusal naming the file
and a reason in words, never an exception's text.

Examples: MUSEGAN_FUZZ_EXAMPLES for the round trip (default 200, for CI), half as many for
each robustness property. In the suite the examples are the same on every run (conftest's
`ci` profile, derandomized); the full run draws at random (4,000 files):

    MUSEGAN_FUZZ_EXAMPLES=2000 python -m pytest -q tests/test_fuzz.py
"""
import io
import os
import tempfile
from pathlib import Path

import mido
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from musegan.music import midi
from musegan.music import pianoroll
from musegan.music.reading import read_input
from musegan.config import load_config, load_experiment, load_params
from musegan.errors import MuseganError

EXAMPLES = int(os.environ.get("MUSEGAN_FUZZ_EXAMPLES", 200))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
HALF = settings(FUZZ, max_examples=max(1, EXAMPLES // 2))  # the robustness-only properties
PARAMS = load_params()  # 12 steps a beat, pitches 24..107, Drums Piano Guitar Bass Strings
CONFIG = load_config()
# The conversion rules alone: fit_tick_warp may move the grid of random (not 16th-based) notes, by design.
ON_GRID = load_config(overrides={"collect": {"align_to_grid": False}})
RES, LOW, N_PITCHES = PARAMS["beat_resolution"], PARAMS["lowest_pitch"], PARAMS["data_shape"][2]
NAMES = [n.lower() for n in PARAMS["track_names"]]
TMP = Path(tempfile.mkdtemp(prefix="musegan-fuzz-"))
ACCOMPANY_CONFIG, ACCOMPANY_PARAMS = load_experiment(Path(__file__).resolve().parents[1] / "exp" / "accompaniment"
                                                     / "piano")
# What an exception's text looks like; a musician's reason never does.
PROGRAMMER_WORDS = ("Error", "Exception", "arg is", "int too large", "not supported between", "object has no")


def _write(name: str, data: bytes) -> Path:
    path = TMP / name
    path.write_bytes(data)
    return path


def _save(midi_file: mido.MidiFile) -> bytes:
    buf = io.BytesIO()
    midi_file.save(file=buf)
    return buf.getvalue()


def _track(events) -> mido.MidiTrack:
    """Absolute (tick, message) -> delta-time track; note-offs first at equal ticks."""
    out, last = mido.MidiTrack(), 0
    for tick, msg in sorted(events, key=lambda e: (e[0], e[1].type != "note_off")):
        out.append(msg.copy(time=tick - last))
        last = tick
    return out


# --------------------------------------------------------------------------- strategies

@st.composite
def songs(draw):
    """(MIDI bytes, notes [(family index, pitch, start step, end step, is_drum)]) of a file on its grid.

    Notes start and end on steps (tpq is a multiple of 12); tempo changes fall anywhere, meters
    x/4 change on beats, so the grid is the quarter-note beat cut in 12 whatever the tempo.
    """
    tpq = draw(st.sampled_from([12, 24, 96, 120, 192, 384, 480, 960]))
    per_step = tpq // RES
    n_steps = draw(st.integers(RES, 48 * RES))
    conductor = []
    for _ in range(draw(st.integers(0, 4))):
        tick = draw(st.integers(0, n_steps * per_step))
        conductor.append((tick, mido.MetaMessage("set_tempo", tempo=draw(st.integers(150_000, 3_000_000)))))
    for _ in range(draw(st.integers(0, 3))):
        beat = draw(st.integers(0, n_steps // RES))
        numerator = draw(st.sampled_from([2, 3, 4, 5, 7]))
        conductor.append((beat * tpq, mido.MetaMessage("time_signature", numerator=numerator, denominator=4)))
    midi_file = mido.MidiFile(type=1, ticks_per_beat=tpq)
    midi_file.tracks.append(_track(conductor))
    notes = []
    channels = [c for c in range(16) if c != 9]
    for t in range(draw(st.integers(1, 6))):
        drum = draw(st.booleans())
        channel = 9 if drum else channels[t]
        program = draw(st.integers(0, 127))
        events = [(0, mido.Message("program_change", channel=channel, program=program))]
        family = midi.family_of(_Instrument(program, drum), CONFIG, PARAMS["track_names"])
        ends = {}  # pitch -> end of its last note: no overlapping notes of one pitch in a track
        for _ in range(draw(st.integers(0, 40))):
            pitch = draw(st.integers(0, 127))
            start = draw(st.integers(0, n_steps - 1))
            end = min(n_steps, start + draw(st.integers(1, 4 * RES)))
            if start < ends.get(pitch, -1) or any(s < end and start < e for s, e in _spans(notes, t, pitch)):
                continue
            ends[pitch] = end
            velocity = draw(st.integers(1, 127))
            events.append((start * per_step, mido.Message("note_on", channel=channel, note=pitch, velocity=velocity)))
            events.append((end * per_step, mido.Message("note_off", channel=channel, note=pitch)))
            notes.append((t, family, pitch, start, end, drum))
        midi_file.tracks.append(_track(events))
    return _save(midi_file), notes


def _spans(notes, track, pitch):
    return [(s, e) for t, _, p, s, e, _ in notes if t == track and p == pitch]


class _Instrument:
    def __init__(self, program, is_drum):
        self.program, self.is_drum = program, is_drum


@st.composite
def wild_songs(draw):
    """Anything MIDI can say: any resolution, tempo, meter, channel, tick, stray and meta events."""
    tpq = draw(st.integers(1, 32767))
    midi_file = mido.MidiFile(type=draw(st.sampled_from([0, 1])), ticks_per_beat=tpq)
    for _ in range(draw(st.integers(0, 5))):
        events = []
        for _ in range(draw(st.integers(0, 60))):
            # now and then a stray event far away (a negative delta written unsigned...)
            tick = draw(st.integers(0, 64 * tpq) | st.integers(0, 2 ** 28 - 1))
            kind = draw(st.sampled_from(["on", "off", "on0", "program", "tempo", "meter", "control", "pitchwheel",
                                         "sysex", "text", "key"]))
            channel = draw(st.integers(0, 15))
            note = draw(st.integers(0, 127))
            if kind == "on":
                msg = mido.Message("note_on", channel=channel, note=note, velocity=draw(st.integers(1, 127)))
            elif kind == "off":
                msg = mido.Message("note_off", channel=channel, note=note)
            elif kind == "on0":
                msg = mido.Message("note_on", channel=channel, note=note, velocity=0)
            elif kind == "program":
                msg = mido.Message("program_change", channel=channel, program=note)
            elif kind == "tempo":
                msg = mido.MetaMessage("set_tempo", tempo=draw(st.integers(0, 0xFFFFFF)))
            elif kind == "meter":  # any bytes MIDI allows: 0/4, 255/4, 3/2**255... (mido would check them)
                numerator, power = draw(st.integers(0, 32) | st.integers(0, 255)), draw(st.integers(0, 5) | st.integers(0, 255))
                msg = mido.MetaMessage.from_bytes(bytes([0xFF, 0x58, 0x04, numerator, power, 24, 8]))
            elif kind == "control":
                msg = mido.Message("control_change", channel=channel, control=note, value=draw(st.integers(0, 127)))
            elif kind == "pitchwheel":
                msg = mido.Message("pitchwheel", channel=channel, pitch=draw(st.integers(-8192, 8191)))
            elif kind == "sysex":
                msg = mido.Message("sysex", data=draw(st.lists(st.integers(0, 127), max_size=8)))
            elif kind == "text":
                msg = mido.MetaMessage("track_name", name=draw(st.text(max_size=12)))
            else:
                msg = mido.MetaMessage("key_signature", key=draw(st.sampled_from(["C", "F#m", "Bb"])))
            events.append((tick, msg))
        midi_file.tracks.append(_track(events))
    try:
        return _save(midi_file)
    except (ValueError, UnicodeEncodeError):  # mido refuses to write some of these: not a file we test
        return b""


@st.composite
def mutated_songs(draw):
    """A valid file with bytes flipped, deleted, inserted or cut off."""
    data, _ = draw(songs())
    data = bytearray(data)
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["flip", "delete", "insert", "truncate"]))
        i = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[i] = draw(st.integers(0, 255))
        elif kind == "delete" and data:
            del data[i:i + draw(st.integers(1, 8))]
        elif kind == "insert":
            data[i:i] = bytes(draw(st.lists(st.integers(0, 255), min_size=1, max_size=8)))
        elif kind == "truncate":
            del data[i:]
    return bytes(data)


# --------------------------------------------------------------------------- properties


def _roll_or_our_error(path: Path, config=CONFIG):
    """midi_to_roll's result, or None after one of our errors; anything else fails the test."""
    try:
        return pianoroll.midi_to_roll(path, PARAMS, config)
    except MuseganError as e:
        message = str(e)
        assert message.startswith(f"{path}: ") and "\n" not in message, message
        return None


def _same_roll(a: np.ndarray, b: np.ndarray) -> None:
    """Equal, the shorter padded with silence (a re-read grid may end at another bar line)."""
    n = max(len(a), len(b))
    pad = lambda x: np.concatenate([x, np.zeros((n - len(x),) + x.shape[1:], bool)])
    different = np.argwhere(pad(a) != pad(b))
    assert not len(different), f"{len(different)} cells differ, first (step, pitch, track): {different[:5].tolist()}"


@FUZZ
@given(songs())
def test_round_trip_keeps_every_note_on_the_grid(song):
    data, notes = song
    path = _write("song.mid", data)
    result = _roll_or_our_error(path, ON_GRID)
    kept = [n for n in notes if LOW <= n[2] < LOW + N_PITCHES and (n[5] or n[4] - n[3] >= 2)]
    if result is None:  # only when no note survives: nothing else may make a file unreadable
        assert not kept, "a file with notes in range was refused"
        return
    roll, grid, _ = result
    assert grid.warp == (1.0, 0.0), "notes on the grid must not move it"
    for _, family, pitch, start, end, drum in kept:
        row = pitch - LOW
        if drum:
            assert roll[start, row, family], ("drum onset lost", pitch, start)
        else:
            assert roll[start:end - 1, row, family].all(), ("note lost", NAMES[family], pitch, start, end)
    # nothing appears that no note put there
    expected = np.zeros_like(roll)
    for _, family, pitch, start, end, drum in kept:
        expected[start:start + 1 if drum else end - 1, pitch - LOW, family] = True
    assert not (roll & ~expected).any(), np.argwhere(roll & ~expected)[:5].tolist()

    back = _write("back.mid", _pretty_bytes(pianoroll.roll_to_midi(roll, PARAMS, step_times=grid.step_times)))
    roll2, grid2, _ = pianoroll.midi_to_roll(back, PARAMS, ON_GRID)
    _same_roll(roll, roll2)
    # the written file keeps the song's beats in time: one tempo a beat (within a beat, steps are even),
    # in whole microseconds (pretty_midi's writer truncates: up to 1 us a beat, 5 ppm at 200 bpm)
    n = min(grid.n_steps, grid2.n_steps) + 1
    np.testing.assert_allclose(grid2.step_times[:n:RES] - grid2.step_times[0],
                               grid.step_times[:n:RES] - grid.step_times[0], rtol=2e-5, atol=1e-5)


def _pretty_bytes(pm) -> bytes:
    buf = io.BytesIO()
    pm.write(buf)
    return buf.getvalue()


@HALF
@given(wild_songs())
def test_wild_files_convert_or_fail_clearly(data):
    result = _roll_or_our_error(_write("wild.mid", data))
    if result is not None:
        roll, grid, _ = result
        assert roll.shape == (grid.n_steps, N_PITCHES, len(NAMES)) and roll.any()
        assert np.all(np.diff(grid.step_times) >= 0)
        x, starts = pianoroll.phrases(roll, grid, PARAMS["data_shape"][0], 1, 1)
        assert x.shape[1:] == tuple(PARAMS["data_shape"]) and len(x) == len(starts)


@HALF
@given(mutated_songs())
def test_damaged_files_convert_or_fail_clearly(data):
    _roll_or_our_error(_write("damaged.mid", data))


def _read_for_accompaniment(path: Path) -> None:
    """`read_input` as `musegan accompany` calls it: a reading, or one line naming the file and
    a reason in words; every warning one line too."""
    told = []
    try:
        reading = read_input(path, None, ACCOMPANY_PARAMS, ACCOMPANY_CONFIG, told.append)
        assert reading.conditions.any() and len(reading.layout.bars)
    except MuseganError as e:
        message = str(e)
        assert message.startswith(f"{path}: ") and "\n" not in message, message
        assert not any(w in message for w in PROGRAMMER_WORDS), message
    assert all("\n" not in line for line in told), told


@HALF
@given(st.one_of(wild_songs(), mutated_songs()))
def test_wild_and_damaged_files_are_read_for_accompaniment_or_refused_in_words(data):
    _read_for_accompaniment(_write("accompany.mid", data))


@pytest.mark.parametrize("data", [b"", b"MThd", b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x01\xe0MTrk\xff\xff\xff\xff"])
def test_edge_bytes(data):
    assert _roll_or_our_error(_write("edge.mid", data)) is None
