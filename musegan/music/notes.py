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
    """[-1, 1] `(..., n_bars, n_steps, n_pitches, n_tracks)` -> bool: `hard` thresholds at 0;
    `bernoulli` samples with p = (x + 1) / 2. Tracks in `monophonic` then play one note at a
    time (`one_note_at_a_time`)."""
    if mode == "hard":
        notes = x > 0
    else:
        rng = rng if rng is not None else np.random.default_rng()
        notes = rng.random(x.shape, dtype=np.float32) < (x + 1) / 2
    for t in monophonic:
        notes[..., t] = one_note_at_a_time(notes[..., t], x[..., t])
    return notes


def one_note_at_a_time(notes: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Bool notes and raw output `(..., n_bars, n_steps, n_pitches)` -> the notes with, at each
    step that sounds, only the pitch whose note is strongest: a note is a run of consecutive
    active steps of one pitch within the phrase (bar lines do not split it, as QN counts
    notes), its strength the mean output over the run. Choosing per note rather than per step
    keeps a held octave one held note, not pieces that flip with the step's strongest pitch.
    Equal strengths (binary neurons) keep the lowest pitch."""
    *_, n_bars, n_steps, n_pitches = notes.shape
    # (phrase, pitch, time): each pitch's steps in order, so counting onsets numbers the notes
    s = notes.reshape(-1, n_bars * n_steps, n_pitches).transpose(0, 2, 1)
    onsets = s.copy()
    onsets[..., 1:] &= ~s[..., :-1]
    note = np.cumsum(onsets, dtype=np.int64)[s.ravel()] - 1
    total = np.bincount(note, weights=x.reshape(-1, n_bars * n_steps, n_pitches).transpose(0, 2, 1)[s])
    strength = np.full(s.shape, -np.inf)
    strength[s] = (total / np.bincount(note))[note]
    kept = s & (np.arange(n_pitches)[:, None] == strength.argmax(1)[:, None])
    return kept.transpose(0, 2, 1).reshape(notes.shape)


def to_notes(x: np.ndarray, params: dict, mode: str = "hard",
             rng: Optional[np.random.Generator] = None) -> np.ndarray:
    """`binarize` with the model's own note rules (params `monophonic_tracks`)."""
    return binarize(x, mode, rng, monophonic_indices(params))
