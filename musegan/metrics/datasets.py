"""Metrics of sets of phrases too large to unpack at once (`musegan.music.data.PackedPhrases`)."""
from typing import Any, Dict, Iterator, Optional

import numpy as np

from musegan.errors import DataError
from musegan.metrics import objective
from musegan.music.data import PackedPhrases

__all__ = ["CHUNK", "chunks", "dataset_metrics", "song_metrics"]

CHUNK = objective.CHUNK


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
    return objective.all_metrics_chunks(chunks(phrases), params)



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
                                        "data": objective.all_metrics_chunks(chunks(source, indices[rows]), params),
                                        "model": objective.all_metrics(x[rows], params)}
    return out
