"""Objective metrics of binarized phrases (paper, Tables 1 and 2), in numpy only.

Every metric takes bool phrases `x` of shape `(n, n_bars, n_steps, n_pitches,
n_tracks)` and is a ratio of two counts summed over the WHOLE set (pooled), so
metrics of a set cut into chunks are exact: `all_metrics` and
`all_metrics_chunks` add the counts of each chunk (`Counts`) and divide once.
Public implementations disagree on several details; these are the definitions
used here, each pinned down in its function's docstring:

- EB (`empty_bar_rate`): % of bars in which the track has no active step.
- UPC (`used_pitch_classes`): distinct pitch classes (real MIDI pitch mod 12)
  sounding in a bar, averaged over ALL bars, empty bars counting 0 (as the later
  reference code's `n_pitch_classes_used`). The paper-era code (v1) averaged
  over non-empty bars only; that variant is returned too (`UPC_nonempty`).
- QN (`qualified_note_rate`): % of notes lasting at least
  `qn_threshold(beat_resolution) = ceil(beat_resolution / 8)` steps (a 32nd
  note: 3 steps at 24 steps/beat as in the paper, 2 at 12 steps/beat). A note
  is a maximal run of consecutive active steps of one pitch within a phrase, so
  a note held across a bar line is ONE note.
- DP (`drum_pattern_rate`): % of drum onsets within `dp_tolerance` of the
  16th-note grid; the tolerance is 1/6 of a 16th note (one step at 24
  steps/beat, as the paper's +-1 step at 96 steps/bar), i.e. on-grid only at
  12 steps/beat, where the neighbouring step is already 1/3 of a 16th away.
- TD (`tonal_distance`): Harte et al. (2006) tonal-centroid distance between
  two tracks, beat by beat, averaged over the beats in which BOTH tracks sound.
- Extras: `polyphony_rate` (% of sounding steps with >= 2 pitches),
  `in_scale_rate` (% of notes in the phrase's best-fitting major scale) and
  `on_drums_rate` (% of notes that start on a step where a drum is struck: how
  closely a track's rhythm follows the drums).

Rates are in percent (0..100); UPC and TD are plain numbers; a rate with no
events to count (e.g. QN of a track that never plays) is NaN, written as null.
"""
import math
from dataclasses import dataclass, fields
from itertools import combinations
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

__all__ = ["CHUNK", "MAJOR_SCALE", "qn_threshold", "dp_tolerance", "drum_grid_mask", "tonal_matrix",
           "scale_masks", "track_pairs", "Counts", "phrase_keys", "counts", "empty_bar_rate",
           "used_pitch_classes", "qualified_note_rate", "drum_pattern_rate", "polyphony_rate",
           "in_scale_rate", "on_drums_rate", "tonal_distance", "finish", "all_metrics_chunks",
           "all_metrics"]

# Phrases processed at once: (256, 4, 48, 84, 5) bool is 21 MB; the temporaries
# per chunk stay below ~150 MB.
CHUNK = 256

# Major scale as pitch classes above its tonic.
MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)


# --------------------------------------------------------------------------- definitions


def qn_threshold(beat_resolution: int) -> int:
    """Steps a note needs to be "qualified": a 32nd note rounded up, `ceil(beat_resolution / 8)`.

    3 at 24 steps/beat (the paper's 96 steps/bar), 2 at 12 steps/beat (48/bar),
    where a 32nd note is 1.5 steps and one step is too short to be one.
    """
    return max(1, math.ceil(beat_resolution / 8))


def dp_tolerance(beat_resolution: int) -> float:
    """Largest distance, in steps, of a drum onset from the 16th grid that still counts.

    1/6 of a 16th note (`beat_resolution / 24` steps): the paper's +-1 step at
    24 steps/beat. It is kept as a fraction of a 16th, not as a step count, so
    that the metric means the same at every resolution: at 12 steps/beat (16ths
    every 3 steps) the tolerance is half a step, so only onsets ON the grid count;
    a fixed +-1 step there would accept every step and DP would be 100%.
    """
    return beat_resolution / 24


def drum_grid_mask(beat_resolution: int) -> np.ndarray:
    """Bool `(4 * beat_resolution,)`: which step positions in a bar count for DP.

    Position `p` counts when its distance to the nearest multiple of the 16th
    spacing `beat_resolution / 4` is at most `dp_tolerance(beat_resolution)`.
    At 24 steps/beat: `p % 6 in {0, 1, 5}`; at 12: `p % 3 == 0`.
    """
    spacing = beat_resolution / 4
    p = np.arange(4 * beat_resolution)
    offset = np.mod(p, spacing)
    distance = np.minimum(offset, spacing - offset)
    # the epsilon absorbs float error of non-integer spacings (e.g. 1.5 steps)
    return distance <= dp_tolerance(beat_resolution) + 1e-9


def tonal_matrix(r1: float = 1.0, r2: float = 1.0, r3: float = 0.5) -> np.ndarray:
    """`(6, 12)` tonal-centroid projection of Harte, Sandler and Gasser (2006).

    Rows: r1 sin/cos(k 7pi/6) (circle of fifths), r2 sin/cos(k 3pi/2) (minor
    thirds), r3 sin/cos(k 2pi/3) (major thirds), k the pitch class (0 = C).
    """
    k = np.arange(12)
    rows = []
    for r, angle in ((r1, 7 / 6), (r2, 3 / 2), (r3, 2 / 3)):
        rows += [r * np.sin(k * angle * np.pi), r * np.cos(k * angle * np.pi)]
    return np.array(rows)


def scale_masks() -> np.ndarray:
    """Bool `(12, 12)`: row `key` marks the pitch classes of that key's major scale."""
    masks = np.zeros((12, 12), dtype=bool)
    for key in range(12):
        masks[key, [(key + s) % 12 for s in MAJOR_SCALE]] = True
    return masks


def track_pairs(n_tracks: int, is_drums: Sequence[bool]) -> List[Tuple[int, int]]:
    """Pairs `(i, j)`, `i < j`, of non-drum tracks in track order (the TD pairs)."""
    melodic = [t for t in range(n_tracks) if not is_drums[t]]
    return list(combinations(melodic, 2))


# --------------------------------------------------------------------------- counts


@dataclass
class Counts:
    """Summable counts behind every metric; per track `(n_tracks,)` unless noted.

    Add the counts of chunks with `+`; `Counts.empty(n_tracks, n_pairs)` is zero.
    """

    bars: np.ndarray            # bars seen (same for every track)
    empty_bars: np.ndarray
    pitch_classes: np.ndarray   # sum over bars of distinct pitch classes
    notes: np.ndarray           # runs of active steps of one pitch (onsets)
    qualified_notes: np.ndarray
    sounding_steps: np.ndarray  # steps with >= 1 active pitch
    polyphonic_steps: np.ndarray  # steps with >= 2 active pitches
    on_grid_onsets: np.ndarray  # onsets within the DP tolerance of the 16th grid
    in_scale_notes: np.ndarray
    on_drum_onsets: np.ndarray  # onsets on a step where some drum track has an onset
    td_sum: np.ndarray          # (n_pairs,) sum of per-beat tonal distances
    td_beats: np.ndarray        # (n_pairs,) beats where both tracks sound

    @classmethod
    def empty(cls, n_tracks: int, n_pairs: int) -> "Counts":
        values = {f.name: np.zeros(n_pairs if f.name.startswith("td_") else n_tracks,
                                   dtype=np.float64 if f.name == "td_sum" else np.int64)
                  for f in fields(cls)}
        return cls(**values)

    def __add__(self, other: "Counts") -> "Counts":
        return Counts(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})


def _pitch_classes(a: np.ndarray, lowest_pitch: int) -> np.ndarray:
    """Fold the last (pitch) axis of `a` into 12 pitch classes by summing octaves.

    Row `r` has MIDI pitch `lowest_pitch + r`, so pitch class `(lowest_pitch + r) % 12`
    (0 = C). `a` is a small (already time-reduced) count array.
    """
    n_pitches = a.shape[-1]
    shift = lowest_pitch % 12
    n_octaves = -(-(shift + n_pitches) // 12)
    padded = np.zeros(a.shape[:-1] + (n_octaves * 12,), dtype=np.int64)
    padded[..., shift:shift + n_pitches] = a
    return padded.reshape(a.shape[:-1] + (n_octaves, 12)).sum(axis=-2)


def _best_keys(onset_pc: np.ndarray, is_drums: Sequence[bool]) -> np.ndarray:
    """`(n,)` tonic pitch class of the major scale holding most notes of the non-drum
    tracks, from note counts per pitch class `(n_tracks, n, 12)`; the lowest tonic wins ties."""
    melodic = ~np.asarray(is_drums, dtype=bool)
    return (onset_pc[melodic].sum(axis=0) @ scale_masks().T.astype(np.int64)).argmax(axis=1)


def phrase_keys(x: np.ndarray, lowest_pitch: int = 24, is_drums: Optional[Sequence[bool]] = None) -> np.ndarray:
    """`(n,)` major key (tonic pitch class, 0 = C) fitted to each phrase of
    `(n, n_bars, n_steps, n_pitches, n_tracks)`, as `in_scale_rate` uses it."""
    x = np.asarray(x, dtype=bool)
    n, n_bars, n_steps, n_pitches, n_tracks = x.shape
    roll = x.reshape(n, n_bars * n_steps, n_pitches, n_tracks)
    onset = roll.copy()
    onset[:, 1:] &= ~roll[:, :-1]
    onset_pc = _pitch_classes(np.moveaxis(onset.sum(axis=1), -1, 0), lowest_pitch)
    return _best_keys(onset_pc, [False] * n_tracks if is_drums is None else is_drums)


def counts(x: np.ndarray, beat_resolution: int, lowest_pitch: int, is_drums: Sequence[bool]) -> Counts:
    """Counts of one chunk of phrases, bool `(n, n_bars, n_steps, n_pitches, n_tracks)`.

    Metrics that do not apply to a track (QN of drums, DP of a piano...) are
    still counted here; `finish` reports only the applicable ones. Only a few
    passes touch the full-resolution roll; everything else works on arrays
    reduced over time first (per beat, per phrase), which is what keeps 20,000
    bars at a few seconds.
    """
    x = np.asarray(x, dtype=bool)
    if x.ndim != 5:
        raise ValueError(f"expected (n, n_bars, n_steps, n_pitches, n_tracks), got shape {x.shape}")
    n, n_bars, n_steps, n_pitches, n_tracks = x.shape
    if n_steps != 4 * beat_resolution:
        raise ValueError(f"{n_steps} steps per bar is not 4 beats of {beat_resolution} steps")
    if len(is_drums) != n_tracks:
        raise ValueError(f"is_drums has {len(is_drums)} entries for {n_tracks} tracks")
    pairs = track_pairs(n_tracks, is_drums)
    c = Counts.empty(n_tracks, len(pairs))
    if n == 0:
        return c
    length = n_bars * n_steps
    n_beats = length // beat_resolution
    # track-major copy (K, n, T, P); through a uint8 view, which numpy copies ~2x faster than bool
    roll = np.ascontiguousarray(
        np.moveaxis(x.view(np.uint8).reshape(n, length, n_pitches, n_tracks), -1, 0)).view(bool)
    onset = roll.copy()
    onset[:, :, 1:] &= ~roll[:, :, :-1]         # active, and not active the step before

    # per beat and pitch: active steps (<= beat_resolution, fits uint8)
    beat_roll = roll.reshape(n_tracks, n, n_beats, beat_resolution, n_pitches).sum(axis=3, dtype=np.uint8)
    beat_chroma = _pitch_classes(beat_roll, lowest_pitch)           # (K, n, beats, 12)

    # EB, UPC: pitch classes sounding anywhere in each bar
    bar_chroma = beat_chroma.reshape(n_tracks, n, n_bars, n_beats // n_bars, 12).sum(axis=3)
    n_pc = (bar_chroma > 0).sum(axis=3)                             # (K, n, bars)
    c.bars[:] = n * n_bars
    c.empty_bars[:] = (n_pc == 0).sum(axis=(1, 2))
    c.pitch_classes[:] = n_pc.sum(axis=(1, 2))

    # QN: a note is qualified when it is still active k - 1 steps after its onset;
    # a run cut by the phrase's end is judged by the steps it has
    k = qn_threshold(beat_resolution)
    for t in range(n_tracks):
        c.notes[t] = np.count_nonzero(onset[t])
        qualified = onset[t, :, :length - k + 1]
        for j in range(1, k):
            qualified = qualified & roll[t, :, j:length - k + 1 + j]
        c.qualified_notes[t] = np.count_nonzero(qualified)

    # polyphony: active pitches per step
    per_step = roll.sum(axis=3, dtype=np.uint8)                     # (K, n, T)
    c.sounding_steps[:] = np.count_nonzero(per_step, axis=(1, 2))
    c.polyphonic_steps[:] = np.count_nonzero(per_step > 1, axis=(1, 2))

    # DP: onsets per position in the bar (drum tracks only), weighted by the grid mask
    mask = drum_grid_mask(beat_resolution)
    for t in np.flatnonzero(np.asarray(is_drums, dtype=bool)):
        at = onset[t].reshape(n * n_bars, n_steps, n_pitches).sum(axis=(0, 2), dtype=np.int64)
        c.on_grid_onsets[t] = at[mask].sum()

    # on drums: onsets at the steps where any drum track strikes
    drum_tracks = np.flatnonzero(np.asarray(is_drums, dtype=bool))
    if len(drum_tracks):
        struck = onset[drum_tracks].any(axis=(0, 3))                   # (n, T)
        c.on_drum_onsets[:] = (onset.sum(axis=3, dtype=np.int64) * struck[None]).sum(axis=(1, 2))

    # in-scale: one key per phrase, fitted to the notes of all non-drum tracks
    onset_pc = _pitch_classes(onset.sum(axis=2, dtype=np.uint16), lowest_pitch)   # (K, n, 12)
    key = _best_keys(onset_pc, is_drums)
    c.in_scale_notes[:] = (onset_pc * scale_masks()[key][None]).sum(axis=(1, 2))

    # TD: per-beat chroma -> L1 normalised -> tonal centroid -> distance per pair
    if pairs:
        total = beat_chroma.sum(axis=3, keepdims=True)
        sounding = total[..., 0] > 0
        centroid = (beat_chroma / np.maximum(total, 1)) @ tonal_matrix().T   # (K, n, beats, 6)
        for p, (i, j) in enumerate(pairs):
            both = sounding[i] & sounding[j]
            distance = np.linalg.norm(centroid[i] - centroid[j], axis=-1)
            c.td_sum[p] = distance[both].sum()
            c.td_beats[p] = np.count_nonzero(both)
    return c


def _ratio(num, den, scale: float = 100.0) -> np.ndarray:
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, scale * num / np.where(den > 0, den, 1), np.nan)


# --------------------------------------------------------------------------- single metrics


def _one(x: np.ndarray, lowest_pitch: int = 24, is_drums: Optional[Sequence[bool]] = None,
         beat_resolution: Optional[int] = None) -> Counts:
    """Counts of a whole (small) set; `beat_resolution` defaults to `n_steps // 4`."""
    x = np.asarray(x, dtype=bool)
    if is_drums is None:
        is_drums = [False] * x.shape[-1]
    if beat_resolution is None:
        beat_resolution = x.shape[2] // 4
    return counts(x, beat_resolution, lowest_pitch, is_drums)


def empty_bar_rate(x: np.ndarray) -> np.ndarray:
    """EB per track, `(n_tracks,)` in %: bars of `x` `(n, n_bars, n_steps, n_pitches,
    n_tracks)` in which the track has no active step, over all bars."""
    c = _one(x)
    return _ratio(c.empty_bars, c.bars)


def used_pitch_classes(x: np.ndarray, lowest_pitch: int = 24, nonempty_only: bool = False) -> np.ndarray:
    """UPC per track, `(n_tracks,)`: distinct pitch classes per bar, averaged over bars.

    The pitch class of row `r` is `(lowest_pitch + r) % 12` (0 = C); a pitch class
    is used in a bar when any of its pitches is active at any step of it. By
    default every bar counts, an empty bar as 0 (the later reference code);
    `nonempty_only` averages over the track's non-empty bars (the paper-era
    code; NaN when every bar is empty).
    """
    c = _one(x, lowest_pitch)
    return _ratio(c.pitch_classes, c.bars - c.empty_bars if nonempty_only else c.bars, scale=1.0)


def qualified_note_rate(x: np.ndarray, beat_resolution: int) -> np.ndarray:
    """QN per track, `(n_tracks,)` in %: notes lasting >= `qn_threshold(beat_resolution)` steps.

    A note is a maximal run of consecutive active steps of one pitch within a
    phrase: bar lines do not split it, the phrase's ends do (a run cut by the
    end is judged by the steps it has). Pooled: qualified notes of the whole set
    over all its notes, not a mean of per-bar ratios.
    """
    c = _one(x, beat_resolution=beat_resolution)
    return _ratio(c.qualified_notes, c.notes)


def drum_pattern_rate(x: np.ndarray, beat_resolution: int) -> np.ndarray:
    """DP of every track taken as drums, `(n_tracks,)` in %: onsets where `drum_grid_mask` holds.

    An onset is an active step whose previous step in the phrase is not active;
    each pitch (drum) counts separately. Pooled over the set: on-grid onsets over
    all onsets. Unlike the paper-era code, which took per bar the best of 6
    shifts of the grid, there is no phase search: phrases are bar-aligned, so
    drums off the grid should count as off the grid.
    """
    x = np.asarray(x, dtype=bool)
    c = _one(x, is_drums=[True] * x.shape[-1], beat_resolution=beat_resolution)
    return _ratio(c.on_grid_onsets, c.notes)


def polyphony_rate(x: np.ndarray) -> np.ndarray:
    """Polyphony per track, `(n_tracks,)` in %: steps with >= 2 active pitches among
    the steps with >= 1 (so silence does not dilute it), pooled over the set."""
    c = _one(x)
    return _ratio(c.polyphonic_steps, c.sounding_steps)


def in_scale_rate(x: np.ndarray, lowest_pitch: int = 24, is_drums: Optional[Sequence[bool]] = None) -> np.ndarray:
    """In-scale rate per track, `(n_tracks,)` in %: notes in their phrase's major scale.

    Per phrase, the key is the major scale (12 candidates; the lowest tonic from
    C wins ties) holding the most notes (onsets, see `qualified_note_rate`) of
    all non-drum tracks together, so one key serves the whole band; a track's
    rate is its notes in that scale over all its notes, pooled over the set.
    Natural minor shares its relative major's scale, so minor keys are not
    penalised. For drum tracks the number is meaningless (not reported).
    """
    c = _one(x, lowest_pitch, is_drums)
    return _ratio(c.in_scale_notes, c.notes)


def on_drums_rate(x: np.ndarray, is_drums: Sequence[bool]) -> np.ndarray:
    """On-drums rate per track, `(n_tracks,)` in %: notes (onsets, see
    `qualified_note_rate`) starting on a step where any drum track has an onset, over
    all the track's notes, pooled over the set. NaN for every track without drums."""
    c = _one(x, is_drums=is_drums)
    return _ratio(c.on_drum_onsets, c.notes) if any(is_drums) else np.full(x.shape[-1], np.nan)


def tonal_distance(x: np.ndarray, beat_resolution: int, is_drums: Optional[Sequence[bool]] = None) -> np.ndarray:
    """TD per pair of non-drum tracks (`track_pairs` order), `(n_pairs,)`.

    Per beat and track: chroma = active (step, pitch) cells per pitch class
    (duration- and octave-weighted, as the reference code), L1 normalised,
    projected by `tonal_matrix()` to a 6-D tonal centroid; the distance is
    Euclidean. Averaged over all beats of the set in which BOTH tracks sound (a
    silent beat has no centroid; the paper-era code averaged per bar and so
    dropped every bar with a silent beat). Transposing both tracks alike leaves
    it unchanged, so the pitch-class origin does not matter here.
    """
    c = _one(x, is_drums=is_drums, beat_resolution=beat_resolution)
    return _ratio(c.td_sum, c.td_beats, scale=1.0)


# --------------------------------------------------------------------------- all metrics


def _named(values: np.ndarray, names: Sequence[str], keep: Sequence[bool]) -> Dict[str, Optional[float]]:
    return {name: _number(v) for name, v, k in zip(names, values, keep) if k}


def _number(v) -> Optional[float]:
    v = float(v)
    return None if math.isnan(v) else round(v, 4)


def finish(c: Counts, params: Dict[str, Any]) -> Dict[str, Any]:
    """The metrics dict (JSON layout) of summed `Counts`.

    `{"EB": {track: %}, "UPC": {non-drum: n}, "UPC_nonempty": {...}, "QN": {non-drum: %},
    "DP": % (drum tracks pooled; None without drums), "TD": {"piano-guitar": d, ...},
    "polyphony": {non-drum: %}, "in_scale": {non-drum: %}, "on_drums": {non-drum: %},
    "info": {...}}`,
    track names lower-cased, pairs named in track order, NaN as None.
    """
    names = [n.lower() for n in params["track_names"]]
    drums = [bool(d) for d in params["is_drums"]]
    melodic = [not d for d in drums]
    br = params["beat_resolution"]
    pairs = track_pairs(len(names), drums)
    drum_idx = [t for t, d in enumerate(drums) if d]
    dp = _ratio(c.on_grid_onsets[drum_idx].sum(), c.notes[drum_idx].sum()) if drum_idx else np.nan
    return {
        "EB": _named(_ratio(c.empty_bars, c.bars), names, [True] * len(names)),
        "UPC": _named(_ratio(c.pitch_classes, c.bars, 1.0), names, melodic),
        "UPC_nonempty": _named(_ratio(c.pitch_classes, c.bars - c.empty_bars, 1.0), names, melodic),
        "QN": _named(_ratio(c.qualified_notes, c.notes), names, melodic),
        "DP": _number(dp),
        "TD": {f"{names[i]}-{names[j]}": _number(v)
               for (i, j), v in zip(pairs, _ratio(c.td_sum, c.td_beats, 1.0))},
        "polyphony": _named(_ratio(c.polyphonic_steps, c.sounding_steps), names, melodic),
        "in_scale": _named(_ratio(c.in_scale_notes, c.notes), names, melodic),
        "on_drums": _named(_ratio(c.on_drum_onsets, c.notes) if drum_idx else np.full(len(names), np.nan),
                           names, melodic),
        "info": {
            "n_phrases": int(c.bars[0] // params["data_shape"][0]) if len(c.bars) else 0,
            "n_bars": int(c.bars[0]) if len(c.bars) else 0,
            "beat_resolution": br,
            "qn_threshold_steps": qn_threshold(br),
            "dp_tolerance_steps": round(dp_tolerance(br), 4),
            "notes": {name: int(v) for name, v in zip(names, c.notes)},
        },
    }


def all_metrics_chunks(chunks: Iterable[np.ndarray], params: Dict[str, Any]) -> Dict[str, Any]:
    """`all_metrics` of a set given as chunks of bool `(k, n_bars, n_steps, n_pitches, n_tracks)`."""
    drums = [bool(d) for d in params["is_drums"]]
    total = Counts.empty(len(drums), len(track_pairs(len(drums), drums)))
    for chunk in chunks:
        total = total + counts(chunk, params["beat_resolution"], params["lowest_pitch"], drums)
    return finish(total, params)


def all_metrics(x: np.ndarray, params: Dict[str, Any], chunk_size: int = CHUNK) -> Dict[str, Any]:
    """Every metric of bool `x` `(n, n_bars, n_steps, n_pitches, n_tracks)`, see `finish`.

    `params` needs `track_names`, `is_drums`, `beat_resolution`, `lowest_pitch`
    and `data_shape`. Work is done `chunk_size` phrases at a time.
    """
    return all_metrics_chunks((x[i:i + chunk_size] for i in range(0, len(x), chunk_size)), params)
