"""Metrics on hand-built pianorolls whose values are known in closed form."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from musegan import config
from musegan import metrics

PARAMS = config.load_params()           # Drums, Piano, Guitar, Bass, Strings; 12 steps/beat
DRUMS, PIANO, GUITAR, BASS, STRINGS = range(5)
LOW = 24                                # MIDI pitch of row 0 (C1)
C_MAJOR = (60, 64, 67)
F_SHARP_MAJOR = (66, 70, 73)


def phrases(n=1, n_bars=4, beat_resolution=12, n_pitches=84, n_tracks=5):
    return np.zeros((n, n_bars, 4 * beat_resolution, n_pitches, n_tracks), dtype=bool)


def play(x, track, pitches, start, length, phrase=0, bar=0):
    """Hold MIDI `pitches` from step `start` of `bar` for `length` steps (may cross bar lines)."""
    n_steps = x.shape[2]
    flat = x[phrase].reshape(-1, x.shape[3], x.shape[4])   # a view: (n_bars * n_steps, ...)
    t0 = bar * n_steps + start
    for p in pitches:
        flat[t0:t0 + length, p - LOW, track] = True
    return x


# --------------------------------------------------------------------------- UPC, EB


def test_c_major_triad_held_a_bar_uses_three_pitch_classes():
    x = play(phrases(n_bars=1), PIANO, C_MAJOR, 0, 48)
    assert metrics.used_pitch_classes(x, LOW)[PIANO] == 3


def test_octave_doublings_count_once_and_empty_bars_count_zero():
    x = play(phrases(n_bars=2), PIANO, C_MAJOR + (48, 72, 79), 0, 48)   # C E G, plus C C G again
    assert metrics.used_pitch_classes(x, LOW)[PIANO] == 1.5             # (3 + 0) / 2 bars
    assert metrics.used_pitch_classes(x, LOW, nonempty_only=True)[PIANO] == 3
    assert math.isnan(metrics.used_pitch_classes(x, LOW, nonempty_only=True)[GUITAR])


def test_empty_bar_rate_of_a_half_empty_set():
    x = phrases(n=2)
    for phrase in range(2):
        for bar in (0, 1):                                   # piano: first half of each phrase
            play(x, PIANO, (60,), 5, 10, phrase, bar)
        for bar in range(4):
            play(x, BASS, (36,), 0, 12, phrase, bar)
    eb = metrics.empty_bar_rate(x)
    assert eb[PIANO] == 50 and eb[BASS] == 0 and eb[GUITAR] == 100


# --------------------------------------------------------------------------- QN


def test_qn_threshold_is_a_32nd_note_rounded_up():
    assert metrics.qn_threshold(24) == 3 and metrics.qn_threshold(12) == 2 and metrics.qn_threshold(48) == 6


@pytest.mark.parametrize("length, qualified", [(1, 0), (2, 100), (5, 100)])
def test_qualified_note_at_12_steps_per_beat(length, qualified):
    x = play(phrases(), GUITAR, (60,), 10, length)
    assert metrics.qualified_note_rate(x, 12)[GUITAR] == qualified


def test_qualified_note_at_24_steps_per_beat_needs_three_steps():
    x = phrases(beat_resolution=24)
    play(x, BASS, (40,), 0, 2)
    play(x, BASS, (40,), 10, 3)
    assert metrics.qualified_note_rate(x, 24)[BASS] == 50


def test_note_across_a_bar_line_is_one_note_and_a_run_cut_at_the_end_keeps_its_steps():
    x = play(phrases(), PIANO, (60,), 47, 2)            # last step of bar 0 + first of bar 1
    c = metrics.counts(x, 12, LOW, PARAMS["is_drums"])
    assert c.notes[PIANO] == 1 and c.qualified_notes[PIANO] == 1
    y = play(phrases(), PIANO, (60,), 47, 1, bar=3)     # one step at the phrase's very end
    assert metrics.qualified_note_rate(y, 12)[PIANO] == 0


def test_repeated_notes_are_distinct_only_with_a_gap():
    x = phrases()
    play(x, PIANO, (60,), 0, 4)
    play(x, PIANO, (60,), 5, 4)        # one-step rest: a second note
    play(x, PIANO, (60,), 9, 4)        # touches the previous one: the same note
    assert metrics.counts(x, 12, LOW, PARAMS["is_drums"]).notes[PIANO] == 2


# --------------------------------------------------------------------------- DP


def test_drum_grid_mask_keeps_the_tolerance_a_fraction_of_a_16th():
    m24 = metrics.drum_grid_mask(24)                    # 16ths every 6 steps, +-1 step
    assert m24.shape == (96,) and set(np.flatnonzero(m24) % 6) == {0, 1, 5}
    assert m24.sum() == 48
    m12 = metrics.drum_grid_mask(12)                    # 16ths every 3 steps, on the grid only
    assert np.array_equal(np.flatnonzero(m12), np.arange(0, 48, 3))
    assert set(np.flatnonzero(metrics.drum_grid_mask(48)) % 12) == {0, 1, 2, 10, 11}


def test_drum_hit_one_step_off_counts_a_hit_between_grid_points_does_not():
    x = phrases(beat_resolution=24)
    play(x, DRUMS, (36,), 12, 1)       # on the grid
    play(x, DRUMS, (38,), 19, 1)       # 1 step after the 16th at 18: tolerated
    play(x, DRUMS, (42,), 29, 1)       # 1 step before the 16th at 30: tolerated
    play(x, DRUMS, (42,), 39, 1)       # middle between 36 and 42: not
    assert metrics.drum_pattern_rate(x, 24)[DRUMS] == 75


def test_drum_hit_one_step_off_at_12_steps_per_beat_is_off_the_grid():
    x = phrases()
    play(x, DRUMS, (36,), 0, 1, bar=2)
    play(x, DRUMS, (36,), 7, 1, bar=2)            # 1 step = 1/3 of a 16th late
    assert metrics.drum_pattern_rate(x, 12)[DRUMS] == 50


def test_a_held_drum_hit_is_one_onset():
    x = play(phrases(), DRUMS, (36,), 1, 3)       # onset off the grid, held across a grid point
    assert metrics.drum_pattern_rate(x, 12)[DRUMS] == 0


# --------------------------------------------------------------------------- TD


def test_identical_chords_have_tonal_distance_zero():
    x = phrases()
    for t in (PIANO, GUITAR, STRINGS):
        play(x, t, C_MAJOR, 0, 96)
    play(x, BASS, (36, 40, 43), 0, 96)           # same chord two octaves down
    td = metrics.tonal_distance(x, 12, PARAMS["is_drums"])
    assert np.allclose(td, 0)


def test_c_major_against_f_sharp_major_closed_form():
    # Centroid of a triad {a, b, c}, chroma 1/3 each: (1/3) sum_k r (sin k w, cos k w) per
    # subspace. C major = pitch classes 0, 4, 7:
    #   fifths  (w = 7pi/6): angles 0, 14pi/3 = 2pi/3 (+4pi), 49pi/6 = pi/6 (+8pi)
    #                        -> (1/3)(0 + sqrt3/2 + 1/2, 1 - 1/2 + sqrt3/2) = ((sqrt3+1)/6)(1, 1)
    #   m3rds   (w = 3pi/2): angles 0, 6pi, 21pi/2 = pi/2 (+10pi) -> (1/3)(1, 2)
    #   M3rds   (w = 2pi/3, r3 = 1/2): irrelevant below
    # F# major (6, 10, 1) is C major + 6 semitones: angle + 6w = +7pi, +9pi, +4pi, i.e. the
    # fifths and minor-thirds parts flip sign and the major-thirds part stays. Distance:
    # 2 * |(fifths, m3rds) of C major|.
    a = (math.sqrt(3) + 1) / 6
    expected = 2 * math.sqrt(2 * a * a + 5 / 9)
    assert expected == pytest.approx(1.97000, abs=1e-5)
    x = phrases()
    play(x, PIANO, C_MAJOR, 0, 192)
    play(x, GUITAR, F_SHARP_MAJOR, 0, 192)
    td = metrics.tonal_distance(x, 12, PARAMS["is_drums"])
    pairs = metrics.track_pairs(5, PARAMS["is_drums"])
    assert td[pairs.index((PIANO, GUITAR))] == pytest.approx(expected, abs=1e-9)
    assert math.isnan(td[pairs.index((PIANO, BASS))])     # the bass never sounds: no beats


def test_td_averages_only_beats_where_both_tracks_sound():
    x = phrases()
    play(x, PIANO, C_MAJOR, 0, 192)
    play(x, GUITAR, F_SHARP_MAJOR, 0, 12)                 # one beat against C major
    play(x, GUITAR, C_MAJOR, 24, 12)                      # one identical beat
    td = metrics.tonal_distance(x, 12, PARAMS["is_drums"])[0]
    assert td == pytest.approx(1.97000 / 2, abs=1e-5)


def _triad_dataset(n, seed):
    """Per phrase a random major key; every non-drum track plays I-IV-V-I in it (own voicing)."""
    rng = np.random.default_rng(seed)
    x = phrases(n=n)
    for i, key in enumerate(rng.integers(0, 12, n)):
        for bar, degree in enumerate((0, 5, 7, 0)):
            root = 48 + (key + degree) % 12
            chord = (root, root + 4, root + 7)
            play(x, PIANO, chord, 0, 46, i, bar)
            play(x, GUITAR, (chord[1], chord[2], chord[0] + 12), 0, 34, i, bar)
            play(x, BASS, (root - 12,), 0, 46, i, bar)
            play(x, STRINGS, tuple(p + 12 for p in chord), 12, 34, i, bar)
            play(x, DRUMS, (36,), 0, 1, i, bar)
    return x


def test_shuffling_tracks_across_phrases_raises_tonal_distance():
    x = _triad_dataset(24, seed=1)
    rng = np.random.default_rng(2)
    shuffled = x.copy()
    for t in range(5):
        shuffled[..., t] = x[rng.permutation(len(x)), ..., t]
    before, after = metrics.all_metrics(x, PARAMS), metrics.all_metrics(shuffled, PARAMS)
    for pair, td in before["TD"].items():
        assert after["TD"][pair] > td + 0.3, pair
    # intra-track metrics do not see the shuffle
    for key in ("EB", "UPC", "QN", "polyphony"):
        assert before[key] == after[key]
    assert before["in_scale"]["piano"] == 100 and after["in_scale"]["piano"] < 100


# --------------------------------------------------------------------------- extras


def test_polyphony_counts_sounding_steps_only():
    x = phrases()
    play(x, PIANO, C_MAJOR, 0, 10)
    play(x, PIANO, (60,), 20, 30)
    assert metrics.polyphony_rate(x)[PIANO] == 25


def test_in_scale_rate_and_key_use_the_real_midi_pitch():
    x = phrases()
    for i, p in enumerate((60, 62, 64, 65, 67, 69, 71, 66)):     # C major scale + F#
        play(x, PIANO, (p,), 4 * i, 2)
    assert metrics.in_scale_rate(x, LOW, PARAMS["is_drums"])[PIANO] == pytest.approx(87.5)
    assert metrics.phrase_keys(x, LOW, PARAMS["is_drums"])[0] == 0   # C (G major also has F#, not F)
    # the same rows read with the lowest pitch a tone higher are in D major
    assert metrics.phrase_keys(x, LOW + 2, PARAMS["is_drums"])[0] == 2


def test_on_drums_rate_counts_notes_starting_on_a_drum_hit():
    x = phrases()
    for beat in range(4):                                        # kick on every beat of bar 0
        play(x, DRUMS, (36,), 12 * beat, 1)
    play(x, BASS, (36,), 0, 12)                                  # on the beat
    play(x, BASS, (38,), 6, 6)                                   # off the beat
    play(x, PIANO, C_MAJOR, 12, 24)                              # three notes on beat 2
    play(x, PIANO, (72,), 24, 12)                                # on beat 3
    play(x, PIANO, (74,), 30, 3)                                 # off
    rate = metrics.on_drums_rate(x, PARAMS["is_drums"])
    assert rate[BASS] == 50 and rate[PIANO] == 80 and math.isnan(rate[GUITAR])
    assert np.all(np.isnan(metrics.on_drums_rate(x, [False] * 5)))   # no drums: nothing to follow


def test_with_other_condition_swaps_in_the_part_half_the_set_away():
    x = np.random.default_rng(0).random((5, 1, 4, 3, 5)) < 0.5
    chunks = (x[i:i + 2] for i in range(0, 5, 2))
    got = np.concatenate(list(metrics.with_other_condition(chunks, x[..., PIANO], PIANO)))
    np.testing.assert_array_equal(got[..., PIANO], x[[3, 4, 0, 1, 2], ..., PIANO])   # (i - 2) % 5
    np.testing.assert_array_equal(np.delete(got, PIANO, -1), np.delete(x, PIANO, -1))
    with pytest.raises(ValueError, match="4 phrases, conditions 5"):
        list(metrics.with_other_condition([x[:4]], x[..., PIANO], PIANO))


def test_following_is_closer_with_the_own_part():
    """Phrase 0: C major piano, kick on the beats; phrase 1: F# major, kick off the beats. Each
    phrase's guitar and bass play with its own part: closer to it than to the other phrase's."""
    x = phrases(2)
    for phrase, chord, offset in ((0, C_MAJOR, 0), (1, F_SHARP_MAJOR, 6)):
        for beat in range(4):
            play(x, DRUMS, (36,), 12 * beat + offset, 1, phrase)
            play(x, GUITAR, chord, 12 * beat + offset, 4, phrase)
            play(x, BASS, (chord[0] - 24,), 12 * beat + offset, 4, phrase)
        play(x, PIANO, chord, 0, 48, phrase)
    own = metrics.all_metrics(x, PARAMS)
    for part, metric in ((DRUMS, "on_drums"), (PIANO, "TD")):
        other = metrics.all_metrics_chunks(metrics.with_other_condition([x], x[..., part], part), PARAMS)
        f = metrics.following(own, other, PARAMS, part)
        assert f["metric"] == metric
        if part == DRUMS:
            assert metrics.following_gap(f, ["guitar", "bass"]) == 100      # the held piano: 50 either way
            assert metrics.following_gap(f) == pytest.approx(200 / 3)
            assert f["own"]["guitar"] == f["own"]["bass"] == 100
            assert f["other"]["guitar"] == f["other"]["bass"] == 0
            assert set(f["own"]) == {"piano", "guitar", "bass", "strings"} and f["own"]["strings"] is None
        else:
            assert set(f["own"]) == {"guitar", "bass", "strings"} and f["own"]["strings"] is None
            assert f["own"]["guitar"] == pytest.approx(0, abs=1e-6)    # the same triad
            assert f["other"]["guitar"] > 1.5 and f["other"]["bass"] > f["own"]["bass"] + 1   # a tritone away
            assert metrics.following_gap(f) == pytest.approx(np.mean([f["other"][t] - f["own"][t]
                                                                      for t in ("guitar", "bass")]))
    assert metrics.following_gap({"metric": "TD", "own": {"bass": None}, "other": {"bass": 1.0}}) is None


# --------------------------------------------------------------------------- all_metrics


def test_all_metrics_layout():
    m = metrics.all_metrics(_triad_dataset(4, seed=0), PARAMS)
    non_drums = ["piano", "guitar", "bass", "strings"]
    assert list(m["EB"]) == ["drums"] + non_drums
    for key in ("UPC", "UPC_nonempty", "QN", "polyphony", "in_scale", "on_drums"):
        assert list(m[key]) == non_drums, key
    assert list(m["TD"]) == ["piano-guitar", "piano-bass", "piano-strings",
                             "guitar-bass", "guitar-strings", "bass-strings"]
    assert m["DP"] == 100 and m["EB"]["drums"] == 0
    assert m["UPC"]["piano"] == 3 and m["UPC"]["bass"] == 1
    assert m["info"]["n_phrases"] == 4 and m["info"]["qn_threshold_steps"] == 2


def test_all_metrics_without_drums_or_events_gives_none():
    params = dict(PARAMS, is_drums=[False] * 5)
    m = metrics.all_metrics(phrases(n=2), params)
    assert m["DP"] is None and m["QN"]["drums"] is None and m["EB"]["drums"] == 100
    assert m["on_drums"]["piano"] is None


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2 ** 32 - 1), st.integers(1, 6), st.floats(0.0, 0.3))
def test_chunks_add_up_to_the_whole(seed, chunk, density):
    rng = np.random.default_rng(seed)
    x = rng.random((7, 2, 16, 24, 3)) < density
    params = {"track_names": ["D", "A", "B"], "is_drums": [True, False, False],
              "beat_resolution": 4, "lowest_pitch": 33, "data_shape": [2, 16, 24, 3]}
    assert metrics.all_metrics(x, params, chunk_size=chunk) == metrics.all_metrics(x, params, chunk_size=7)
    # notes are the onsets of runs along the whole phrase, counted independently here
    padded = np.pad(x.reshape(7, 32, 24, 3), ((0, 0), (1, 0), (0, 0), (0, 0))).astype(np.int8)
    onsets = np.diff(padded, axis=1) == 1
    c = metrics.counts(x, 4, 33, params["is_drums"])
    assert np.array_equal(c.notes, onsets.sum(axis=(0, 1, 2)))


def test_twenty_thousand_bars_in_a_few_seconds():
    import time

    rng = np.random.default_rng(0)
    x = rng.random((500, 4, 48, 84, 5), dtype=np.float32) < 0.005   # 2,000 bars
    start = time.perf_counter()
    metrics.all_metrics(x, PARAMS)
    assert time.perf_counter() - start < 2.0        # ~0.3 s here: 20,000 bars in ~3 s
