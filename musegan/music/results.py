"""The original MuseGAN's results tree, written from generated phrases:

    OUT/arrays/      fake_x_<run>.npy (raw output in [-1, 1]) and each binarization's bool array
    OUT/images/      fake_x_<binarization>_<run>.png (a rows x columns grid of phrases, a lane per
                     track) and _colored.png (the tracks overlaid, as the original's)
    OUT/pianorolls/  fake_x_<binarization>_<run>.npz (pypianoroll 0.5.3) and one .mid per phrase

and the training samples (`save_phrases`). Phrases are `(n, n_bars, n_steps, n_pitches, n_tracks)`.
"""
from pathlib import Path
from typing import Dict

import numpy as np

from musegan import atomic
from musegan.config import condition_index
from musegan.music import images, pianoroll
from musegan.music.data import write_sparse_npz
from musegan.music.notes import to_notes

__all__ = ["BINARIZATIONS", "save_phrases", "grid_shape", "grid_picture", "save_results"]


BINARIZATIONS = {"hard_thresholding": "hard", "bernoulli_sampling": "bernoulli"}



def save_phrases(out_dir: Path, name: str, x: np.ndarray, params: dict, rows: int = 0,
                 columns: int = 0) -> None:
    """Training samples: bool phrases -> `name.png` (grid) and `name.npz` (sparse phrases)."""
    rows, columns = grid_shape(len(x), rows, columns)
    atomic.save_png(Path(out_dir) / f"{name}.png", grid_picture(x, params, rows, columns, title=name))
    write_sparse_npz(Path(out_dir) / f"{name}.npz", x)



def grid_shape(n: int, rows: int = 0, columns: int = 0):
    """(rows, columns) of an image grid for `n` samples: as asked if it fits, else near-square."""
    if rows * columns >= n:
        return rows, columns
    columns = int(np.ceil(np.sqrt(n)))
    return int(np.ceil(n / columns)), columns



def grid_picture(x: np.ndarray, params: dict, rows: int, columns: int, overlay: bool = False,
                 title: str = None) -> np.ndarray:
    """`images.grid_image` of bool phrases `x` with the params' track names, the condition
    track (of a conditional model) marked given."""
    return images.grid_image(x, rows, columns, params["track_names"], given=condition_index(params),
                             overlay=overlay, title=title)


def save_results(out: Path, run: int, raw: np.ndarray, params: dict, rows: int, columns: int,
                 rng: np.random.Generator, wav: bool = False) -> Dict[str, np.ndarray]:
    """Write one run's raw output and both binarizations into the `out` tree."""
    atomic.save_npy(out / "arrays" / f"fake_x_{run}.npy", raw.astype(np.float32))
    results = {}
    for suffix, mode in BINARIZATIONS.items():
        x = to_notes(raw, params, mode, rng)
        name = f"fake_x_{suffix}_{run}"
        results[name] = x
        atomic.save_npy(out / "arrays" / f"{name}.npy", x)
        atomic.save_png(out / "images" / f"{name}.png", grid_picture(x, params, rows, columns, title=name))
        atomic.save_png(out / "images" / f"{name}_colored.png",
                        grid_picture(x, params, rows, columns, overlay=True, title=name))
        pianoroll.save_pypianoroll_npz(out / "pianorolls" / f"{name}.npz", x, params)
        for k, phrase in enumerate(x):
            path = out / "pianorolls" / f"{name}_{k:02d}.mid"
            atomic.save_midi(path, pianoroll.roll_to_midi(phrase, params))
            if wav:
                from musegan.music.audio import render

                render(path, path.with_suffix(".wav"), overwrite=True)
    return results
