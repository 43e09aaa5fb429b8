"""musegan.music.audio: MIDI -> WAV with FluidSynth when installed, sine synthesis otherwise.

FluidSynth's tests skip where it is not installed, but never in CI (CI=true), whose
.ci/run installs it: there a missing FluidSynth fails them."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pretty_midi
import pytest
from scipy.io import wavfile

from musegan.music import audio
from musegan.errors import DataError, UsageError

FS = 22050  # half rate: same code paths, half the work
SYNTH = audio.synthesizer()
needs_fluidsynth = pytest.mark.skipif(
    SYNTH is None and os.environ.get("CI", "") in ("", "0", "false"),
    reason="FluidSynth or a GM soundfont is not installed (apt-get install fluidsynth fluid-soundfont-gm)")
BAND = Path(__file__).resolve().parents[1] / "examples" / "piano_example_band.mid"


def piano_and_drums():
    """One 4/4 bar at 120 bpm (2 s): a piano line and kick/snare/hi-hat."""
    piano = dict(program=0, name="Piano", notes=[(60, 0, 1), (64, 1, 2), (67, 2, 3), (72, 3, 4)])
    drums = dict(drum=True, name="Drums", notes=[(36, 0, 0.5), (42, 0.5, 0.6), (38, 1, 1.5), (42, 1.5, 1.6),
                                                 (36, 2, 2.5), (42, 2.5, 2.6), (38, 3, 3.5), (49, 3.5, 4)])
    return [piano, drums]


def read(path):
    fs, pcm = wavfile.read(path)
    assert pcm.dtype == np.int16
    x = pcm.astype(np.float64) / 32768
    return fs, x if x.ndim == 2 else x[:, None]


def rms(x):
    return float(np.sqrt(np.mean(x ** 2)))


def end_time(path):
    return pretty_midi.PrettyMIDI(str(path)).get_end_time()


@pytest.fixture
def song(make_midi):
    return make_midi("song.mid", piano_and_drums())


def test_sine_fallback_duration_and_level(song, tmp_path):
    out = audio.render(song, tmp_path / "song.wav", sample_rate=FS, engine="sine")
    fs, x = read(out)
    assert fs == FS and x.shape[1] == 1
    # the last hit is a cymbal at 3.5 beats = 1.75 s: its 0.5 s wash ends 0.25 s after the notes
    assert end_time(song) == pytest.approx(2.0)
    assert 2.0 <= len(x) / fs <= 2.0 + 0.3
    assert rms(x) > 0.05
    assert np.abs(x).max() == pytest.approx(10 ** (-1 / 20), abs=1e-3)  # normalised to -1 dBFS
    assert sorted(p.name for p in tmp_path.iterdir()) == ["song.mid", "song.wav"]  # no temp file left


def test_sine_fallback_drums_alone_are_heard(make_midi, tmp_path):
    drums = make_midi("drums.mid", [piano_and_drums()[1]])
    fs, x = read(audio.render(drums, tmp_path / "drums.wav", sample_rate=FS, engine="sine"))
    assert rms(x) > 0.02
    # every hit sounds: the first 50 ms after each beat is loud
    for beat in range(4):
        i = int(beat * 0.5 * fs)
        assert np.abs(x[i:i + int(0.05 * fs)]).max() > 0.1


def test_without_synthesizer_one_hint_line_then_sine(song, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(audio, "fluidsynth_command", lambda: None)
    monkeypatch.setattr(audio, "_hinted", False)
    assert audio.synthesizer() is None
    audio.render(song, tmp_path / "a.wav", sample_rate=FS)
    audio.render(song, tmp_path / "b.wav", sample_rate=FS)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1  # once per process, not once per file
    assert "apt-get install fluidsynth fluid-soundfont-gm" in err[0] and "brew install fluid-synth" in err[0]
    fs, x = read(tmp_path / "a.wav")
    assert x.shape[1] == 1 and rms(x) > 0.05
    with pytest.raises(UsageError, match="apt-get install"):
        audio.render(song, tmp_path / "c.wav", sample_rate=FS, engine="fluidsynth")


def test_fluidsynth_without_soundfont_hints_at_one(song, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(audio, "fluidsynth_command", lambda: "/usr/bin/fluidsynth")
    monkeypatch.setattr(audio, "find_soundfont", lambda: None)
    monkeypatch.setattr(audio, "_hinted", False)
    assert audio.synthesizer() is None
    fs, x = read(audio.render(song, tmp_path / "a.wav", sample_rate=FS))
    assert x.shape[1] == 1 and rms(x) > 0.05
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "fluid-soundfont-gm" in err[0] and "--soundfont" in err[0]


def test_no_notes_is_silence_not_an_error(make_midi, tmp_path):
    empty = make_midi("empty.mid", [dict(program=0, notes=[])])
    fs, x = read(audio.render(empty, tmp_path / "empty.wav", sample_rate=FS))
    assert not x.any()


@needs_fluidsynth
def test_fluidsynth_duration_and_level(song, tmp_path):
    out = audio.render(song, tmp_path / "song.wav", sample_rate=FS, engine="fluidsynth")
    fs, x = read(out)
    assert fs == FS and x.shape[1] == 2
    # the release/reverb tail is kept only down to -60 dB, at most TAIL_MAX seconds
    assert 2.0 <= len(x) / fs <= 2.0 + audio.TAIL_MAX + 0.01
    assert rms(x[:2 * fs]) > 0.05
    assert sorted(p.name for p in tmp_path.iterdir()) == ["song.mid", "song.wav"]


@needs_fluidsynth
def test_fluidsynth_drums_alone_are_heard(make_midi, tmp_path):
    drums = make_midi("drums.mid", [piano_and_drums()[1]])
    fs, x = read(audio.render(drums, tmp_path / "drums.wav", sample_rate=FS, engine="fluidsynth"))
    assert rms(x[:2 * fs]) > 0.02


@needs_fluidsynth
def test_unusable_default_soundfont_falls_back_to_sine(song, tmp_path, monkeypatch, capsys):
    bad = tmp_path / "broken.sf2"
    bad.write_bytes(b"RIFF\0\0\0\0sfbk" + bytes(1000))  # looks like one, FluidSynth cannot load it
    monkeypatch.setattr(audio, "find_soundfont", lambda: str(bad))
    fs, x = read(audio.render(song, tmp_path / "song.wav", sample_rate=FS))
    assert x.shape[1] == 1 and rms(x) > 0.05  # the sine fallback, not FluidSynth's silence
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "FluidSynth failed" in err[0]


def third_octave_spectrum(x: np.ndarray, fs: int) -> np.ndarray:
    """Share of the energy of mono `x` in each third-octave band from 40 Hz to 10 kHz."""
    power = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(len(x), 1 / fs)
    edges = 40 * 2 ** (np.arange(25) / 3)
    bands = np.array([power[(f >= lo) & (f < hi)].sum() for lo, hi in zip(edges[:-1], edges[1:])])
    return bands / bands.sum()


@needs_fluidsynth
def test_every_instrument_of_the_example_band_is_heard():
    """The example band, track by track: each of the five instruments sounds on its own (within
    15 dB of the band), the band is their sum (nothing lost or masked by the mixing), and each
    sounds like itself: five distinct spectra, the drums the brightest, the bass the lowest."""
    full, used = audio.synthesize(BAND, FS, engine="fluidsynth")
    assert used.startswith("FluidSynth") and full.shape[1] == 2
    names = ["Drums", "Piano", "Guitar", "Bass", "Strings"]
    stems = {name: audio.synthesize(BAND, FS, engine="fluidsynth", tracks=[k])[0]
             for k, name in enumerate(names, start=1)}                      # chunk 0: the conductor
    n = max(len(full), *(len(a) for a in stems.values()))
    pad = lambda a: np.pad(a, ((0, n - len(a)), (0, 0)))  # noqa: E731
    for name, stem in stems.items():
        assert 20 * np.log10(rms(stem) / rms(full)) > -15, f"{name} is not heard in the band"
    residual = pad(full) - sum(pad(a) for a in stems.values())
    assert 20 * np.log10(rms(residual) / rms(full)) < -30
    spectra = {name: third_octave_spectrum(a.mean(axis=1), FS) for name, a in stems.items()}
    for i, a in enumerate(names):
        for b in names[i + 1:]:  # Bhattacharyya coefficient: 1 for the same spectrum
            assert np.sqrt(spectra[a] * spectra[b]).sum() < 0.9, f"{a} and {b} sound alike"
    high = {name: s[-4:].sum() for name, s in spectra.items()}               # above 4 kHz
    low = {name: s[:8].sum() for name, s in spectra.items()}                 # below 254 Hz
    assert max(high, key=high.get) == "Drums"
    assert max((k for k in low if k != "Drums"), key=low.get) == "Bass" and low["Bass"] > 0.5


def test_stems_and_their_mix(tmp_path):
    paths, used = audio.render_stems(BAND, {"piano": [2], "band": [1, 3, 4, 5]}, tmp_path, mix="all",
                                     sample_rate=FS)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["all.wav", "band.wav", "piano.wav"]
    assert set(paths) == {"piano", "band", "all"}
    lengths = {}
    for name, path in paths.items():
        fs, x = read(path)
        assert fs == FS and np.abs(x).max() == pytest.approx(10 ** (-1 / 20), abs=2e-3)
        lengths[name] = len(x)
    assert lengths["all"] == max(lengths["piano"], lengths["band"])
    end = pretty_midi.PrettyMIDI(str(BAND)).get_end_time()
    assert end <= lengths["all"] / FS <= end + audio.TAIL_MAX + 0.6  # the sine fallback's drums ring 0.5 s
    with pytest.raises(UsageError, match="mix"):
        audio.render_stems(BAND, {"all": [1]}, tmp_path, mix="all")


def test_a_stem_keeps_the_timing_of_the_whole_file(tmp_path):
    piano, _ = audio.synthesize(BAND, FS, engine="sine", tracks=[2])
    whole = pretty_midi.PrettyMIDI(str(BAND))
    notes = sorted(n.start for n in whole.instruments[1].notes)
    first = np.flatnonzero(np.abs(piano) > 1e-3)[0] / FS
    assert first == pytest.approx(notes[0], abs=0.01)
    silence, used = audio.synthesize(BAND, FS, tracks=[0])                 # the conductor: no notes
    assert used == "silence (no notes)" and not silence.any()


def test_soundfont_must_exist_and_be_one(song, tmp_path):
    with pytest.raises(UsageError, match="no such soundfont"):
        audio.render(song, tmp_path / "a.wav", soundfont=tmp_path / "missing.sf2")
    text = tmp_path / "notes.sf2"
    text.write_text("not a soundfont")
    with pytest.raises(UsageError, match="not a SoundFont"):
        audio.render(song, tmp_path / "a.wav", soundfont=text)
    assert not (tmp_path / "a.wav").exists()


def test_unreadable_midi_is_a_data_error(tmp_path):
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"MThd garbage")
    with pytest.raises(DataError):
        audio.render(bad, tmp_path / "bad.wav", engine="sine")
    assert not (tmp_path / "bad.wav").exists()


# --------------------------------------------------------------------------- CLI


def cli(*argv):
    return subprocess.run([sys.executable, "-m", "musegan", "render", *map(str, argv)],
                          capture_output=True, text=True, timeout=120)


def test_cli_renders_and_refuses_existing_output(song, tmp_path):
    out = tmp_path / "song.wav"
    done = cli(song, out)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1].startswith(f"{out}: ")
    assert len(done.stderr.strip().splitlines()) <= 1  # at most the install hint
    before = out.read_bytes()
    refused = cli(song, out)
    assert refused.returncode == 2
    err = refused.stderr.strip().splitlines()
    assert len(err) == 1 and "--overwrite" in err[0] and "Traceback" not in refused.stderr
    assert out.read_bytes() == before
    assert cli(song, out, "--overwrite").returncode == 0


def test_cli_unreadable_midi_and_missing_soundfont(song, tmp_path):
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"MThd garbage")
    done = cli(bad, tmp_path / "bad.wav")
    assert done.returncode == 1
    err = done.stderr.strip().splitlines()
    assert len(err) == 1 and str(bad) in err[0] and "Traceback" not in done.stderr
    assert not (tmp_path / "bad.wav").exists()

    done = cli(song, tmp_path / "x.wav", "--soundfont", tmp_path / "missing.sf2")
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
