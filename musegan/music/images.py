"""Pianoroll images, as the original's sample images: pitch upwards, time to the right.

Two styles, like the original's `*.png` and `*_colored.png`:

- grayscale (`colored=False`): tracks stacked vertically in track order (first
  on top), notes black on white, a 1-pixel gray line between bars and between
  tracks. Image `(n_tracks * (n_pitches + 1) - 1, n_bars * (n_steps + 1) - 1)`.
- colored (`colored=True`): all tracks overlaid in one roll, each in its own
  colour (`TRACK_COLORS`, mixed subtractively where tracks overlap, as the
  original). Image `(n_pitches, n_bars * (n_steps + 1) - 1, 3)`.

All functions return uint8 arrays; save them with `musegan.atomic.save_png`.
"""
import math
from typing import Optional, Sequence

import numpy as np

from musegan import atomic

# Drums, Piano, Guitar, Bass, Strings (default track order), then repeated.
TRACK_COLORS = np.array([
    [0.85, 0.10, 0.10],     # red
    [0.10, 0.35, 0.85],     # blue
    [0.10, 0.65, 0.15],     # green
    [0.95, 0.55, 0.00],     # orange
    [0.55, 0.15, 0.75],     # purple
])
LINE = 160                  # gray of bar and track separators
GRID = 0                    # black lines of a grid of phrases
GRID_WIDTH = 3
MAX_SONG_WIDTH = 4096


def _colors(n_tracks: int, colors: Optional[Sequence[Sequence[float]]]) -> np.ndarray:
    if colors is None:
        return TRACK_COLORS[np.arange(n_tracks) % len(TRACK_COLORS)]
    colors = np.asarray(colors, dtype=float)
    if colors.shape != (n_tracks, 3):
        raise ValueError(f"colors must be ({n_tracks}, 3) RGB in [0, 1], got shape {colors.shape}")
    return colors


def _check(x: np.ndarray, ndim: int, what: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != ndim:
        raise ValueError(f"expected {what}, got shape {x.shape}")
    return x.astype(bool, copy=False)


def _render(bars: np.ndarray, colored: bool, colors=None, bar_lines: bool = True) -> np.ndarray:
    """Image of bool `(n_bars, n_columns, n_pitches, n_tracks)`, see the module docstring."""
    n_bars, n_cols, n_pitches, n_tracks = bars.shape
    sep = 1 if bar_lines else 0
    width = n_bars * (n_cols + sep) - sep
    # (pitch from the top, bar, column, track): flipping the pitch axis puts high pitches on top
    rolled = np.flip(bars, axis=2).transpose(2, 0, 1, 3)
    if colored:
        # subtractive mixing: each active track removes its complement from white
        ink = rolled.astype(np.float32) @ (1 - _colors(n_tracks, colors)).astype(np.float32)
        body = np.round(255 * (1 - np.clip(ink, 0, 1))).astype(np.uint8)     # (P, bars, cols, 3)
        image = np.full((n_pitches, n_bars, n_cols + sep, 3), LINE, dtype=np.uint8)
        image[:, :, :n_cols] = body
        return image.reshape(n_pitches, -1, 3)[:, :width]
    body = np.where(rolled, 0, 255).astype(np.uint8)                         # (P, bars, cols, K)
    image = np.full((n_tracks, n_pitches + 1, n_bars, n_cols + sep), LINE, dtype=np.uint8)
    image[:, :n_pitches, :, :n_cols] = body.transpose(3, 0, 1, 2)
    return image.reshape(n_tracks * (n_pitches + 1), -1)[:-1, :width]


def phrase_image(x: np.ndarray, colored: bool = False, colors=None) -> np.ndarray:
    """Image of one phrase, bool `(n_bars, n_steps, n_pitches, n_tracks)`.

    Grayscale `(n_tracks * (n_pitches + 1) - 1, n_bars * (n_steps + 1) - 1)` or,
    `colored`, RGB `(n_pitches, n_bars * (n_steps + 1) - 1, 3)`. `colors`:
    `(n_tracks, 3)` RGB in [0, 1] (default `TRACK_COLORS`).
    """
    return _render(_check(x, 4, "(n_bars, n_steps, n_pitches, n_tracks)"), colored, colors)


def grid_image(xs: np.ndarray, rows: int, columns: int, colored: bool = False, colors=None) -> np.ndarray:
    """Phrases `(n, n_bars, n_steps, n_pitches, n_tracks)` in a `rows` x `columns` grid.

    Filled row by row with the first `rows * columns` phrases (the original's
    behaviour); cells without a phrase stay white. Cells are framed by black
    lines `GRID_WIDTH` pixels wide: height `rows * (h + 3) + 3`, width
    `columns * (w + 3) + 3`, with `(h, w)` the size of one `phrase_image`.
    """
    xs = _check(xs, 5, "(n, n_bars, n_steps, n_pitches, n_tracks)")
    if rows < 1 or columns < 1:
        raise ValueError(f"rows and columns must be at least 1, got {rows} x {columns}")
    cells = [phrase_image(x, colored, colors) for x in xs[:rows * columns]]
    blank = np.full_like(phrase_image(np.zeros(xs.shape[1:], dtype=bool), colored, colors), 255)
    h, w = blank.shape[:2]
    g = GRID_WIDTH
    grid = np.full((rows * (h + g) + g, columns * (w + g) + g) + blank.shape[2:], GRID, dtype=np.uint8)
    for i in range(rows * columns):
        r, c = divmod(i, columns)
        top, left = g + r * (h + g), g + c * (w + g)
        grid[top:top + h, left:left + w] = cells[i] if i < len(cells) else blank
    return grid


def song_image(roll: np.ndarray, steps_per_bar: int, colored: bool = False, colors=None,
               max_width: int = MAX_SONG_WIDTH) -> np.ndarray:
    """Image of a whole song, bool `(n_steps_total, n_pitches, n_tracks)`, at most `max_width` wide.

    The song is cut into bars (the last padded with silence) and drawn like
    `phrase_image`. When full resolution would be wider than `max_width`, time is
    max-pooled (a pixel is black when any of its steps is active, so short notes
    never vanish) by the smallest factor `f` that fits: each bar becomes
    `ceil(steps_per_bar / f)` columns plus its bar line. 400 bars of 48 steps
    (19,600 pixels at full resolution) give 8 columns a bar, 3,599 pixels. Past
    `max_width / 2` bars even one column a bar would not fit; then bar lines are
    dropped and the whole time axis is pooled to `max_width` columns.
    """
    roll = _check(roll, 3, "(n_steps_total, n_pitches, n_tracks)")
    n_total, n_pitches, n_tracks = roll.shape
    n_bars = max(1, -(-n_total // steps_per_bar))
    padded = np.zeros((n_bars * steps_per_bar, n_pitches, n_tracks), dtype=bool)
    padded[:n_total] = roll
    if n_bars * (steps_per_bar + 1) - 1 <= max_width:
        return _render(padded.reshape(n_bars, steps_per_bar, n_pitches, n_tracks), colored, colors)
    columns = (max_width + 1) // n_bars - 1          # columns per bar that fit with the bar lines
    if columns >= 1:
        factor = math.ceil(steps_per_bar / columns)
        cols = -(-steps_per_bar // factor)
        bars = np.zeros((n_bars, cols * factor, n_pitches, n_tracks), dtype=bool)
        bars[:, :steps_per_bar] = padded.reshape(n_bars, steps_per_bar, n_pitches, n_tracks)
        pooled = bars.reshape(n_bars, cols, factor, n_pitches, n_tracks).any(axis=2)
        return _render(pooled, colored, colors)
    factor = math.ceil(len(padded) / max_width)
    cols = -(-len(padded) // factor)
    flat = np.zeros((cols * factor, n_pitches, n_tracks), dtype=bool)
    flat[:len(padded)] = padded
    pooled = flat.reshape(1, cols, factor, n_pitches, n_tracks).any(axis=2)
    return _render(pooled, colored, colors, bar_lines=False)


def save_grid(path: atomic.PathLike, xs: np.ndarray, rows: int, columns: int, colored: bool = False):
    """Write `grid_image(xs, rows, columns, colored)` to the PNG `path` (atomically)."""
    return atomic.save_png(path, grid_image(xs, rows, columns, colored))
