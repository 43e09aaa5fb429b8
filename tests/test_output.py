import numpy as np
import pytest

from musegan import config as cfg
from musegan.errors import ConfigError
from musegan.music.notes import binarize, to_notes


def _raw(seed=0, shape=(3, 2, 8, 24, 5)):
    return np.random.default_rng(seed).uniform(-1, 1, shape).astype(np.float32)


def test_hard_and_bernoulli_without_rules():
    x = _raw()
    np.testing.assert_array_equal(binarize(x, "hard"), x > 0)
    b = binarize(x, "bernoulli", np.random.default_rng(1))
    assert b[x > 0.99].mean() > 0.95 and b[x < -0.99].mean() < 0.05


def _note_strengths(notes, x):
    """Slow reference: each step's mean output over its note (run of active steps of one
    pitch across the phrase's bars), -inf where silent. `(n, n_bars, n_steps, n_pitches)`."""
    n, n_bars, n_steps, n_pitches = notes.shape
    s, v = notes.reshape(n, -1, n_pitches), x.reshape(n, -1, n_pitches)
    out = np.full(s.shape, -np.inf)
    for i in range(n):
        for p in range(n_pitches):
            t = 0
            while t < s.shape[1]:
                if s[i, t, p]:
                    end = t
                    while end < s.shape[1] and s[i, end, p]:
                        end += 1
                    out[i, t:end, p] = v[i, t:end, p].mean()
                    t = end
                else:
                    t += 1
    return out.reshape(notes.shape)


@pytest.mark.parametrize("mode", ["hard", "bernoulli"])
def test_monophonic_track_keeps_its_strongest_sounding_note(mode):
    x = _raw()
    poly = binarize(x, mode, np.random.default_rng(2))
    mono = binarize(x, mode, np.random.default_rng(2), monophonic=(3,))
    assert (poly[..., 3].sum(-1) > 1).any()  # the test input has chords to thin
    np.testing.assert_array_equal(np.delete(mono, 3, -1), np.delete(poly, 3, -1))
    assert (mono[..., 3] <= poly[..., 3]).all()
    # every step that sounded still sounds, with exactly one pitch: the one whose note is strongest
    np.testing.assert_array_equal(mono[..., 3].sum(-1), poly[..., 3].any(-1))
    strongest = _note_strengths(poly[..., 3], x[..., 3]).argmax(-1)
    sounding = poly[..., 3].any(-1)
    np.testing.assert_array_equal(mono[..., 3].argmax(-1)[sounding], strongest[sounding])
    assert (strongest != np.where(poly[..., 3], x[..., 3], -np.inf).argmax(-1))[sounding].any()


def test_a_held_octave_stays_one_note_and_a_stronger_short_note_still_wins():
    x = -np.ones((1, 2, 4, 24, 1), np.float32)
    x[0, :, :, 0, 0] = [[0.5, 0.1, 0.5, 0.1], [0.5, 0.1, 0.5, 0.1]]  # a low C over both bars
    x[0, :, :, 12, 0] = [[0.2, 0.35, 0.2, 0.35], [0.2, 0.35, 0.2, 0.35]]  # its octave: stronger at odd steps, weaker as a note
    pitches = lambda notes: notes[0, ..., 0].reshape(8, 24).argmax(-1).tolist()
    assert pitches(binarize(x, "hard", monophonic=(0,))) == [0] * 8  # per step it would flip 0, 12, 0, ...
    x[0, 0, 2:4, 7, 0] = 0.9  # a short, strong G in the middle of the held C
    assert pitches(binarize(x, "hard", monophonic=(0,))) == [0, 0, 7, 7, 0, 0, 0, 0]


def test_to_notes_applies_the_params_rules():
    x = _raw()
    params = cfg.load_params(overrides={"monophonic_tracks": ["bass", "Strings"]})
    notes = to_notes(x, params)
    assert notes[..., 3].sum(-1).max() == 1 and notes[..., 4].sum(-1).max() == 1
    assert notes[..., 2].sum(-1).max() > 1
    np.testing.assert_array_equal(to_notes(x, cfg.load_params()), x > 0)


@pytest.mark.parametrize("overrides, message", [
    ({"monophonic_tracks": ["Tuba"]}, "entry 'Tuba' is not a track"),
    ({"monophonic_tracks": ["drums"]}, "is a drum track"),
    ({"monophonic_tracks": ["Piano"], "condition_track": "piano"}, "is the condition track"),
])
def test_monophonic_tracks_are_checked(overrides, message):
    with pytest.raises(ConfigError, match=message):
        cfg.load_params(overrides=overrides)


def test_equal_outputs_keep_the_lowest_pitch():
    x = -np.ones((1, 1, 2, 12, 1), np.float32)
    x[0, 0, :, [4, 7, 11], 0] = 1.0  # binary neurons: every sounding pitch at 1
    notes = binarize(x, "hard", monophonic=(0,))
    assert notes[0, 0, :, :, 0].nonzero()[1].tolist() == [4, 4]
