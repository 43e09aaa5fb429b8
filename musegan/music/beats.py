"""Where bar 1 falls, judged from the music: the downbeat finder behind regrouped bars.

Given a song's beats (in seconds, e.g. the quarter notes of a file whose time signature
marks a pulse, not a bar) and its notes, `downbeat_phase` says which beat starts the first
4-beat bar. Every phase is scored by a linear score of per-beat contrasts: chord changes,
bass-note onsets, kicks, crash cymbals, long notes and onsets on the bar's first beat, and
snares (and drums generally) on its second and fourth beats. The features and weights are
the team's beat-tracking prototype's (weights fitted on RWC songs by conditional logit);
`bench/downbeats.py` measures how often the found downbeat is the written one.

numpy only; nothing here raises on odd input (too little material gives phase 0).
"""
from dataclasses import dataclass

import numpy as np
import pretty_midi

__all__ = ["Notes", "notes_of", "downbeat_phase"]

_KICK = (35, 36)
_SNARE = (37, 38, 39, 40)
_CRASH = (49, 52, 55, 57)

# Columns of `_grid_features`.
_ONSETS, _BASS, _KICK_F, _SNARE_F, _CRASH_F, _CHORD, _LONG, _DRUMS = range(8)
_N_FEATURES = 8
# Score of a phase: w . [beat-1 contrast of chord, bass, kick, crash, long, onsets;
# beats-2-and-4 contrast of snare, all drums]; the prototype's conditional-logit fit on RWC.
_WEIGHTS = np.array([3.9, 3.6, -0.10, 0.15, 0.26, 1.6, 0.31, 0.51])


@dataclass(frozen=True)
class Notes:
    """A song's notes as parallel arrays sorted by onset, one entry a note.

    onset, offset: float (n,) seconds (offset >= onset); pitch: int (n,) MIDI pitch (for
    drums the General MIDI drum key); velocity: int (n,) 1..127; is_drum: bool (n,).
    """

    onset: np.ndarray
    offset: np.ndarray
    pitch: np.ndarray
    velocity: np.ndarray
    is_drum: np.ndarray

    def __len__(self) -> int:
        return int(self.onset.shape[0])


def notes_of(pm: pretty_midi.PrettyMIDI) -> Notes:
    """Every note of every instrument of `pm` (drums flagged), sorted by onset."""
    rows = [(n.start, n.end, n.pitch, n.velocity, inst.is_drum) for inst in pm.instruments for n in inst.notes]
    table = np.array(rows, dtype=np.float64).reshape(-1, 5)
    table = table[np.argsort(table[:, 0], kind="stable")]
    return Notes(onset=table[:, 0], offset=np.maximum(table[:, 1], table[:, 0]),
                 pitch=table[:, 2].astype(np.int64), velocity=np.clip(table[:, 3], 1, 127).astype(np.int64),
                 is_drum=table[:, 4].astype(bool))


def downbeat_phase(beat_times: np.ndarray, notes: Notes, beats_per_bar: int = 4) -> int:
    """Index (0..beats_per_bar - 1) into `beat_times` of the first beat of bar 1.

    beat_times: float (n_beats,) increasing seconds. The phase maximises the score above,
    whose weights were fitted for 4/4 pop; other bar lengths apply the same cues to beat 1
    and to the even beats after it. 0 when it cannot be judged: fewer than 2 bars of beats,
    no notes, or `beats_per_bar < 2`.
    """
    b = np.asarray(beat_times, dtype=np.float64).ravel()
    b = np.unique(b[np.isfinite(b)])
    m = int(beats_per_bar)
    if m < 2 or b.size < 2 * m or len(notes) == 0:
        return 0
    scores = _phase_features(b, notes, m) @ _WEIGHTS
    return int(np.argmax(np.nan_to_num(scores, nan=-np.inf)))


def _bass_mask(notes: Notes, cluster: float = 0.03) -> np.ndarray:
    """bool (n,): pitched notes that are the lowest of their onset cluster and below C4."""
    mask = np.zeros(len(notes), bool)
    idx = np.flatnonzero(~notes.is_drum)
    if idx.size == 0:
        return mask
    on, pitch = notes.onset[idx], notes.pitch[idx]
    cluster_id = np.concatenate([[0], np.cumsum(np.diff(on) > cluster)])
    lowest = np.full(cluster_id[-1] + 1, 128)
    np.minimum.at(lowest, cluster_id, pitch)
    mask[idx[(pitch == lowest[cluster_id]) & (pitch < 60)]] = True
    return mask


def _subdivide(beats: np.ndarray, k: int) -> np.ndarray:
    """float (k * (n - 1) + 1,): every interval of `beats` split into k equal parts."""
    frac = np.arange(k) / k
    inner = (beats[:-1, None] + np.diff(beats)[:, None] * frac[None, :]).ravel()
    return np.concatenate([inner, beats[-1:]])


def _grid_features(x: np.ndarray, notes: Notes, chord_span: int, tol: float = 0.05,
                   tol_rel: float = 0.3) -> np.ndarray:
    """float (len(x), 8): musical evidence at each grid position `x` (seconds).

    A note counts at its nearest position when within min(tol, tol_rel * spacing) seconds.
    Columns: pitched onsets; bass onsets, kicks, snares, crashes and all drums (weighted by
    velocity relative to the song's median); long notes (sum of log(1 + duration / median
    spacing)); chord change (1 - cosine between the pitch classes sounding in the
    `chord_span` intervals before and after the position).
    """
    n = x.size
    features = np.zeros((n, _N_FEATURES))
    if n < 3 or len(notes) == 0:
        return features
    spacing = np.diff(x)
    local = np.concatenate([[spacing[0]], np.minimum(spacing[1:], spacing[:-1]), [spacing[-1]]])
    j = np.clip(np.searchsorted(x, notes.onset), 1, n - 1)
    j = np.where(np.abs(notes.onset - x[j - 1]) < np.abs(notes.onset - x[j]), j - 1, j)
    near = np.abs(notes.onset - x[j]) < np.minimum(tol, tol_rel * local[j])
    accent = notes.velocity / max(float(np.median(notes.velocity)), 1.0)
    pitched, drum = ~notes.is_drum, notes.is_drum
    duration = np.clip(notes.offset - notes.onset, 0.0, 4.0)
    columns = ((_ONSETS, pitched, 1.0), (_BASS, _bass_mask(notes), accent),
               (_KICK_F, drum & np.isin(notes.pitch, _KICK), accent),
               (_SNARE_F, drum & np.isin(notes.pitch, _SNARE), accent),
               (_CRASH_F, drum & np.isin(notes.pitch, _CRASH), accent),
               (_LONG, pitched, np.log1p(duration / np.median(spacing))), (_DRUMS, drum, accent))
    for column, mask, value in columns:
        m = near & mask
        np.add.at(features[:, column], j[m], value[m] if np.ndim(value) else value)
    p = np.flatnonzero(pitched)
    if p.size:
        start = np.clip(np.searchsorted(x, notes.onset[p] + tol / 2) - 1, 0, n - 1)
        stop = np.maximum(np.clip(np.searchsorted(x, notes.offset[p] - tol / 2) - 1, 0, n - 1), start)
        delta = np.zeros((n + 1, 12))
        pitch_class = notes.pitch[p] % 12
        np.add.at(delta, (start, pitch_class), 1.0)
        np.add.at(delta, (stop + 1, pitch_class), -1.0)
        sounding = (np.cumsum(delta, axis=0)[:n] > 0).astype(np.float64)
        total = np.concatenate([np.zeros((1, 12)), np.cumsum(sounding, axis=0)])
        idx = np.arange(n)
        after = total[np.minimum(idx + chord_span, n)] - total[idx]
        before = total[idx] - total[np.maximum(idx - chord_span, 0)]
        cosine = (after * before).sum(1) / np.maximum(np.sqrt((after ** 2).sum(1) * (before ** 2).sum(1)), 1e-9)
        features[:, _CHORD] = np.where((after.sum(1) > 0) & (before.sum(1) > 0), 1.0 - cosine, 0.0)
    return features


def _phase_features(beats: np.ndarray, notes: Notes, beats_per_bar: int) -> np.ndarray:
    """float (beats_per_bar, 8): evidence for each bar phase, scored by `_WEIGHTS`.

    Per phase: mean at the bar's first beat minus mean at its other beats of chord change,
    bass, kick, crash, long notes and onsets; mean at beats 2 and 4 minus mean at beats 1
    and 3 of snare and all drums. Features are log(1 + value / column mean); chord changes
    are measured over 2 beats either side.
    """
    raw = _grid_features(_subdivide(beats, 2), notes, chord_span=4)
    mean = raw.mean(0)
    features = np.log1p(raw / np.where(mean > 0, mean, 1.0))[::2]
    position = np.arange(features.shape[0])
    first = [_CHORD, _BASS, _KICK_F, _CRASH_F, _LONG, _ONSETS]
    back = [_SNARE_F, _DRUMS]
    out = np.zeros((beats_per_bar, _N_FEATURES))
    for phase in range(beats_per_bar):
        r = (position - phase) % beats_per_bar
        one = features[r == 0][:, first].mean(0) - features[r != 0][:, first].mean(0)
        backbeat = features[r % 2 == 1][:, back].mean(0) - features[r % 2 == 0][:, back].mean(0)
        out[phase] = np.concatenate([one, backbeat])
    return np.nan_to_num(out)
