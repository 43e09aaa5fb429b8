"""`musegan accompany`: write the band around the user's own MIDI part, for the whole song.

    musegan accompany INPUT.mid --exp exp/accompaniment/piano --out OUT.mid
                      [--track INDEX|NAME|FAMILY[,...]] [--seed N] [--latents song|style|phrase]
                      [--style-candidates N] [--phrase-candidates N] [--rests X]
                      [--binarize hard|bernoulli] [--wav] [--overwrite]

1. The user's part. The file's parts are its track chunks with notes (a chunk
   with notes on several channels, as in type-0 files, gives one part per
   channel). `--track` picks by index (as listed in the error message), by
   track name or by family (drums, piano, guitar, bass, strings: every part of
   that family, e.g. both hands of a piano written as two tracks); several
   may be given, comma-separated. Without it a one-part file is used as is and
   a several-part file uses its parts of the model's condition family, or
   stops with the list of its parts.
2. The song's grid: its own tempo map, meters and downbeats (`timing.song_grid`,
   moved onto displaced notes as `collect.align_to_grid` says), every beat cut
   into `beat_resolution` steps. The user's part is quantized onto it
   (`pianoroll.instrument_roll`, the training data's rules) as the condition track.
3. Phrases: every run of consecutive 4/4 bars is cut into phrases of the
   model's `n_bars` bars; a run's last partial phrase is padded with silence
   and trimmed back after generation. Bars of other meters (and a partial
   pickup bar) are left unaccompanied, with a warning; a song without any 4/4
   bar is an error. All phrases go through the generator in one batch. Latents
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
   OUT.mid  a type-1 file at the input's tick resolution: a conductor track
            with the input's tempo, meter and key events (and the rest of its
            conductor track), the user's part copied event for event from the
            input (notes, velocities, timing, program, controllers, names),
            and the generated tracks (`pianoroll.roll_to_tracks`, params'
            `track_names`, `programs`, `is_drums`; drums on channel 10, other
            tracks on channels the user's part does not use) with notes on the
            song's grid ticks, so they follow its tempo changes.
   OUT.png  the whole result as a pianoroll (`images.song_image`, grayscale,
            tracks in params order, the user's part as quantized), bars padded
            to the longest bar so bar lines stay bar lines in mixed meters.
   OUT.wav  with `--wav`, rendered by `musegan.music.audio.render`.

TensorFlow is imported only once the input has been read and checked, so
argument and input errors answer at once.
"""
import contextlib
import secrets
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import mido
import numpy as np

from musegan import arrange, atomic
from musegan.arrange import AS_DRAWN, Arranging
from musegan.config import condition_index, load_experiment
from musegan.errors import CheckpointError, DataError, MuseganError, UsageError
from musegan.music import pianoroll, timing
from musegan.music.song import Part, Song, part_events, pretty_of_tracks, read_song, select_parts, song_tracks, to_track
from musegan.nets.spec import LATENTS, latent_size, latent_slices
from musegan.runtime import quiet_stderr

MIDI_SUFFIXES = (".mid", ".midi")
# Phrases per session run: the whole song of up to 1024 bars in one; longer songs are split
# inside the one generator call to bound memory (activations grow with the batch).
MAX_BATCH = 256


# --------------------------------------------------------------------------- reading


# --------------------------------------------------------------------------- the song's grid


@dataclass
class Layout:
    """Where the phrases lie: phrase p, bar j is song bar `bars[p, j]` (-1: padding)."""

    bars: np.ndarray  # int (n_phrases, n_bars)
    skipped: np.ndarray  # int: bars left unaccompanied (not complete 4/4)


def phrase_layout(bar_is_44: np.ndarray, n_bars: int) -> Layout:
    """Runs of consecutive 4/4 bars cut into phrases of `n_bars`, the last of each run padded."""
    rows = []
    run = []
    for bar, ok in enumerate(np.append(bar_is_44, False)):
        if ok:
            run.append(bar)
            continue
        for start in range(0, len(run), n_bars):
            chunk = run[start:start + n_bars]
            rows.append(chunk + [-1] * (n_bars - len(chunk)))
        run = []
    bars = np.array(rows, dtype=np.int64).reshape(-1, n_bars)
    return Layout(bars=bars, skipped=np.flatnonzero(~np.asarray(bar_is_44)))


def _bar_list(bars: np.ndarray) -> str:
    """1-based bar numbers as ranges: '1, 5-8'."""
    out, start = [], None
    for i, b in enumerate(bars):
        if start is None:
            start = b
        if i + 1 == len(bars) or bars[i + 1] != b + 1:
            out.append(f"{start + 1}" if start == b else f"{start + 1}-{b + 1}")
            start = None
    return ", ".join(out)


def _meters(grid: timing.Grid, n_bars: int) -> str:
    return ", ".join(sorted({f"{n}/{d}" for n, d in grid.bar_meters[:n_bars]}))


@dataclass
class Reading:
    """The input, read and quantized: everything generation and writing need."""

    song: Song
    chosen: List[Part]
    label: str
    tracks: List[mido.MidiTrack]  # the song as the output has it: conductor first
    chosen_tracks: List[mido.MidiTrack]  # the user's part(s), verbatim
    pm_song: object  # PrettyMIDI of `tracks`
    grid: timing.Grid
    user: np.ndarray  # bool (grid.n_steps, n_pitches): the user's part, quantized
    song_bars: int  # bars up to the song's last note
    layout: Layout
    conditions: np.ndarray  # bool (n_phrases, n_bars, n_steps, n_pitches)


def read_input(input_path: Path, track: Optional[str], params: dict, config: dict, warn) -> Reading:
    """Read the song, choose the user's part, quantize it and cut the phrases.

    Every problem with the file is a one-line MuseganError: what the checks here do not
    foresee in a malformed file is reported as a DataError naming the file, not a traceback.
    """
    try:
        return _read_input(input_path, track, params, config, warn)
    except MuseganError:
        raise
    except Exception as e:  # e.g. pretty_midi on a file mido could parse but nobody can play
        problem = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
        raise DataError(f"{input_path}: cannot be read as a song ({type(e).__name__}"
                        f"{': ' + problem if problem else ''})") from None


def _read_input(input_path: Path, track: Optional[str], params: dict, config: dict, warn) -> Reading:
    n_bars, n_steps, n_pitches, _ = params["data_shape"]
    condition = params["track_names"][condition_index(params)]
    song = read_song(input_path, config)
    chosen = select_parts(song, track, condition)
    for part in chosen:
        if track is not None and part.family != condition.lower():
            warn(f"using track {part.label} as the model's {condition} part")
    tracks = song_tracks(song)
    pm_song = pretty_of_tracks(tracks, song.mido.ticks_per_beat)
    grid = timing.song_grid(pm_song, params["beat_resolution"], align=config["collect"]["align_to_grid"])
    chosen_tracks = [to_track(part_events(song, p)) for p in chosen]
    pm_part = pretty_of_tracks([tracks[0], *chosen_tracks], song.mido.ticks_per_beat)
    user = np.zeros((grid.n_steps, n_pitches), dtype=bool)
    for instrument in pm_part.instruments:
        user |= pianoroll.instrument_roll(instrument, grid, params, config["collect"]["min_note_steps"])
    label = ", ".join(p.label for p in chosen)
    if not user.any():
        low = params["lowest_pitch"]
        raise DataError(f"{input_path}: no notes of track {label} within MIDI pitches {low}..{low + n_pitches - 1} "
                        f"and at least {max(config['collect']['min_note_steps'], 2)} steps long")
    # The song ends with its last note: a bar the grid starts there (it can, when that note
    # ends on a bar line) has nothing to accompany.
    end = max(n.end for inst in pm_song.instruments for n in inst.notes)
    song_bars = max(1, int(np.searchsorted(grid.step_times[grid.bar_starts], end - 1e-6)))
    layout = phrase_layout(grid.bar_is_44[:song_bars], n_bars)
    if not len(layout.bars):
        raise DataError(f"{input_path}: no 4/4 bar to accompany (meters: {_meters(grid, song_bars)}); "
                        "the model plays 4/4 only")
    if len(layout.skipped):
        warn(f"{len(layout.skipped)} of {song_bars} bars are not complete 4/4 bars and are left "
             f"unaccompanied: bars {_bar_list(layout.skipped)} (meters: {_meters(grid, song_bars)})")
    conditions = np.zeros((len(layout.bars), n_bars, n_steps, n_pitches), dtype=bool)
    for (p, j), bar in np.ndenumerate(layout.bars):
        if bar >= 0:
            start = grid.bar_starts[bar]
            conditions[p, j] = user[start:start + n_steps]
    return Reading(song=song, chosen=chosen, label=label, tracks=tracks, chosen_tracks=chosen_tracks,
                   pm_song=pm_song, grid=grid, user=user, song_bars=song_bars, layout=layout,
                   conditions=conditions)


# --------------------------------------------------------------------------- generation


def _has_weights(exp_dir: Path) -> bool:
    """Whether the experiment holds any weights at all, looked at without TensorFlow (which
    `checkpoint` imports): a checkpoint file of any step, or shipped pretrained weights."""
    model = exp_dir / "model"
    return ((exp_dir / "pretrained" / "generator.npz").is_file()
            or (model.is_dir() and any(model.glob("*.index"))))


def generate(exp_dir: Path, conditions: np.ndarray, rng: np.random.Generator, how: str, mode: str,
             bars: Optional[np.ndarray] = None, arranging: Arranging = AS_DRAWN) -> Tuple[np.ndarray, Dict[str, float]]:
    """The band (`band`) for all phrases, and load/generate seconds.

    Loading includes one warm-up call on a single phrase: TensorFlow sets up its executor on
    the first run whatever the batch, so the band itself is timed as generation alone.
    """
    t0 = time.perf_counter()
    with quiet_stderr():
        from musegan.generate import Generator

        gen = Generator(exp_dir, batch_size=min(max(1, len(conditions)), MAX_BATCH))
        try:
            t_warm = time.perf_counter()
            gen(np.zeros((1, gen.latent_size), np.float32), conditions[:1])
            t1 = time.perf_counter()
            x = band(gen, conditions, bars, rng, how, mode, arranging)
            t2 = time.perf_counter()
        finally:
            gen.close()
    return x, {"load_s": t1 - t0, "warmup_s": t1 - t_warm, "generate_s": t2 - t1}


def band(gen, conditions: np.ndarray, bars: Optional[np.ndarray], rng: np.random.Generator, how: str = "style",
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


def _outputs(out: Path, wav: bool) -> Dict[str, Path]:
    paths = {"mid": out, "png": out.with_suffix(".png")}
    if wav:
        paths["wav"] = out.with_suffix(".wav")
    return paths


def accompany(input_path: Path, exp_dir: Path, out: Path, track: Optional[str] = None,
              seed: Optional[int] = None, latent: str = "style", binarization: Optional[str] = None,
              wav: bool = False, overwrite: bool = False, log=print, warn=None,
              arranging: Arranging = Arranging()) -> dict:
    """Accompany `input_path` with `exp_dir`'s model into `out` (see the module docstring);
    `arranging` chooses the band (`musegan.arrange`; `AS_DRAWN`: the latents as drawn).
    Returns a summary: bars, phrases, parts, seed, paths and timings."""
    warn = warn or (lambda line: print(f"musegan accompany: warning: {line}", file=sys.stderr))
    timings = {}
    t_start = time.perf_counter()
    input_path, exp_dir, out = Path(input_path), Path(exp_dir), Path(out)
    # --- arguments and outputs: answered before anything heavy
    if out.suffix.lower() not in MIDI_SUFFIXES:
        raise UsageError(f"--out {out}: must name a .mid file (OUT.png is written beside it)")
    if latent not in LATENTS:
        raise UsageError(f"--latents {latent}: must be one of {', '.join(LATENTS)}")
    arranging.check()
    if input_path.exists() and out.exists() and input_path.resolve() == out.resolve():
        raise UsageError(f"--out {out}: would replace the input file")
    paths = _outputs(out, wav)
    for path in paths.values():
        atomic.check_writable(path, overwrite)
    if wav:
        import importlib.util

        if importlib.util.find_spec("musegan.music.audio") is None:
            raise UsageError("--wav: musegan.music.audio is not available in this installation")
    config, params = load_experiment(exp_dir)
    c = condition_index(params, str(exp_dir / "params.yaml"))
    if c is None:
        raise UsageError(f"{exp_dir}: not a track-conditional model (its params.yaml sets no "
                         "condition_track); use an experiment such as exp/accompaniment/piano")
    if not _has_weights(exp_dir):
        raise CheckpointError(f"{exp_dir}: no trained model (neither a checkpoint in {exp_dir / 'model'} "
                              f"nor {exp_dir / 'pretrained' / 'generator.npz'}); train one with "
                              f"`musegan train {exp_dir}`")
    mode = binarization or config["binarize"]
    n_bars, n_steps, _, n_tracks = params["data_shape"]
    names = params["track_names"]
    condition = names[c]

    # --- the song, the user's part and the phrases
    r = read_input(input_path, track, params, config, warn)
    timings["read_s"] = time.perf_counter() - t_start

    # --- generation: every phrase in one batch
    if seed is None:
        seed = secrets.randbelow(2 ** 31)
    rng = np.random.default_rng(seed)
    x, t = generate(exp_dir, r.conditions, rng, latent, mode, r.layout.bars, arranging)
    timings.update(t)
    t_write = time.perf_counter()

    # --- the result on the song's grid, then one file
    full, generated = band_roll(r, x, params)
    step_ticks = np.round(timing.seconds_to_ticks(r.pm_song, r.grid.step_times)).astype(np.int64)
    step_ticks = np.maximum(np.append(step_ticks, step_ticks[-1]), 0)  # the last boundary: the end
    used = {m.channel for track in r.chosen_tracks for m in track if hasattr(m, "channel")}
    free = [ch for ch in range(16) if ch != 9 and ch not in used] or [ch for ch in range(16) if ch != 9]
    sub = {**params, **{k: [params[k][t] for t in generated] for k in ("track_names", "programs", "is_drums")}}
    band = dict(zip(generated, pianoroll.roll_to_tracks(full[..., generated], sub, step_ticks, channels=free)))
    result = mido.MidiFile(type=1, ticks_per_beat=r.song.mido.ticks_per_beat)
    result.tracks.append(r.tracks[0])
    for t in range(n_tracks):
        result.tracks.extend(r.chosen_tracks if t == c else [band[t]])
    picture = _song_image(full, r.grid, r.song_bars, n_steps)

    # --- write everything, or nothing
    with contextlib.ExitStack() as stack:
        tmp = {k: stack.enter_context(atomic.atomic_path(p)) for k, p in paths.items()}
        result.save(str(tmp["mid"]))
        atomic.save_png(tmp["png"], picture)
        if wav:
            from musegan.music.audio import render

            render(tmp["mid"], tmp["wav"], overwrite=True)
    timings["write_s"] = time.perf_counter() - t_write
    timings["total_s"] = time.perf_counter() - t_start

    accompanied = int((r.layout.bars >= 0).sum())
    tempos = sorted({round(mido.tempo2bpm(m.tempo), 1) for _, m in r.song.conductor if m.type == "set_tempo"})
    tempo = (f"{tempos[0]:g} bpm" if len(tempos) == 1 else
             f"{len(tempos)} tempos {min(tempos):g}-{max(tempos):g} bpm" if tempos else "120 bpm")
    log(f"{input_path}: your part {r.label} as {condition}; {r.song_bars} bars, {tempo}")
    log(f"generated {', '.join(names[t] for t in generated)} for {accompanied} bars ({len(r.layout.bars)} "
        f"phrases of {n_bars} bars, {LATENTS[latent]}{arranging.summary(latent)}, {mode} binarization, "
        f"seed {seed}) in {timings['generate_s']:.2f} s")
    log(f"wrote {', '.join(str(p) for p in paths.values())}")
    return {"bars": r.song_bars, "accompanied_bars": accompanied, "phrases": len(r.layout.bars),
            "parts": [p.label for p in r.chosen], "seed": seed, "paths": paths, "timings": timings}


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


def _song_image(full: np.ndarray, grid: timing.Grid, n_bars: int, steps_per_bar: int) -> np.ndarray:
    """`images.song_image` of the song's first `n_bars` bars, each padded to the longest so bar
    lines stay bar lines in mixed meters."""
    from musegan.music import images

    starts, lengths = grid.bar_starts[:n_bars], (grid.bar_ends - grid.bar_starts)[:n_bars]
    width = int(max(lengths.max(), steps_per_bar))
    padded = np.zeros((n_bars * width,) + full.shape[1:], dtype=bool)
    for bar, (start, length) in enumerate(zip(starts, lengths)):
        padded[bar * width:bar * width + length] = full[start:start + length]
    return images.song_image(padded, width)

