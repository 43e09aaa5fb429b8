"""musegan.music.midi: MIDI <-> pianoroll, cell by cell."""
import numpy as np
import pretty_midi
import pytest

from conftest import band
from musegan.music import midi
from musegan.music import pianoroll
from musegan.music import timing
from musegan.config import load_config, load_params

PARAMS = load_params()
CONFIG = load_config()
D, P, G, B, S = range(5)  # track order of the default params
LOW = PARAMS["lowest_pitch"]


def params_at(resolution):
    return load_params(overrides={"beat_resolution": resolution, "data_shape": [4, 4 * resolution, 84, 5]})


def config_with(**collect):
    return load_config(overrides={"collect": collect})


def cells(roll, track):
    """{(step, pitch)} of one track of a song roll."""
    return {(int(s), int(p) + LOW) for s, p in zip(*np.nonzero(roll[:, :, track]))}


@pytest.mark.parametrize("res", [12, 24])
def test_known_notes_land_on_exact_cells(make_midi, res):
    path = make_midi("a.mid", [dict(program=0, notes=[(60, 0, 1), (64, 1.5, 2), (60, 2, 3)])])
    roll, grid, _ = pianoroll.midi_to_roll(path, params_at(res), CONFIG)
    assert roll.shape == (4 * res, 84, 5) and grid.n_bars == 1 and grid.bar_is_44.all()
    # every note occupies [start, end - 1): the last step is the note-end rest
    expected = ({(s, 60) for s in range(0, res - 1)} | {(s, 64) for s in range(res * 3 // 2, 2 * res - 1)}
                | {(s, 60) for s in range(2 * res, 3 * res - 1)})
    assert cells(roll, P) == expected
    assert not roll[:, :, [D, G, B, S]].any()


def test_repeated_notes_stay_distinct(make_midi):
    path = make_midi("a.mid", [dict(program=0, notes=[(60, b, b + 1) for b in range(4)])])
    roll, _, _ = pianoroll.midi_to_roll(path, PARAMS, CONFIG)
    column = roll[:, 60 - LOW, P]
    assert column.sum() == 4 * 11 and not column[[11, 23, 35, 47]].any()


def test_drums_keep_onsets_only(make_midi):
    path = make_midi("a.mid", [dict(drum=True, notes=[(36, 0, 2), (38, 1, 1.02), (42, 2.5, 2.6)])])
    roll, _, _ = pianoroll.midi_to_roll(path, PARAMS, CONFIG)
    # one step per hit whatever its length; drums are never dropped as too short
    assert cells(roll, D) == {(0, 36), (12, 38), (30, 42)}


def test_notes_shorter_than_min_steps_dropped(make_midi):
    step = 1 / 12
    notes = [(60, 0, step), (62, 1, 1 + 2 * step), (64, 2, 2 + 3 * step)]
    path = make_midi("a.mid", [dict(program=0, notes=notes)])
    roll, _, _ = pianoroll.midi_to_roll(path, PARAMS, config_with(min_note_steps=3))
    assert cells(roll, P) == {(24, 64), (25, 64)}
    roll, _, _ = pianoroll.midi_to_roll(path, PARAMS, CONFIG)  # default: 2 steps
    assert cells(roll, P) == {(12, 62), (24, 64), (25, 64)}


def test_out_of_range_pitches_dropped(make_midi):
    top = LOW + 83
    path = make_midi("a.mid", [dict(program=0, notes=[(LOW - 1, 0, 1), (LOW, 0, 1), (top, 1, 2), (top + 1, 1, 2)])])
    roll, _, _ = pianoroll.midi_to_roll(path, PARAMS, CONFIG)
    assert {p for _, p in cells(roll, P)} == {LOW, top}


def test_nearest_step_quantization(make_midi):
    tick = 1 / 480  # 40 ticks per step at 480 ticks per beat
    path = make_midi("a.mid", [dict(program=0, notes=[(60, 19 * tick, 1 + 21 * tick)])])
    roll, _, _ = pianoroll.midi_to_roll(path, PARAMS, config_with(align_to_grid=False))
    assert cells(roll, P) == {(s, 60) for s in range(0, 12)}  # on -> step 0, off -> step 13


def test_families_merge_by_logical_or(make_midi):
    tracks = [dict(program=25, notes=[(60, 0, 2)]), dict(program=27, notes=[(60, 1, 3), (67, 0, 1)]),
              dict(program=33, notes=[(36, 0, 1)]), dict(program=18, notes=[(72, 0, 1)]),
              dict(program=80, notes=[(74, 0, 1)]), dict(program=48, notes=[(76, 0, 1)]),
              dict(program=5, notes=[(48, 0, 1)]), dict(drum=True, program=30, notes=[(40, 0, 1)])]
    roll, _, info = pianoroll.midi_to_roll(make_midi("a.mid", tracks), PARAMS, CONFIG)
    assert cells(roll, G) == {(s, 60) for s in range(0, 35)} | {(s, 67) for s in range(11)}
    assert {p for _, p in cells(roll, B)} == {36}
    assert {p for _, p in cells(roll, P)} == {72, 48}  # organ merged into piano
    assert {p for _, p in cells(roll, S)} == {74, 76}  # synth lead: "every other instrument"
    assert cells(roll, D) == {(0, 40)}
    roll, _, _ = pianoroll.midi_to_roll(make_midi("a.mid", tracks), PARAMS, config_with(merge_organ_into_piano=False))
    assert {p for _, p in cells(roll, S)} == {72, 74, 76}
    assert len(info["instruments"]) == 8


def test_family_of_vocal_and_missing_family():
    voice = pretty_midi.Instrument(program=73)
    assert midi.family_of(voice, CONFIG) == S
    assert midi.family_of(voice, config_with(vocal_family="piano"), vocal=True) == P
    assert midi.family_of(pretty_midi.Instrument(0, is_drum=True), CONFIG, vocal=True) == D
    assert midi.family_of(pretty_midi.Instrument(33), CONFIG, ["Piano", "Drums"]) is None


def test_vocal_tracks_by_track_number(make_midi):
    path = make_midi("a.mid", [dict(program=0, notes=[(60, 0, 1)]), dict(program=73, name="MELO", notes=[(72, 0, 1)])])
    pm, tracks = midi.load_midi(path)
    assert tracks == [1, 2] and [i.name for i in pm.instruments] == ["", "MELO"]
    roll, _, _ = pianoroll.midi_to_roll(path, PARAMS, config_with(vocal_family="guitar"), vocal_tracks=[2])
    assert {p for _, p in cells(roll, G)} == {72} and {p for _, p in cells(roll, P)} == {60}


def test_tempo_change_keeps_grid_on_beats(make_midi):
    notes = [(60, b, b + 1) for b in range(8)]
    path = make_midi("a.mid", [dict(program=0, notes=notes)], tempos=[(0, 120), (4, 60), (6, 240)])
    roll, grid, _ = pianoroll.midi_to_roll(path, PARAMS, CONFIG)
    beat_times = grid.step_times[::12][:9]
    np.testing.assert_allclose(beat_times, [0, .5, 1, 1.5, 2, 3, 4, 4.25, 4.5], atol=1e-9)
    assert cells(roll, P) == {(12 * b + s, 60) for b in range(8) for s in range(11)}
    np.testing.assert_array_equal(grid.bar_starts, [0, 48])


def test_meters_marked_and_no_time_signature_is_4_4(make_midi):
    notes = [(60, b, b + 1) for b in range(4 + 3 + 4 + 4)]
    path = make_midi("a.mid", [dict(notes=notes)], meters=[(0, 4, 4), (4, 3, 4), (7, 4, 4)])
    _, grid, _ = pianoroll.midi_to_roll(path, PARAMS, CONFIG)
    assert grid.bar_is_44.tolist() == [True, False, True, True]
    assert grid.bar_meters[1].tolist() == [3, 4]
    np.testing.assert_array_equal(grid.bar_starts, [0, 48, 84, 132])
    _, grid, _ = pianoroll.midi_to_roll(make_midi("b.mid", [dict(notes=notes[:8])], meters=[]), PARAMS, CONFIG)
    assert grid.n_bars == 2 and grid.bar_is_44.all()


def test_last_bar_completed(make_midi):
    path = make_midi("a.mid", [dict(notes=[(60, 0, 1), (62, 5, 5.5)])])
    roll, grid, _ = pianoroll.midi_to_roll(path, PARAMS, CONFIG)
    assert grid.n_steps == 96 and grid.bar_is_44.tolist() == [True, True]


@pytest.mark.parametrize("offset, stretch", [(30, 1.0), (-50, 1.0), (25, 1.012), (0, 0.975)])
def test_displaced_notes_realigned(make_midi, offset, stretch):
    tracks = [dict(t, notes=[(n, a + 4, b + 4) for n, a, b in t["notes"]]) for t in band(16, "dpgbs")]
    clean, _, _ = pianoroll.midi_to_roll(make_midi("a.mid", tracks), PARAMS, CONFIG)
    path = make_midi("b.mid", tracks, offset_ticks=offset, stretch=stretch)
    roll, grid, _ = pianoroll.midi_to_roll(path, PARAMS, CONFIG)
    assert grid.warp[0] == pytest.approx(stretch, abs=1e-4) and grid.warp[1] == pytest.approx(offset, abs=2)
    np.testing.assert_array_equal(roll[:len(clean)], clean)
    raw, _, _ = pianoroll.midi_to_roll(path, PARAMS, config_with(align_to_grid=False))
    assert not np.array_equal(raw[:len(clean)], clean)


def test_fit_tick_warp_keeps_a_quantized_file():
    ticks = np.arange(0, 480 * 64, 120) + np.tile([0, 0, 40, 0, 80, 0, 0, 0], 32)
    assert timing.fit_tick_warp(ticks, 480) == (1.0, 0.0)
    assert timing.fit_tick_warp(ticks[:10] + 17, 480) == (1.0, 0.0)  # too few notes to tell


@pytest.mark.parametrize("content, reason", [(b"", midi.EMPTY), (b"MThd not really midi", midi.CORRUPT),
                                             (b"\x00" * 100, midi.CORRUPT)])
def test_bad_files_raise_data_error_with_reason(tmp_path, content, reason):
    path = tmp_path / "bad.mid"
    path.write_bytes(content)
    with pytest.raises(midi.MidiDataError) as e:
        pianoroll.midi_to_roll(path, PARAMS, CONFIG)
    assert e.value.reason == reason and str(path) in str(e.value)


def test_no_notes_and_no_notes_in_range(make_midi, tmp_path):
    with pytest.raises(midi.MidiDataError) as e:
        pianoroll.midi_to_roll(make_midi("a.mid", [dict(notes=[])]), PARAMS, CONFIG)
    assert e.value.reason == midi.EMPTY
    with pytest.raises(midi.MidiDataError) as e:
        pianoroll.midi_to_roll(make_midi("b.mid", [dict(notes=[(10, 0, 1), (120, 1, 2)])]), PARAMS, CONFIG)
    assert e.value.reason == midi.NO_NOTES_IN_RANGE
    with pytest.raises(midi.MidiDataError) as e:
        pianoroll.midi_to_roll(tmp_path / "gone.mid", PARAMS, CONFIG)
    assert e.value.reason == midi.VANISHED


def _with_events(path, events, track=0):
    """`path` rewritten with (absolute tick, message) `events` added to one of its tracks."""
    import mido

    mf = mido.MidiFile(str(path))
    tick, old = 0, []
    for msg in mf.tracks[track]:
        tick += msg.time
        if msg.type != "end_of_track":
            old.append((tick, msg))
    merged, last, out = sorted(old + events, key=lambda e: e[0]), 0, mido.MidiTrack()
    for tick, msg in merged:
        out.append(msg.copy(time=tick - last))
        last = tick
    mf.tracks[track] = out
    mf.save(str(path))
    return path


def test_a_stray_far_event_is_ignored_and_the_notes_decide_the_length(make_midi):
    """A controller at tick 4,294,967,248 (a negative delta written unsigned, as in a real file)
    once made a 32-beat song 'millions of beats long' and refused it."""
    import mido

    path = _with_events(make_midi("a.mid", band(8, "dpb")),
                        [(2 ** 32 - 48, mido.Message("control_change", control=98, value=32)),
                         (2 ** 32, mido.MetaMessage("marker", text="end"))])
    warnings = []
    midi.read_mido(path, warnings.append)
    assert len(warnings) == 1 and "ignored 2 stray events after the last note" in warnings[0]
    assert "up to beat 8,947,849" in warnings[0] and "the notes end at beat 32" in warnings[0]
    roll, grid, info = pianoroll.midi_to_roll(path, PARAMS, CONFIG)
    assert grid.n_bars == 8 and grid.bar_is_44.all() and info["ignored"] == warnings
    # an event a few bars after the last note is the song's (a marker, a long fade): kept, no word
    warnings.clear()
    near = _with_events(make_midi("b.mid", band(8, "dpb")), [(480 * 40, mido.MetaMessage("marker", text="x"))])
    midi.read_mido(near, warnings.append)
    assert not warnings


def test_notes_far_away_still_make_a_song_too_long(tmp_path, make_midi):
    path = make_midi("a.mid", [dict(program=0, notes=[(60, 0, 1), (60, 30_000, 30_001)])])
    with pytest.raises(midi.MidiDataError, match="30,001 beats long .last note at tick 14,400,480.") as e:
        midi.read_mido(path)
    assert e.value.reason == midi.TOO_LARGE
    fine = make_midi("b.mid", [dict(program=0, notes=[(60, 0, 1), (60, 19_000, 19_001)])], tpq=32767)
    with pytest.raises(midi.MidiDataError, match="at 32,767 ticks per beat") as e:
        midi.read_mido(fine)  # pretty_midi would allocate a float for each of 622 million ticks
    assert e.value.reason == midi.TOO_LARGE


@pytest.mark.parametrize("event, said", [
    (dict(type="time_signature", numerator=3, denominator=2 ** 63), "time signature 3/2^63"),
    (dict(type="time_signature", numerator=0, denominator=4), "time signature 0/4"),
    (dict(type="time_signature", numerator=255, denominator=4), "time signature 255/4"),
    (dict(type="set_tempo", tempo=0), "tempo of 0 microseconds per beat")])
def test_meta_events_that_mean_nothing_are_ignored(make_midi, event, said):
    """Found by the fuzz test (a denominator of 2**63 overflowed numpy's int64) and its siblings."""
    import mido

    kind = event.pop("type")
    path = _with_events(make_midi("a.mid", band(8, "dpb")), [(480 * 8, mido.MetaMessage(kind, **event))] * 2)
    warnings = []
    roll, grid, info = pianoroll.midi_to_roll(path, PARAMS, CONFIG)
    midi.read_mido(path, warnings.append)
    assert warnings == [f"{path}: ignored {said} (2 times)"] and info["ignored"] == warnings
    assert grid.n_bars == 8 and grid.bar_is_44.all()
    np.testing.assert_allclose(grid.step_times[::12][:33], np.arange(33) * 0.5)


def test_a_riff_midi_file_is_read_as_the_midi_file_it_wraps(make_midi, tmp_path):
    plain = make_midi("a.mid", band(4, "dpb")).read_bytes()
    wrapped = tmp_path / "a.rmi.mid"
    body = b"RMID" + b"INFO" + (4).to_bytes(4, "little") + b"abcd" + b"data" + len(plain).to_bytes(4, "little") + plain
    wrapped.write_bytes(b"RIFF" + len(body).to_bytes(4, "little") + body)
    a, _, _ = pianoroll.midi_to_roll(tmp_path / "a.mid", PARAMS, CONFIG)
    b, _, _ = pianoroll.midi_to_roll(wrapped, PARAMS, CONFIG)
    np.testing.assert_array_equal(a, b)


def test_a_damaged_file_is_refused_in_plain_words(tmp_path):
    path = tmp_path / "a.mid"
    path.write_bytes(b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x01\xe0MTrk\x00\x00\x00\x08\x00\xff\x59\x02\x09\x05\x00\x2f")
    with pytest.raises(midi.MidiDataError) as e:
        midi.read_mido(path)
    assert e.value.reason == midi.CORRUPT and "a key signature that names no key" in str(e.value)


def test_phrases_windows_hop_and_meters(make_midi):
    # bars: 5 x 4/4, one 2/4 fill, 6 x 4/4
    n_beats = 20 + 2 + 24
    tracks = [dict(drum=True, notes=[(36, b, b + 1) for b in range(n_beats)]),
              dict(program=0, notes=[(60, b, b + 1) for b in range(n_beats)]),
              dict(program=33, notes=[(36, b, b + 1) for b in range(n_beats) if b >= 22])]
    roll, grid, _ = pianoroll.midi_to_roll(make_midi("a.mid", tracks, meters=[(0, 4, 4), (20, 2, 4), (22, 4, 4)]),
                                      PARAMS, CONFIG)
    assert grid.bar_is_44.tolist() == [True] * 5 + [False] + [True] * 6
    np.testing.assert_array_equal(timing.phrase_starts(grid, 4, 1), [0, 1, 6, 7, 8])
    np.testing.assert_array_equal(timing.phrase_starts(grid, 4, 4), [0, 6])  # realigned after the fill
    x, starts = pianoroll.phrases(roll, grid, 4, 1, 3)
    np.testing.assert_array_equal(starts, [6, 7, 8])  # no bass before the fill: windows 0 and 1 have 2 tracks
    assert x.shape == (3, 4, 48, 84, 5) and x.dtype == bool
    first = grid.bar_starts[6]
    np.testing.assert_array_equal(x[0].reshape(192, 84, 5), roll[first:first + 192])
    x, starts = pianoroll.phrases(roll, grid, 4, 1, 2)
    np.testing.assert_array_equal(starts, [0, 1, 6, 7, 8])


def random_roll(rng, n_steps, is_drums):
    """A roll as midi_to_roll makes them: runs of >= 1 step with a gap, drums single steps."""
    roll = np.zeros((n_steps, 84, len(is_drums)), dtype=bool)
    for t, drum in enumerate(is_drums):
        for p in rng.choice(84, 6, replace=False):
            s = int(rng.integers(0, 6))
            while s < n_steps - 1:
                length = 1 if drum else int(rng.integers(1, 20))
                roll[s:min(s + length, n_steps - 1), p, t] = True
                s += length + int(rng.integers(1, 10))
    return roll


def test_roll_to_midi_round_trip_constant_tempo(tmp_path):
    rng = np.random.default_rng(0)
    roll = random_roll(rng, 4 * 48, PARAMS["is_drums"])
    pm = pianoroll.roll_to_midi(roll, PARAMS)
    assert [i.program for i in pm.instruments] == PARAMS["programs"]
    assert [i.is_drum for i in pm.instruments] == PARAMS["is_drums"]
    assert [i.name for i in pm.instruments] == PARAMS["track_names"]
    assert pm.get_tempo_changes()[1] == pytest.approx([100.0])
    step = 60 / 100 / 12
    for inst in pm.instruments:  # notes only on grid positions
        for t in [n.start for n in inst.notes] + [n.end for n in inst.notes]:
            assert t / step == pytest.approx(round(t / step), abs=1e-6)
        if inst.is_drum:
            assert all(n.end - n.start == pytest.approx(step) for n in inst.notes)
    path = tmp_path / "a.mid"
    pm.write(str(path))
    back, grid, _ = pianoroll.midi_to_roll(path, PARAMS, CONFIG)
    np.testing.assert_array_equal(back[:len(roll)], roll)
    assert not back[len(roll):].any() and grid.warp == (1.0, 0.0)
    # a phrase-shaped roll (n_bars, n_steps, ...) is the same music
    same = pianoroll.roll_to_midi(roll.reshape(4, 48, 84, 5), PARAMS)
    assert [len(i.notes) for i in same.instruments] == [len(i.notes) for i in pm.instruments]


def test_roll_to_midi_on_a_song_grid_keeps_its_tempo_changes(make_midi, tmp_path):
    notes = [(60, b, b + 1) for b in range(8)]
    _, grid, _ = pianoroll.midi_to_roll(make_midi("a.mid", [dict(notes=notes)], tempos=[(0, 120), (4, 60)]), PARAMS, CONFIG)
    roll = random_roll(np.random.default_rng(1), grid.n_steps, PARAMS["is_drums"])
    pm = pianoroll.roll_to_midi(roll, PARAMS, step_times=grid.step_times)
    np.testing.assert_allclose(pm.get_beats()[:8], [0, .5, 1, 1.5, 2, 3, 4, 5], atol=1e-6)
    starts = np.array(sorted({n.start for i in pm.instruments for n in i.notes}))
    assert np.abs(grid.step_times[np.searchsorted(grid.step_times, starts - 1e-9)] - starts).max() < 1e-6
    path = tmp_path / "b.mid"
    pm.write(str(path))
    back, _, _ = pianoroll.midi_to_roll(path, PARAMS, CONFIG)
    np.testing.assert_array_equal(back[:len(roll)], roll)


def test_pypianoroll_npz_round_trip(tmp_path):
    pypianoroll = pytest.importorskip("pypianoroll")
    roll = random_roll(np.random.default_rng(2), 2 * 48, PARAMS["is_drums"])
    path = pianoroll.save_pypianoroll_npz(tmp_path / "sample.npz", roll, PARAMS)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sample.npz"]
    multitrack = pypianoroll.Multitrack(str(path))
    assert multitrack.beat_resolution == 12 and multitrack.tempo[0] == 100
    assert [t.name for t in multitrack.tracks] == PARAMS["track_names"]
    assert [t.program for t in multitrack.tracks] == PARAMS["programs"]
    assert [t.is_drum for t in multitrack.tracks] == PARAMS["is_drums"]
    stacked = np.stack([t.pianoroll for t in multitrack.tracks], axis=-1)
    assert stacked.shape == (96, 128, 5) and not stacked[:, :LOW].any() and not stacked[:, LOW + 84:].any()
    np.testing.assert_array_equal(stacked[:, LOW:LOW + 84] > 0, roll)
    np.testing.assert_array_equal(np.flatnonzero(multitrack.downbeat), [0, 48])
    multitrack.write(str(tmp_path / "out.mid"))
    written = pretty_midi.PrettyMIDI(str(tmp_path / "out.mid"))
    assert sum(len(i.notes) for i in written.instruments) > 0
