"""A dataset as training sees it: split by song into training, selection and held-out phrases,
and randomly transposed.

(Batches are sampled, unpacked and transposed inside the trainers' graphs; `transpose`
here is their reference.)
"""
from pathlib import Path
from typing import Optional, Sequence, Tuple

import numpy as np

from musegan.errors import DataError
from musegan.music.data import PackedPhrases, load_phrases

__all__ = ["TRANSPOSE_LOW", "TRANSPOSE_HIGH", "split_by_song", "check_shape", "load_splits",
           "load_training_data", "transpose"]

# Transposition range of the paper's training: uniform in -5..+6 semitones.
TRANSPOSE_LOW, TRANSPOSE_HIGH = -5, 6


def split_by_song(phrases: PackedPhrases, fraction: float, seed: int) -> Tuple[PackedPhrases, PackedPhrases]:
    """(train, valid): about `fraction` of the phrases held out, as whole songs when songs are known.

    Songs are taken in a seeded random order until the held-out phrases reach the
    fraction; with `fraction > 0` and at least two songs (or phrases), each part
    gets at least one.
    """
    if not 0 <= fraction < 1:
        raise ValueError(f"fraction must be in [0, 1), got {fraction}")
    rng = np.random.default_rng(seed)
    n = len(phrases)
    held = np.zeros(n, dtype=bool)
    if fraction > 0:
        if phrases.song_ids is not None:
            songs, counts = np.unique(phrases.song_ids, return_counts=True)
            order = rng.permutation(len(songs))
            # first k songs of the random order whose phrases reach the target
            k = int(np.searchsorted(np.cumsum(counts[order]), fraction * n)) + 1
            k = min(max(k, 1), len(songs) - 1)
            held = np.isin(phrases.song_ids, songs[order[:k]])
        else:
            k = min(max(int(round(fraction * n)), 1), n - 1)
            held[rng.permutation(n)[:k]] = True
    return phrases.subset(np.flatnonzero(~held)), phrases.subset(np.flatnonzero(held))



def check_shape(phrases: PackedPhrases, data_shape: Sequence[int], source) -> None:
    """DataError unless the phrases are `data_shape` (params): packed bits of another
    shape would otherwise be read as wrong phrases, silently."""
    if tuple(phrases.shape) != tuple(data_shape):
        raise DataError(f"{source}: phrases of shape {tuple(phrases.shape)} do not match data_shape "
                        f"{list(data_shape)} in params")



def load_splits(config: dict, data_shape: Optional[Sequence[int]] = None
                ) -> Tuple[PackedPhrases, Optional[PackedPhrases], Optional[PackedPhrases]]:
    """(train, selection, valid) phrases of an experiment's `config['data']`, split by song
    with the config's `seed`: `validation_fraction` of the songs held out for the report,
    then `selection_fraction` of the rest kept out of fitting, for picking checkpoints
    (a part is None at fraction 0). Every trainer (TensorFlow and JAX), the selection and the
    evaluation take the split from here, so they agree on it. With `data_shape` (params),
    phrases of another shape are a DataError."""
    path = Path(config["data"])
    if not path.exists():
        raise DataError(f"{path}: training data not found; make it with `musegan collect MIDI_DIR {path}` "
                        "or download the published set with scripts/download_data.sh")
    train = load_phrases(path)
    if data_shape is not None:
        check_shape(train, data_shape, path)
    valid = selection = None
    if config["validation_fraction"] > 0:
        train, valid = split_by_song(train, config["validation_fraction"], config["seed"])
    if config["selection_fraction"] > 0:
        train, selection = split_by_song(train, config["selection_fraction"], config["seed"])
    return train, selection, valid



def load_training_data(config: dict, data_shape: Optional[Sequence[int]] = None
                       ) -> Tuple[PackedPhrases, Optional[PackedPhrases]]:
    """(train, valid) of `load_splits`: the phrases a model is fitted to and the held-out ones."""
    train, _, valid = load_splits(config, data_shape)
    return train, valid



def transpose(x: np.ndarray, semitones, is_drums: Sequence[bool]) -> np.ndarray:
    """Shift each phrase of `(k, n_bars, n_steps, n_pitches, n_tracks)` by its own semitones.

    `semitones` is one int or one per phrase (positive = up). Drum tracks
    (`is_drums[t]`) never move. Notes shifted past the lowest or highest pitch
    are DROPPED, not wrapped: an octave wrap would invent notes.
    """
    x = np.asarray(x)
    k, n_pitches = len(x), x.shape[3]
    drums = np.asarray(is_drums, dtype=bool)
    if drums.shape != (x.shape[4],):
        raise ValueError(f"is_drums needs {x.shape[4]} entries, got {len(drums)}")
    shifts = np.broadcast_to(np.asarray(semitones, dtype=np.int64), (k,))
    out = np.zeros_like(x)
    for s in np.unique(shifts):
        sel = np.flatnonzero(shifts == s)
        if abs(s) >= n_pitches:
            continue
        if s >= 0:
            out[sel, :, :, s:] = x[sel, :, :, :n_pitches - s]
        else:
            out[sel, :, :, :s] = x[sel, :, :, -s:]
    out[..., drums] = x[..., drums]
    return out
