import numpy as np
import pytest

from musegan import config as cfg
from musegan.errors import ConfigError
from musegan.output import binarize, to_notes


def _raw(seed=0, shape=(3, 2, 8, 24, 5)):
    return np.random.default_rng(seed).uniform(-1, 1, shape).astype(np.float32)


def test_hard_and_bernoulli_without_rules():
    x = _raw()
    np.testing.assert_array_equal(binarize(x, "hard"), x > 0)
    b = binarize(x, "bernoulli", np.random.default_rng(1))
    assert b[x > 0.99].mean() > 0.95 and b[x < -0.99].mean() < 0.05


@pytest.mark.parametrize("mode", ["hard", "bernoulli"])
def test_monophonic_track_keeps_its_strongest_sounding_pitch(mode):
    x = _raw()
    poly = binarize(x, mode, np.random.default_rng(2))
    mono = binarize(x, mode, np.random.default_rng(2), monophonic=(3,))
    assert (poly[..., 3].sum(-1) > 1).any()  # the test input has chords to thin
    np.testing.assert_array_equal(np.delete(mono, 3, -1), np.delete(poly, 3, -1))
    assert (mono[..., 3] <= poly[..., 3]).all()
    # every step that sounded still sounds, with exactly one pitch: the sounding one with the largest output
    np.testing.assert_array_equal(mono[..., 3].sum(-1), poly[..., 3].any(-1))
    strongest = np.where(poly[..., 3], x[..., 3], -np.inf).argmax(-1)
    kept = mono[..., 3].argmax(-1)
    sounding = poly[..., 3].any(-1)
    np.testing.assert_array_equal(kept[sounding], strongest[sounding])


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
