"""`musegan evaluate`: the paper's objective metrics of a dataset or of a trained model.

Two modes:

- `musegan evaluate --data FILE --out DIR`: metrics of a dataset (any format
  `musegan.music.data.load_phrases` reads), unpacked `CHUNK` phrases at a time so a
  big set never goes dense. `DIR/metrics.json` is the `musegan.metrics.objective.finish`
  layout (`{"EB": {...}, "UPC": ..., "TD": ..., "info": ...}`) plus "source".
- `musegan evaluate EXP_DIR [--bars N] [--condition-dir DIR]`: generates
  `ceil(N / n_bars)` phrases from the experiment's model and compares them with
  the training part of the experiment's own data (config `data`, split by song
  with `validation_fraction` and `seed`, as training does). A track-conditional
  model is conditioned on phrases of the held-out part (or on the phrases of
  the MIDI files in `--condition-dir`). `metrics.json` holds
  `{"training_data": metrics, "model": metrics, "abs_difference": ..., "info": ...}`;
  default folder `EXP_DIR/results/evaluation`, which also gets `samples.png`;
  `--by-song` adds `by_song.json` and `by_song.md`, a conditional model's metrics
  per song of the given phrases beside the song's own.

Both write `report.md`: the paper's Tables 1 and 2 laid out with our rows and
the paper's, and the command that reproduces it at the top. Existing results
are refused unless `--overwrite`.
"""
import shlex
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from musegan import atomic
from musegan import config as cfg
from musegan.errors import ConfigError, DataError, UsageError
from musegan.metrics import follow, objective
from musegan.metrics.datasets import CHUNK, chunks, dataset_metrics, song_metrics
from musegan.metrics.goal import abs_difference
from musegan.metrics.report import by_song_markdown, report_markdown
from musegan.music.data import PackedPhrases, pack
from musegan.music.splits import load_splits
SAMPLE_ROWS = SAMPLE_COLUMNS = 4


# --------------------------------------------------------------------------- computing


def params_for_data(shape: Sequence[int]) -> Dict[str, Any]:
    """Default params, with `data_shape` (and `beat_resolution`) taken from the data."""
    shape = [int(s) for s in shape]
    params = cfg.load_params()
    if shape != params["data_shape"]:
        params = cfg.load_params(overrides={"data_shape": shape, "beat_resolution": shape[1] // 4})
    return params


def condition_phrases_from_midi(folder: Path, params: Dict[str, Any], config: Dict[str, Any],
                                condition: int) -> PackedPhrases:
    """The non-overlapping phrases `(n_bars, n_steps, n_pitches, n_tracks)` of every MIDI file
    under `folder` in which the condition track plays, each file a song (named by its path
    under `folder`); files that cannot be used are skipped with a note."""
    from musegan.music import midi
    from musegan.music import pianoroll

    files = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in midi.MIDI_SUFFIXES and p.is_file())
    if not files:
        raise UsageError(f"{folder}: no MIDI files ({', '.join(midi.MIDI_SUFFIXES)}) found")
    n_bars = params["data_shape"][0]
    found, ids, names = [], [], []
    for path in files:
        try:
            roll, grid, _ = pianoroll.midi_to_roll(path, params, config)
        except DataError as e:
            print(f"skipping {e}")
            continue
        x, _ = pianoroll.phrases(roll, grid, n_bars=n_bars, hop_bars=n_bars, min_tracks=1)
        x = x[x[..., condition].any(axis=(1, 2, 3))]
        found.append(x)
        ids.append(np.full(len(x), len(names), dtype=np.int32))
        names.append(path.relative_to(folder).as_posix())
    n = sum(len(x) for x in found)
    if not n:
        name = params["track_names"][condition]
        raise DataError(f"{folder}: no 4/4 phrase in which the condition track '{name}' plays")
    return pack(np.concatenate(found), np.concatenate(ids), names)


def pick(n_available: int, n: int, seed: int) -> np.ndarray:
    """`n` indices into `n_available` items: a seeded shuffle, repeated when `n > n_available`."""
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.permutation(n_available) for _ in range(-(-n // n_available))])[:n]


# --------------------------------------------------------------------------- report


# --------------------------------------------------------------------------- the command


def _command(exp_dir: Optional[Path], data: Optional[Path], out: Path, bars: int, condition_dir: Optional[Path],
             binarization: Optional[str], seed: Optional[int], by_song: bool) -> str:
    """The `musegan evaluate` command line that reproduces a report, for its first lines."""
    words = ["musegan", "evaluate"]
    if exp_dir is not None:
        words += [str(exp_dir), "--bars", str(bars)]
        if condition_dir is not None:
            words += ["--condition-dir", str(condition_dir)]
        if binarization is not None:
            words += ["--binarize", binarization]
        if seed is not None:
            words += ["--seed", str(seed)]
        if by_song:
            words.append("--by-song")
    else:
        words += ["--data", str(data)]
    words += ["--out", str(out)]
    return shlex.join(words)


def _targets(out: Path, names: Sequence[str], overwrite: bool) -> List[Path]:
    paths = [out / n for n in names]
    for p in paths:
        atomic.check_writable(p, overwrite)
    return paths


def evaluate_data(path: Path, out: Path, overwrite: bool = False, command: str = "") -> Dict[str, Any]:
    """Metrics of the dataset at `path` into `out/metrics.json` and `out/report.md`."""
    from musegan.music import data

    json_path, md_path = _targets(out, ("metrics.json", "report.md"), overwrite)
    phrases = data.load_phrases(path)
    try:
        params = params_for_data(phrases.shape)
    except ConfigError as e:  # a shape no model settings describe: the data's problem, not a config's
        problem = str(e).split(": ", 1)[-1]
        raise DataError(f"{path}: phrases of shape {tuple(phrases.shape)} cannot be evaluated ({problem})") from None
    print(f"{path}: {len(phrases)} phrases of shape {tuple(phrases.shape)}")
    result = dataset_metrics(phrases, params)
    result["source"] = {"data": str(path)}
    name = Path(path).name
    atomic.save_json(json_path, result)
    atomic.save_text(md_path, report_markdown(command, f"Objective metrics of {name}", {f"data: {name}": result},
                                          params))
    print(f"wrote {json_path} and {md_path}")
    return result


def evaluate_model(exp_dir: Path, out: Path, n_bars_total: int, condition_dir: Optional[Path] = None,
                   overwrite: bool = False, command: str = "", generate=None,
                   binarization: Optional[str] = None, seed: Optional[int] = None,
                   by_song: bool = False) -> Dict[str, Any]:
    """Generate `n_bars_total` bars from the experiment's model and compare them with its training data.

    `generate(exp_dir, n_phrases, conditions=None, seed=0, binarization="hard")` defaults
    to `musegan.generate.generate_phrases`; `binarization` to the config's `binarize`. Conditions, for a track-conditional
    model, are the condition track, bool `(n, n_bars, n_steps, n_pitches)`, of
    phrases of the held-out split (or of `condition_dir`'s MIDI files), shuffled
    with the config seed and repeated when there are fewer than needed. `seed` (default: the
    config's) draws the latent vectors only: the split and the conditions stay, so runs with
    several seeds measure how much the figures move between draws of the same model.
    `by_song` (conditional models) also writes `by_song.json` and `by_song.md`: the metrics
    per song of the given phrases, the song's own beside the model's (`song_metrics`).
    """
    if n_bars_total < 1:
        raise UsageError(f"--bars must be at least 1, got {n_bars_total}")
    config, params = cfg.load_experiment(exp_dir)
    binarization = binarization or config["binarize"]
    condition = cfg.condition_index(params)
    if by_song and condition is None:
        raise UsageError(f"{exp_dir}: --by-song needs a track-conditional model (an unconditional "
                         "model's phrases come from no song)")
    names = ("metrics.json", "report.md", "samples.png") + (("by_song.json", "by_song.md") if by_song else ())
    json_path, md_path, png_path, *song_paths = _targets(out, names, overwrite)
    if generate is None:
        from musegan.runtime import quiet_stderr

        with quiet_stderr():
            from musegan.generate import generate_phrases as generate
    n_bars = params["data_shape"][0]
    n_phrases = -(-n_bars_total // n_bars)
    train, selection, valid = load_splits(config, params["data_shape"])
    latent_seed = config["seed"] if seed is None else seed
    notes = [f"Experiment {exp_dir}: {params['multitrack']} model, data {config['data']} "
             f"({len(train)} training phrases{'' if valid is None else f', {len(valid)} held out'}"
             f"{'' if selection is None else f', {len(selection)} kept out for checkpoint selection'}, "
             f"split by song with seed {config['seed']}); latent vectors of seed {latent_seed}; "
             f"{binarization} binarization of the model's output."]

    conditions = None
    if condition is not None:
        name = params["track_names"][condition]
        if condition_dir is not None:
            source = condition_phrases_from_midi(condition_dir, params, config, condition)
            what = f"{len(source)} phrases of the MIDI files in {condition_dir}"
        else:
            source = valid if valid is not None and len(valid) else train
            what = (f"{len(source)} held-out phrases" if source is valid
                    else f"{len(source)} TRAINING phrases (validation_fraction is 0)")
        if by_song and source.song_ids is None:
            raise DataError(f"{config['data']}: its phrases carry no song names, so --by-song cannot "
                            "group them (collect the data with `musegan collect`, which keeps them)")
        indices = pick(len(source), n_phrases, config["seed"])
        # chunk by chunk, keeping only the condition track: never the whole set dense
        conditions = np.concatenate([c[..., condition] for c in chunks(source, indices)])
        notes.append(f"Track-conditional: the model is given the {name} track of {what}"
                     f"{' (repeated)' if len(source) < n_phrases else ''}; "
                     f"the paper's conditional rows were given the piano track.")
    elif condition_dir is not None:
        raise UsageError(f"{exp_dir}: --condition-dir needs a track-conditional model "
                         "(params 'condition_track' is null)")

    print(f"evaluating the training data ({len(train)} phrases)")
    train_metrics = dataset_metrics(train, params)
    print(f"generating {n_phrases} phrases ({n_phrases * n_bars} bars)")
    x = np.asarray(generate(exp_dir, n_phrases, conditions=conditions, seed=latent_seed,
                            binarization=binarization), dtype=bool)
    if x.shape != (n_phrases, *params["data_shape"]):
        raise DataError(f"{exp_dir}: the model gave shape {x.shape}, expected "
                        f"{(n_phrases, *params['data_shape'])}")
    model_metrics = objective.all_metrics(x, params)
    result = {"training_data": train_metrics, "model": model_metrics,
              "abs_difference": abs_difference(model_metrics, train_metrics),
              "info": {"exp_dir": str(exp_dir), "bars": n_phrases * n_bars, "data": str(config["data"]),
                       "binarization": binarization, "latent_seed": latent_seed,
                       "condition_track": None if condition is None else params["track_names"][condition],
                       "conditions": None if condition is None else
                       (str(condition_dir) if condition_dir is not None else "held-out split")}}
    if condition is not None and min(len(source), n_phrases) >= 2:  # one phrase has no other to compare with
        print(f"comparing with another phrase's {name} (how closely the tracks follow the given part)")
        result["following"] = {
            "given": name.lower(), "phrases": f"the {n_phrases} phrases whose {name.lower()} the model was given "
                                              f"(drawn from {what})",
            "data": follow.following_of(lambda: chunks(source, indices), conditions, condition, params),
            "model": follow.following_of(lambda: (x[i:i + CHUNK] for i in range(0, len(x), CHUNK)),
                                          conditions, condition, params, own=model_metrics)}
    if by_song:  # before anything is written: an interrupted run leaves no partial set of files
        print("measuring song by song")
        songs = song_metrics(source, indices, x, params)
    rows = {"this model's training data": train_metrics, "this model": model_metrics,
            "abs difference": _difference_row(model_metrics, train_metrics)}
    from musegan.music.results import grid_picture

    atomic.save_png(png_path, grid_picture(x[:SAMPLE_ROWS * SAMPLE_COLUMNS], params, SAMPLE_ROWS, SAMPLE_COLUMNS,
                                           overlay=True, title=f"{exp_dir}: samples"))
    atomic.save_json(json_path, result)
    atomic.save_text(md_path, report_markdown(command, f"Objective metrics of {exp_dir}", rows, params, notes,
                                          result.get("following")))
    print(f"wrote {json_path}, {md_path} and {png_path}")
    if by_song:
        atomic.save_json(song_paths[0], songs)
        atomic.save_text(song_paths[1], by_song_markdown(command, exp_dir, songs, params, name.lower(), what))
        print(f"wrote {song_paths[0]} and {song_paths[1]} ({len(songs)} songs)")
    return result


def _difference_row(a: Dict[str, Any], b: Dict[str, Any]) -> Dict[str, Any]:
    row = abs_difference(a, b)
    row["info"] = a["info"]
    return row


def evaluate(exp_dir: Optional[Path] = None, data: Optional[Path] = None, out: Optional[Path] = None,
             bars: int = 20000, condition_dir: Optional[Path] = None, binarization: Optional[str] = None,
             seed: Optional[int] = None, by_song: bool = False, overwrite: bool = False) -> Dict[str, Any]:
    """`musegan evaluate`: a model (`exp_dir`, `evaluate_model`) or a dataset (`data`,
    `evaluate_data`), see the module docstring. `out` defaults to EXP_DIR/results/evaluation."""
    if (exp_dir is None) == (data is None):
        raise UsageError("give either EXP_DIR (evaluate a model) or --data FILE (evaluate a dataset), "
                         "not both")
    if data is not None:
        if out is None:
            raise UsageError("--data needs --out DIR (where metrics.json and report.md go)")
        if condition_dir is not None or binarization is not None or seed is not None or by_song:
            raise UsageError("--condition-dir, --binarize, --seed and --by-song apply to a model (EXP_DIR), "
                             "not to --data")
        command = _command(None, data, out, bars, None, None, None, False)
        return evaluate_data(data, out, overwrite, command)
    out = Path(out) if out is not None else Path(exp_dir) / "results" / "evaluation"
    command = _command(exp_dir, None, out, bars, condition_dir, binarization, seed, by_song)
    return evaluate_model(exp_dir, out, bars, condition_dir, overwrite, command, binarization=binarization,
                          seed=seed, by_song=by_song)
