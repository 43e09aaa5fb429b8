"""How a song's beats are read as the model's bars: four quarter-note beats, whatever the meta says.

The model plays bars of four beats. A file's time signatures are read as follows
(`read_bars`), the file's own beats and tempo map kept throughout:

- 4/4 bars are played as written; 2/2 (cut time) bars too, each half note read as two
  quarter-note beats (the same four quarter notes as a 4/4 bar).
- Pulse meters: 1/4, 2/4 and 1/2 mark a beat or two, not the song's bar (many exporters
  write them for a whole song in 4). A run of such bars holding at least 4 beats is
  regrouped into 4-beat bars. A run that follows a played bar continues its bar lines; one
  that leads into played bars ends on their first bar line; a run on its own (a file marked
  2/4 throughout) gets its bar 1 from the music (`beats.downbeat_phase`: where the lowest
  notes, chord changes and accents fall). A single 2/4 fill or 1/4 pickup bar stays as it is.
- Other meters (3/4, 6/8, 12/8, 5/4...) are left unplayed, unless the user chooses
  `meter="4/4"`: then every run of bars that are not 4 beats long is regrouped the same way
  (12/8 bars hold 4 dotted-quarter beats: they play as written).
- `shift` moves the bar lines of every regrouped run by whole beats (later; negative:
  earlier).

Regrouped bars are 4/4 in `Grid.bar_meters` (12/8 for dotted-quarter beats); the pieces
left over at a run's ends keep their length (a 2-beat piece is 2/4) and are not played.
"""
from dataclasses import dataclass
from typing import List, Optional, Tuple

import numpy as np
import pretty_midi

from musegan.errors import UsageError
from musegan.music import beats as downbeats
from musegan.music import timing

__all__ = ["METERS", "Stretch", "Bars", "read_bars", "meter_name", "check_meter"]

METERS = ("auto", "4/4")  # --meter: as the file says (pulse meters regrouped), or 4-beat bars on any file
FOUR_QUARTERS = {(4, 4), (2, 2)}  # meters whose bar is four quarter notes
PULSES = {(1, 4), (2, 4), (1, 2)}  # meters that mark a pulse of a quarter or two, not a bar


@dataclass(frozen=True)
class Stretch:
    """A run of written bars whose beats were regrouped into 4-beat bars.

    first_bar, last_bar: the file's written bars (0-based, inclusive); beats: how many;
    meters: their written meters ('2/4'); phase: beats before the first regrouped bar line;
    how: 'music' (bar 1 found from the notes), 'after' (continues the bars before it),
    'before' (ends where the bars after it begin).
    """

    first_bar: int
    last_bar: int
    beats: int
    meters: str
    phase: int
    how: str


@dataclass(frozen=True)
class Bars:
    """A song's grid as the model's bars, and which written bars were regrouped to get it."""

    grid: timing.Grid
    stretches: Tuple[Stretch, ...]
    forced: bool  # meter "4/4" was asked for

    @property
    def regrouped(self) -> bool:
        return bool(self.stretches)

    def notice(self) -> Optional[str]:
        """One line saying which bars were regrouped, where bar 1 is, and how to move it."""
        if not self.stretches:
            return None
        found = {"music": "found from the music", "after": "continuing the bars before",
                 "before": "leading into the bars after"}
        parts = []
        for s in self.stretches[:3]:
            bars = f"bar {s.first_bar + 1}" if s.first_bar == s.last_bar else f"bars {s.first_bar + 1}-{s.last_bar + 1}"
            parts.append(f"{bars} ({s.meters}, {s.beats} beats) grouped in fours from their beat {s.phase + 1} "
                         f"({found[s.how]})")
        more = f" and {len(self.stretches) - 3} more runs" if len(self.stretches) > 3 else ""
        why = "--meter 4/4" if self.forced else "meters that mark a pulse, not the song's bar"
        return (f"read in 4-beat bars ({why}): written {'; '.join(parts)}{more}; "
                "move the bar lines with --downbeat-shift BEATS")


def meter_name(meter: Tuple[int, int]) -> str:
    return f"{int(meter[0])}/{int(meter[1])}"


def check_meter(meter: str) -> str:
    """`meter` if it is one of METERS, else a UsageError."""
    if meter not in METERS:
        raise UsageError(f"--meter {meter}: must be one of {', '.join(METERS)}")
    return meter


def _unit(meter: Tuple[int, int]) -> Tuple[float, bool]:
    """(quarter notes per beat as read, compound): half notes read as two quarter beats."""
    numerator, denominator = int(meter[0]), int(meter[1])
    compound = timing.beats_per_bar(numerator) != numerator
    if denominator == 2 and not compound:
        return 1.0, False
    return (12.0 if compound else 4.0) / denominator, compound


def _label(n_beats: int, meter: Tuple[int, int]) -> Tuple[int, int]:
    """The meter of a bar of `n_beats` beats of `meter`'s beat as read."""
    unit, compound = _unit(meter)
    if compound:
        return 3 * n_beats, int(meter[1])
    return n_beats, 4 if unit == 1.0 else int(meter[1])


def _quarter_beats(pm: pretty_midi.PrettyMIDI, beats: np.ndarray, bar_beats: np.ndarray,
                   meters: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """The beats with every half-note beat of an x/2 bar split into two quarter beats (at the
    middle tick, so tempo changes are followed), and the bars' first beats among them."""
    per_bar = np.diff(np.append(bar_beats, len(beats)))
    halves = np.repeat([m[1] == 2 and not _unit(m)[1] for m in meters.tolist()], per_bar)
    if not halves.any():
        return beats, bar_beats
    ticks = timing.seconds_to_ticks(pm, beats)
    last = ticks[-1] - ticks[-2] if len(ticks) > 1 else 2.0 * pm.resolution
    middle = (ticks + np.append(ticks[1:], ticks[-1] + last)) / 2
    split = np.stack([ticks, middle], axis=1)
    keep = np.stack([np.ones(len(ticks), bool), halves], axis=1)
    new_ticks = split[keep]
    counts = keep.sum(axis=1)
    new_bar_beats = np.concatenate([[0], np.cumsum(counts)])[bar_beats]
    return timing.ticks_to_seconds(pm, new_ticks), new_bar_beats


def read_bars(pm: pretty_midi.PrettyMIDI, beat_resolution: int, align: bool = False, meter: str = "auto",
              shift: int = 0) -> Bars:
    """The song's grid in the model's bars (module docstring); `align` as `timing.song_grid`.

    A song that needs no regrouping and has no 2/2 bar gets exactly `timing.song_grid`.
    """
    check_meter(meter)
    forced = meter == "4/4"
    beats, bar_beats, meters = timing.written_bars(pm)
    warp = (timing.fit_tick_warp(timing.seconds_to_ticks(pm, timing.note_starts(pm)), pm.resolution)
            if align else (1.0, 0.0))
    written = [tuple(m) for m in meters.tolist()]
    has_half = any(m[1] == 2 and not _unit(m)[1] for m in written)
    beats, bar_beats = _quarter_beats(pm, beats, bar_beats, meters)
    n_bars = len(bar_beats)
    held = np.diff(np.append(bar_beats, len(beats)))  # beats each written bar holds (the last: to the end)
    lengths = np.array([_expected(m) for m in written], dtype=np.int64)
    if forced:
        four = lengths == 4
        loose = ~four
    else:
        four = np.array([m in FOUR_QUARTERS for m in written], dtype=bool)
        loose = np.array([m in PULSES for m in written], dtype=bool)
    runs = _runs(loose, written, held, need=1 if forced else 4)
    if not runs:
        if not has_half and (not forced or all(m == (4, 4) for m in written)):  # as `timing.song_grid`
            return Bars(grid=timing.grid_from_beats(pm, beats, bar_beats, meters, beat_resolution, warp=warp),
                        stretches=(), forced=forced)
        return Bars(grid=timing.grid_from_beats(pm, beats, bar_beats, meters, beat_resolution, warp=warp,
                                                fours=four, lengths=lengths), stretches=(), forced=forced)

    heard: List[np.ndarray] = []  # the beats where the notes are, and the notes: found once, when needed

    def phase_from_music(b0: int, b1: int) -> int:
        if not heard:
            # moved by the warp, as the grid will be: displaced notes are judged where they sound
            heard.append(timing.ticks_to_seconds(pm, warp[0] * timing.seconds_to_ticks(pm, beats) + warp[1]))
            heard.append(downbeats.notes_of(pm))
        return downbeats.downbeat_phase(heard[0][b0:b1], heard[1], 4)

    bars: List[Tuple[int, Tuple[int, int], bool, int]] = []  # (first beat, meter, played, beats)
    stretches = []
    run_at = dict(runs)
    bar = 0
    while bar < n_bars:
        if bar not in run_at:
            bars.append((int(bar_beats[bar]), written[bar], bool(four[bar]), int(lengths[bar])))
            bar += 1
            continue
        last = run_at[bar]
        b0 = int(bar_beats[bar])
        b1 = int(bar_beats[last + 1]) if last + 1 < n_bars else len(beats)
        if bar > 0 and four[bar - 1]:
            phase, how = 0, "after"
        elif last + 1 < n_bars and four[last + 1]:
            phase, how = (b1 - b0) % 4, "before"
        else:
            phase, how = phase_from_music(b0, b1), "music"
        phase = (phase + int(shift)) % 4
        bars += _pieces(b0, b1, phase, written[bar], last + 1 >= n_bars)
        meters_run = ", ".join(dict.fromkeys(meter_name(m) for m in written[bar:last + 1]))
        stretches.append(Stretch(first_bar=bar, last_bar=last, beats=b1 - b0, meters=meters_run, phase=phase,
                                 how=how))
        bar = last + 1
    starts, labels, plays, sizes = zip(*bars)
    grid = timing.grid_from_beats(pm, beats, np.array(starts), np.array(labels), beat_resolution, warp=warp,
                                  fours=np.array(plays), lengths=np.array(sizes))
    return Bars(grid=grid, stretches=tuple(stretches), forced=forced)


def _pieces(b0: int, b1: int, phase: int, meter: Tuple[int, int],
            ends_song: bool) -> List[Tuple[int, Tuple[int, int], bool, int]]:
    """(first beat, meter, played, beats) of the bars beats b0..b1 - 1 are regrouped into: bar
    lines every 4 beats from b0 + phase; the pieces left at either end keep their length and
    are not played, but the song's last bar (`ends_song`) is completed by the grid."""
    cuts = sorted({b0, *range(b0 + phase, b1, 4)})
    out = []
    for i, start in enumerate(cuts):
        size = (cuts[i + 1] if i + 1 < len(cuts) else b1) - start
        full = size == 4 or (ends_song and i + 1 == len(cuts))
        out.append((start, _label(4 if full else size, meter), full, 4 if full else size))
    return out


def _expected(meter: Tuple[int, int]) -> int:
    """Beats a complete bar of `meter` holds as read (2/2: four quarter beats)."""
    beats = timing.beats_per_bar(int(meter[0]))
    return 2 * beats if _unit(meter)[0] == 1.0 and int(meter[1]) == 2 else beats


def _runs(loose: np.ndarray, written: List[Tuple[int, int]], held: np.ndarray, need: int) -> List[Tuple[int, int]]:
    """(first, last) written bars of each run of consecutive `loose` bars whose beats have one
    length, holding at least `need` beats."""
    runs = []
    first = None
    for bar in range(len(loose) + 1):
        goes_on = (first is not None and bar < len(loose) and loose[bar]
                   and _unit(written[bar]) == _unit(written[first]))
        if goes_on:
            continue
        if first is not None and held[first:bar].sum() >= need:
            runs.append((first, bar - 1))
        first = bar if bar < len(loose) and loose[bar] else None
    return runs
