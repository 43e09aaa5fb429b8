"""How closely the other tracks follow a given part: each phrase's metrics with its own part
against the same with another phrase's part (`with_other_condition`), the baseline a band
that ignores the part would reach."""
from typing import Any, Callable, Dict, Iterable, Iterator, Optional, Sequence

import numpy as np

from musegan.metrics.objective import all_metrics_chunks, track_pairs

__all__ = ["with_other_condition", "following", "following_of", "following_gap"]


def with_other_condition(chunks: Iterable[np.ndarray], conditions: np.ndarray,
                         condition: int) -> Iterator[np.ndarray]:
    """The phrases of `chunks` (bool `(k, n_bars, n_steps, n_pitches, n_tracks)`, n in all) with
    track `condition` of phrase i replaced by `conditions[(i - n // 2) % n]`, bool `(n, n_bars,
    n_steps, n_pitches)`: another phrase's part, half the set away, so that in a set shuffled
    or ordered by song most pairs come from different songs. The baseline of `following`."""
    conditions = np.asarray(conditions, dtype=bool)
    n, start = len(conditions), 0
    for chunk in chunks:
        chunk = np.array(chunk, dtype=bool)
        chunk[..., condition] = conditions[(np.arange(start, start + len(chunk)) - n // 2) % n]
        start += len(chunk)
        yield chunk
    if start != n:
        raise ValueError(f"chunks hold {start} phrases, conditions {n}")


def following(own: Dict[str, Any], other: Dict[str, Any], params: Dict[str, Any],
              condition: int) -> Dict[str, Any]:
    """How closely each other non-drum track follows track `condition`, from `all_metrics` of
    phrases with their own part (`own`) and with another phrase's (`other`, see
    `with_other_condition`): given drums, the on-drums rate in % (higher = closer); given a
    pitched part, the TD to it (lower = closer). A track that follows the part is closer with
    its own than with another's. `{"metric": "on_drums" | "TD", "own": {track: v},
    "other": {track: v}}`, track names lower-cased, NaN as None."""
    names = [n.lower() for n in params["track_names"]]
    if params["is_drums"][condition]:
        tracks = [n for n, d in zip(names, params["is_drums"]) if not d]
        pick = lambda m: {t: m["on_drums"].get(t) for t in tracks}
        return {"metric": "on_drums", "own": pick(own), "other": pick(other)}
    pairs = {names[j if i == condition else i]: f"{names[i]}-{names[j]}"  # the keys `finish` gives
             for i, j in track_pairs(len(names), params["is_drums"]) if condition in (i, j)}
    pick = lambda m: {t: m["TD"].get(key) for t, key in pairs.items()}
    return {"metric": "TD", "own": pick(own), "other": pick(other)}


def following_of(chunks: Callable[[], Iterable[np.ndarray]], conditions: np.ndarray, condition: int,
                 params: Dict[str, Any], own: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """`following` of a set given as `chunks()` (called once per pass), against the parts
    `conditions` rolled by `with_other_condition`; `own` (its `all_metrics`) when already known."""
    own = own if own is not None else all_metrics_chunks(chunks(), params)
    other = all_metrics_chunks(with_other_condition(chunks(), conditions, condition), params)
    return following(own, other, params, condition)


def following_gap(f: Dict[str, Any], tracks: Optional[Sequence[str]] = None) -> Optional[float]:
    """Mean over `tracks` (default: all of `f`, a `following` dict) of how much closer each
    track is to its own part than to another phrase's: on-drums points gained, or TD saved.
    Positive = the tracks follow the given part; None when no track has both values."""
    sign = 1.0 if f["metric"] == "on_drums" else -1.0
    gaps = [sign * (f["own"][t] - f["other"][t]) for t in (f["own"] if tracks is None else tracks)
            if f["own"].get(t) is not None and f["other"].get(t) is not None]
    return float(np.mean(gaps)) if gaps else None
