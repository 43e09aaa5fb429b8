"""Beats and bars tracked from the notes (`beats.track_beats`, `--beats`): synthetic songs whose
beats are known, played steadily or drifting as a live player does, written as a transcriber
writes them (the notes at their seconds under one 120 bpm tempo, no meter)."""
import mido
import numpy as np
import pretty_midi
import pytest

from conftest import band, downbeat_band, write_midi
from musegan import accompany as acc
from musegan.errors import UsageError
from musegan.music import beats, reading

TOL = 0.07  # seconds: the standard beat-tracking window


def performed(path, tracks, seconds, tpq=480):
    """`tracks` (conftest's, positions in beats) played at `seconds(beats)` and written as a
    transcription: one 120 bpm tempo, no time signature, the notes at their seconds."""
    midi = mido.MidiFile(type=1, ticks_per_beat=tpq)
    for number, spec in enumerate(tracks):
        channel = 9 if spec.get("drum") else number
        events = [(0, mido.Message("program_change", channel=channel, program=spec.get("program", 0)))]
        for pitch, start, end in spec["notes"]:
            on, off = (int(round(seconds(np.float64(b)) * 2 * tpq)) for b in (start, end))
            events += [(on, mido.Message("note_on", channel=channel, note=pitch, velocity=90)),
                       (max(off, on + 1), mido.Message("note_off", channel=channel, note=pitch, velocity=0))]
        track, last = mido.MidiTrack([mido.MetaMessage("track_name", name=spec["name"])]), 0
        for tick, msg in sorted(events, key=lambda e: (e[0], e[1].type != "note_off")):
            track.append(msg.copy(time=tick - last))
            last = tick
        midi.tracks.append(track)
    midi.save(str(path))
    return path


def matched(truth, found):
    """Share of `truth` times with a `found` time within TOL."""
    return float(np.mean(np.min(np.abs(np.subtract.outer(truth, found)), axis=1) < TOL))


def drifting(bpm, depth=0.05, period=40.0, noise=0.0, seed=0):
    """seconds(beats): a tempo swinging +-depth around bpm over `period` seconds, each call's
    times shaken by up to +-noise seconds."""
    beat_grid = np.arange(0, 400, 0.25)
    rate = np.empty_like(beat_grid)
    t = np.zeros_like(beat_grid)
    for i in range(1, len(beat_grid)):  # seconds of each quarter beat under the swinging tempo
        rate[i] = bpm * (1 + depth * np.sin(2 * np.pi * t[i - 1] / period))
        t[i] = t[i - 1] + 0.25 * 60.0 / rate[i]
    rng = np.random.default_rng(seed)
    return lambda b: np.interp(b, beat_grid, t) + rng.uniform(-noise, noise) + 0.6


@pytest.mark.parametrize("pickup", [0, 1, 3])
def test_a_steady_song_is_tracked_on_its_beats_and_bars(tmp_path, pickup):
    path = performed(tmp_path / "steady.mid", downbeat_band(24, pickup), lambda b: 0.8 + b * 60 / 97)
    pm = pretty_midi.PrettyMIDI(str(path))
    notes = beats.notes_of(pm)
    assert beats.needs_tracking(pm, notes)
    found = beats.track_beats(notes)
    truth = 0.8 + np.arange(pickup + 4 * 24) * 60 / 97
    assert matched(truth, found.times) == 1.0 and matched(found.times[1:-1], truth) == 1.0
    assert found.tempo == pytest.approx(97, abs=0.5)
    assert matched(truth[pickup::4], found.times[found.downbeats]) == 1.0


def test_a_drifting_tempo_with_timing_noise_is_followed(tmp_path):
    seconds = drifting(100, noise=0.02)
    path = performed(tmp_path / "live.mid", downbeat_band(40, 2), seconds)
    found = beats.track_beats(beats.notes_of(pretty_midi.PrettyMIDI(str(path))))
    truth = drifting(100)(np.arange(2 + 4 * 40))
    assert np.ptp(60 / np.diff(truth)) > 9  # the tempo does swing (95..105 bpm)
    assert matched(truth, found.times) >= 0.95 and matched(found.times[1:-1], truth) >= 0.95
    assert matched(truth[2::4], found.times[found.downbeats]) >= 0.95


def test_what_sits_on_its_grid_keeps_it(tmp_path):
    quantized = write_midi(tmp_path / "grid.mid", band(8, "dpb"))
    two_tempos = performed(tmp_path / "two.mid", downbeat_band(8), lambda b: 0.3 + b * 0.61)
    mf = mido.MidiFile(str(two_tempos))
    mf.tracks.insert(0, mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(120), time=0),
                                        mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(90), time=3840)]))
    mf.save(str(two_tempos))
    for path in (quantized, two_tempos):
        pm = pretty_midi.PrettyMIDI(str(path))
        assert not beats.needs_tracking(pm, beats.notes_of(pm))
    assert beats.grid_fit(pretty_midi.PrettyMIDI(str(quantized)),
                          beats.notes_of(pretty_midi.PrettyMIDI(str(quantized)))) == pytest.approx((1.0, 0.0))


def test_too_little_music_gets_a_plain_grid_and_no_notes_none():
    few = beats.notes_from_arrays([0.5, 1.0, 1.5], [0.6, 1.1, 1.6], [60, 62, 64])
    plain = beats.track_beats(few)
    assert plain.tempo == pytest.approx(120) and plain.times[0] <= 0.5 and plain.times[-1] >= 1.6
    assert beats.track_beats(beats.notes_from_arrays([], [], [])) is None


def test_written_beats_start_the_file_and_the_shift_moves_bar_1():
    found = beats.Beats(times=0.7 + 0.6 * np.arange(20), phase=1, tempo=100.0)
    times, phase = reading.written_beats(found)  # 0.1 s is within a quarter beat of the start: moved there
    assert times[0] == 0.0 and np.allclose(times[1:], 0.7 + 0.6 * np.arange(20))
    assert times[phase] == pytest.approx(1.3)  # bar 1 stays where it was found
    assert reading.written_beats(found, shift=1)[1] == (phase + 1) % 4
    late = beats.Beats(times=0.35 + 0.6 * np.arange(20), phase=0, tempo=100.0)
    times, phase = reading.written_beats(late)  # a lead-in beat from 0 s
    assert times[0] == 0.0 and np.allclose(times[1:], 0.35 + 0.6 * np.arange(20)) and times[phase] == 0.35


def test_a_transcription_gets_a_tempo_map_on_its_beats_and_keeps_every_note_at_its_second(tiny_piano_exp,
                                                                                          tmp_path):
    seconds = drifting(93, noise=0.01, seed=3)
    song = performed(tmp_path / "live.mid", downbeat_band(16, 1), seconds, tpq=96)
    lines = []
    summary = acc.accompany(song, tiny_piano_exp, tmp_path / "band.mid", seed=0, log=lines.append)
    assert summary["beats"] == "notes" and "tracked from the notes" in lines[0] and "93 bpm" in lines[0]
    given, out = pretty_midi.PrettyMIDI(str(song)), pretty_midi.PrettyMIDI(str(tmp_path / "band.mid"))
    assert out.resolution == 480
    before = sorted((n.start, n.end, n.pitch) for i in given.instruments if i.name == "Piano" for n in i.notes)
    after = sorted((n.start, n.end, n.pitch) for i in out.instruments if i.name == "Piano" for n in i.notes)
    assert len(before) == len(after) and np.abs(np.array(before) - np.array(after)).max() < 1e-3
    truth = drifting(93)(np.arange(1 + 4 * 16))
    written = out.get_beats()
    assert matched(truth, written) == 1.0
    assert out.time_signature_changes[0].numerator == 2  # 0.6 s of lead-in and the pickup beat, then 4/4
    bar_1 = out.time_signature_changes[1]
    assert (bar_1.numerator, bar_1.denominator) == (4, 4) and abs(bar_1.time - truth[1]) < TOL
    steps = (written[:-1, None] + np.diff(written)[:, None] * np.arange(6) / 6).ravel()  # the model's 6 a beat
    band_onsets = [n.start for i in out.instruments if i.name != "Piano" for n in i.notes]
    assert band_onsets and min(band_onsets) >= bar_1.time - 1e-3
    assert all(np.min(np.abs(steps - t)) < 2e-3 for t in band_onsets)


def test_beats_file_and_auto_on_a_file_on_its_grid_write_the_same_bytes(tiny_piano_exp, tmp_path):
    song = write_midi(tmp_path / "grid.mid", band(8, "dpb"), tempos=((0, 100),))
    for mode in ("auto", "file"):
        summary = acc.accompany(song, tiny_piano_exp, tmp_path / f"{mode}.mid", seed=0, beats_mode=mode,
                                log=lambda line: None)
        assert summary["beats"] == "file"
    assert (tmp_path / "auto.mid").read_bytes() == (tmp_path / "file.mid").read_bytes()
    notes = acc.accompany(song, tiny_piano_exp, tmp_path / "notes.mid", seed=0, beats_mode="notes",
                          log=lambda line: None)
    assert notes["beats"] == "notes" and "100 bpm" in notes["tempo"]
    with pytest.raises(UsageError, match="--beats"):
        acc.accompany(song, tiny_piano_exp, tmp_path / "x.mid", beats_mode="audio")
