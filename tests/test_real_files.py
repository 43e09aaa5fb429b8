"""MIDI files as musicians bring them: meters that mark a pulse, no track of the model's family,
junk events, files without a conductor, and folders of them (`musegan accompany`).

The tiny model of conftest.tiny_piano_exp: 6 steps a beat, pitches 48..71, conditioned on piano.
"""
import subprocess
import sys
from pathlib import Path

import mido
import pytest

from conftest import band, downbeat_band, write_midi
from musegan import accompany as acc
from musegan.config import load_experiment
from musegan.errors import DataError
from musegan.music import midi
from musegan.music.song import read_song, select_parts

ROOT = Path(__file__).resolve().parents[1]
TPQ = 480
CONFIG = load_experiment(ROOT / "exp" / "accompaniment" / "piano")[0]


def run(exp, inp, out, **kw):
    logs, warnings = [], []
    summary = acc.accompany(inp, exp, out, log=logs.append, warn=warnings.append, **kw)
    return summary, logs, warnings


def absolute(track):
    tick, out = 0, []
    for msg in track:
        tick += msg.time
        if msg.type != "end_of_track":
            out.append((tick, msg))
    return out


def track_named(mf, name):
    return next(t for t in mf.tracks if any(m.type == "track_name" and m.name == name for m in t))


def meters_of(path):
    """[(beat, numerator, denominator)] of a file's time signatures."""
    mf = mido.MidiFile(str(path))
    return [(t / mf.ticks_per_beat, m.numerator, m.denominator) for t, m in absolute(mf.tracks[0])
            if m.type == "time_signature"]


def band_notes(path, names=("Drums", "Guitar", "Bass", "Strings")):
    """{track: [(start tick, end tick, pitch)]} of the generated tracks of an accompaniment."""
    out = {}
    for track in mido.MidiFile(str(path)).tracks:
        name = next((m.name for m in track if m.type == "track_name"), "")
        if name in names:
            out[name] = [(t, m.type, m.note) for t, m in absolute(track) if m.type in ("note_on", "note_off")]
    return out


# --------------------------------------------------------------------------- meters


def test_regrouped_band_s_bars_fall_where_the_written_music_s_are(tiny_piano_exp, tmp_path):
    """One song with a pickup beat, written properly (1/4 pickup, then 4/4) and as an exporter
    writes it (1/4 throughout): the band is the same, and the second file's output marks the
    bars the band played."""
    written = write_midi(tmp_path / "written.mid", downbeat_band(12, pickup=1), meters=[(0, 1, 4), (1, 4, 4)])
    pulse = write_midi(tmp_path / "pulse.mid", downbeat_band(12, pickup=1), meters=[(0, 1, 4)])
    a, _, told_a = run(tiny_piano_exp, written, tmp_path / "a.mid", seed=4)
    b, _, told_b = run(tiny_piano_exp, pulse, tmp_path / "b.mid", seed=4)
    assert not a["regrouped"] and b["regrouped"] and a["accompanied_bars"] == b["accompanied_bars"] == 12
    assert any("read in 4-beat bars" in t and "grouped in fours from their beat 2 (found from the music)" in t
               and "--downbeat-shift" in t for t in told_b)
    assert band_notes(tmp_path / "a.mid") == band_notes(tmp_path / "b.mid")
    assert meters_of(tmp_path / "b.mid") == [(0, 1, 4), (1, 4, 4)]  # as the written song says
    # the user's part, event for event
    for out in ("a.mid", "b.mid"):
        assert absolute(track_named(mido.MidiFile(str(tmp_path / out)), "Piano")) == \
            absolute(track_named(mido.MidiFile(str(pulse)), "Piano"))


def test_2_2_plays_as_4_4_and_mixed_2_4_is_regrouped(tiny_piano_exp, tmp_path):
    cut = write_midi(tmp_path / "cut.mid", band(8, "dp", pitch=60), meters=[(0, 2, 2)])
    summary, _, told = run(tiny_piano_exp, cut, tmp_path / "cut_band.mid", seed=0)
    assert summary["accompanied_bars"] == 8 and not told
    assert meters_of(tmp_path / "cut_band.mid") == [(0, 2, 2)]  # not regrouped: the written bars are played
    mixed = write_midi(tmp_path / "mixed.mid", band(12, "dp", pitch=60), meters=[(0, 4, 4), (16, 2, 4)])
    summary, _, told = run(tiny_piano_exp, mixed, tmp_path / "mixed_band.mid", seed=0)
    assert summary["accompanied_bars"] == 12 and summary["regrouped"]
    assert any("bars 5-20 (2/4, 32 beats) grouped in fours from their beat 1 (continuing the bars before)" in t for t in told)
    assert meters_of(tmp_path / "mixed_band.mid") == [(0, 4, 4)]


def test_a_waltz_is_refused_unless_the_user_asks_for_4_beat_bars(tiny_piano_exp, tmp_path):
    waltz = write_midi(tmp_path / "waltz.mid", band(8, "p", pitch=60), meters=[(0, 3, 4)])
    with pytest.raises(midi.MidiDataError, match=r"no 4/4 bar to accompany \(meters: 3/4\).*--meter 4/4") as e:
        run(tiny_piano_exp, waltz, tmp_path / "out.mid")
    assert e.value.reason == midi.NOT_FOUR
    summary, _, told = run(tiny_piano_exp, waltz, tmp_path / "out.mid", seed=0, meter_mode="4/4")
    assert summary["accompanied_bars"] == 8 and summary["regrouped"] and any("--meter 4/4" in t for t in told)
    assert meters_of(tmp_path / "out.mid")[0][1:] == (4, 4)


# --------------------------------------------------------------------------- junk and odd files


def test_a_stray_far_event_is_ignored_and_a_file_without_conductor_events_is_read(tiny_piano_exp, tmp_path):
    mf = mido.MidiFile(type=1, ticks_per_beat=TPQ)
    track = mido.MidiTrack([mido.Message("program_change", program=0)])
    for beat in range(32):
        track += [mido.Message("note_on", note=60 + beat % 7, velocity=90, time=0 if beat == 0 else 120),
                  mido.Message("note_off", note=60 + beat % 7, time=360)]
    track.append(mido.Message("control_change", control=98, value=32, time=2 ** 32 - 48))
    mf.tracks.append(track)  # no tempo, no meter, no conductor: 120 bpm 4/4 as MIDI says
    mf.save(str(tmp_path / "in.mid"))
    summary, _, told = run(tiny_piano_exp, tmp_path / "in.mid", tmp_path / "out.mid", seed=0)
    assert summary["bars"] == summary["accompanied_bars"] == 8
    assert len(told) == 1 and "ignored 1 stray event after the last note" in told[0]


# --------------------------------------------------------------------------- the part that plays the role


def _song(tmp_path, name, parts, lyrics=()):
    path = write_midi(tmp_path / name, parts)
    if lyrics:
        mf = mido.MidiFile(str(path))
        words, last = mido.MidiTrack([mido.MetaMessage("track_name", name="Words")]), 0
        for beat in lyrics:
            words.append(mido.MetaMessage("lyrics", text="la", time=int(beat * TPQ) - last))
            last = int(beat * TPQ)
        mf.tracks.append(words)
        mf.save(str(path))
    return read_song(path, CONFIG)


PAD = dict(program=89, name="Warm pad", notes=[(p, 4 * b, 4 * b + 4) for b in range(8) for p in (55, 60, 64, 67)])
FLUTE = dict(program=73, name="Flute", notes=[(72 + b % 5, b, b + 0.5) for b in range(32)])
SYNTH_BASS = dict(program=81, name="Synth low", notes=[(36 + b % 3, 2 * b, 2 * b + 1.5) for b in range(16)])
CELLO = dict(program=42, name="Cello", notes=[(43, 4 * b, 4 * b + 3.5) for b in range(8)])
KIT = dict(drum=True, name="Kit", notes=[(36 + 2 * (b % 2), b, b + 0.25) for b in range(32)])
KEYS = dict(program=0, name="Keys", notes=[(p, 4 * b, 4 * b + 3.9) for b in range(8) for p in (60, 64, 67)])
STRUM = dict(program=25, name="Strum", notes=[(p, 2 * b, 2 * b + 1.9) for b in range(16) for p in (52, 57, 62)])
BASS = dict(program=33, name="Bass", notes=[(36, 2 * b, 2 * b + 1) for b in range(16)])
TUNE = [(67 + (3 * b) % 7, 0.5 + 1.5 * b, 1.5 * b + 1.75) for b in range(20)]


@pytest.mark.parametrize("model, parts, lyrics, taken, why", [
    ("Piano", [FLUTE, PAD, SYNTH_BASS, KIT], (), "Warm pad", "the most chordal part (4.0 notes at a time)"),
    ("Guitar", [FLUTE, PAD, SYNTH_BASS, KIT], (), "Warm pad", "the most chordal part in the middle register"),
    ("Bass", [FLUTE, PAD, CELLO, KIT], (), "Cello", "the lowest one-note part (middle pitch G2)"),
    ("Strings", [KEYS, STRUM, BASS, dict(program=4, name="Track 5", notes=TUNE)], [n[1] for n in TUNE],
     "Track 5", "the sung melody"),
    ("Strings", [KEYS, STRUM, BASS, dict(program=4, name="Lead vocal", notes=TUNE)], (), "Lead vocal",
     "the melody (by its name)"),
    ("Strings", [KEYS, STRUM, BASS, dict(program=4, name="Track 5", notes=TUNE)], (), "Track 5",
     "the highest one-note part, the melody"),
    ("Drums", [KEYS, KIT, BASS], (), "Kit", None),  # a drum part is the drums family: taken as is
])
def test_without_a_part_of_its_family_each_model_takes_the_part_that_plays_its_role(
        tmp_path, model, parts, lyrics, taken, why):
    song = _song(tmp_path, "in.mid", parts, lyrics)
    told = []
    (part,) = select_parts(song, None, model, told.append)
    assert part.name == taken
    if why is None:
        assert not told
    else:
        assert len(told) == 1 and f"no {model.lower()} part: taking track {part.label}, {why}" in told[0]
        assert "--track" in told[0]


def test_only_a_file_where_no_part_can_play_the_role_is_refused(tmp_path):
    with pytest.raises(midi.MidiDataError, match="no drum part .MIDI channel 10.") as e:
        select_parts(_song(tmp_path, "a.mid", [KEYS, BASS]), None, "Drums")
    assert e.value.reason == midi.NO_PART
    with pytest.raises(midi.MidiDataError, match="only drum parts: none can play the model's piano part"):
        select_parts(_song(tmp_path, "b.mid", [KIT, dict(KIT, name="Toms")]), None, "Piano")


def test_a_family_part_with_no_usable_note_gives_way_to_the_role_s_part(tiny_piano_exp, tmp_path):
    # the piano part is all out of the tiny model's range (48..71): the pad plays the piano's role
    low = dict(program=0, name="Low piano", notes=[(30, b, b + 1) for b in range(32)])
    pad = dict(PAD, notes=[(p, 4 * b, 4 * b + 4) for b in range(8) for p in (55, 60, 64)])
    inp = write_midi(tmp_path / "in.mid", [low, pad])
    summary, _, told = run(tiny_piano_exp, inp, tmp_path / "out.mid", seed=0)
    assert summary["parts"][0].startswith("1 'Warm pad'")
    assert any("the piano part 0 'Low piano' (piano, 32 notes) has no note the model can use: taking track 1 "
               "'Warm pad'" in t for t in told)


# --------------------------------------------------------------------------- folders


def test_a_folder_one_line_a_file_refusals_grouped_a_broken_file_never_stops_the_run(tiny_piano_exp, tmp_path):
    songs = tmp_path / "songs"
    write_midi(songs / "a.mid", band(8, "dp", pitch=60))
    write_midi(songs / "sub" / "pulse.mid", downbeat_band(8, pickup=2), meters=[(0, 2, 4)])
    write_midi(songs / "sub" / "waltz.mid", band(6, "p", pitch=60), meters=[(0, 3, 4)])
    (songs / "broken.mid").write_bytes(b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x01\xe0MTrk\x00\x00\x00\x04\x00\x90")
    (songs / "notes.txt").write_text("not music")
    proc = subprocess.run([sys.executable, "-m", "musegan", "accompany", str(songs), "--exp", str(tiny_piano_exp),
                           "--out", str(tmp_path / "bands"), "--seed", "3"],
                          capture_output=True, text=True, cwd=ROOT, timeout=180)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(f"accompanying 4 MIDI files below {songs}")
    per_file = [line for line in lines if line.startswith("[")]
    assert [line.split("] ", 1)[1].split(":", 1)[0] for line in per_file] == [
        "a.mid", "broken.mid", "sub/pulse.mid", "sub/waltz.mid"]
    assert "refused: truncated" in per_file[1] and "refused: no 4/4 bar to accompany" in per_file[3]
    assert "accompanied 8 of 9 bars" in per_file[2] and "read in 4-beat bars" in per_file[2]  # 2 beats of pickup
    assert f"accompanied 2 of 4 files into {tmp_path / 'bands'}; refused 2:" in proc.stdout
    assert "  corrupt (1): broken.mid" in proc.stdout and "  not_4_beats (1): sub/waltz.mid" in proc.stdout
    assert sorted(p.relative_to(tmp_path / "bands").as_posix() for p in (tmp_path / "bands").rglob("*.*")) == [
        "a.mid", "a.png", "sub/pulse.mid", "sub/pulse.png"]
    assert "Traceback" not in proc.stderr
    # the same seed for every file: a file accompanied alone gives the same bytes
    run(tiny_piano_exp, songs / "a.mid", tmp_path / "alone.mid", seed=3)
    assert (tmp_path / "alone.mid").read_bytes() == (tmp_path / "bands" / "a.mid").read_bytes()


def test_a_folder_where_nothing_can_be_accompanied_is_an_error(tiny_piano_exp, tmp_path):
    (tmp_path / "songs").mkdir()
    (tmp_path / "songs" / "empty.mid").write_bytes(b"")
    with pytest.raises(DataError, match="none of its 1 MIDI files could be accompanied"):
        run(tiny_piano_exp, tmp_path / "songs", tmp_path / "bands")
    (tmp_path / "nothing").mkdir()
    with pytest.raises(DataError, match="no MIDI files"):
        run(tiny_piano_exp, tmp_path / "nothing", tmp_path / "more")
