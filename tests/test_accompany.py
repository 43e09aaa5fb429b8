"""`musegan accompany` end to end on a tiny untrained model (made here, once per module).

Tiny model: 4-bar phrases of 24 steps a bar (6 per beat), pitches 48..71, five
tracks Drums, Piano, Guitar, Bass, Strings, conditioned on Piano.
"""
import subprocess
import sys
from pathlib import Path

import imageio.v2 as imageio
import mido
import numpy as np
import pretty_midi
import pytest

from musegan import accompany as acc
from musegan.music.song import part_events, read_song, select_parts
from musegan.music import images, timing
from musegan.config import load_experiment
from musegan.errors import UsageError

TPQ = 480
STEP = TPQ // 6  # ticks per step of the tiny model's grid
ROOT = Path(__file__).resolve().parents[1]
GENERATED = {"Drums": (0, True), "Guitar": (25, False), "Bass": (33, False), "Strings": (48, False)}


@pytest.fixture(scope="module")
def exp(tiny_piano_exp):
    return tiny_piano_exp


def write_song(path, parts, tempos=((0, 120),), meters=((0, 4, 4),), type_=1):
    """parts: dicts name, program, channel, notes [(pitch, start, end, velocity)] in ticks,
    controls [(tick, control, value)], bends [(tick, value)]; tempos (tick, bpm); meters (tick, n, d)."""
    conductor = [(t, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(b))) for t, b in tempos]
    conductor += [(t, mido.MetaMessage("time_signature", numerator=n, denominator=d)) for t, n, d in meters]
    tracks = [conductor]
    for part in parts:
        ch = part.get("channel", 0)
        events = [(0, mido.MetaMessage("track_name", name=part["name"]))] if part.get("name") else []
        events.append((0, mido.Message("program_change", channel=ch, program=part.get("program", 0))))
        events += [(t, mido.Message("control_change", channel=ch, control=c, value=v))
                   for t, c, v in part.get("controls", [])]
        events += [(t, mido.Message("pitchwheel", channel=ch, pitch=v)) for t, v in part.get("bends", [])]
        for pitch, start, end, velocity in part["notes"]:
            events.append((start, mido.Message("note_on", channel=ch, note=pitch, velocity=velocity)))
            events.append((end, mido.Message("note_off", channel=ch, note=pitch, velocity=0)))
        tracks.append(events)
    if type_ == 0:
        tracks = [[e for t in tracks for e in t]]
    mf = mido.MidiFile(type=type_, ticks_per_beat=TPQ)
    for events in tracks:
        track, last = mido.MidiTrack(), 0
        for tick, msg in sorted(events, key=lambda e: (e[0], e[1].type == "note_on")):
            track.append(msg.copy(time=tick - last))
            last = tick
        mf.tracks.append(track)
    mf.save(str(path))
    return path


def piano(n_bars, name="Keys", program=2, channel=0, low=50):
    """Quarter notes (some a little early or late, some out of the model's range) with varied
    velocities, a held note each bar, pedal and volume controls and a pitch bend."""
    notes = []
    for beat in range(4 * n_bars):
        start = beat * TPQ + (0, 9, -7)[beat % 3] * (beat > 0)
        notes.append((low + (beat * 5) % 20, start, start + TPQ - 40, 40 + (beat * 13) % 80))
        if beat % 4 == 0:
            notes.append((low + 14 if beat % 8 else 90, beat * TPQ, beat * TPQ + 3 * TPQ, 100))
    controls = [(0, 7, 96)] + [(b * 4 * TPQ + 5, 64, 127) for b in range(n_bars)]
    controls += [(b * 4 * TPQ + 4 * TPQ - 5, 64, 0) for b in range(n_bars)]
    return dict(name=name, program=program, channel=channel, notes=notes, controls=controls,
                bends=[(TPQ * 3, 1200), (TPQ * 5, 0)])


def bass(n_bars, name="Low", program=33, channel=1):
    return dict(name=name, program=program, channel=channel,
                notes=[(48 + (b % 4), b * 2 * TPQ, b * 2 * TPQ + TPQ, 90) for b in range(2 * n_bars)])


def absolute(track):
    tick, out = 0, []
    for msg in track:
        tick += msg.time
        if msg.type != "end_of_track":
            out.append((tick, msg.copy(time=0)))
    return out


def track_named(mf, name):
    return next(t for t in mf.tracks if any(m.type == "track_name" and m.name == name for m in t))


def instrument(pm, name):
    return next(i for i in pm.instruments if i.name == name)


def notes_of(inst):
    return [(n.start, n.end, n.pitch, n.velocity) for n in inst.notes]


def assert_part_copied(inp, out, name):
    """The part is in the output event for event, and pretty_midi reads the same notes and controls."""
    assert absolute(track_named(mido.MidiFile(str(out)), name)) == absolute(track_named(mido.MidiFile(str(inp)), name))
    a, b = instrument(pretty_midi.PrettyMIDI(str(inp)), name), instrument(pretty_midi.PrettyMIDI(str(out)), name)
    assert notes_of(a) == notes_of(b) and len(a.notes) > 0
    assert a.program == b.program
    assert [(c.time, c.number, c.value) for c in a.control_changes] == \
           [(c.time, c.number, c.value) for c in b.control_changes]
    assert [(p.time, p.pitch) for p in a.pitch_bends] == [(p.time, p.pitch) for p in b.pitch_bends]


def generated_ticks(out):
    """{track name: (channel, program, [absolute ticks of its note events])} of the generated tracks."""
    found = {}
    for track in mido.MidiFile(str(out)).tracks:
        name = next((m.name for m in track if m.type == "track_name"), "")
        if name in GENERATED:
            events = absolute(track)
            program = next(m.program for _, m in events if m.type == "program_change")
            notes = [(t, m) for t, m in events if m.type in ("note_on", "note_off")]
            found[name] = ({m.channel for _, m in notes} or {None}, program, [t for t, _ in notes])
    return found


def run(exp, inp, out, **kw):
    logs, warnings = [], []
    summary = acc.accompany(inp, exp, out, log=logs.append, warn=warnings.append, **kw)
    return summary, logs, warnings


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "musegan", "accompany", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd or ROOT, timeout=120)


# --------------------------------------------------------------------------- end to end


def test_tempo_changes_part_copied_and_band_on_the_song_grid(exp, tmp_path):
    inp = write_song(tmp_path / "in.mid", [piano(8), bass(8)],
                     tempos=((0, 120), (14 * TPQ, 84), (20 * TPQ + 240, 150)))
    out = tmp_path / "out.mid"
    summary, logs, warnings = run(exp, inp, out, seed=0)
    assert summary["parts"] == [select_parts(read_song(inp, load_experiment(exp)[0]), None, "Piano")[0].label]
    assert not warnings and summary["bars"] == 8 and summary["phrases"] == 2
    assert_part_copied(inp, out, "Keys")
    assert "Low" not in [i.name for i in pretty_midi.PrettyMIDI(str(out)).instruments]

    # Generated notes sit on the song's own grid: in ticks and, through the tempo changes, in seconds.
    in_pm, out_pm = pretty_midi.PrettyMIDI(str(inp)), pretty_midi.PrettyMIDI(str(out))
    grid = timing.song_grid(in_pm, 6)
    found = generated_ticks(out)
    assert set(found) == set(GENERATED)
    for name, (channels, program, ticks) in found.items():
        assert program == GENERATED[name][0]
        assert (channels == {9}) == GENERATED[name][1] and (9 not in channels or name == "Drums")
        assert 0 not in channels  # the user's channel stays the user's
        assert all(t % STEP == 0 and t <= 32 * TPQ for t in ticks)
    starts = np.array([n.start for i in out_pm.instruments if i.name in GENERATED for n in i.notes])
    assert len(starts) and np.abs(grid.step_times[np.searchsorted(grid.step_times, starts - 1e-6)] - starts).max() < 1e-6
    assert {i.name: (i.program, i.is_drum) for i in out_pm.instruments if i.name in GENERATED} == GENERATED
    np.testing.assert_allclose(out_pm.get_tempo_changes()[1], in_pm.get_tempo_changes()[1])
    assert out_pm.get_end_time() >= in_pm.get_end_time() - 1e-6
    assert mido.MidiFile(str(out)).ticks_per_beat == TPQ


def test_13_bars_whole_song_padded_phrase_and_picture(exp, tmp_path):
    inp = write_song(tmp_path / "in.mid", [piano(13, name="Piano", program=0)], tempos=((0, 100),))
    out = tmp_path / "song.mid"
    summary, logs, warnings = run(exp, inp, out, seed=1)
    assert (summary["bars"], summary["accompanied_bars"], summary["phrases"]) == (13, 13, 4)
    assert not warnings
    assert_part_copied(inp, out, "Piano")
    end = 13 * 4 * TPQ
    ticks = [t for _, _, tt in generated_ticks(out).values() for t in tt]
    assert ticks and max(ticks) <= end and all(t % STEP == 0 for t in ticks)
    assert any(t >= 12 * 4 * TPQ for t in ticks)  # the padded last phrase kept its real bar
    image = imageio.imread(out.with_suffix(".png"))  # 13 bars: a row of 8 and a row of 5, RGB
    assert image.ndim == 3 and image.shape[1] == images.LABEL_PX + images.SONG_ROW_PX + images.MARGIN
    given = np.all(np.abs(image[images.LEGEND_PX:].astype(float) - 255 * images.TRACK_COLORS[1]) <= 2, axis=-1)
    rows = np.flatnonzero(given.any(axis=1))
    assert (np.diff(rows) > 1).sum() >= 1  # the given part's notes in both rows
    assert pretty_midi.PrettyMIDI(str(out)).get_end_time() >= pretty_midi.PrettyMIDI(str(inp)).get_end_time()


def test_mixed_meters_leave_other_bars_unaccompanied(exp, tmp_path):
    # 4 bars of 4/4, 2 of 3/4, 4 of 4/4
    meters = ((0, 4, 4), (16 * TPQ, 3, 4), (22 * TPQ, 4, 4))
    notes = [(60 + b % 5, b * TPQ, b * TPQ + 400, 80) for b in range(38)]
    inp = write_song(tmp_path / "in.mid", [dict(name="Piano", notes=notes)], meters=meters)
    summary, _, warnings = run(exp, inp, tmp_path / "out.mid", seed=2)
    assert summary["bars"] == 10 and summary["accompanied_bars"] == 8 and summary["phrases"] == 2
    assert len(warnings) == 1 and "bars 5-6" in warnings[0] and "3/4" in warnings[0]
    ticks = [t for _, _, tt in generated_ticks(tmp_path / "out.mid").values() for t in tt]
    assert ticks and not any(16 * TPQ < t < 22 * TPQ for t in ticks)


def test_seed_reproduces_latents_differ_overwrite_replaces(exp, tmp_path):
    inp = write_song(tmp_path / "in.mid", [piano(8, name="Piano")])
    out = tmp_path / "out.mid"
    run(exp, inp, out, seed=7)
    first = out.read_bytes()
    with pytest.raises(UsageError, match="already exists"):
        run(exp, inp, out, seed=7)
    run(exp, inp, out, seed=7, overwrite=True)
    assert out.read_bytes() == first
    run(exp, inp, out, seed=7, latent="phrase", overwrite=True)
    assert out.read_bytes() != first
    assert_part_copied(inp, out, "Piano")


@pytest.mark.parametrize("multitrack", ["hybrid", "composer", "jamming"])
def test_latents_shared_by_the_song_fresh_per_phrase_or_the_style_kept(multitrack):
    from musegan import config
    from musegan.nets import spec

    params = {**config.load_params(), "multitrack": multitrack}
    size = spec.latent_size(params)
    z = acc.latents(np.random.default_rng(0), 5, params, "song")
    assert z.shape == (5, size) and (z == z[0]).all()
    z = acc.latents(np.random.default_rng(0), 5, params, "phrase")
    assert all(len(np.unique(z[:, i])) == 5 for i in range(size))
    z = acc.latents(np.random.default_rng(0), 5, params, "style")
    slices = spec.latent_slices(params)
    for kind, spans in slices.items():
        for a, b in spans:
            kept = (z[:, a:b] == z[0, a:b]).all()
            assert kept == (kind in ("z", "z_i")), kind     # time-independent: one for the song
    assert set(slices) & {"z_t", "z_it"}


@pytest.mark.parametrize("latent, same", [("song", True), ("style", False)])
def test_a_repeated_part_gets_the_same_band_phrase_only_with_one_latent_for_the_song(exp, tmp_path, monkeypatch,
                                                                                     latent, same):
    chord = [(p, bar * 4 * TPQ, bar * 4 * TPQ + 4 * TPQ - 60, 90) for bar in range(8) for p in (48, 60, 64, 67)]
    inp = write_song(tmp_path / "in.mid", [dict(name="Piano", notes=chord)])
    phrases, generate = [], acc.generate

    def spy(*args, **kw):
        x, timings = generate(*args, **kw)
        phrases.append(x)
        return x, timings

    monkeypatch.setattr(acc, "generate", spy)
    summary, _, _ = run(exp, inp, tmp_path / "out.mid", seed=3, latent=latent)
    (x,) = phrases
    assert summary["phrases"] == len(x) == 2
    from musegan.config import condition_index, load_experiment

    band = np.delete(x, condition_index(load_experiment(exp)[1]), axis=-1)   # the generated tracks
    assert 0 < band[0].mean() < 1
    assert (band[0] == band[1]).all() == same


def test_latents_must_be_known(exp, tmp_path):
    inp = write_song(tmp_path / "in.mid", [piano(4, name="Piano")])
    with pytest.raises(UsageError, match="--latents bar: must be one of song, style, phrase"):
        run(exp, inp, tmp_path / "out.mid", latent="bar")
    assert not (tmp_path / "out.mid").exists()


def test_track_by_name_end_to_end_and_wav(exp, tmp_path):
    inp = write_song(tmp_path / "in.mid", [bass(4, name="Low"), piano(4, name="Keys")])
    out = tmp_path / "out.mid"
    summary, _, warnings = run(exp, inp, out, track="low", seed=3, wav=True)
    assert summary["parts"][0].startswith("0 'Low'") and len(warnings) == 1 and "bass" in warnings[0]
    assert_part_copied(inp, out, "Low")
    assert out.with_suffix(".wav").stat().st_size > 44


# --------------------------------------------------------------------------- choosing the part


def test_track_selection_by_index_name_family(tmp_path):
    config = load_experiment(ROOT / "exp" / "accompaniment" / "piano")[0]
    parts = [piano(2, name="Keys"), bass(2, name="Low"), dict(name="Lead", program=27, channel=2,
                                                               notes=[(64, 0, 480, 90)]),
             piano(2, name="Right hand", program=1, channel=3)]
    song = read_song(write_song(tmp_path / "in.mid", parts), config)
    assert [(p.track, p.name, p.family) for p in song.parts] == [
        (1, "Keys", "piano"), (2, "Low", "bass"), (3, "Lead", "guitar"), (4, "Right hand", "piano")]
    names = lambda spec: [p.name for p in select_parts(song, spec, "Piano")]  # noqa: E731
    assert names(None) == ["Keys", "Right hand"]  # every part of the condition's family
    assert names("2") == ["Lead"]
    assert names("LOW") == ["Low"]
    assert names("guitar") == ["Lead"]
    assert names("right hand,0") == ["Right hand", "Keys"]
    for spec, message in (("7", "has tracks 0..3"), ("drums", "no drums track"), ("Tuba", "no track of that")):
        with pytest.raises(UsageError, match=message):
            select_parts(song, spec, "Piano")
    told = []
    assert [p.name for p in select_parts(song, None, "Strings", told.append)] == ["Lead"]  # its role's part
    assert len(told) == 1 and "no strings part: taking track 2 'Lead'" in told[0] and "--track" in told[0]


def test_type0_file_parts_by_channel(tmp_path):
    config = load_experiment(ROOT / "exp" / "accompaniment" / "piano")[0]
    inp = write_song(tmp_path / "in.mid", [piano(2, name="", channel=0), bass(2, name="", channel=1)], type_=0)
    song = read_song(inp, config)
    assert [(p.track, p.channel, p.family) for p in song.parts] == [(0, 0, "piano"), (0, 1, "bass")]
    (part,) = select_parts(song, None, "Piano")
    events = part_events(song, part)
    assert {m.channel for _, m in events if hasattr(m, "channel")} == {0}
    assert not any(m.type == "set_tempo" for _, m in events)
    assert any(m.type == "set_tempo" for _, m in song.conductor)


# --------------------------------------------------------------------------- errors, through the real CLI


def _assert_one_line_error(proc, out, code, *needles):
    assert proc.returncode == code, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("musegan accompany: error:"), proc.stderr
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in lines[0]
    assert not [p for p in out.parent.iterdir() if p.name.startswith(out.stem)]


def test_cli_errors_are_one_line_and_write_nothing(exp, tmp_path):
    out = tmp_path / "outs" / "out.mid"
    out.parent.mkdir()
    empty = write_song(tmp_path / "empty.mid", [dict(name="Piano", notes=[])])
    _assert_one_line_error(cli(empty, "--exp", exp, "--out", out), out, 1, "no notes")
    garbage = tmp_path / "garbage.mid"
    garbage.write_bytes(b"MThd\x00\x00\x00\x06 this is not a MIDI file")
    _assert_one_line_error(cli(garbage, "--exp", exp, "--out", out), out, 1, "not a readable MIDI file")
    waltz = write_song(tmp_path / "waltz.mid", [dict(name="Piano", notes=[(60, b * TPQ, b * TPQ + 400, 80)
                                                                        for b in range(24)])],
                       meters=((0, 3, 4),))
    _assert_one_line_error(cli(waltz, "--exp", exp, "--out", out), out, 1, "no 4/4 bar", "3/4")
    drums = write_song(tmp_path / "drums.mid", [dict(name="Kit", channel=9, notes=[(36, 0, 240, 90)]),
                                                 dict(name="Toms", channel=9, notes=[(45, 0, 240, 90)])])
    _assert_one_line_error(cli(drums, "--exp", exp, "--out", out), out, 1, "only drum parts", "piano",
                           "0 'Kit' (drums", "1 'Toms' (drums")


def test_cli_refuses_existing_output(exp, tmp_path):
    inp = write_song(tmp_path / "in.mid", [piano(4, name="Piano")])
    out = tmp_path / "out.mid"
    out.write_bytes(b"mine")
    proc = cli(inp, "--exp", exp, "--out", out)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "--overwrite" in proc.stderr
    assert out.read_bytes() == b"mine" and not out.with_suffix(".png").exists()


def test_cli_arranging_options_and_the_band_as_drawn(exp, tmp_path):
    from musegan.arrange import AS_DRAWN, Arranging

    inp = write_song(tmp_path / "in.mid", [piano(12, name="Piano")])
    run(exp, inp, tmp_path / "drawn.mid", seed=4, arranging=AS_DRAWN)
    run(exp, inp, tmp_path / "default.mid", seed=4)
    run(exp, inp, tmp_path / "sparse.mid", seed=4, arranging=Arranging(rests=3))
    assert (tmp_path / "default.mid").read_bytes() != (tmp_path / "drawn.mid").read_bytes()
    assert (tmp_path / "sparse.mid").read_bytes() != (tmp_path / "default.mid").read_bytes()
    out = tmp_path / "outs" / "out.mid"
    out.parent.mkdir()
    proc = cli(inp, "--exp", exp, "--out", out, "--seed", 4, "--style-candidates", 1, "--phrase-candidates", 1,
               "--rests", 0)
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes() == (tmp_path / "drawn.mid").read_bytes()
    assert "the style the best" not in proc.stdout and "rests" not in proc.stdout
    out.unlink(), out.with_suffix(".png").unlink()
    for option, value in (("--style-candidates", 0), ("--phrase-candidates", -1), ("--rests", 5)):
        _assert_one_line_error(cli(inp, "--exp", exp, "--out", out, option, value), out, 2, f"{option} {value}")
