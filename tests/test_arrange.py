"""`musegan.arrange`: the measures on phrases known by construction, sections, rests, and
the shipped piano model's band chosen for a repeated part."""
from pathlib import Path

import numpy as np
import pytest

from musegan import accompany as acc
from musegan import arrange
from musegan.arrange import AS_DRAWN, Arranging
from musegan.config import load_experiment
from musegan.music import reading
from musegan.errors import UsageError

ROOT = Path(__file__).resolve().parents[1]
PIANO = ROOT / "exp" / "accompaniment" / "piano"
_, PARAMS = load_experiment(PIANO)  # Drums, Piano (given), Guitar, Bass, Strings; 4 bars of 48 steps, 84 pitches


def phrases(n: int) -> np.ndarray:
    return np.zeros((n, 4, 48, 84, 5), dtype=bool)


def test_onsets_sixteenths_similarity_and_follows():
    x = phrases(1)
    x[0, 0, 40:48, 10, 2] = x[0, 1, 0:6, 10, 2] = True  # one note held over the bar line
    x[0, 1, 9:12, 10, 2] = True  # restruck: a second note
    on = arrange.onsets(x)
    assert on.sum() == 2 and on[0, 0, 40, 10, 2] and on[0, 1, 9, 10, 2]
    grid = arrange.sixteenths(on)
    assert grid.shape == (1, 4, 16, 84, 5) and grid[0, 0, 13, 10, 2] and grid[0, 1, 3, 10, 2] and grid.sum() == 2
    odd = np.zeros((1, 1, 24, 1), dtype=bool)  # 24 steps a bar: 16ths of 1.5 steps
    odd[0, 0, [2, 3, 23]] = True
    assert np.flatnonzero(arrange.sixteenths(odd)[0, 0, :, 0]).tolist() == [1, 2, 15]
    a = np.array([[1, 0, 1], [0, 0, 0], [1, 0, 1]])
    s = arrange.similarity(a, a[[2, 2, 1]])
    assert s[0] == pytest.approx(1.0) and np.isnan(s[1]) and np.isnan(s[2])
    assert arrange.similarity([[1, 0]], [[0, 1]])[0] == 0.0
    bars = np.array([[0, 1, 2, 3], [4, 5, 6, 7], [9, 10, -1, -1], [11, 12, 13, 14]])  # bar 8 not 4/4
    assert arrange.follows(bars).tolist() == [True, False, True]


def test_sections_repeats_and_new_sections():
    given = np.zeros((5, 4, 48, 84), dtype=bool)
    verse = (np.arange(48) % 12 < 6)[:, None] & np.isin(np.arange(84), [36, 40, 43])  # C major, on each beat
    chorus = (np.arange(48) % 6 < 2)[:, None] & np.isin(np.arange(84), [41, 45, 48])  # F major, in 8ths
    for p, part in enumerate([verse, verse, chorus, verse, verse]):
        given[p] = part
    bars = np.arange(20).reshape(5, 4)
    sec = arrange.sections(given, bars)
    assert sec.new.tolist() == [True, False, True, True, False]
    assert sec.repeats.tolist() == [-1, -1, -1, 0, 0]  # the phrase before never counts as the repeat
    gap = bars.copy()
    gap[2:] += 1  # a bar of another meter before phrase 2
    assert arrange.sections(given, gap).new.tolist() == [True, False, True, True, False]
    silent = given.copy()
    silent[1] = False
    assert arrange.sections(silent, bars).new.tolist() == [True, True, True, True, False]


def test_rests_where_the_part_thins_out_up_to_the_data_share():
    n = 10  # 40 bars
    given = np.zeros((n, 4, 48, 84), dtype=bool)
    given[:, :, ::6, 40] = True  # 8 short notes a bar
    for bar, keep in ((5, 0), (9, 2), (13, 6)):  # thinner bars: silent, 2 notes, 6 notes
        p, j = divmod(bar, 4)
        given[p, j, 6 * keep::6, 40] = False
    bars = np.arange(4 * n).reshape(n, 4)
    x = np.zeros((n, 4, 48, 84, 5), dtype=bool)
    x[:, :, ::2] = True  # notes in every bar of every track
    x[4, 0, :, :, 4] = False  # Strings already silent in bar 16
    quiet = arrange.rest_bars(x, given, bars, PARAMS, 1.0)
    where = {t: np.flatnonzero(quiet[..., t].ravel()).tolist() for t in range(5)}
    assert where[1] == []  # the given part never
    assert where[3] == [5, 9]  # Bass: round(6.0% of 40) = 2 bars, the thinnest
    assert where[4] == [5, 9, 13]  # Strings: round(10.3% of 40) = 4, one of them already silent
    assert where[0] == [5, 9]  # Drums: round(4.2% of 40) = 2
    assert where[2] == [5, 9, 13]  # Guitar: 7 wanted, but only 3 bars are thinner than usual
    assert np.flatnonzero(arrange.rest_bars(x, given, bars, PARAMS, 3.0)[..., 3].ravel()).tolist() == [5, 9, 13]
    assert not arrange.rest_bars(x, given, bars, PARAMS, 0.0).any()
    held = x.copy()
    held[1, 0, 40:, 30, 3] = held[1, 1, :6, 30, 3] = True  # a bass note held into bar 5
    held[1, 0, 40:, 30, 0] = True  # and a drum roll up to it
    rested = arrange.rest(held, given, bars, PARAMS, 1.0)
    assert not rested[1, 1, ..., 3].any() and rested[1, 0, ..., 3].any()
    assert rested[1, 0, 40:47, 30, 3].all() and not rested[1, 0, 47, 30, 3]  # ends a step before the rest
    assert rested[1, 0, 47, 30, 0]  # drum hits are not held notes
    assert np.array_equal(rested[..., 1], x[..., 1]) and not rested[2, 1, ..., 3].any()  # bar 9
    # A section's end counts; the song's last bar never, silent as the part is there.
    given[5:, :, :, 47] = given[5:, :, :, 40]
    given[5:, :, :, 40] = False
    given[-1, -1] = False
    assert arrange.sections(given, bars).new.tolist() == [True] + [False] * 4 + [True] + [False] * 4
    ends = arrange.rest_bars(x, given, bars, PARAMS, 2.0)  # Bass: round(2 x 6.0% of 40) = 5 wanted, 4 there
    assert np.flatnonzero(ends[..., 3].ravel()).tolist() == [5, 9, 13, 19]


def test_arranging_is_checked():
    assert Arranging().check() == Arranging(16, 4, 1.0)
    for bad, match in (((0, 8, 1), "--style-candidates 0"), ((8, 0, 1), "--phrase-candidates 0"),
                       ((8, 8, -1), "--rests -1"), ((8, 8, 4), "--rests 4")):
        with pytest.raises(UsageError, match=match):
            Arranging(*bad).check()
    assert AS_DRAWN.summary("style") == ""
    assert Arranging().summary("style") == (" (the style the best of 16, each phrase of 4, the drums holding each "
                                            "section's groove), rests x1")
    assert Arranging().summary("song") == ", rests x1"


# --------------------------------------------------------------------------- the shipped model


@pytest.fixture(scope="module")
def gen():
    from musegan.generate import Generator

    g = Generator(PIANO, batch_size=64)
    yield g
    g.close()


@pytest.fixture(scope="module")
def repeated():
    """The piano example's first phrase, eight times over: 32 bars of one repeated part."""
    config, params = load_experiment(PIANO)
    r = reading.read_input(ROOT / "examples" / "piano_example.mid", None, params, config, lambda line: None)
    given = np.repeat(r.conditions[:1], 8, axis=0)
    return given, np.arange(32).reshape(8, 4)


def drum_continuity(x: np.ndarray, bars: np.ndarray) -> float:
    drums, _ = arrange.Scorer(PARAMS).patterns(arrange.onsets(x))
    return float(np.nanmean(arrange.similarity(drums[:-1], drums[1:])[arrange.follows(bars)]))


def test_as_drawn_is_the_band_as_before(gen, repeated):
    from musegan.music.notes import to_notes

    given, bars = repeated
    before = to_notes(gen(acc.latents(np.random.default_rng(3), len(given), PARAMS), given), PARAMS, "hard")
    assert np.array_equal(acc.play_band(gen, given, bars, np.random.default_rng(3), arranging=AS_DRAWN), before)
    z = acc.latents(np.random.default_rng(3), len(given), PARAMS)
    assert np.array_equal(arrange.choose_latents(gen, z, given, bars, PARAMS, np.random.default_rng(0), AS_DRAWN), z)


def test_a_repeated_part_gets_a_continuing_groove(gen, repeated):
    given, bars = repeated
    drawn = acc.play_band(gen, given, bars, np.random.default_rng(0), arranging=AS_DRAWN)
    arranged = acc.play_band(gen, given, bars, np.random.default_rng(0), arranging=Arranging(rests=0))
    # as drawn 0.62 here: the drummer changes the pattern every phrase of the same part
    assert drum_continuity(arranged, bars) >= 0.8
    assert drum_continuity(arranged, bars) > drum_continuity(drawn, bars) + 0.2


def test_the_choice_is_the_same_for_a_seed(gen, repeated):
    given, bars = repeated
    z = acc.latents(np.random.default_rng(5), len(given), PARAMS)
    first = arrange.choose_latents(gen, z, given, bars, PARAMS, np.random.default_rng(5), Arranging())
    again = arrange.choose_latents(gen, z, given, bars, PARAMS, np.random.default_rng(5), Arranging())
    other = arrange.choose_latents(gen, z, given, bars, PARAMS, np.random.default_rng(6), Arranging())
    assert np.array_equal(first, again) and not np.array_equal(first, other)
    timed = arrange.time_mask(PARAMS)
    assert (first[:, ~timed] == first[:1, ~timed]).all()  # one style for the song
    assert np.array_equal(acc.play_band(gen, given, bars, np.random.default_rng(5), arranging=Arranging()),
                          acc.play_band(gen, given, bars, np.random.default_rng(5), arranging=Arranging()))
