"""Render MIDI to a WAV file: FluidSynth with a General MIDI soundfont when installed,
else pretty_midi's sine synthesis (with noise-burst drums), so there is always something to hear.

    musegan render out.mid out.wav [--soundfont FILE.sf2] [--overwrite]

The WAV is 16-bit PCM, peak-normalised to -1 dBFS: stereo from FluidSynth, mono from
the fallback. It is written through `atomic.atomic_path`, so an interrupted render never
leaves a half file under the output name. `synthesize` gives the audio before
normalisation, of the whole file or of some of its track chunks (stems); `render_stems`
writes the stems of groups of chunks and their mix, as a mixing desk would.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple, Union

import numpy as np

from musegan.errors import DataError, UsageError
from musegan.atomic import atomic_path, check_writable

__all__ = ["SOUNDFONTS", "INSTALL_HINT", "find_soundfont", "fluidsynth_command", "synthesizer", "describe",
           "render", "render_file", "synthesize", "render_stems", "write_wav"]

PathLike = Union[str, os.PathLike]

# Where Debian/Ubuntu (fluid-soundfont-gm, timgm6mb-soundfont, musescore-general-soundfont),
# Fedora/Arch (fluid-soundfont), Homebrew and users usually keep a GM soundfont.
SOUNDFONTS = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/default-GM.sf2",
    "/usr/share/sounds/sf2/TimGM6mb.sf2",
    "/usr/share/sounds/sf2/MuseScore_General.sf2",
    "/usr/share/soundfonts/default.sf2",
    "/usr/share/soundfonts/FluidR3_GM.sf2",
    "/usr/share/soundfonts/FluidR3_GM2-2.sf2",
    "/usr/local/share/soundfonts/default.sf2",
    "/opt/homebrew/share/soundfonts/default.sf2",
    "~/.local/share/soundfonts/default.sf2",
    "~/.fluidsynth/default_sound_font.sf2",
)
SOUNDFONT_ENV = "MUSEGAN_SOUNDFONT"  # a .sf2 to use when --soundfont is not given
INSTALL_HINT = "apt-get install fluidsynth fluid-soundfont-gm / brew install fluid-synth"
PEAK = 10 ** (-1 / 20)  # -1 dBFS
FLUIDSYNTH_GAIN = 0.5
TAIL_MAX = 3.0  # seconds of release/reverb kept after the MIDI's last event
ENGINES = (None, "fluidsynth", "sine")

_hinted = False  # the "install FluidSynth" line is printed once per process


def find_soundfont() -> Optional[str]:
    """$MUSEGAN_SOUNDFONT if it names a file, else the first GM soundfont in SOUNDFONTS."""
    env = os.environ.get(SOUNDFONT_ENV)
    for candidate in ([env] if env else []) + list(SOUNDFONTS):
        path = Path(candidate).expanduser()
        if path.is_file():
            return str(path)
    return None


def fluidsynth_command() -> Optional[str]:
    """Path of the `fluidsynth` executable on PATH, or None."""
    return shutil.which("fluidsynth")


def synthesizer() -> Optional[Tuple[str, str]]:
    """(fluidsynth executable, soundfont) that `render` will use by default, or None (sine fallback)."""
    exe = fluidsynth_command()
    soundfont = find_soundfont()
    return (exe, soundfont) if exe and soundfont else None


def describe() -> str:
    """One phrase naming the synthesizer `render` uses by default, for logs and READMEs."""
    synth = synthesizer()
    return f"FluidSynth with {Path(synth[1]).name}" if synth else "sine synthesis (FluidSynth not found)"


def render(midi_path: PathLike, wav_path: PathLike, soundfont: Optional[PathLike] = None,
           overwrite: bool = False, sample_rate: int = 44100, engine: Optional[str] = None) -> Path:
    """Render `midi_path` to a 16-bit WAV at `wav_path`; returns `wav_path`.

    FluidSynth with `soundfont` (default: `synthesizer()`'s) when the `fluidsynth`
    command is installed; otherwise one line on stderr says how to get it and the
    notes are rendered with sine waves, drum hits as noise bursts. `engine` forces
    "fluidsynth" (UsageError when unavailable) or "sine". Raises UsageError for a
    missing soundfont or an existing output without `overwrite`, DataError for a
    MIDI file that cannot be read.
    """
    return _render(midi_path, wav_path, soundfont, overwrite, sample_rate, engine)[0]


def render_file(midi_path: PathLike, wav_path: PathLike, soundfont: Optional[PathLike] = None,
                overwrite: bool = False) -> str:
    """`render`, returning the line `musegan render` prints: the file, its length and what rendered it."""
    path, used, seconds = _render(midi_path, wav_path, soundfont, overwrite)
    return f"{path}: {seconds:.1f} s, {used}"


def synthesize(midi_path: PathLike, sample_rate: int = 44100, engine: Optional[str] = None,
               soundfont: Optional[PathLike] = None, tracks: Optional[Sequence[int]] = None
               ) -> Tuple[np.ndarray, str]:
    """Float audio `(n_samples, n_channels)` of `midi_path` before normalisation (FluidSynth's
    level, so stems of one file add up to its mix), and what rendered it, as `render` does.
    `tracks`: only these track chunks (from 0) sound; the meta events of all stay, so the
    timing does not change. Raises as `render`."""
    sample_rate, soundfont = _check_options(sample_rate, engine, soundfont)
    midi_path = Path(midi_path)
    pm = _load(midi_path)
    if tracks is None:
        return _synthesize(midi_path, pm, sample_rate, engine, soundfont)
    with tempfile.TemporaryDirectory(prefix="musegan-stem-") as tmp:
        stem = _only_tracks(midi_path, tracks, Path(tmp) / "stem.mid")
        return _synthesize(stem, _load(stem), sample_rate, engine, soundfont)


def render_stems(midi_path: PathLike, stems: Dict[str, Sequence[int]], out_dir: PathLike, mix: str = "mix",
                 sample_rate: int = 44100, soundfont: Optional[PathLike] = None) -> Tuple[Dict[str, Path], str]:
    """WAVs of groups of `midi_path`'s track chunks (`{name: chunks}`) and of their mix:
    `out_dir/NAME.wav` for each group and `out_dir/MIX.wav`, each peak-normalised (-1 dBFS).
    The groups are synthesized side by side (two at a time) and the mix is their sum, so it
    costs no rendering of its own. Returns the paths by name (`mix` too) and what rendered them."""
    out_dir = Path(out_dir)
    if mix in stems:
        raise UsageError(f"a stem cannot be called {mix!r}, the mix's name")
    with ThreadPoolExecutor(max_workers=2) as pool:  # FluidSynth runs in its own process
        done = dict(zip(stems, pool.map(lambda chunks: synthesize(midi_path, sample_rate, soundfont=soundfont,
                                                                  tracks=chunks), stems.values())))
    audios = {name: np.atleast_2d(a.T).T for name, (a, _) in done.items()}  # (n,) -> (n, 1)
    n = max(len(a) for a in audios.values())
    channels = max(a.shape[1] for a in audios.values())
    total = np.zeros((n, channels))
    for a in audios.values():
        total[:len(a)] += a  # a mono stem (sine fallback, silence) plays on every channel
    paths = {}
    for name, audio in [*audios.items(), (mix, total)]:
        paths[name] = out_dir / f"{name}.wav"
        write_wav(paths[name], audio, sample_rate)
    used = sorted({u for _, u in done.values()})
    return paths, " and ".join(used)


# --------------------------------------------------------------------------- internals


def _check_options(sample_rate, engine, soundfont) -> Tuple[int, Optional[Path]]:
    if engine not in ENGINES:
        raise UsageError(f"unknown synthesis engine {engine!r}; use one of fluidsynth, sine")
    if int(sample_rate) < 8000:
        raise UsageError(f"sample rate {sample_rate} Hz is too low (8000 at least)")
    if soundfont is not None:
        soundfont = Path(soundfont).expanduser()
        if not soundfont.is_file():
            raise UsageError(f"{soundfont}: no such soundfont file")
        _check_soundfont(soundfont)
    return int(sample_rate), soundfont


def _render(midi_path, wav_path, soundfont, overwrite, sample_rate=44100, engine=None):
    """render(), also returning (path, what rendered it, seconds of audio)."""
    sample_rate, soundfont = _check_options(sample_rate, engine, soundfont)
    wav_path = check_writable(wav_path, overwrite)
    if wav_path.is_dir():
        raise UsageError(f"{wav_path}: is a folder; name the .wav file to write")
    midi_path = Path(midi_path)
    if midi_path.resolve() == wav_path.resolve():
        raise UsageError(f"{wav_path}: the output would replace the input MIDI file")
    audio, used = _synthesize(midi_path, _load(midi_path), sample_rate, engine, soundfont)
    try:
        write_wav(wav_path, audio, sample_rate)
    except OSError as e:
        raise UsageError(f"{wav_path}: cannot write ({e.strerror or e})") from None
    return wav_path, used, len(audio) / sample_rate


def _synthesize(midi_path: Path, pm, sample_rate: int, engine: Optional[str], soundfont: Optional[Path]):
    """(float audio, what rendered it) of the checked file `midi_path`, read as `pm`."""
    if not _has_notes(pm):  # nothing to play: silence as long as the file, whatever the engine
        return np.zeros(int(round(pm.get_end_time() * sample_rate))), "silence (no notes)"
    if engine != "sine":
        exe = fluidsynth_command()
        sf2 = str(soundfont) if soundfont else find_soundfont()
        if exe and sf2:
            audio, problem = _fluidsynth(exe, sf2, midi_path, sample_rate, pm)
            if audio is not None:
                return audio, f"FluidSynth with {Path(sf2).name}"
            if engine == "fluidsynth":
                raise DataError(f"{midi_path}: FluidSynth failed ({problem})")
            _note(f"FluidSynth failed ({problem}); rendering with sine waves instead")
        elif engine == "fluidsynth":
            missing = "the fluidsynth command" if not exe else "a General MIDI soundfont"
            raise UsageError(f"FluidSynth needs {missing}; install it: {INSTALL_HINT}")
        else:
            _hint(exe)
    return _sine(pm, sample_rate), "sine synthesis"


def _only_tracks(midi_path: Path, tracks: Sequence[int], out: Path) -> Path:
    """`midi_path` with the channel messages of every chunk not in `tracks` removed (its meta
    events stay where they were), written to `out`."""
    import mido

    from musegan.music.midi import read_mido

    mf = read_mido(midi_path)
    keep = set(int(t) for t in tracks)
    for number, track in enumerate(mf.tracks):
        if number in keep:
            continue
        kept, tick, last = mido.MidiTrack(), 0, 0
        for msg in track:
            tick += msg.time
            if msg.is_meta:
                kept.append(msg.copy(time=tick - last))
                last = tick
        mf.tracks[number] = kept
    mf.save(str(out))
    return out


def _load(path: Path):
    """The PrettyMIDI of `path`; DataError (one line) when it cannot be read.

    Read by `musegan.music.midi.load_midi`, so every command refuses the same files
    with the same messages (folders, FIFOs, truncated, type-2, absurdly long...).
    """
    from musegan.music.midi import load_midi

    return load_midi(path)[0]


def _check_soundfont(path: Path) -> None:
    """UsageError unless `path` starts like a SoundFont (RIFF sfbk; DLS also accepted)."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
    except OSError as e:
        raise UsageError(f"{path}: cannot read soundfont ({e.strerror or e})") from None
    if head[:4] != b"RIFF" or head[8:12] not in (b"sfbk", b"DLS "):
        raise UsageError(f"{path}: not a SoundFont (.sf2) file")


def _note(line: str) -> None:
    print(f"musegan: {line}", file=sys.stderr)


def _hint(exe: Optional[str]) -> None:
    global _hinted
    if _hinted:
        return
    _hinted = True
    if exe:
        _note("no General MIDI soundfont found; rendering with sine waves "
              "(apt-get install fluid-soundfont-gm, or pass --soundfont FILE.sf2)")
    else:
        _note(f"FluidSynth not found; rendering with sine waves (for real instruments: {INSTALL_HINT})")


def _fluidsynth(exe: str, sf2: str, midi_path: Path, sample_rate: int, pm) -> Tuple[Optional[np.ndarray], str]:
    """(float audio (n, channels), "") rendered by the fluidsynth command, or (None, why not)."""
    from scipy.io import wavfile

    duration = pm.get_end_time()
    # fast rendering runs far above real time; allow real time plus a minute to load the soundfont
    timeout = 60 + duration
    with tempfile.TemporaryDirectory(prefix="musegan-render-") as tmp:
        out = Path(tmp) / "render.wav"
        # float samples: nothing clips inside FluidSynth, we normalise afterwards
        cmd = [exe, "-ni", "-g", str(FLUIDSYNTH_GAIN), "-r", str(sample_rate), "-T", "wav", "-O", "float",
               "-F", str(out), str(Path(sf2).resolve()), str(midi_path.resolve())]  # absolute: no "-x.mid" options
        try:
            # stdin closed: a FluidSynth that ignores -i must not wait for a shell
            done = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, timeout=timeout)
        except subprocess.TimeoutExpired:
            return None, f"no result within {timeout:.0f} s"
        except OSError as e:
            return None, f"cannot run {exe}: {e.strerror or e}"
        log = [line.strip() for line in done.stdout.decode("utf-8", "replace").splitlines() if line.strip()]
        errors = [line for line in log if "error" in line.lower()]
        last = (errors or log or [""])[0 if errors else -1]
        if done.returncode != 0:
            return None, f"exit status {done.returncode}" + (f": {last}" if last else "")
        if any("failed to load" in line.lower() for line in log):
            # FluidSynth would go on with its own default soundfont, or with silence
            return None, f"cannot load {Path(sf2).name}" + (f": {last}" if last else "")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # WavFileWarning about FluidSynth's extra chunks
                rate, audio = wavfile.read(out)
        except (OSError, ValueError) as e:
            return None, f"unreadable output ({e})" + (f"; {last}" if last else "")
    audio = _as_float(audio)
    if audio.ndim == 1:
        audio = audio[:, None]
    if rate != sample_rate or not len(audio):
        return None, f"output of {len(audio)} samples at {rate} Hz"
    if _has_notes(pm) and not np.abs(audio).max() > 0:
        # e.g. a soundfont FluidSynth could not load: it still "succeeds", with silence
        return None, "silent output" + (f"; {last}" if last else "")
    return _trim_tail(audio, sample_rate, duration), ""


def _trim_tail(audio: np.ndarray, fs: int, end_time: float) -> np.ndarray:
    """Cut FluidSynth's seconds of trailing silence: keep the release down to -60 dB of the
    peak (at most TAIL_MAX seconds past the MIDI's end), fading out its last 20 ms."""
    level = np.abs(audio).max(axis=1)
    loud = np.flatnonzero(level > 1e-3 * level.max())
    end = max(int(np.ceil(end_time * fs)), loud[-1] + 1 if loud.size else 0)
    end = min(end, int(np.ceil((end_time + TAIL_MAX) * fs)), len(audio))
    audio = audio[:end].copy()
    fade = min(int(0.02 * fs), max(0, end - int(end_time * fs)))
    if fade:
        audio[-fade:] *= np.linspace(1, 0, fade)[:, None]
    return audio


def _as_float(audio: np.ndarray) -> np.ndarray:
    if audio.dtype.kind == "f":
        return audio.astype(np.float64)
    if audio.dtype == np.uint8:
        return (audio.astype(np.float64) - 128) / 128
    return audio.astype(np.float64) / float(np.iinfo(audio.dtype).max + 1)


def _has_notes(pm) -> bool:
    return any(note.velocity > 0 and note.end > note.start for inst in pm.instruments for note in inst.notes)


def _sine(pm, fs: int) -> np.ndarray:
    """Mono float audio: pretty_midi's sine synthesis for pitched parts, noise bursts for drums."""
    ends = [note.end for inst in pm.instruments if not inst.is_drum for note in inst.notes]
    hits = [(note.start, note.pitch, note.velocity) for inst in pm.instruments if inst.is_drum
            for note in inst.notes if note.velocity > 0]
    ends += [start + _drum_sound(pitch, fs).size / fs for start, pitch, _ in hits]
    n = int(np.ceil(max(ends + [pm.get_end_time()]) * fs))
    audio = np.zeros(n)
    for inst in pm.instruments:
        if not inst.is_drum and inst.notes:
            wave = inst.synthesize(fs=fs)[:n] / 127.0  # scaled by velocity (0..127)
            audio[:wave.size] += 0.5 * wave
    for start, pitch, velocity in hits:
        sound = _drum_sound(pitch, fs)
        i = int(start * fs)
        piece = sound[:max(0, n - i)]
        audio[i:i + piece.size] += (velocity / 127.0) * piece
    return audio


_drum_cache: dict = {}


def _drum_sound(pitch: int, fs: int) -> np.ndarray:
    """A short, fixed sound for a GM drum key: kick thump, snare, hi-hat tick or cymbal wash."""
    key = (pitch, fs)
    if key in _drum_cache:
        return _drum_cache[key]
    rng = np.random.default_rng(pitch)  # the same hit sounds the same every time
    if pitch in (35, 36):  # bass drum: a falling low tone
        t = np.arange(int(0.15 * fs)) / fs
        phase = 2 * np.pi * (50 * t + (100 * 0.03) * (1 - np.exp(-t / 0.03)))
        sound = np.sin(phase) * np.exp(-t / 0.05)
    else:
        if pitch in (42, 44):  # closed / pedal hi-hat
            length, decay, bright = 0.05, 0.015, True
        elif pitch in (46, 49, 51, 52, 53, 55, 57, 59):  # open hi-hat, cymbals
            length, decay, bright = 0.5, 0.15, True
        elif pitch in (37, 38, 39, 40):  # snares and clap
            length, decay, bright = 0.18, 0.05, False
        else:  # toms and the rest
            length, decay, bright = 0.15, 0.05, False
        t = np.arange(int(length * fs)) / fs
        noise = rng.uniform(-1, 1, t.size)
        if bright:
            noise = np.diff(noise, prepend=0.0) / 2  # tilt towards the highs
        sound = 0.6 * noise * np.exp(-t / decay)
    sound[-min(64, sound.size):] *= np.linspace(1, 0, min(64, sound.size))  # no click at the end
    _drum_cache[key] = sound
    return sound


def write_wav(path: PathLike, audio: np.ndarray, fs: int) -> Path:
    """Peak-normalise float `audio` `(n,)` or `(n, channels)` to -1 dBFS and write it as
    16-bit PCM at `fs` Hz, atomically; returns `path`."""
    from scipy.io import wavfile

    peak = np.abs(audio).max() if audio.size else 0.0
    if peak > 0:
        audio = audio * (PEAK / peak)
    pcm = np.round(np.clip(audio, -1, 1) * 32767).astype(np.int16)
    with atomic_path(path) as tmp:
        wavfile.write(tmp, fs, pcm)
    return Path(path)
