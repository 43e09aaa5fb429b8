"""Choosing the band for a whole song at inference time (`musegan accompany`): which
latents the generator gets phrase by phrase, and the bars in which instruments rest.

The generator writes each `n_bars` phrase on its own, from its latents and the user's
phrase. Drawn at random once per song, the style latents alone decide how well the band
fits the part, and fresh time-dependent latents every phrase change the groove at every
phrase. Here, with the shipped weights as they are:

1. Style (`Arranging.style_candidates`, K). K song-level styles — the time-independent
   latents (the paper's z and z_i); the first is the one `--latents style` draws — each
   play the song's first `STYLE_PHRASES` phrases. The one whose phrases score best (fit and
   texture, `Scorer.score`, plus how steadily its drums hold from phrase to phrase)
   plays the song.
2. Groove (`Arranging.phrase_candidates`, M). The drummer holds each section's groove
   (`perform`): in all bars of a phrase but its last (where phrases turn: the fill) the
   drums are those its latents play to the first phrase of its section (`sections`,
   `drum_sources`), the rest of the band follows the phrase itself. Phrase by phrase, M
   candidates for the time-dependent latents (z_t, z_i,t) — the ones `--latents style`
   draws and M - 1 correlated (`RHO`) with the song's groove (those of the chosen style
   candidate) — are generated in one batch; in order, the candidate kept is the one that
   scores best on fit and texture plus the similarity of its drum pattern and band rhythm
   to the phrase before (`DRUMS`, `RHYTHM`; `NEW_SECTION` of it where the user's part
   starts a new section) and, where the user's phrase repeats an earlier one (a verse, a
   chorus), to that one's, so the band comes back too, varied.
3. Rests (`Arranging.rests`). Each generated track is made silent in the bars where the
   user's part thins out most or a section ends (not the song's last bar), until it rests
   in `rests` times the share of bars it rests in the training data (`REST_SHARES`; bars
   it is already silent in count). `rests` 0 leaves every bar as generated.

`Arranging(1, 1, 0)` (`AS_DRAWN`) is the band as drawn, bit for bit. Every draw comes from
the seeded random generator passed in, so a seed reproduces the band.

The measures (`onsets`, `sixteenths`, `similarity`, `follows`) are the ones `musegan
describe` and bench/groove.py report: a phrase's drum pattern is its drum onsets on a 16th
grid, each drum sound (pitch) apart; its band rhythm the onsets of the pitched generated
tracks on that grid, track by track, any pitch.
"""
from dataclasses import dataclass
from typing import Callable, Optional, Tuple

import numpy as np

from musegan.config import condition_index
from musegan.errors import UsageError
from musegan.music.notes import to_notes
from musegan.nets.spec import latent_slices

__all__ = ["Arranging", "AS_DRAWN", "Scorer", "Sections", "choose_latents", "drum_sources", "follows", "onsets",
           "perform", "play_song", "rest", "rest_bars", "sections", "similarity", "sixteenths", "time_mask",
           "REST_SHARES", "TEXTURE_NOTES"]

# Phrases each candidate style plays before the choice: the song's first 16 bars.
STYLE_PHRASES = 4
# Correlation of a candidate's time-dependent latents with the song's groove.
RHO = 0.7
# Score weights: fit (share of notes in the part's harmony, share starting with a note of
# it: 1 each), texture, drum-pattern and band-rhythm similarity to the phrase continued,
# and the style's steadiness (drum-pattern similarity between its own first phrases).
TEXTURE, DRUMS, RHYTHM, STEADY = 0.5, 3.0, 1.0, 2.0
# Where the user's part starts a new section, continuing the previous phrase counts this much.
NEW_SECTION = 1 / 3
# User phrases this alike (pitch classes and rhythm, cosine) repeat; less alike than
# NEW_AT, the phrase starts a new section.
REPEAT_AT, NEW_AT = 0.95, 0.6
# The training data (RWC pop, rock and dance, 4-bar phrases): notes per bar in the bars a
# track plays (median), and the share of bars in which none of its notes starts (`python bench/groove.py`
# measures both on the experiment's training phrases).
TEXTURE_NOTES = {"drums": 17.0, "piano": 13.0, "guitar": 15.0, "bass": 7.0, "strings": 10.0}
REST_SHARES = {"drums": 0.042, "piano": 0.291, "guitar": 0.168, "bass": 0.060, "strings": 0.103}
# `--rests` at most: three times the data's rests.
MAX_RESTS = 3.0
# A section's end counts as this much thinning of the user's part when placing rests.
SECTION_END = 0.5


@dataclass(frozen=True)
class Arranging:
    """How `musegan accompany` chooses the band: style candidates, phrase candidates (1 each:
    as drawn) and rests (a multiple of the data's share of silent bars; 0: none)."""

    style_candidates: int = 16
    phrase_candidates: int = 4
    rests: float = 1.0

    def check(self) -> "Arranging":
        if self.style_candidates < 1:
            raise UsageError(f"--style-candidates {self.style_candidates}: must be at least 1")
        if self.phrase_candidates < 1:
            raise UsageError(f"--phrase-candidates {self.phrase_candidates}: must be at least 1")
        if not 0 <= self.rests <= MAX_RESTS:
            raise UsageError(f"--rests {self.rests:g}: must be between 0 (the band plays every bar) and "
                             f"{MAX_RESTS:g} ({MAX_RESTS:g} times as many silent bars as the songs the model "
                             "learned from)")
        return self

    def summary(self, how: str) -> str:
        """What `musegan accompany` says of it after the latents' description (`how`), e.g.
        ' (the style the best of 16, each phrase of 4, the drums holding each section's
        groove), rests x1'."""
        chosen = []
        if how == "style" and self.style_candidates > 1:
            chosen.append(f"the style the best of {self.style_candidates}")
        if how == "style" and self.phrase_candidates > 1:
            chosen.append(f"each phrase of {self.phrase_candidates}, the drums holding each section's groove")
        return (f" ({', '.join(chosen)})" if chosen else "") + (f", rests x{self.rests:g}" if self.rests > 0 else "")


AS_DRAWN = Arranging(1, 1, 0.0)


# --------------------------------------------------------------------------- measures


def onsets(x: np.ndarray) -> np.ndarray:
    """Note starts in bool phrases `(n, n_bars, n_steps, ...)`: steps that sound where the step
    before (in the phrase, across bar lines) does not."""
    flat = x.reshape(x.shape[0], -1, *x.shape[3:])
    on = flat.copy()
    on[:, 1:] &= ~flat[:, :-1]
    return on.reshape(x.shape)


def sixteenths(x: np.ndarray) -> np.ndarray:
    """Bool `(n, n_bars, n_steps, ...)` -> `(n, n_bars, 16, ...)`: whether each 16th of the bar
    holds a True step (the steps of a bar split into 16 runs in order)."""
    n_steps = x.shape[2]
    starts = np.flatnonzero(np.diff(np.arange(n_steps) * 16 // n_steps, prepend=-1))
    return np.maximum.reduceat(x, starts, axis=2)


def similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of the rows of `(n, d)` arrays; NaN where either row is all zero."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norms > 0, (a * b).sum(1) / norms, np.nan)


def follows(bars: np.ndarray) -> np.ndarray:
    """`(n_phrases - 1,)` bool: phrase p + 1 starts the bar after phrase p's last, given where
    the phrases lie (`bars[p, j]`: the song bar of phrase p's bar j, -1 padding)."""
    last = np.where(bars >= 0, bars, -2).max(1)
    return bars[1:, 0] == last[:-1] + 1


def time_mask(params: dict) -> np.ndarray:
    """Bool `(latent_size,)`: the time-dependent latents (z_t, z_i,t)."""
    slices = latent_slices(params)
    mask = np.zeros(sum(b - a for kind in slices.values() for a, b in kind), dtype=bool)
    for kind in ("z_t", "z_it"):
        for a, b in slices.get(kind, []):
            mask[a:b] = True
    return mask


class Scorer:
    """Scores and patterns of band phrases `(n, n_bars, n_steps, n_pitches, n_tracks)` (bool;
    the condition track is ignored) for the user's phrases `(n, n_bars, n_steps, n_pitches)`."""

    def __init__(self, params: dict):
        c = condition_index(params)
        self.generated = [t for t in range(params["data_shape"][3]) if t != c]
        drums = [t for t in self.generated if params["is_drums"][t]]
        self.drums = drums[0] if drums else None
        self.pitched = [t for t in self.generated if not params["is_drums"][t]]
        self.harmony = not params["is_drums"][c]  # a drum part has no harmony to fit
        names = [params["track_names"][t].lower() for t in self.generated]
        self.texture = np.array([TEXTURE_NOTES.get(n, np.nan) for n in names])

    def fit(self, on: np.ndarray, given: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per phrase `(n,)` counts of the pitched generated notes (`on`: the band's `onsets`):
        those whose pitch class the given part sounds in that beat, those starting within a
        32nd of one of its notes, and all."""
        on = on[..., self.pitched]
        n, n_bars, n_steps, n_pitches = given.shape
        per_beat = on.reshape(n, n_bars, 4, n_steps // 4, n_pitches, -1).sum(axis=(3, 5))
        given_pcs = _pitch_classes(given.reshape(n, n_bars, 4, n_steps // 4, n_pitches).any(3)) > 0
        in_harmony = (_pitch_classes(per_beat) * given_pcs).sum(axis=(1, 2, 3)) if self.harmony else np.zeros(n)
        starts = onsets(given).any(3).reshape(n, -1)
        near = starts.copy()
        for shift in range(1, max(1, n_steps // 32) + 1):  # a 32nd either side
            near[:, shift:] |= starts[:, :-shift]
            near[:, :-shift] |= starts[:, shift:]
        per_step = on.sum(axis=(3, 4)).reshape(n, -1)
        return in_harmony, (per_step * near).sum(1), per_step.sum(1)

    def score(self, on: np.ndarray, given: np.ndarray, played: np.ndarray) -> np.ndarray:
        """`(n,)`: fit (shares of the notes in the given harmony and with its onsets, 0..2)
        minus TEXTURE x the mean |log| ratio of each track's notes per bar to the data's.
        `on`: the band's `onsets`; `played` bool `(n, n_bars)`: the bars that are not padding."""
        in_harmony, with_onsets, notes = self.fit(on, given)
        fit = (in_harmony * self.harmony + with_onsets) / np.maximum(notes, 1)
        if not np.isfinite(self.texture).any():
            return fit
        per_bar = on[..., self.generated].sum(axis=(1, 2, 3)) / np.maximum(played.sum(1), 1)[:, None]
        return fit - TEXTURE * np.nanmean(np.abs(np.log((per_bar + 1) / (self.texture + 1))), axis=1)

    def patterns(self, on: np.ndarray) -> Tuple[Optional[np.ndarray], np.ndarray]:
        """(drum patterns bool `(n, n_bars * 16 * n_pitches)`, None without a drum track; band
        rhythms bool `(n, n_bars * 16 * n_pitched)`) of the band's `onsets`."""
        n = len(on)
        drums = None if self.drums is None else sixteenths(on[..., self.drums]).reshape(n, -1)
        return drums, sixteenths(on[..., self.pitched].any(3)).reshape(n, -1)

    def continuity(self, drums: Optional[np.ndarray], rhythm: np.ndarray, p: int, q: int, m: int) -> np.ndarray:
        """`(n,)`: DRUMS x drum-pattern plus RHYTHM x band-rhythm similarity of phrase p's n
        candidates to phrase q's candidate m, given their patterns `(n_phrases, n, d)`,
        silence counting as 0."""
        def alike(a: np.ndarray) -> np.ndarray:
            return np.nan_to_num(similarity(a[p], np.broadcast_to(a[q, m], a[p].shape)))

        return RHYTHM * alike(rhythm) + (0.0 if drums is None else DRUMS * alike(drums))


def _pitch_classes(x: np.ndarray) -> np.ndarray:
    """`(..., n_pitches)` -> `(..., 12)` summed over octaves, classes counted from the roll's
    lowest pitch (what is compared shares the roll)."""
    n = x.shape[-1]
    padded = np.zeros(x.shape[:-1] + (-(-n // 12) * 12,), dtype=np.int64)
    padded[..., :n] = x
    return padded.reshape(*x.shape[:-1], -1, 12).sum(-2)


# --------------------------------------------------------------------------- sections


@dataclass
class Sections:
    """The user's phrases as a song's sections: `new[p]` (phrase p starts a section: the
    first, after unaccompanied bars, or unlike the phrase before) and `repeats[p]` (an
    earlier phrase, not the one before, that phrase p repeats; -1 for none)."""

    new: np.ndarray  # bool (n_phrases,)
    repeats: np.ndarray  # int (n_phrases,)


def sections(given: np.ndarray, bars: np.ndarray) -> Sections:
    """Sections of the user's phrases `(n, n_bars, n_steps, n_pitches)` lying at `bars`: two
    phrases are alike by the smaller of the cosines of their pitch classes (sounding steps)
    and of their rhythms (onsets per 16th of the bar, summed over the bars)."""
    n = len(given)
    chroma = _pitch_classes(given.sum(axis=(1, 2)))
    rhythm = sixteenths(onsets(given).any(3)).sum(1)
    alike = np.minimum(_cosines(chroma), _cosines(rhythm))  # a silent phrase is alike nothing
    new = np.ones(n, dtype=bool)
    new[1:] = ~follows(bars) | (np.diagonal(alike, 1) < NEW_AT)
    repeats = np.full(n, -1)
    for p in range(2, n):
        q = int(np.argmax(alike[p, :p - 1]))
        if alike[p, q] >= REPEAT_AT:
            repeats[p] = q
    return Sections(new, repeats)


def _cosines(v: np.ndarray) -> np.ndarray:
    """`(n, n)` cosine similarities of the rows of `(n, d)`; 0 with a row of zeros."""
    v = v.astype(np.float64)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    unit = np.divide(v, norms, out=np.zeros_like(v), where=norms > 0)
    return unit @ unit.T


# --------------------------------------------------------------------------- choosing


Play = Callable[[np.ndarray, np.ndarray], np.ndarray]
# Candidate phrases generated and scored at a time (bounds memory: each is 320 KB raw).
CHUNK = 256


def play_song(play: Play, z: np.ndarray, given: np.ndarray, bars: np.ndarray, params: dict,
              rng: np.random.Generator, arranging: Arranging, how: str = "style") -> np.ndarray:
    """The generator's raw output `(n_phrases, n_bars, n_steps, n_pitches, n_tracks)` for the
    song: latents `z` as `latents(how)` drew them, for `style` chosen (`choose_latents`) and,
    with phrase candidates, the drums holding each section's groove (`perform`)."""
    hold = how == "style" and arranging.phrase_candidates > 1
    if how == "style":
        z = choose_latents(play, z, given, bars, params, rng, arranging)
    sources = drum_sources(given, bars) if hold else None
    return perform(play, z, given, np.arange(len(z)), sources, Scorer(params).drums)


def drum_sources(given: np.ndarray, bars: np.ndarray) -> np.ndarray:
    """`(n_phrases,)`: the first phrase of each phrase's section (`sections`)."""
    new = sections(given, bars).new
    return np.maximum.accumulate(np.where(new, np.arange(len(new)), 0))


def perform(play: Play, z: np.ndarray, given: np.ndarray, phrases: np.ndarray, sources: Optional[np.ndarray],
            drums: Optional[int]) -> np.ndarray:
    """`play(z, given[phrases])`; with `sources` (`drum_sources`) and a drum track `drums`,
    the drummer holds the section's groove: a phrase's drums but for its last bar (where
    phrases turn: the fill) are those the same latents play to its section's first phrase."""
    raw = play(z, given[phrases])
    if sources is None or drums is None:
        return raw
    rows = np.flatnonzero(sources[phrases] != phrases)
    if len(rows):
        raw[rows, :-1, ..., drums] = play(z[rows], given[sources[phrases[rows]]])[:, :-1, ..., drums]
    return raw


def choose_latents(play: Play, z: np.ndarray, given: np.ndarray, bars: np.ndarray, params: dict,
                   rng: np.random.Generator, arranging: Arranging) -> np.ndarray:
    """The latents `(n_phrases, latent_size)` that play the song: `z` (as `--latents style`
    draws them) with the style and each phrase's time-dependent latents chosen as the module
    docstring says. `play(z, given)` is the generator's raw output for latents and user's
    phrases `(n, n_bars, n_steps, n_pitches)`; `bars` where the phrases lie (`follows`)."""
    z = np.array(z, dtype=np.float32)
    n, timed = len(z), time_mask(params)
    k, m = arranging.style_candidates, arranging.phrase_candidates
    if not timed.any():  # a model without time-dependent latents has only its style to choose
        m = 1
    scorer = Scorer(params)
    sources = drum_sources(given, bars) if m > 1 else None
    noise = rng.standard_normal((n, m - 1, int(timed.sum()))).astype(np.float32)
    groove = z[0, timed]  # what the candidates' time-dependent latents lie around
    if k > 1 and (~timed).any():
        f = min(STYLE_PHRASES, n)
        styles = np.concatenate([z[:1, ~timed], rng.standard_normal((k - 1, int((~timed).sum())))])
        grooves = np.concatenate([z[:1, timed], rng.standard_normal((k - 1, int(timed.sum())))])
        trial = np.repeat(z[None, :f], k, axis=0)  # (k, f, latent_size)
        trial[:, :, ~timed] = styles[:, None]
        if m > 1:  # each style with its own groove, played as the phrase candidates would be
            trial[:, :, timed] = _around(grooves[:, None], noise[None, :f, 0])
        scores, drums, _ = _features(play, trial.reshape(k * f, -1), np.tile(np.arange(f), k), given, bars, params,
                                     scorer, sources)
        pairs = np.flatnonzero(follows(bars[:f]))
        steady = np.zeros(k)
        if drums is not None and len(pairs):
            drums = drums.reshape(k, f, -1)
            steady = np.array([np.nan_to_num(similarity(d[pairs], d[pairs + 1])).mean() for d in drums])
        best = int(np.argmax(scores.reshape(k, f).mean(1) + STEADY * steady))
        z[:, ~timed] = styles[best]
        groove = grooves[best]
    if m > 1:
        candidates = np.repeat(z[:, None], m, axis=1)  # (n, m, latent_size); candidate 0 as drawn
        candidates[:, 1:, timed] = _around(groove, noise)
        scores, drums, rhythm = _features(play, candidates.reshape(n * m, -1), np.repeat(np.arange(n), m),
                                          given, bars, params, scorer, sources)
        reshape = (lambda a: None if a is None else a.reshape(n, m, -1))
        picks = _pick(scores.reshape(n, m), reshape(drums), reshape(rhythm), given, bars, scorer)
        z[:, timed] = candidates[np.arange(n), picks][:, timed]
    return z


def _around(groove: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """Time-dependent latents correlated RHO with `groove`, still standard normal."""
    return (RHO * groove + np.sqrt(1 - RHO ** 2) * noise).astype(np.float32)


def _features(play: Play, z: np.ndarray, phrases: np.ndarray, given: np.ndarray, bars: np.ndarray, params: dict,
              scorer: Scorer, sources: Optional[np.ndarray]) -> Tuple[np.ndarray, Optional[np.ndarray], np.ndarray]:
    """`Scorer.score` `(len(z),)` and `Scorer.patterns` of the band that latents `z` play
    over the user's phrases `given[phrases]` (`perform`), generated CHUNK at a time."""
    played = bars >= 0
    scores, drums, rhythm = [], [], []
    for start in range(0, len(z), CHUNK):
        idx = phrases[start:start + CHUNK]
        raw = perform(play, z[start:start + CHUNK], given, idx, sources, scorer.drums)
        x = to_notes(raw, params, "hard") & played[idx][:, :, None, None, None]
        on = onsets(x)
        scores.append(scorer.score(on, given[idx], played[idx]))
        d, r = scorer.patterns(on)
        drums.append(d)
        rhythm.append(r)
    return (np.concatenate(scores), None if scorer.drums is None else np.concatenate(drums),
            np.concatenate(rhythm))


def _pick(scores: np.ndarray, drums: Optional[np.ndarray], rhythm: np.ndarray, given: np.ndarray,
          bars: np.ndarray, scorer: Scorer) -> np.ndarray:
    """`(n_phrases,)` the candidate kept for each phrase, in order: the best `scores[p]` plus
    continuity with the phrase before (NEW_SECTION of it at a new section) and with the
    phrase this one repeats."""
    sec = sections(given, bars)
    after = np.append(False, follows(bars))
    picks = np.zeros(len(scores), dtype=np.int64)
    for p in range(len(scores)):
        total = scores[p].copy()
        if after[p]:
            total += (NEW_SECTION if sec.new[p] else 1.0) * scorer.continuity(drums, rhythm, p, p - 1, picks[p - 1])
        q = sec.repeats[p]
        if q >= 0:
            total += scorer.continuity(drums, rhythm, p, q, picks[q])
        picks[p] = int(np.argmax(total))
    return picks


# --------------------------------------------------------------------------- rests


def rest_bars(x: np.ndarray, given: np.ndarray, bars: np.ndarray, params: dict, rests: float) -> np.ndarray:
    """Bool `(n_phrases, n_bars, n_tracks)`: the bars in which each generated track of the band
    phrases `x` is to rest (see the module docstring)."""
    n_tracks = x.shape[-1]
    out = np.zeros(bars.shape + (n_tracks,), dtype=bool)
    played = bars >= 0
    if rests <= 0 or not played.any():
        return out
    density = onsets(given).sum(axis=(2, 3)).astype(np.float64)  # the user's notes per bar
    usual = np.median(density[played & (density > 0)]) if (density[played] > 0).any() else 1.0
    thin = np.clip(1 - density / usual, 0, 1)
    sec = sections(given, bars)
    ends = np.zeros(bars.shape, dtype=bool)
    for p in np.flatnonzero(sec.new[1:]):  # the last bar of the phrase before a new section
        ends[p, np.flatnonzero(played[p])[-1]] = True
    score = np.where(played, thin + SECTION_END * ends, 0.0)
    last = np.unravel_index(np.argmax(np.where(played, bars, -1)), bars.shape)
    score[last] = 0.0  # the band ends with the song
    order = np.argsort(-score, axis=None, kind="stable")
    order = order[score.ravel()[order] > 0]
    silent = ~onsets(x).any(axis=(2, 3)) & played[..., None]  # (n, bars, tracks)
    c = condition_index(params)
    for t in range(n_tracks):
        if t == c:
            continue
        share = rests * REST_SHARES.get(params["track_names"][t].lower(), 0.0)
        already = silent[..., t].ravel()
        need = int(round(share * played.sum())) - int(already.sum())
        flags = np.zeros(bars.size, dtype=bool)
        flags[order[~already[order]][:max(need, 0)]] = True
        out[..., t] = flags.reshape(bars.shape)
    return out


def rest(x: np.ndarray, given: np.ndarray, bars: np.ndarray, params: dict, rests: float) -> np.ndarray:
    """The band phrases `x` (bool `(n, n_bars, n_steps, n_pitches, n_tracks)`) with the
    `rest_bars` silent. A pitched note held into a rest bar loses its step before the bar line,
    as `accompany.band_roll` does before unaccompanied bars: written out
    (`pianoroll.roll_to_tracks` gives every note one step more) it ends at the bar line."""
    quiet = rest_bars(x, given, bars, params, rests)
    if not quiet.any():
        return x
    x = x & ~quiet[:, :, None, None, :]
    flat_bars, flat_quiet = bars.ravel(), quiet.reshape(-1, quiet.shape[-1])
    before = np.flatnonzero(flat_bars[1:] == flat_bars[:-1] + 1)  # bar i is followed by bar i + 1
    n_bars = bars.shape[1]
    for t in np.flatnonzero(~np.asarray(params["is_drums"])):
        for i in before[flat_quiet[before + 1, t] & ~flat_quiet[before, t]]:
            x[i // n_bars, i % n_bars, -1, :, t] = False
    return x
