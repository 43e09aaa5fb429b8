"""Markdown reports of metrics: the paper's Tables 1 and 2 laid out with our rows beside the
paper's, the extra metrics, how closely a conditional model follows its given part, and
the definitions under the tables."""
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from musegan.metrics import follow, objective
from musegan.metrics.goal import (PAPER_BEST, PAPER_LETTERS, PAPER_TABLE1, PAPER_TABLE2, PAPER_TD_PAIRS,
                                  goal_summary, pair_columns, paper_best_distance, track_columns)

__all__ = ["table1", "table2", "extras_table", "definitions", "following_table", "report_markdown",
           "by_song_markdown"]


def _fmt(v: Optional[float], digits: int) -> str:
    return "–" if v is None else f"{v:.{digits}f}"



def _table(header: List[str], rows: List[List[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)



def table1(rows: Dict[str, Dict[str, Any]], params: Dict[str, Any], paper: bool = True) -> str:
    """Markdown Table 1 (EB per track; UPC, QN per non-drum track; DP) of metrics dicts."""
    tracks = track_columns(params["track_names"])
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
    pairs = pair_columns(list(first["TD"]))
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
    tracks = [(n, l) for n, l in track_columns(params["track_names"]) if n in first["polyphony"]]
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
        f"- QN: % of notes lasting at least {objective.qn_threshold(br)} steps (a 32nd note rounded "
        "up: ceil(beat_resolution / 8); the paper: 3 steps at 96/bar). A note is a run of "
        "consecutive active steps of one pitch within the phrase (bar lines do not split it). "
        "Pooled over all notes.",
        f"- DP: % of drum onsets within {objective.dp_tolerance(br):g} steps of the 16th-note grid "
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
    tracks = [(n, l) for n, l in track_columns(params["track_names"]) if n in f["model"]["own"]]
    given = f["given"]
    rows = [[f"{who}, {which} {given}"] + [_fmt(f[key][part].get(n), 1 if on_drums else 2) for n, _ in tracks]
            for who, key in (("given phrases", "data"), ("this model", "model"))
            for which, part in (("own", "own"), ("another phrase's", "other"))]

    def gap(key: str) -> str:
        return _fmt(follow.following_gap(f[key], [n for n, _ in tracks]), 1 if on_drums else 2)

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
