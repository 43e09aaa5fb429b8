"""The generator's raw output as notes: `[-1, 1] (..., n_steps, n_pitches, n_tracks)` -> bool.

Every path that turns output into notes (inference, accompaniment, evaluation, the
trainers' samples and in-training metrics) goes through `to_notes`, so all of them
hear the same model.
"""
from typing import Optional, Sequence

import numpy as np

from musegan.config import monophonic_indices


def binarize(x: np.ndarray, mode: str, rng: Optional[np.random.Generator] = None,
             monophonic: Sequence[int] = ()) -> np.ndarray:
    """[-1, 1] `(..., n_pitches, n_tracks)` -> bool: `hard` thresholds at 0; `bernoulli`
    samples with p = (x + 1) / 2. Tracks in `monophonic` then keep, at each step, only
    the sounding pitch with the largest output."""
    if mode == "hard":
        notes = x > 0
    else:
        rng = rng if rng is not None else np.random.default_rng()
        notes = rng.random(x.shape, dtype=np.float32) < (x + 1) / 2
    for t in monophonic:
        sounding = notes[..., t]
        top = np.where(sounding, x[..., t], -np.inf).argmax(-1)
        notes[..., t] = sounding & (np.arange(x.shape[-2]) == top[..., None])
    return notes


def to_notes(x: np.ndarray, params: dict, mode: str = "hard",
             rng: Optional[np.random.Generator] = None) -> np.ndarray:
    """`binarize` with the model's own note rules (params `monophonic_tracks`)."""
    return binarize(x, mode, rng, monophonic_indices(params))
