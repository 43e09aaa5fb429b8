"""A song's own time grid: its beats (tempo changes included), bars and meters, every beat
cut into `beat_resolution` equal steps; and the conversions between seconds and the file's
ticks under its tempo map."""
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np
import pretty_midi

__all__ = ["Grid", "song_grid", "written_bars", "grid_from_beats", "note_starts", "song_end", "fit_tick_warp",
           "seconds_to_ticks", "ticks_to_seconds", "phrase_starts", "nearest_step", "beats_per_bar"]


@dataclass(frozen=True)
class Grid:
    """A song's own time grid: every beat split into `beat_resolution` equal steps.

    step_times: float (n_steps + 1,) seconds; step i spans
        [step_times[i], step_times[i + 1]), the last entry is the grid's end.
    bar_starts: int (n_bars,) first step of each bar.
    bar_meters: int (n_bars, 2) time signature (numerator, denominator) of each bar as it
        is played: the file's own, or 4/4 where its beats were regrouped into 4-beat bars.
    bar_is_44: bool (n_bars,) True for the complete 4-beat bars the model plays (4/4, and
        2/2 read in quarter notes); others (3/4, 2/4 fills, 6/8, a partial pickup bar...)
        are for callers to skip.
    warp: (scale, offset in ticks) moving the file's tick grid onto its notes
        (`fit_tick_warp`); (1.0, 0.0) when the grid is the file's own as written.
    """

    beat_resolution: int
    step_times: np.ndarray
    bar_starts: np.ndarray
    bar_meters: np.ndarray
    bar_is_44: np.ndarray
    warp: Tuple[float, float] = (1.0, 0.0)

    @property
    def n_steps(self) -> int:
        return len(self.step_times) - 1

    @property
    def n_bars(self) -> int:
        return len(self.bar_starts)

    @property
    def bar_ends(self) -> np.ndarray:
        """int (n_bars,) one past the last step of each bar."""
        return np.append(self.bar_starts[1:], self.n_steps)



def beats_per_bar(numerator: int) -> int:
    """Beats per bar as pretty_midi counts them (compound meters: dotted beats)."""
    return numerator // 3 if numerator % 3 == 0 and numerator != 3 else numerator



def _meter_at(pm: pretty_midi.PrettyMIDI, time: float, tol: float = 1e-6) -> Tuple[int, int]:
    """Time signature in effect at `time` (give or take `tol` seconds); 4/4 before the first one (MIDI's default)."""
    meter = (4, 4)
    for ts in sorted(pm.time_signature_changes, key=lambda t: t.time):
        if ts.time <= time + tol:
            meter = (ts.numerator, ts.denominator)
    return meter



def _tempo_map(pm: pretty_midi.PrettyMIDI) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(times, ticks, ticks per second) at each tempo change of `pm`."""
    times, qpm = pm.get_tempo_changes()
    if not len(times) or times[0] > 0:
        times, qpm = np.insert(times, 0, 0.0), np.insert(qpm, 0, qpm[0] if len(qpm) else 120.0)
    rate = qpm / 60.0 * pm.resolution
    ticks = np.concatenate([[0.0], np.cumsum(np.diff(times) * rate[:-1])])
    return times, ticks, rate



def seconds_to_ticks(pm: pretty_midi.PrettyMIDI, seconds: np.ndarray) -> np.ndarray:
    """float ticks of `seconds` under pm's tempo map (extrapolated at both ends)."""
    times, ticks, rate = _tempo_map(pm)
    seconds = np.asarray(seconds, dtype=np.float64)
    i = np.clip(np.searchsorted(times, seconds, side="right") - 1, 0, len(times) - 1)
    return ticks[i] + (seconds - times[i]) * rate[i]



def ticks_to_seconds(pm: pretty_midi.PrettyMIDI, ticks_in: np.ndarray) -> np.ndarray:
    """Seconds of float `ticks_in` under pm's tempo map (extrapolated at both ends)."""
    times, ticks, rate = _tempo_map(pm)
    ticks_in = np.asarray(ticks_in, dtype=np.float64)
    i = np.clip(np.searchsorted(ticks, ticks_in, side="right") - 1, 0, len(ticks) - 1)
    return times[i] + (ticks_in - ticks[i]) / rate[i]



def fit_tick_warp(onset_ticks: np.ndarray, ticks_per_beat: int,
                  max_stretch: float = 0.06) -> Tuple[float, float]:
    """(scale, offset): notes sit at `scale * grid_tick + offset` of the file's own tick grid.

    Some files have their notes displaced from the grid they were sequenced on:
    the RWC files were re-timed to match their recordings, by a constant
    offset (tens of ticks) and for some a stretch of up to a few percent. The
    sixteenth-note periodicity of the onsets gives both: the scale maximizes
    the onsets' alignment to a sixteenth grid (phase-free, so any offset);
    the offset is the onsets' phase (their circular mean, or the most common
    phase when a minority pulls the mean away). The candidate that puts the
    most notes within 1/8 of a sixteenth of the grid wins; the file's own grid
    (1.0, 0.0) is kept unless a candidate beats it by 5 points. A moved grid
    then shifts by whole sixteenths (at most half a beat) to put the most
    notes on beats.
    """
    u, count = np.unique(np.round(np.asarray(onset_ticks, dtype=np.float64)), return_counts=True)
    if len(u) < 32:
        return 1.0, 0.0
    period = ticks_per_beat / 4.0

    def on_grid(scale: float, offset: float) -> float:
        x = (u - offset) / scale / period
        return float(count[np.abs(x - np.round(x)) <= 0.125].sum() / count.sum())

    if on_grid(1.0, 0.0) >= 0.9:  # quantized on its own grid: the common case, and fast
        return 1.0, 0.0

    def strength(scales: np.ndarray, x: np.ndarray) -> np.ndarray:
        return np.abs(np.exp(2j * np.pi * x[None, :] / (period * scales[:, None])).mean(axis=1))

    sub = u if len(u) <= 2000 else u[np.linspace(0, len(u) - 1, 2000).astype(int)]
    # Peaks in the scale are about period / span wide: sample them 4 times.
    n = int(np.ceil(2 * max_stretch * (sub[-1] - sub[0] + period) / period * 4)) + 1
    scales = np.linspace(1 - max_stretch, 1 + max_stretch, n)
    best = scales[np.argmax(strength(scales, sub))]
    width = 2 * max_stretch / max(n - 1, 1)
    fine = np.linspace(best - width, best + width, 41)
    r_fine = strength(fine, u)
    stretch = fine[np.argmax(r_fine)]
    # A stretch needs clear evidence: above chance (the max of ~n Rayleigh draws) and above 1.0's.
    if r_fine.max() < max(strength(np.ones(1), u)[0] + 0.05, 4.0 / np.sqrt(len(u))):
        stretch = 1.0

    candidates = []
    for scale in sorted({1.0, float(stretch)}):
        cycle = period * scale
        residue = np.mod(u, cycle)
        mean = np.angle((count * np.exp(2j * np.pi * residue / cycle)).sum()) / (2 * np.pi) * cycle
        bins = max(int(round(cycle)), 8)
        hist = np.bincount((residue / cycle * bins).astype(int) % bins, weights=count, minlength=bins)
        half = max(1, bins // 24)
        mode = (np.argmax(sum(np.roll(hist, k) for k in range(-half, half + 1))) + 0.5) * cycle / bins
        candidates += [(scale, mean), (scale, mode)]
    scale, offset = max(candidates, key=lambda c: on_grid(*c))
    if on_grid(scale, offset) < on_grid(1.0, 0.0) + 0.05:
        return 1.0, 0.0
    cycle = period * scale

    def on_beats(b: float) -> Tuple[int, float]:
        # Every note counts (a chord on the beat outweighs a hi-hat between beats).
        pos = np.round((u - b) / cycle).astype(np.int64) % 4
        return 2 * int(count[pos == 0].sum()) + int(count[pos == 2].sum()), -abs(b)

    offset = np.mod(offset, cycle)
    offset = max((offset + k * cycle for k in (-2, -1, 0, 1)), key=on_beats)
    return float(scale), float(offset)



def song_grid(pm: pretty_midi.PrettyMIDI, beat_resolution: int, align: bool = False) -> Grid:
    """The file's own beat/bar grid from pretty_midi's beats, downbeats and time signatures.

    Beats follow every tempo change and time signature (`written_bars`); each beat is
    split into `beat_resolution` steps of equal ticks (`grid_from_beats`). The grid runs
    to the end of the last note (or of the file when it has none) and the last bar is
    completed, so notes near the end keep a full bar. A file without time signature is
    4/4, as in MIDI. With `align`, the grid is moved onto the notes when they are
    displaced from it (`fit_tick_warp`; `Grid.warp` says by how much), so the notes stay
    where they are in time and the grid follows them.
    """
    beats, bar_beats, meters = written_bars(pm)
    warp = fit_tick_warp(seconds_to_ticks(pm, note_starts(pm)), pm.resolution) if align else (1.0, 0.0)
    return grid_from_beats(pm, beats, bar_beats, meters, beat_resolution, warp=warp)



def note_starts(pm: pretty_midi.PrettyMIDI) -> np.ndarray:
    """float (n_notes,) seconds: the start of every note of every instrument."""
    return np.array([n.start for inst in pm.instruments for n in inst.notes], dtype=np.float64)



def song_end(pm: pretty_midi.PrettyMIDI) -> float:
    """Seconds: the end of the last note, or of the file when it has none."""
    ends = [n.end for inst in pm.instruments for n in inst.notes]
    return max(ends) if ends else pm.get_end_time()



def written_bars(pm: pretty_midi.PrettyMIDI) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The file's beats and bars as its time signatures write them.

    Returns float (n_beats,) seconds of every beat (pretty_midi's: the denominator's note,
    a dotted one in compound meters), int (n_bars,) index of each bar's first beat (the
    first is 0: music before the first downbeat is a pickup bar) and int (n_bars, 2) each
    bar's (numerator, denominator). Several time signatures at one time (sequencers write
    repeats) make pretty_midi repeat a beat and miscount every downbeat after it: the last
    one at each time is kept in `pm`, as MIDI means.
    """
    meters = {}
    for ts in sorted(pm.time_signature_changes, key=lambda t: t.time):
        meters[round(ts.time, 9)] = ts
    pm.time_signature_changes = list(meters.values())
    beats = pm.get_beats()
    if not len(beats):
        beats = np.zeros(1)
    beats = beats[np.append(True, np.diff(beats) > 1e-9)]  # never a beat of length 0
    downbeats = pm.get_downbeats()
    tol = _tolerance(beats)
    bar_beats = np.unique(np.searchsorted(beats, downbeats - tol))
    bar_beats = bar_beats[bar_beats < len(beats)]
    if not len(bar_beats) or bar_beats[0] != 0:
        bar_beats = np.insert(bar_beats, 0, 0)  # music before the first downbeat: a pickup bar
    meters = np.array([_meter_at(pm, beats[b], tol) for b in bar_beats], dtype=np.int64).reshape(-1, 2)
    return beats, bar_beats, meters



def _tolerance(beats: np.ndarray) -> float:
    """Seconds of slack when matching times to beats: 1 us, less for absurd tempi (a beat of 1 us exists)."""
    gaps = np.diff(beats)
    return min(1e-6, 0.01 * gaps[gaps > 0].min()) if np.any(gaps > 0) else 1e-6



def grid_from_beats(pm: pretty_midi.PrettyMIDI, beats: np.ndarray, bar_beats: np.ndarray, meters: np.ndarray,
                    beat_resolution: int, warp: Tuple[float, float] = (1.0, 0.0),
                    fours: Optional[np.ndarray] = None, lengths: Optional[np.ndarray] = None,
                    end: Optional[float] = None) -> Grid:
    """The grid of given beats and bars: every beat cut into `beat_resolution` steps of equal ticks.

    beats: float (n_beats,) seconds of every beat, increasing (the file's own, regrouped or
    tracked ones). bar_beats: int (n_bars,) index in `beats` of each bar's first beat,
    increasing, the first 0. meters: int (n_bars, 2) each bar's meter as it is played (and
    written to an output). fours: bool (n_bars,) bars the model may play when they hold 4
    beats (default: the 4/4 ones). lengths: int (n_bars,) beats a complete bar holds
    (default: `beats_per_bar` of its meter); the last bar's says how the grid goes on to
    the song's `end` (seconds; default `song_end`) and completes its last bar. `warp` as
    `fit_tick_warp`: the grid is moved onto notes displaced from it. Beats after the end are
    dropped; past the last beat the grid goes on at the last beat's length.
    """
    bar_beats = np.asarray(bar_beats, dtype=np.int64)
    meters = np.asarray(meters, dtype=np.int64).reshape(-1, 2)
    fours = np.all(meters == 4, axis=1) if fours is None else np.asarray(fours, dtype=bool)
    end = song_end(pm) if end is None else end
    scale, offset = warp

    # Work in the file's ticks, where beats are evenly spaced within a meter and a warp is linear.
    ticks = seconds_to_ticks(pm, beats)
    period = ticks[-1] - ticks[-2] if len(ticks) > 1 else float(pm.resolution)
    end_tick = seconds_to_ticks(pm, np.array([end]))[0]
    if scale * ticks[-1] + offset < end_tick:  # a stretched grid ends before the notes: extend it
        extra = int(np.ceil(((end_tick - offset) / scale - ticks[-1]) / period)) + 1
        ticks = np.concatenate([ticks, ticks[-1] + period * np.arange(1, extra + 1)])
    n_keep = max(int(np.searchsorted(scale * ticks + offset, end_tick)), 1)
    ticks = ticks[:n_keep]
    keep_bars = bar_beats < n_keep
    bar_beats, meters, fours = bar_beats[keep_bars], meters[keep_bars], fours[keep_bars]
    per_bar = beats_per_bar(int(meters[-1, 0])) if lengths is None else int(np.asarray(lengths)[keep_bars][-1])
    n_more = max(0, (len(ticks) - 1 - bar_beats[-1]) // per_bar)  # bars of the extension
    bar_beats = np.append(bar_beats, bar_beats[-1] + per_bar * np.arange(1, n_more + 1))
    meters = np.concatenate([meters, np.repeat(meters[-1:], n_more, axis=0)])
    fours = np.concatenate([fours, np.repeat(fours[-1:], n_more)])
    # Complete the last bar and give the last beat its end.
    missing = max(per_bar - (len(ticks) - bar_beats[-1]), 0)
    ticks = np.concatenate([ticks, ticks[-1] + period * np.arange(1, missing + 2)])
    n_beats = len(ticks) - 1

    frac = np.arange(beat_resolution) / beat_resolution
    step_ticks = np.append((ticks[:-1, None] + np.diff(ticks)[:, None] * frac).ravel(), ticks[-1])
    step_times = ticks_to_seconds(pm, scale * step_ticks + offset)
    beats_in_bar = np.diff(np.append(bar_beats, n_beats))
    return Grid(beat_resolution=int(beat_resolution), step_times=step_times,
                bar_starts=(bar_beats * beat_resolution).astype(np.int64),
                bar_meters=meters, bar_is_44=fours & (beats_in_bar == 4), warp=(scale, offset))



def nearest_step(step_times: np.ndarray, times: np.ndarray) -> np.ndarray:
    """int: index of the grid boundary (0..n_steps) nearest to each time."""
    i = np.clip(np.searchsorted(step_times, times), 1, len(step_times) - 1)
    left, right = step_times[i - 1], step_times[i]
    return np.where(times - left <= right - times, i - 1, i)



def phrase_starts(grid: Grid, n_bars: int = 4, hop_bars: int = 1) -> np.ndarray:
    """int (n,): first bar of every window of `n_bars` consecutive 4/4 bars.

    Windows start every `hop_bars` bars, counted afresh from the first bar of
    each run of consecutive 4/4 bars (so a 2/4 fill realigns the phrases), and
    never include a bar of another meter.
    """
    starts, run_start = [], None
    for bar, ok in enumerate(np.append(grid.bar_is_44, False)):
        if ok and run_start is None:
            run_start = bar
        elif not ok and run_start is not None:
            starts.extend(range(run_start, bar - n_bars + 1, hop_bars))
            run_start = None
    return np.array(starts, dtype=np.int64)
