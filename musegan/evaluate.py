"""`musegan evaluate`: the paper's objective metrics of a dataset or of a trained model.

Two modes:

- `musegan evaluate --data FILE --out DIR`: metrics of a dataset (any format
  `musegan.data.load_phrases` reads), unpacked `CHUNK` phrases at a time so a
  big set never goes dense. `DIR/metrics.json` is the `musegan.metrics.finish`
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
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from musegan import config as cfg
from musegan import io, metrics
from musegan.data import PackedPhrases, load_splits, pack
from musegan.errors import ConfigError, DataError, UsageError

CHUNK = metrics.CHUNK
SAMPLE_ROWS = SAMPLE_COLUMNS = 4

# The paper's track letters (Tables 1 and 2 list B, D, G, P, S) for our track names.
PAPER_LETTERS = {"bass": "B", "drums": "D", "guitar": "G", "piano": "P", "strings": "S"}

# Paper, Table 1 (LPD-5-cleansed rock, 96 steps/bar; conditional rows are given the
# piano track), and the from-scratch hybrid line quoted with it. SPEC.md.
PAPER_TABLE1 = {
    "paper: training data (LPD)": {
        "EB": {"B": 8.06, "D": 8.06, "G": 19.4, "S": 10.1},
        "UPC": {"B": 1.71, "G": 3.08, "S": 3.38}, "QN": {"B": 90.0, "G": 81.9, "S": 89.6}, "DP": 88.6},
    "paper: cond. jamming": {
        "EB": {"B": 4.60, "D": 3.47, "G": 13.3, "S": 3.44},
        "UPC": {"B": 2.05, "G": 3.79, "S": 4.23}, "QN": {"B": 73.9, "G": 58.8, "S": 62.3}, "DP": 91.6},
    "paper: cond. composer": {
        "EB": {"B": 0.65, "D": 20.7, "G": 1.97, "S": 1.49},
        "UPC": {"B": 2.51, "G": 4.57, "S": 5.10}, "QN": {"B": 53.5, "G": 48.4, "S": 59.0}, "DP": 84.5},
    "paper: cond. hybrid": {
        "EB": {"B": 2.09, "D": 4.53, "G": 10.3, "S": 4.05},
        "UPC": {"B": 2.86, "G": 4.43, "S": 4.32}, "QN": {"B": 43.3, "G": 55.6, "S": 67.1}, "DP": 71.8},
    "paper: hybrid from scratch": {
        "EB": {"B": 2.14, "D": 29.7, "G": 11.7, "P": 17.8, "S": 6.04},
        "UPC": {"B": 2.35, "G": 4.76, "P": 5.45, "S": 5.24},
        "QN": {"B": 44.6, "G": 43.2, "P": 45.5, "S": 52.0}, "DP": 71.3},
}
PAPER_TD_PAIRS = ("BG", "BS", "BP", "GS", "GP", "SP")
PAPER_TABLE2 = {
    "paper: training data (LPD)": (1.57, 1.58, 1.51, 1.10, 1.02, 1.04),
    "paper: cond. jamming": (1.51, 1.53, 1.50, 1.04, 0.95, 1.00),
    "paper: cond. composer": (1.41, 1.36, 1.40, 0.96, 1.01, 0.95),
    "paper: cond. hybrid": (1.39, 1.36, 1.38, 0.96, 0.94, 0.95),
}

PAPER_DATA = "paper: training data (LPD)"
PAPER_BEST = "paper: best abs difference"


def paper_best_distance(conditional: bool) -> Tuple[Dict[str, Any], Tuple[float, ...]]:
    """The issue's goal per metric: the smallest |paper model - paper data| among the paper's
    track-conditional rows (or its from-scratch row): (Table 1 dict, Table 2 tuple or ())."""
    data = PAPER_TABLE1[PAPER_DATA]
    names = [n for n in PAPER_TABLE1 if n != PAPER_DATA and ("cond." in n) == conditional]
    best: Dict[str, Any] = {"EB": {}, "UPC": {}, "QN": {}}
    for metric in best:
        for letter, value in data[metric].items():
            gaps = [abs(PAPER_TABLE1[n][metric][letter] - value) for n in names
                    if letter in PAPER_TABLE1[n][metric]]
            if gaps:
                best[metric][letter] = min(gaps)
    best["DP"] = min(abs(PAPER_TABLE1[n]["DP"] - data["DP"]) for n in names)
    td = ()
    if conditional:
        rows = [v for n, v in PAPER_TABLE2.items() if n != PAPER_DATA]
        td = tuple(min(abs(r[i] - PAPER_TABLE2[PAPER_DATA][i]) for r in rows) for i in range(len(PAPER_TD_PAIRS)))
    return best, td


Check = Tuple[str, float, float]  # (metric label, ours |model - data|, the paper's best)


def goal_checks(difference: Dict[str, Any], params: Dict[str, Any]) -> Tuple[List[Check], List[Check]]:
    """(met, missed) of a model's abs-difference row against the paper's best distance, per
    metric the paper reports. The given track's own metrics are left out: they are the
    data's (its distances to other tracks stay in, under TD)."""
    c = cfg.condition_index(params)
    conditional = c is not None
    given = params["track_names"][c].lower() if conditional else None
    best, td = paper_best_distance(conditional)
    met: List[Check] = []
    missed: List[Check] = []

    def check(label, ours, goal):
        if ours is not None and goal is not None:
            (met if round(ours, 2) <= round(goal, 2) else missed).append((label, ours, goal))

    for name, letter in _track_columns(params["track_names"]):
        for metric in ("EB", "UPC", "QN"):
            if name != given:
                check(f"{metric} {letter}", difference[metric].get(name), best[metric].get(letter))
    if not (conditional and params["is_drums"][c]):
        check("DP", difference["DP"], best["DP"])
    by_label = {f"{p[0]}-{p[1]}": v for p, v in zip(PAPER_TD_PAIRS, td)}
    for key, label in _pair_columns(list(difference["TD"])):
        check(f"TD {label}", difference["TD"].get(key), by_label.get(label))
    return met, missed


def goal_score(difference: Dict[str, Any], params: Dict[str, Any]) -> Tuple[int, float]:
    """(metrics within the paper's best distance, sum over all of |model - data| / paper's best):
    larger count first, then smaller sum, is closer to the data. Orders checkpoints."""
    met, missed = goal_checks(difference, params)
    return len(met), round(sum(ours / max(goal, 0.01) for _, ours, goal in met + missed), 4)


def goal_summary(difference: Dict[str, Any], params: Dict[str, Any]) -> str:
    """'Within the paper's best distance on K of N metrics: ... ; not: ...' for a model's
    abs-difference row (metrics the paper reports only; see goal_checks)."""
    met, missed = goal_checks(difference, params)
    kind = "track-conditional models" if cfg.condition_index(params) is not None else "from-scratch hybrid"
    listed = lambda checks: ", ".join(f"{label} {ours:.2f} vs {goal:.2f}" for label, ours, goal in checks) or "none"
    return (f"Within the paper's best distance to its data ({kind}) on {len(met)} of "
            f"{len(met) + len(missed)} metrics (ours vs paper's best |model - data|). "
            f"Met: {listed(met)}. Not met: {listed(missed)}.")


# --------------------------------------------------------------------------- computing


def chunks(phrases, indices: Optional[np.ndarray] = None, size: int = CHUNK) -> Iterator[np.ndarray]:
    """Bool `(k, n_bars, n_steps, n_pitches, n_tracks)` chunks of a `PackedPhrases` (all, or `indices`)."""
    indices = np.arange(len(phrases)) if indices is None else np.asarray(indices)
    for i in range(0, len(indices), size):
        yield phrases.unpack(indices[i:i + size])


def dataset_metrics(phrases, params: Dict[str, Any]) -> Dict[str, Any]:
    """`metrics.finish` dict of a `PackedPhrases`, computed chunk by chunk."""
    if tuple(phrases.shape) != tuple(params["data_shape"]):
        raise DataError(f"phrases of shape {tuple(phrases.shape)} do not match data_shape "
                        f"{list(params['data_shape'])}")
    return metrics.all_metrics_chunks(chunks(phrases), params)


def song_metrics(source: PackedPhrases, indices: np.ndarray, x: np.ndarray,
                 params: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    """Per song of the given phrases, in name order: `{"phrases": k, "data": metrics of the
    song's phrases as they are (every track), "model": metrics of the model's phrases for
    them}`; `x[i]` bool `(n_bars, n_steps, n_pitches, n_tracks)` was given phrase
    `indices[i]` of `source` (phrases drawn twice count twice on both sides)."""
    ids = source.song_ids[indices]
    out = {}
    for song in sorted(np.unique(ids), key=lambda i: source.song_names[i]):
        rows = np.flatnonzero(ids == song)
        out[source.song_names[song]] = {"phrases": len(rows),
                                        "data": metrics.all_metrics_chunks(chunks(source, indices[rows]), params),
                                        "model": metrics.all_metrics(x[rows], params)}
    return out


def abs_difference(a: Dict[str, Any], b: Dict[str, Any]) -> Dict[str, Any]:
    """|a - b| for every number of two metrics dicts (None where either is None); "info" is skipped."""
    def diff(x, y):
        if isinstance(x, dict):
            return {k: diff(x[k], y.get(k)) for k in x if isinstance(y, dict) and k in y}
        if x is None or y is None:
            return None
        return round(abs(x - y), 4)
    return {k: diff(v, b[k]) for k, v in a.items() if k != "info" and k in b}


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
    from musegan import midi

    files = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in midi.MIDI_SUFFIXES and p.is_file())
    if not files:
        raise UsageError(f"{folder}: no MIDI files ({', '.join(midi.MIDI_SUFFIXES)}) found")
    n_bars = params["data_shape"][0]
    found, ids, names = [], [], []
    for path in files:
        try:
            roll, grid, _ = midi.midi_to_roll(path, params, config)
        except DataError as e:
            print(f"skipping {e}")
            continue
        x, _ = midi.phrases(roll, grid, n_bars=n_bars, hop_bars=n_bars, min_tracks=1)
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


def _fmt(v: Optional[float], digits: int) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def _track_columns(track_names: Sequence[str]) -> List[Tuple[str, str]]:
    """(our lowercase name, column label) in the paper's order B, D, G, P, S, then other tracks."""
    names = [n.lower() for n in track_names]
    known = sorted((n for n in names if n in PAPER_LETTERS), key=lambda n: PAPER_LETTERS[n])
    return [(n, PAPER_LETTERS[n]) for n in known] + [(n, n) for n in names if n not in PAPER_LETTERS]


def _pair_columns(pair_keys: Sequence[str]) -> List[Tuple[str, str]]:
    """(our TD key, column label) in the paper's pair order, then other pairs."""
    labelled = []
    for key in pair_keys:
        a, b = key.split("-", 1)
        letters = PAPER_LETTERS.get(a), PAPER_LETTERS.get(b)
        if None in letters:
            labelled.append((len(PAPER_TD_PAIRS), key, key))
            continue
        for order, pair in enumerate(PAPER_TD_PAIRS):
            if set(pair) == set(letters):
                labelled.append((order, key, f"{pair[0]}-{pair[1]}"))
    return [(key, label) for _, key, label in sorted(labelled, key=lambda t: t[0])]


def _table(header: List[str], rows: List[List[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def table1(rows: Dict[str, Dict[str, Any]], params: Dict[str, Any], paper: bool = True) -> str:
    """Markdown Table 1 (EB per track; UPC, QN per non-drum track; DP) of metrics dicts."""
    tracks = _track_columns(params["track_names"])
    drums = {n.lower() for n, d in zip(params["track_names"], params["is_drums"]) if d}
    melodic = [(n, label) for n, label in tracks if n not in drums]
    header = [""] + [f"EB {l}" for _, l in tracks] + [f"UPC {l}" for _, l in melodic] + \
        [f"QN {l}" for _, l in melodic] + ["DP"]
    out = []
    for name, m in rows.items():
        out.append([name] + [_fmt(m["EB"].get(n), 2) for n, _ in tracks]
                   + [_fmt(m["UPC"].get(n), 2) for n, _ in melodic]
                   + [_fmt(m["QN"].get(n), 1) for n, _ in melodic] + [_fmt(m["DP"], 1)])
    if paper:
        best, _ = paper_best_distance(params.get("condition_track") is not None)
        for name, p in {**PAPER_TABLE1, PAPER_BEST: best}.items():
            out.append([name] + [_fmt(p["EB"].get(l), 2) for _, l in tracks]
                       + [_fmt(p["UPC"].get(l), 2) for _, l in melodic]
                       + [_fmt(p["QN"].get(l), 1) for _, l in melodic] + [_fmt(p["DP"], 1)])
    return _table(header, out)


def table2(rows: Dict[str, Dict[str, Any]], params: Dict[str, Any], paper: bool = True) -> str:
    """Markdown Table 2 (TD per pair of non-drum tracks) of metrics dicts."""
    first = next(iter(rows.values()))
    pairs = _pair_columns(list(first["TD"]))
    out = [[name] + [_fmt(m["TD"].get(key), 2) for key, _ in pairs] for name, m in rows.items()]
    if paper:
        _, best = paper_best_distance(params.get("condition_track") is not None)
        for name, values in {**PAPER_TABLE2, **({PAPER_BEST: best} if best else {})}.items():
            by_label = {f"{p[0]}-{p[1]}": v for p, v in zip(PAPER_TD_PAIRS, values)}
            out.append([name] + [_fmt(by_label.get(label), 2) for _, label in pairs])
    return _table(["TD"] + [label for _, label in pairs], out)


def extras_table(rows: Dict[str, Dict[str, Any]], params: Dict[str, Any]) -> str:
    """Markdown table of the metrics beyond the paper's: UPC over non-empty bars, polyphony,
    in-scale and (with drums) on-drums."""
    first = next(iter(rows.values()))
    tracks = [(n, l) for n, l in _track_columns(params["track_names"]) if n in first["polyphony"]]
    drums = any(params["is_drums"]) and "on_drums" in first  # reports written before it lack it
    header = [""] + [f"UPC* {l}" for _, l in tracks] + [f"poly {l}" for _, l in tracks] + \
        [f"in-scale {l}" for _, l in tracks] + ([f"on-drums {l}" for _, l in tracks] if drums else [])
    out = [[name] + [_fmt(m["UPC_nonempty"].get(n), 2) for n, _ in tracks]
           + [_fmt(m["polyphony"].get(n), 1) for n, _ in tracks]
           + [_fmt(m["in_scale"].get(n), 1) for n, _ in tracks]
           + ([_fmt(m["on_drums"].get(n), 1) for n, _ in tracks] if drums else [])
           for name, m in rows.items() if "polyphony" in m]
    return _table(header, out)


def definitions(params: Dict[str, Any]) -> str:
    """The notes under the tables: our definitions and how they differ from the paper's setting."""
    br = params["beat_resolution"]
    names = [n.lower() for n in params["track_names"]]
    legend = ", ".join(f"{PAPER_LETTERS.get(n, n)} = {n} (track {i})" for i, n in enumerate(names))
    return "\n".join([
        f"- Columns use the paper's letters and order: {legend}. The paper's rows come from "
        "LPD-5-cleansed rock phrases at 96 steps/bar; ours are at "
        f"{4 * br} steps/bar ({br} per beat), so compare trends, not decimals.",
        "- EB: % of bars in which the track is silent. UPC: distinct pitch classes per bar, "
        "averaged over ALL bars (an empty bar counts 0); UPC* (extras) averages over the "
        "track's non-empty bars only, as the paper-era code did.",
        f"- QN: % of notes lasting at least {metrics.qn_threshold(br)} steps (a 32nd note rounded "
        "up: ceil(beat_resolution / 8); the paper: 3 steps at 96/bar). A note is a run of "
        "consecutive active steps of one pitch within the phrase (bar lines do not split it). "
        "Pooled over all notes.",
        f"- DP: % of drum onsets within {metrics.dp_tolerance(br):g} steps of the 16th-note grid "
        "(1/6 of a 16th: the paper's +-1 step at 96/bar; at 48/bar only onsets on the grid count). "
        "No per-bar search over grid phases.",
        "- TD: Harte et al. tonal-centroid distance of per-beat chroma (L1-normalised, r1 = r2 = 1, "
        "r3 = 0.5), averaged over the beats in which both tracks sound. Larger = less harmonious.",
        "- Extras: poly = % of sounding steps with >= 2 pitches; in-scale = % of notes in the phrase's "
        "best-fitting major scale (fitted to all non-drum tracks together); on-drums = % of notes "
        "starting on a step where a drum is struck (how closely the track's rhythm follows the drums).",
    ])


def following_table(f: Dict[str, Any], params: Dict[str, Any]) -> str:
    """Markdown of a report's "following" entry (see `evaluate_model`): the metric with each
    phrase's own part and with another phrase's, for the data and the model, and the gaps."""
    on_drums = f["model"]["metric"] == "on_drums"
    tracks = [(n, l) for n, l in _track_columns(params["track_names"]) if n in f["model"]["own"]]
    given = f["given"]
    rows = [[f"{who}, {which} {given}"] + [_fmt(f[key][part].get(n), 1 if on_drums else 2) for n, _ in tracks]
            for who, key in (("given phrases", "data"), ("this model", "model"))
            for which, part in (("own", "own"), ("another phrase's", "other"))]

    def gap(key: str) -> str:
        return _fmt(metrics.following_gap(f[key], [n for n, _ in tracks]), 1 if on_drums else 2)

    what = ("on-drums rate (%) of each track: higher = its notes start on more drum hits"
            if on_drums else f"tonal distance (TD) of each track to the {given}: lower = more in harmony")
    return "\n".join([
        f"Does the band follow the given {given}? The {what}; with each phrase's own {given}, and "
        f"against the {given} of another phrase of the set (half the set away, mostly another song) "
        f"as the baseline. The given phrases: {f['phrases']}.", "",
        _table([""] + [l for _, l in tracks], rows), "",
        f"Mean gap between own and another's (how much closer the tracks are to their own {given}): "
        f"given phrases {gap('data')}, this model {gap('model')}."])


def _heading(title: str, command: str) -> List[str]:
    """A report's first lines: its title and the command that reproduces it."""
    return [f"# {title}", "", "Reproduce with:", "", "```", command, "```", ""]


def report_markdown(command: str, title: str, rows: Dict[str, Dict[str, Any]],
                    params: Dict[str, Any], notes: Sequence[str] = (),
                    following: Optional[Dict[str, Any]] = None) -> str:
    """The whole `report.md`: command, Table 1, Table 2, extras, following (a conditional
    model's), definitions and `notes`."""
    measured = {k: v for k, v in rows.items() if "difference" not in k}
    sizes = "; ".join(f"{k}: {v['info']['n_phrases']} phrases ({v['info']['n_bars']} bars)"
                      for k, v in measured.items())
    parts = _heading(title, command)
    parts += [f"- {n}" for n in list(notes) + [f"Rows: {sizes}."]] + [""]
    difference = next((v for k, v in rows.items() if "difference" in k), None)
    if difference is not None:
        parts += [goal_summary(difference, params), ""]
    parts += ["## Table 1: intra-track metrics", "",
              "EB = empty bars (%), UPC = used pitch classes per bar, QN = qualified notes (%), "
              "DP = drum notes on the 16th grid (%).", "", table1(rows, params), "",
              "## Table 2: tonal distance between tracks", "", table2(rows, params), "",
              "## Extras", "", extras_table(measured, params), ""]
    if following is not None:
        parts += ["## Following the given part", "", following_table(following, params), ""]
    parts += ["## Definitions", "", definitions(params), ""]
    return "\n".join(parts)


def by_song_markdown(command: str, exp_dir: Path, songs: Dict[str, Dict[str, Any]],
                     params: Dict[str, Any], given: str, what: str) -> str:
    """`by_song.md`: Tables 1 and 2 with a "data" and a "model" row per song (`song_metrics`)."""
    rows = {}
    for name, song in songs.items():
        rows[f"{name} ({song['phrases']}): data"] = song["data"]
        rows[f"{name}: model"] = song["model"]
    return "\n".join(_heading(f"Objective metrics of {exp_dir}, song by song", command) + [
        f"Per song of {what} (in brackets: the phrases drawn from it): \"data\" is the song's phrases as "
        f"they are, every track; \"model\" what the model made of them, given their {given} track (the "
        f"{given} columns are the same in both rows). A song gives few phrases: read these rows for where "
        "the model and a song part ways (a swung drum part, a sparse guitar), not for the goal, which "
        "`report.md` measures on all the phrases against the training data.", "",
        "## Table 1: intra-track metrics", "", table1(rows, params, paper=False), "",
        "## Table 2: tonal distance between tracks", "", table2(rows, params, paper=False), "",
        "## Definitions", "", definitions(params), ""])


# --------------------------------------------------------------------------- the command


def _command(args, out: Path) -> str:
    words = ["musegan", "evaluate"]
    if args.exp_dir is not None:
        words.append(str(args.exp_dir))
        words += ["--bars", str(args.bars)]
        if args.condition_dir is not None:
            words += ["--condition-dir", str(args.condition_dir)]
        if args.binarize is not None:
            words += ["--binarize", args.binarize]
        if args.seed is not None:
            words += ["--seed", str(args.seed)]
        if args.by_song:
            words.append("--by-song")
    else:
        words += ["--data", str(args.data)]
    words += ["--out", str(out)]
    return shlex.join(words)


def _targets(out: Path, names: Sequence[str], overwrite: bool) -> List[Path]:
    paths = [out / n for n in names]
    for p in paths:
        io.check_writable(p, overwrite)
    return paths


def evaluate_data(path: Path, out: Path, overwrite: bool = False, command: str = "") -> Dict[str, Any]:
    """Metrics of the dataset at `path` into `out/metrics.json` and `out/report.md`."""
    from musegan import data

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
    io.save_json(json_path, result)
    io.save_text(md_path, report_markdown(command, f"Objective metrics of {name}", {f"data: {name}": result},
                                          params))
    print(f"wrote {json_path} and {md_path}")
    return result


def evaluate_model(exp_dir: Path, out: Path, n_bars_total: int, condition_dir: Optional[Path] = None,
                   overwrite: bool = False, command: str = "", generate=None,
                   binarization: Optional[str] = None, seed: Optional[int] = None,
                   by_song: bool = False) -> Dict[str, Any]:
    """Generate `n_bars_total` bars from the experiment's model and compare them with its training data.

    `generate(exp_dir, n_phrases, conditions=None, seed=0, binarization="hard")` defaults
    to `musegan.inference.generate_phrases`; `binarization` to the config's `binarize`. Conditions, for a track-conditional
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
        from musegan.cli import quiet_stderr

        with quiet_stderr():
            from musegan.inference import generate_phrases as generate
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
    model_metrics = metrics.all_metrics(x, params)
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
            "data": metrics.following_of(lambda: chunks(source, indices), conditions, condition, params),
            "model": metrics.following_of(lambda: (x[i:i + CHUNK] for i in range(0, len(x), CHUNK)),
                                          conditions, condition, params, own=model_metrics)}
    if by_song:  # before anything is written: an interrupted run leaves no partial set of files
        print("measuring song by song")
        songs = song_metrics(source, indices, x, params)
    rows = {"this model's training data": train_metrics, "this model": model_metrics,
            "abs difference": _difference_row(model_metrics, train_metrics)}
    from musegan import image

    io.save_png(png_path, image.grid_image(x[:SAMPLE_ROWS * SAMPLE_COLUMNS], SAMPLE_ROWS, SAMPLE_COLUMNS,
                                           colored=True))
    io.save_json(json_path, result)
    io.save_text(md_path, report_markdown(command, f"Objective metrics of {exp_dir}", rows, params, notes,
                                          result.get("following")))
    print(f"wrote {json_path}, {md_path} and {png_path}")
    if by_song:
        io.save_json(song_paths[0], songs)
        io.save_text(song_paths[1], by_song_markdown(command, exp_dir, songs, params, name.lower(), what))
        print(f"wrote {song_paths[0]} and {song_paths[1]} ({len(songs)} songs)")
    return result


def _difference_row(a: Dict[str, Any], b: Dict[str, Any]) -> Dict[str, Any]:
    row = abs_difference(a, b)
    row["info"] = a["info"]
    return row


def main(args) -> None:
    """`musegan evaluate`, see the module docstring."""
    if (args.exp_dir is None) == (args.data is None):
        raise UsageError("give either EXP_DIR (evaluate a model) or --data FILE (evaluate a dataset), "
                         "not both")
    if args.data is not None:
        if args.out is None:
            raise UsageError("--data needs --out DIR (where metrics.json and report.md go)")
        if (args.condition_dir is not None or args.binarize is not None or args.seed is not None
                or args.by_song):
            raise UsageError("--condition-dir, --binarize, --seed and --by-song apply to a model (EXP_DIR), "
                             "not to --data")
        evaluate_data(args.data, args.out, args.overwrite, _command(args, args.out))
        return
    out = args.out if args.out is not None else Path(args.exp_dir) / "results" / "evaluation"
    evaluate_model(args.exp_dir, out, args.bars, args.condition_dir, args.overwrite, _command(args, out),
                   binarization=args.binarize, seed=args.seed, by_song=args.by_song)
