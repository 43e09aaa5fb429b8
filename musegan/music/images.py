"""Pictures of pianorolls that say what they show, drawn with matplotlib (imported lazily).

Every picture has a colour per track (`TRACK_COLORS`), the track names at the left,
bar numbers, the given part (the condition track of a conditional model, the user's
part of an accompaniment) marked "given" on a tinted lane, and a legend on top.

- `song_image`: a whole song wrapped into rows of `BARS_PER_ROW` bars (more for very
  long songs, so there are at most `MAX_ROWS` rows), one lane per track in each row,
  pitch upwards, time to the right, bar lines and bar numbers.
- `grid_image`: phrases in a rows x columns grid, each phrase its own cell with the
  tracks in lanes (or, `overlay=True`, all tracks in one pitch axis, as the original's
  `_colored.png`), its number above and its bars' numbers below.

A lane shows the pitches its track uses in the whole picture (at least an octave), so
a bass line fills its lane instead of hugging the bottom of 84 pitches; a time step is
drawn at least one pixel wide (time is max-pooled where a row holds more steps than
pixels), so a one-step note never vanishes. Both functions return `(height, width, 3)`
uint8 RGB arrays; save them with `musegan.atomic.save_png`.
"""
import math
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np

__all__ = ["TRACK_COLORS", "BARS_PER_ROW", "MAX_ROWS", "grid_image", "song_image", "track_colors"]

# Drums, Piano, Guitar, Bass, Strings (default track order), then repeated.
TRACK_COLORS = np.array([
    [0.85, 0.10, 0.10],     # red
    [0.10, 0.35, 0.85],     # blue
    [0.10, 0.65, 0.15],     # green
    [0.95, 0.55, 0.00],     # orange
    [0.55, 0.15, 0.75],     # purple
])
GIVEN_TINT = (0.90, 0.90, 0.90)     # background of the given part's lane
LINE = (0.55, 0.55, 0.55)           # bar lines and lane edges
BEAT_LINE = (0.88, 0.88, 0.88)
DPI = 100
FONT = 9                            # points: 12.5 pixels at DPI
BARS_PER_ROW = 8
MAX_ROWS = 24                       # longer songs put more bars in a row (time pooled)
SONG_ROW_PX = 1152                  # 8 bars of 48 steps at 3 pixels a step
SONG_PITCH_PX = 1.5                 # a lane is this many pixels a pitch, at least SONG_LANE_PX
SONG_LANE_PX = 30
CELL_STEP_PX = 1.5                  # a 4-bar phrase of 48 steps a bar: 288 pixels
CELL_PITCH_PX = 1.0                 # never below 1: no pitch row may fall between pixels
CELL_LANE_PX = 18
LABEL_PX = 118                      # the column of track names
MARGIN = 12
LEGEND_PX = 30                      # the legend's row
TITLE_PX = 22                       # the title's row, above the legend's
MIN_SPAN = 12                       # pitches a lane shows at least


def track_colors(n_tracks: int) -> np.ndarray:
    """`(n_tracks, 3)` RGB in [0, 1]: `TRACK_COLORS` in order, repeated past five."""
    return TRACK_COLORS[np.arange(n_tracks) % len(TRACK_COLORS)]


@dataclass(frozen=True)
class _Lanes:
    """Which tracks are drawn, their labels and the pitch span each lane shows."""

    tracks: List[int]
    labels: List[str]
    colors: np.ndarray  # (len(tracks), 3)
    spans: List[Tuple[int, int]]  # [low, high) pitch rows of each lane
    given: Optional[int]

    def heights(self, pitch_px: float, least: float) -> List[float]:
        """Pixel height of each lane: `pitch_px` a pitch, at least `least`."""
        return [max(least, (high - low) * pitch_px) for low, high in self.spans]


def _lanes(rolls: np.ndarray, names: Sequence[str], given: Optional[int],
           tracks: Optional[Sequence[int]]) -> _Lanes:
    """`rolls` bool (..., n_pitches, n_tracks): lanes for `tracks` (default all, in order)."""
    n_pitches, n_tracks = rolls.shape[-2:]
    if len(names) != n_tracks:
        raise ValueError(f"{len(names)} track names for {n_tracks} tracks")
    tracks = list(range(n_tracks)) if tracks is None else [int(t) for t in tracks]
    if not tracks or any(not 0 <= t < n_tracks for t in tracks):
        raise ValueError(f"tracks {tracks} are not among 0..{n_tracks - 1}")
    used = rolls.reshape(-1, n_pitches, n_tracks).any(axis=0)  # (n_pitches, n_tracks)
    spans = []
    for t in tracks:
        rows = np.flatnonzero(used[:, t])
        low, high = (rows[0] - 2, rows[-1] + 3) if rows.size else (n_pitches // 2 - MIN_SPAN // 2,) * 2
        if high - low < MIN_SPAN:
            grow = MIN_SPAN - (high - low)
            low, high = low - grow // 2, high + grow - grow // 2
        low, high = max(0, low), min(n_pitches, high)
        low = max(0, min(low, n_pitches - MIN_SPAN))
        spans.append((int(low), int(max(high, low + min(MIN_SPAN, n_pitches)))))
    labels = [names[t] + (" (given)" if t == given else "") for t in tracks]
    return _Lanes(tracks, labels, track_colors(n_tracks)[tracks], spans, given)


def _pool(roll: np.ndarray, pixels: float) -> np.ndarray:
    """bool `(n_steps, ...)` max-pooled in time to at most `pixels` columns (a note never vanishes)."""
    factor = max(1, math.ceil(len(roll) / max(pixels, 1)))
    if factor == 1:
        return roll
    cols = -(-len(roll) // factor)
    padded = np.zeros((cols * factor,) + roll.shape[1:], dtype=bool)
    padded[:len(roll)] = roll
    return padded.reshape((cols, factor) + roll.shape[1:]).any(axis=1)


class _Canvas:
    """A figure in pixel coordinates (x to the right, y downwards) on matplotlib's Agg canvas."""

    def __init__(self, width: float, height: float):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        self.width, self.height = int(math.ceil(width)), int(math.ceil(height))
        self.figure = Figure(figsize=(self.width / DPI, self.height / DPI), dpi=DPI)
        self.canvas = FigureCanvasAgg(self.figure)
        self.ax = self.figure.add_axes((0, 0, 1, 1))
        self.ax.set_xlim(0, self.width)
        self.ax.set_ylim(self.height, 0)
        self.ax.axis("off")
        self.lines: List[Tuple[Tuple[float, float], Tuple[float, float], tuple, float]] = []

    def roll(self, roll: np.ndarray, color, left: float, top: float, width: float, height: float) -> None:
        """bool `(n_steps, n_pitches)`, pitch upwards, into the box; silence stays transparent."""
        rgba = np.zeros(roll.shape[::-1] + (4,), dtype=np.float32)  # (pitch, time, rgba)
        rgba[roll.T] = (*color, 1.0)
        self.ax.imshow(rgba, origin="lower", interpolation="nearest", aspect="auto",
                       extent=(left, left + width, top + height, top), zorder=2)

    def box(self, left: float, top: float, width: float, height: float, color) -> None:
        from matplotlib.patches import Rectangle

        self.ax.add_patch(Rectangle((left, top), width, height, facecolor=color, edgecolor="none", zorder=1))

    def line(self, x0: float, y0: float, x1: float, y1: float, color=LINE, width: float = 0.8) -> None:
        self.lines.append(((x0, y0), (x1, y1), color, width))

    def text(self, x: float, y: float, s: str, **kw) -> None:
        self.ax.text(x, y, s, fontsize=kw.pop("size", FONT), **kw)

    def header(self, lanes: _Lanes, title: Optional[str]) -> float:
        """The title (if any) on its own row, then a legend with one swatch per track, the
        given part's edged and named so; returns the header's height."""
        from matplotlib.patches import Patch

        top = 0.0
        if title:
            self.text(MARGIN, TITLE_PX / 2 + 2, title, va="center", ha="left", weight="bold", size=FONT + 1)
            top = TITLE_PX
        handles = [Patch(facecolor=c, edgecolor=LINE if t == lanes.given else c,
                         label=label.replace(" (given)", " (given part)"))
                   for t, c, label in zip(lanes.tracks, lanes.colors, lanes.labels)]
        self.ax.legend(handles=handles, loc="center left", ncol=len(handles), frameon=False, fontsize=FONT,
                       bbox_to_anchor=(MARGIN / self.width, 1 - (top + LEGEND_PX / 2) / self.height),
                       borderaxespad=0, handlelength=1.2, columnspacing=1.2)
        return top + LEGEND_PX

    def image(self) -> np.ndarray:
        from matplotlib.collections import LineCollection

        if self.lines:
            segments, colors, widths = zip(*[((a, b), c, w) for a, b, c, w in self.lines])
            self.ax.add_collection(LineCollection(segments, colors=colors, linewidths=widths, zorder=1.5))
        self.canvas.draw()
        return np.asarray(self.canvas.buffer_rgba())[..., :3].copy()


def _draw_lanes(cv: _Canvas, bars: np.ndarray, lanes: _Lanes, heights: Sequence[float], left: float,
                top: float, width: float, beats: int = 0) -> None:
    """bool `(n_bars, steps_per_bar, n_pitches, n_tracks)` as stacked lanes of `heights` in the
    box at (left, top), `width` wide: tinted given lane, notes, lane edges, bar and beat lines."""
    n_bars, steps = bars.shape[:2]
    flat = _pool(bars.reshape((n_bars * steps,) + bars.shape[2:]), width)
    y = top
    for i, (t, (low, high)) in enumerate(zip(lanes.tracks, lanes.spans)):
        if t == lanes.given:
            cv.box(left, y, width, heights[i], GIVEN_TINT)
        cv.roll(flat[:, low:high, t], lanes.colors[i], left, y, width, heights[i])
        cv.line(left, y, left + width, y)
        y += heights[i]
    cv.line(left, y, left + width, y)
    for bar in range(n_bars + 1):
        x = left + width * bar / n_bars
        cv.line(x, top, x, y)
        for beat in range(1, beats if bar < n_bars else 0):
            xb = x + width / n_bars * beat / beats
            cv.line(xb, top, xb, y, BEAT_LINE, 0.6)


def _labels(cv: _Canvas, lanes: _Lanes, heights: Sequence[float], right: float, top: float, size: float) -> None:
    """The track names, right-aligned at `right`, beside lanes starting at `top`."""
    edges = np.concatenate([[0], np.cumsum(heights)]) + top
    for i, label in enumerate(lanes.labels):
        cv.text(right, (edges[i] + edges[i + 1]) / 2, label, va="center", ha="right", size=size,
                style="italic" if lanes.tracks[i] == lanes.given else "normal")


def song_image(roll: np.ndarray, steps_per_bar: int, names: Sequence[str], given: Optional[int] = None,
               tracks: Optional[Sequence[int]] = None, title: Optional[str] = None,
               bars_per_row: int = BARS_PER_ROW, beats_per_bar: int = 4) -> np.ndarray:
    """Picture of a song, bool `(n_steps_total, n_pitches, n_tracks)` cut into bars of
    `steps_per_bar` (the last one padded), `bars_per_row` bars a row (more when the song
    would need over `MAX_ROWS` rows), `SONG_ROW_PX` pixels a full row. `names`: the
    tracks' names; `given`: the index of the given part; `tracks`: the tracks to draw
    (default all). RGB uint8 `(height, width, 3)`.
    """
    roll = _check(roll, 3, "(n_steps_total, n_pitches, n_tracks)")
    n_total, n_pitches, n_tracks = roll.shape
    n_bars = max(1, -(-n_total // steps_per_bar))
    bars = np.zeros((n_bars * steps_per_bar, n_pitches, n_tracks), dtype=bool)
    bars[:n_total] = roll
    bars = bars.reshape(n_bars, steps_per_bar, n_pitches, n_tracks)
    per_row = max(bars_per_row, 4 * math.ceil(n_bars / MAX_ROWS / 4))
    lanes = _lanes(bars, names, given, tracks)
    heights = lanes.heights(SONG_PITCH_PX, SONG_LANE_PX)
    numbers_px = FONT * 1.6
    row_px = numbers_px + sum(heights) + 14
    n_rows = -(-n_bars // per_row)
    cv = _Canvas(LABEL_PX + SONG_ROW_PX + MARGIN, (TITLE_PX if title else 0) + LEGEND_PX + n_rows * row_px)
    header = cv.header(lanes, title)
    bar_px = SONG_ROW_PX / per_row
    for r in range(n_rows):
        first, last = r * per_row, min(n_bars, (r + 1) * per_row)
        top = header + r * row_px + numbers_px
        _draw_lanes(cv, bars[first:last], lanes, heights, LABEL_PX, top, bar_px * (last - first),
                    beats_per_bar if bar_px >= 48 else 0)
        every = 1 if bar_px >= 24 else 4       # every bar's number while they fit, else every 4th
        for bar in range(first, last):
            if bar % every == 0 or bar == first:
                cv.text(LABEL_PX + bar_px * (bar - first) + 2, top - 2, str(bar + 1), va="bottom", ha="left",
                        color="0.3", size=FONT - 1)
        _labels(cv, lanes, heights, LABEL_PX - 6, top, FONT)
    return cv.image()


def grid_image(xs: np.ndarray, rows: int, columns: int, names: Sequence[str], given: Optional[int] = None,
               overlay: bool = False, title: Optional[str] = None) -> np.ndarray:
    """Phrases bool `(n, n_bars, n_steps, n_pitches, n_tracks)` in a `rows` x `columns` grid,
    filled row by row with the first `rows * columns` (cells without one stay empty); each
    cell numbered above (from 1) with its bar numbers below. Lanes per track (`overlay`:
    all tracks in one pitch axis). RGB uint8 `(height, width, 3)`.
    """
    xs = _check(xs, 5, "(n, n_bars, n_steps, n_pitches, n_tracks)")
    if rows < 1 or columns < 1:
        raise ValueError(f"rows and columns must be at least 1, got {rows} x {columns}")
    xs = xs[:rows * columns]
    n_bars, n_steps, n_pitches, n_tracks = xs.shape[1:]
    lanes = _lanes(xs, names, given, None)
    if overlay:  # one lane: the union of the tracks' spans
        low, high = min(s[0] for s in lanes.spans), max(s[1] for s in lanes.spans)
        heights = [max(CELL_LANE_PX, (high - low) * CELL_PITCH_PX)]
    else:
        heights = lanes.heights(CELL_PITCH_PX, CELL_LANE_PX)
    cell_w, cell_h = n_bars * n_steps * CELL_STEP_PX, sum(heights)
    caption = FONT * 1.5
    gap_x, row_h = 16, cell_h + 2 * caption + 6
    left0 = MARGIN if overlay else LABEL_PX
    cv = _Canvas(left0 + columns * (cell_w + gap_x) - gap_x + MARGIN,
                 (TITLE_PX if title else 0) + LEGEND_PX + rows * row_h)
    header = cv.header(lanes, title)
    for i in range(len(xs)):
        r, c = divmod(i, columns)
        left, top = left0 + c * (cell_w + gap_x), header + r * row_h + caption
        cv.text(left, top - 2, str(i + 1), va="bottom", ha="left", weight="bold", size=FONT - 1)
        if overlay:
            flat = _pool(xs[i].reshape(n_bars * n_steps, n_pitches, n_tracks), cell_w)
            for k, t in enumerate(lanes.tracks):
                cv.roll(flat[:, low:high, t], lanes.colors[k], left, top, cell_w, cell_h)
            cv.line(left, top, left + cell_w, top)
            cv.line(left, top + cell_h, left + cell_w, top + cell_h)
            for bar in range(n_bars + 1):
                cv.line(left + cell_w * bar / n_bars, top, left + cell_w * bar / n_bars, top + cell_h)
        else:
            _draw_lanes(cv, xs[i], lanes, heights, left, top, cell_w)
            if c == 0:
                _labels(cv, lanes, heights, left - 6, top, FONT - 1)
        for bar in range(n_bars):
            cv.text(left + cell_w * bar / n_bars + 2, top + cell_h + 1, str(bar + 1), va="top", ha="left",
                    color="0.4", size=FONT - 2)
    return cv.image()


def _check(x: np.ndarray, ndim: int, what: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != ndim:
        raise ValueError(f"expected {what}, got shape {x.shape}")
    return x.astype(bool, copy=False)
