"""`musegan accompany`: write the band around the user's own MIDI part, for the whole song.

    musegan accompany INPUT.mid --exp exp/accompaniment/piano --out OUT.mid
                      [--track INDEX|NAME|FAMILY[,...]] [--seed N] [--latents song|style|phrase]
                      [--beats auto|file|notes] [--meter auto|4/4] [--downbeat-shift BEATS]
                      [--band NAME[,...]]
                      [--style-candidates N] [--phrase-candidates N] [--rests X]
                      [--binarize hard|bernoulli] [--wav] [--overwrite]
    musegan accompany FOLDER --exp EXP --out OUT_FOLDER [same options]

1. The user's part. The file's parts are its track chunks with notes (a chunk
   with notes on several channels, as in type-0 files, gives one part per
   channel). `--track` picks by index (as listed in the error message), by
   track name or by family (drums, piano, guitar, bass, strings: every part of
   that family, e.g. both hands of a piano written as two tracks); several
   may be given, comma-separated. Without it a one-part file is used as is, a
   several-part file uses its parts of the model's condition family, and a file
   without one the part that best plays that role (`song.role_part`: for a
   piano model the most chordal part...), named in one line; where a family
   part has no note the model can use, the role's part is taken instead.
   Only a file where no part can play the role is refused.
2. The song's grid: its own tempo map and beats, read as the model's 4-beat
   bars (`meter.read_bars`: 4/4 and 2/2 as written, 1/4 and 2/4 marks regrouped
   into 4-beat bars with bar 1 found from the music, other meters only with
   `--meter 4/4`; `--downbeat-shift` moves regrouped bar lines by whole beats),
   moved onto displaced notes as `collect.align_to_grid` says, every beat cut
   into `beat_resolution` steps. `--beats` (`reading.BEATS`): where the notes do
   not sit on the file's grid (a transcription, a recording without a click;
   `beats.needs_tracking`) or with `--beats notes`, the beats and 4/4 bars are
   tracked from the notes instead (`beats.track_beats`) and the song is re-timed
   onto them (`reading.tracked_song`): every event keeps its second, the tempo
   map follows the tracked beats, `--downbeat-shift` moves bar 1. The user's part is quantized onto it
   (`pianoroll.instrument_roll`, the training data's rules) as the condition track.
3. Phrases: every run of consecutive 4-beat bars is cut into phrases of the
   model's `n_bars` bars; a run's last partial phrase is padded with silence
   and trimmed back after generation. Bars of other meters (and a partial
   pickup bar) are left unaccompanied, with a warning; a song without any
   4-beat bar is refused (a waltz: `--meter 4/4` plays it in fours anyway). All phrases go through the generator in one batch. Latents
   (`--latents`): by default the time-independent ones (the paper's z and
   z_i: the band's style) are drawn once for the song and the time-dependent
   ones (z_t, z_i,t: how the parts move) fresh for every phrase, so a repeated
   part is played by the same band in new ways; `song` shares the whole
   latent (a repeated part gets the same band phrase), `phrase` draws it all
   anew each phrase. With `style`, the band is then chosen for the part
   (`musegan.arrange`): the style that best fits the first phrases of
   `--style-candidates`, each phrase's time-dependent latents of
   `--phrase-candidates` to continue the phrase before (the drums holding each
   section's groove), and instruments rest where the part thins out or a section
   ends (`--rests`); `--style-candidates 1 --phrase-candidates 1 --rests 0` is the
   band as drawn. `--seed` makes a run reproducible (without it a seed is drawn
   and printed).
4. Output, written only when everything succeeded (atomically; an existing
   OUT, OUT.png or OUT.wav needs `--overwrite`):
   OUT.mid  a type-1 file at the input's tick resolution (at least 480 where
            beats were tracked): a conductor track with the input's tempo,
            meter and key events (where beats were tracked: a tempo a beat and
            4/4 bars from the tracked bar 1) (and the rest of its
            conductor track; where beats were regrouped, time signatures that
            mark the bars the band played: 4/4 there), the user's part copied event for event from the
            input (notes, velocities, timing, program, controllers, names),
            and the generated tracks (`pianoroll.roll_to_tracks`, params'
            `track_names`, `programs`, `is_drums`; drums on channel 10, other
            tracks on channels the user's part does not use) with notes on the
            song's grid ticks, so they follow its tempo changes.
   OUT.png  the whole result as a labeled pianoroll (`images.song_image`: a
            lane per track in params order, the user's part as quantized and
            marked given, bar numbers, rows of 8 bars), bars padded to the
            longest bar so bar lines stay bar lines in mixed meters.
   OUT.wav  with `--wav`, rendered by `musegan.music.audio.render`.

`--band drums,bass` keeps only those generated tracks (the model still generates all;
the others stay out of OUT.mid and OUT.png).

Folders: INPUT a folder accompanies every MIDI file below it (.mid, .midi, .kar) into
OUT_FOLDER at the same relative path (as .mid), the model loaded once; one line a file, a
summary at the end (accompanied; refused, grouped by reason); one bad file never stops the
run, which succeeds when at least one file was accompanied.

TensorFlow is imported only once the input has been read and checked, so
argument and input errors answer at once.
"""
import contextlib
import secrets
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import mido
import numpy as np

from musegan import arrange, atomic
from musegan.arrange import AS_DRAWN, Arranging
from musegan.config import BAND_TEXT, condition_index, load_experiment
from musegan.errors import CheckpointError, DataError, MuseganError, UsageError
from musegan.music import meter, midi, pianoroll, timing
from musegan.music.reading import Reading, check_beats, marked_bars, read_input
from musegan.nets.spec import LATENTS, latent_size, latent_slices
from musegan.runtime import duration, quiet_stderr

MIDI_SUFFIXES = (".mid", ".midi")
# Phrases per session run: the whole song of up to 1024 bars in one; longer songs are split
# inside the one generator call to bound memory (activations grow with the batch).
MAX_BATCH = 256


# --------------------------------------------------------------------------- generation


def has_weights(exp_dir: Path) -> bool:
    """Whether the experiment holds any weights at all, looked at without TensorFlow (which
    `checkpoint` imports): a checkpoint file of any step, or shipped pretrained weights."""
    model = exp_dir / "model"
    return ((exp_dir / "pretrained" / "generator.npz").is_file()
            or (model.is_dir() and any(model.glob("*.index"))))


class LoadedGenerator:
    """The experiment's generator, loaded once for one song or a folder of them.

    Loading includes one warm-up call on a single phrase (at the first song): TensorFlow sets
    up its executor on the first run whatever the batch, so a song's batch is timed as
    generation alone.
    """

    def __init__(self, exp_dir: Path):
        t0 = time.perf_counter()
        with quiet_stderr():
            from musegan.generate import Generator

            self.gen = Generator(exp_dir, batch_size=MAX_BATCH)
        self.load_s, self.warm = time.perf_counter() - t0, False

    def close(self) -> None:
        self.gen.close()


def generate(model: LoadedGenerator, conditions: np.ndarray, rng: np.random.Generator, how: str, mode: str,
             bars: np.ndarray, arranging: Arranging) -> Tuple[np.ndarray, Dict[str, float]]:
    """The band (`play_band`) for all phrases of a song, and its timings (load and warm-up
    seconds are counted once, at the first song)."""
    with quiet_stderr():
        t_warm = time.perf_counter()
        if not model.warm:
            model.gen(np.zeros((1, model.gen.latent_size), np.float32), conditions[:1])
            model.warm = True
        t1 = time.perf_counter()
        x = play_band(model.gen, conditions, bars, rng, how, mode, arranging)
        t2 = time.perf_counter()
    load_s, model.load_s = model.load_s, 0.0
    return x, {"load_s": load_s + t1 - t_warm, "warmup_s": t1 - t_warm, "generate_s": t2 - t1}


def play_band(gen, conditions: np.ndarray, bars: Optional[np.ndarray], rng: np.random.Generator, how: str = "style",
              mode: str = "hard", arranging: Arranging = AS_DRAWN) -> np.ndarray:
    """Bool `(n_phrases, n_bars, n_steps, n_pitches, n_tracks)`: the band the loaded generator
    `gen` (`musegan.generate.Generator`) plays to the user's phrases `conditions` lying at
    `bars` (`Layout.bars`; None: one run of phrases), latents drawn by `latents(how)` and,
    for `style`, chosen as `arranging` says (`musegan.arrange`), binarized by `mode`, with
    `arranging.rests`."""
    from musegan.music.notes import to_notes

    if bars is None:
        bars = np.arange(conditions.shape[0] * conditions.shape[1]).reshape(conditions.shape[:2])
    z = latents(rng, len(conditions), gen.params, how)
    raw = arrange.play_song(gen, z, conditions, bars, gen.params, rng, arranging, how)
    x = to_notes(raw, gen.params, mode, rng)
    return arrange.rest(x, conditions, bars, gen.params, arranging.rests)


def latents(rng: np.random.Generator, n: int, params: dict, how: str = "style") -> np.ndarray:
    """`(n, latent_size)` standard normal latents (the training distribution) for `n` phrases
    of a song, `how` one of LATENTS: all shared (`song`), all fresh (`phrase`), or (`style`)
    the time-independent kinds shared and the time-dependent ones (z_t, z_it) fresh."""
    fresh = rng.standard_normal((n, latent_size(params))).astype(np.float32)
    if how == "phrase":
        return fresh
    z = np.repeat(fresh[:1], n, axis=0)
    if how == "style":
        for kind in ("z_t", "z_it"):
            for a, b in latent_slices(params).get(kind, []):
                z[:, a:b] = fresh[:, a:b]
    return z


# --------------------------------------------------------------------------- the whole run


@dataclass
class Options:
    """What the user asked for, checked (`_options`), and the experiment it names."""

    exp_dir: Path
    track: Optional[str]
    latent: str
    mode: str  # binarization
    wav: bool
    overwrite: bool
    meter: str
    shift: int
    beats: str  # `reading.BEATS`: the file's grid, or beats tracked from the notes
    band: List[int]  # the generated tracks written (`--band`)
    arranging: Arranging  # how the band is chosen (`musegan.arrange`)
    config: dict = field(repr=False)
    params: dict = field(repr=False)


def _options(exp_dir: Path, track, latent, binarization, wav, overwrite, meter_mode, shift, band,
             beats_mode: str, arranging: Arranging) -> Options:
    """Check the options and the experiment, without TensorFlow."""
    if latent not in LATENTS:
        raise UsageError(f"--latents {latent}: must be one of {', '.join(LATENTS)}")
    meter.check_meter(meter_mode)
    check_beats(beats_mode)
    arranging.check()
    if wav:
        import importlib.util

        if importlib.util.find_spec("musegan.music.audio") is None:
            raise UsageError("--wav: musegan.music.audio is not available in this installation")
    config, params = load_experiment(exp_dir)
    if condition_index(params, str(exp_dir / "params.yaml")) is None:
        raise UsageError(f"{exp_dir}: not a track-conditional model (its params.yaml sets no "
                         "condition_track); use an experiment such as exp/accompaniment/piano")
    if not has_weights(exp_dir):
        raise CheckpointError(f"{exp_dir}: no trained model (neither a checkpoint in {exp_dir / 'model'} "
                              f"nor {exp_dir / 'pretrained' / 'generator.npz'}); train one with "
                              f"`musegan train {exp_dir}`")
    keep = band_tracks(band, params["track_names"], condition_index(params))
    return Options(exp_dir=exp_dir, track=track, latent=latent, mode=binarization or config["binarize"], wav=wav,
                   overwrite=overwrite, meter=meter_mode, shift=int(shift), beats=beats_mode, band=keep,
                   arranging=arranging, config=config, params=params)


def _outputs(out: Path, wav: bool) -> Dict[str, Path]:
    paths = {"mid": out, "png": out.with_suffix(".png")}
    if wav:
        paths["wav"] = out.with_suffix(".wav")
    return paths


def band_tracks(band: Optional[Sequence[str]], names: Sequence[str], condition: int) -> List[int]:
    """Indices of the generated tracks to keep: those `band` names (case-insensitive), or
    all but the condition track when `band` is None. UsageError for an unknown name, the
    given part's name, or no name at all."""
    others = [t for t in range(len(names)) if t != condition]
    if band is None:
        return others
    choices = ", ".join(names[t].lower() for t in others)
    keep = set()
    for name in (str(n).strip() for n in band):
        if not name:
            continue
        found = [t for t, n in enumerate(names) if n.lower() == name.lower()]
        if not found:
            raise UsageError(f"--band {name}: not a track of this model; choose from {choices}")
        if found[0] == condition:
            raise UsageError(f"--band {name}: {name.lower()} is the part you give; the band can be {choices}")
        keep.add(found[0])
    if not keep:
        raise UsageError(f"--band is empty; choose from {choices}")
    return sorted(keep)


def accompany(input_path: Path, exp_dir: Path, out: Path, track: Optional[str] = None,
              seed: Optional[int] = None, latent: str = "style", binarization: Optional[str] = None,
              wav: bool = False, overwrite: bool = False, meter_mode: str = "auto", shift: int = 0,
              band: Optional[Sequence[str]] = None, log=print, warn=None, beats_mode: str = "auto",
              arranging: Arranging = Arranging()) -> dict:
    """Accompany `input_path` with `exp_dir`'s model into `out` (see the module docstring),
    keeping the generated tracks `band` names (default all), the band chosen as `arranging`
    says (`musegan.arrange`; `AS_DRAWN`: the latents as drawn); a folder `input_path` goes
    to `accompany_folder`. Returns a summary: bars, phrases, parts, seed, paths, timings and
    the band's track names."""
    warn = warn or (lambda line: print(f"musegan accompany: warning: {line}", file=sys.stderr))
    input_path, exp_dir, out = Path(input_path), Path(exp_dir), Path(out)
    if input_path.is_dir():
        return accompany_folder(input_path, exp_dir, out, track=track, seed=seed, latent=latent,
                                binarization=binarization, wav=wav, overwrite=overwrite, meter_mode=meter_mode,
                                shift=shift, band=band, log=log, beats_mode=beats_mode, arranging=arranging)
    t_start = time.perf_counter()
    # --- arguments and outputs: answered before anything heavy
    if out.suffix.lower() not in MIDI_SUFFIXES:
        raise UsageError(f"--out {out}: must name a .mid file (OUT.png is written beside it)")
    if input_path.exists() and out.exists() and input_path.resolve() == out.resolve():
        raise UsageError(f"--out {out}: would replace the input file")
    for path in _outputs(out, wav).values():
        atomic.check_writable(path, overwrite)
    o = _options(exp_dir, track, latent, binarization, wav, overwrite, meter_mode, shift, band, beats_mode,
                 arranging)
    r = read_input(input_path, track, o.params, o.config, warn, o.meter, o.shift, o.beats)
    read_s = time.perf_counter() - t_start
    model = LoadedGenerator(exp_dir)
    try:
        return _play(r, model, o, input_path, out, seed, log, t_start, read_s)
    finally:
        model.close()


def _play(r: Reading, model: LoadedGenerator, o: Options, input_path: Path, out: Path, seed: Optional[int], log,
          t_start: float, read_s: float) -> dict:
    """Generate the band for a read song and write it (everything or nothing); the summary."""
    params = o.params
    n_bars, n_steps, _, n_tracks = params["data_shape"]
    names = params["track_names"]
    c = condition_index(params)
    timings = {"read_s": read_s}
    if seed is None:
        seed = secrets.randbelow(2 ** 31)
    rng = np.random.default_rng(seed)
    x, t = generate(model, r.conditions, rng, o.latent, o.mode, r.layout.bars, o.arranging)
    timings.update(t)
    t_write = time.perf_counter()

    # --- the result on the song's grid, then one file
    full, generated = band_roll(r, x, params)
    generated = [t for t in generated if t in o.band]
    step_ticks = np.round(timing.seconds_to_ticks(r.pm_song, r.grid.step_times)).astype(np.int64)
    step_ticks = np.maximum(np.append(step_ticks, step_ticks[-1]), 0)  # the last boundary: the end
    used = {m.channel for track in r.chosen_tracks for m in track if hasattr(m, "channel")}
    free = [ch for ch in range(16) if ch != 9 and ch not in used] or [ch for ch in range(16) if ch != 9]
    sub = {**params, **{k: [params[k][t] for t in generated] for k in ("track_names", "programs", "is_drums")}}
    written = dict(zip(generated, pianoroll.roll_to_tracks(full[..., generated], sub, step_ticks, channels=free)))
    result = mido.MidiFile(type=1, ticks_per_beat=r.song.mido.ticks_per_beat)
    conductor = marked_bars(r, step_ticks) if r.bars.regrouped else r.tracks[0]
    if len(generated) < n_tracks - 1:  # describe's key to a file without the whole band
        conductor = mido.MidiTrack([mido.MetaMessage("text", text=BAND_TEXT + ", ".join(names[t] for t in generated)),
                                    *conductor])
    result.tracks.append(conductor)
    for t in range(n_tracks):
        result.tracks.extend(r.chosen_tracks if t == c else [written[t]] if t in written else [])
    picture = _song_image(full, r.grid, r.song_bars, params, sorted([c, *generated]), out.name)

    # --- write everything, or nothing
    paths = _outputs(out, o.wav)
    with contextlib.ExitStack() as stack:
        tmp = {k: stack.enter_context(atomic.atomic_path(p)) for k, p in paths.items()}
        result.save(str(tmp["mid"]))
        atomic.save_png(tmp["png"], picture)
        if o.wav:
            from musegan.music.audio import render

            render(tmp["mid"], tmp["wav"], overwrite=True)
    timings["write_s"] = time.perf_counter() - t_write
    timings["total_s"] = time.perf_counter() - t_start

    accompanied = int((r.layout.bars >= 0).sum())
    log(f"{input_path}: your part {r.label} as {names[c]}; {r.song_bars} bars, {r.tempo}")
    log(f"generated {', '.join(names[t] for t in generated)} for {accompanied} bars ({len(r.layout.bars)} "
        f"phrases of {n_bars} bars, {LATENTS[o.latent]}{o.arranging.summary(o.latent)}, {o.mode} binarization, "
        f"seed {seed}) in {timings['generate_s']:.2f} s")
    log(f"wrote {', '.join(str(p) for p in paths.values())}")
    return {"bars": r.song_bars, "accompanied_bars": accompanied, "phrases": len(r.layout.bars),
            "parts": [p.label for p in r.chosen], "seed": seed, "paths": paths, "timings": timings,
            "regrouped": r.bars.regrouped, "band": [names[t] for t in generated],
            "beats": "file" if r.tracked is None else "notes", "tempo": r.tempo}


def band_roll(r: Reading, x: np.ndarray, params: dict) -> Tuple[np.ndarray, List[int]]:
    """bool (grid.n_steps, n_pitches, n_tracks): the generated bars in place (padding dropped),
    the user's quantized part in the condition track; and the generated tracks' indices."""
    n_steps, n_tracks = params["data_shape"][1], params["data_shape"][3]
    c = condition_index(params)
    full = np.zeros((r.grid.n_steps, params["data_shape"][2], n_tracks), dtype=bool)
    for (p, j), bar in np.ndenumerate(r.layout.bars):
        if bar >= 0:
            start = r.grid.bar_starts[bar]
            full[start:start + n_steps] = x[p, j]
    generated = [t for t in range(n_tracks) if t != c]
    # A note held into the last step before silence (an unaccompanied bar, the song's end) would
    # get one step more there (`roll_to_tracks` undoes the note-end rest): end it at the bar line.
    played = np.zeros(r.grid.n_bars + 1, dtype=bool)
    played[r.layout.bars[r.layout.bars >= 0]] = True
    held = [t for t in generated if not params["is_drums"][t]]
    for bar in np.flatnonzero(played[:-1] & ~played[1:]):
        full[r.grid.bar_ends[bar] - 1, :, held] = False
    full[..., c] = r.user
    return full, generated


def _song_image(full: np.ndarray, grid: timing.Grid, n_bars: int, params: dict, tracks: List[int],
                title: str) -> np.ndarray:
    """`images.song_image` of `tracks` in the song's first `n_bars` bars, each padded to the
    longest so bar lines stay bar lines in mixed meters."""
    from musegan.music import images

    starts, lengths = grid.bar_starts[:n_bars], (grid.bar_ends - grid.bar_starts)[:n_bars]
    width = int(max(lengths.max(), params["data_shape"][1]))
    padded = np.zeros((n_bars * width,) + full.shape[1:], dtype=bool)
    for bar, (start, length) in enumerate(zip(starts, lengths)):
        padded[bar * width:bar * width + length] = full[start:start + length]
    return images.song_image(padded, width, params["track_names"], given=condition_index(params), tracks=tracks,
                             title=title, beats_per_bar=max(1, width // params["beat_resolution"]))


# --------------------------------------------------------------------------- a folder of songs


def _refusal(path: Path, e: Exception) -> Tuple[str, str]:
    """(reason, problem) of a file a folder run could not accompany: a MidiDataError's reason,
    'usage' (an option that does not fit the file, an output that exists), 'data', or
    'unforeseen' for a fault no check foresaw (said as such, not as an exception's text)."""
    if isinstance(e, MuseganError):
        text = str(e)
        problem = text[len(f"{path}: "):] if text.startswith(f"{path}: ") else text
        reason = getattr(e, "reason", None) or ("usage" if isinstance(e, UsageError) else "data")
        return reason, problem
    if isinstance(e, MemoryError):
        return midi.TOO_LARGE, "too large to accompany in the memory available"
    return "unforeseen", (f"could not be accompanied: a fault no check foresaw ({type(e).__name__}); "
                          "please report it with the file")


def accompany_folder(in_dir: Path, exp_dir: Path, out_dir: Path, track: Optional[str] = None,
                     seed: Optional[int] = None, latent: str = "style", binarization: Optional[str] = None,
                     wav: bool = False, overwrite: bool = False, meter_mode: str = "auto", shift: int = 0,
                     band: Optional[Sequence[str]] = None, log=print, beats_mode: str = "auto",
                     arranging: Arranging = Arranging()) -> dict:
    """Accompany every MIDI file below `in_dir` into `out_dir` at the same relative path.

    The model is loaded once, at the first file that reaches generation; every file gets
    the same options and seed (drawn once when not given). One line a file (what was
    accompanied, or why not, with what was noticed on the way), then a summary; a refused
    or failing file never stops the run. Returns {"accompanied": {file: summary},
    "refused": {reason: {file: problem}}, "seed", "seconds": {file: seconds}}; a DataError
    when no file could be accompanied.
    """
    in_dir, out_dir = Path(in_dir), Path(out_dir)
    if out_dir.suffix.lower() in MIDI_SUFFIXES or out_dir.is_file():
        raise UsageError(f"--out {out_dir}: with a folder to accompany, --out names a folder for the results")
    o = _options(exp_dir, track, latent, binarization, wav, overwrite, meter_mode, shift, band, beats_mode,
                 arranging)
    inside = out_dir.resolve()
    files = sorted((p for p in in_dir.rglob("*") if p.suffix.lower() in midi.MIDI_SUFFIXES and p.is_file()
                    and inside not in p.resolve().parents), key=lambda p: p.relative_to(in_dir).as_posix())
    if not files:
        raise DataError(f"{in_dir}: no MIDI files (.mid, .midi, .kar) in this folder or below it")
    if seed is None:
        seed = secrets.randbelow(2 ** 31)
    log(f"accompanying {len(files)} MIDI files below {in_dir} with {exp_dir} (seed {seed}) into {out_dir}")
    results = {"accompanied": {}, "refused": {}, "seed": seed, "seconds": {}}
    model = None
    started = time.perf_counter()
    try:
        for i, path in enumerate(files, 1):
            name = path.relative_to(in_dir).as_posix()
            out = out_dir / path.relative_to(in_dir).with_suffix(".mid")
            notes: List[str] = []
            t0 = time.perf_counter()
            try:
                for p in _outputs(out, wav).values():
                    atomic.check_writable(p, overwrite)
                r = read_input(path, track, o.params, o.config, notes.append, o.meter, o.shift, o.beats)
                model = model or LoadedGenerator(exp_dir)
                summary = _play(r, model, o, path, out, seed, lambda line: None, t0, time.perf_counter() - t0)
                results["accompanied"][name] = summary
                line = f"accompanied {summary['accompanied_bars']} of {summary['bars']} bars -> {out}"
                if summary["beats"] == "notes":
                    line += f" [{summary['tempo']}]"
            except CheckpointError:
                raise  # the model, not the file: every file would fail alike
            except Exception as e:  # noqa: BLE001 (one bad file never stops the run)
                reason, problem = _refusal(path, e)
                results["refused"].setdefault(reason, {})[name] = problem
                line = f"refused: {problem}"
            results["seconds"][name] = time.perf_counter() - t0
            elapsed = time.perf_counter() - started
            eta = elapsed / i * (len(files) - i)
            told = "".join(f" [{n.split(': ', 1)[1] if n.startswith(f'{path}: ') else n}]" for n in notes)
            log(f"[{i}/{len(files)}, ETA {duration(eta)}] {name}: {line}{told}")
    finally:
        if model is not None:
            model.close()
    n_refused = sum(len(v) for v in results["refused"].values())
    log(f"accompanied {len(results['accompanied'])} of {len(files)} files into {out_dir}"
        + (f"; refused {n_refused}:" if n_refused else ""))
    for reason, problems in sorted(results["refused"].items(), key=lambda kv: -len(kv[1])):
        log(f"  {reason} ({len(problems)}): {', '.join(problems)}")
    if not results["accompanied"]:
        raise DataError(f"{in_dir}: none of its {len(files)} MIDI files could be accompanied (see above)")
    return results
