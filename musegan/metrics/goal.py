"""The paper's figures (Dong et al. 2018, Tables 1 and 2) and how a model is measured against them.

The goal of a model is to be, metric by metric, at least as close to its training data
as the paper's best model was to the paper's data (`goal_checks`): the distance is
`abs_difference(model metrics, data metrics)`; the paper's best distance per metric is
`paper_best_distance`. Metrics dicts are those of `musegan.metrics.objective.finish`.
"""
from typing import Any, Dict, List, Sequence, Tuple

from musegan.config import condition_index

__all__ = ["PAPER_LETTERS", "PAPER_TABLE1", "PAPER_TABLE2", "PAPER_TD_PAIRS", "PAPER_DATA", "PAPER_BEST",
           "Check", "paper_best_distance", "goal_checks", "goal_score", "goal_summary", "abs_difference",
           "track_columns", "pair_columns"]


# The paper's track letters (Tables 1 and 2 list B, D, G, P, S) for our track names.
PAPER_LETTERS = {"bass": "B", "drums": "D", "guitar": "G", "piano": "P", "strings": "S"}



# The paper's Table 1 (LPD-5-cleansed rock, 96 steps/bar): its training data, its three
# track-conditional models (given the piano track) and its hybrid model trained from scratch.
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
    c = condition_index(params)
    conditional = c is not None
    given = params["track_names"][c].lower() if conditional else None
    best, td = paper_best_distance(conditional)
    met: List[Check] = []
    missed: List[Check] = []

    def check(label, ours, goal):
        if ours is not None and goal is not None:
            (met if round(ours, 2) <= round(goal, 2) else missed).append((label, ours, goal))

    for name, letter in track_columns(params["track_names"]):
        for metric in ("EB", "UPC", "QN"):
            if name != given:
                check(f"{metric} {letter}", difference[metric].get(name), best[metric].get(letter))
    if not (conditional and params["is_drums"][c]):
        check("DP", difference["DP"], best["DP"])
    by_label = {f"{p[0]}-{p[1]}": v for p, v in zip(PAPER_TD_PAIRS, td)}
    for key, label in pair_columns(list(difference["TD"])):
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
    kind = "track-conditional models" if condition_index(params) is not None else "from-scratch hybrid"
    listed = lambda checks: ", ".join(f"{label} {ours:.2f} vs {goal:.2f}" for label, ours, goal in checks) or "none"
    return (f"Within the paper's best distance to its data ({kind}) on {len(met)} of "
            f"{len(met) + len(missed)} metrics (ours vs paper's best |model - data|). "
            f"Met: {listed(met)}. Not met: {listed(missed)}.")



def abs_difference(a: Dict[str, Any], b: Dict[str, Any]) -> Dict[str, Any]:
    """|a - b| for every number of two metrics dicts (None where either is None); "info" is skipped."""
    def diff(x, y):
        if isinstance(x, dict):
            return {k: diff(x[k], y.get(k)) for k in x if isinstance(y, dict) and k in y}
        if x is None or y is None:
            return None
        return round(abs(x - y), 4)
    return {k: diff(v, b[k]) for k, v in a.items() if k != "info" and k in b}



def track_columns(track_names: Sequence[str]) -> List[Tuple[str, str]]:
    """(our lowercase name, column label) in the paper's order B, D, G, P, S, then other tracks."""
    names = [n.lower() for n in track_names]
    known = sorted((n for n in names if n in PAPER_LETTERS), key=lambda n: PAPER_LETTERS[n])
    return [(n, PAPER_LETTERS[n]) for n in known] + [(n, n) for n in names if n not in PAPER_LETTERS]



def pair_columns(pair_keys: Sequence[str]) -> List[Tuple[str, str]]:
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
