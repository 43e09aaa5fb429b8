"""The committed example inputs are what examples/make_example.py writes, and each is read
as its own track: the given part of the matching track-conditional model."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from musegan import config as cfg
from musegan.music import pianoroll

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("make_example", ROOT / "examples" / "make_example.py")
make_example = importlib.util.module_from_spec(spec)
spec.loader.exec_module(make_example)


@pytest.mark.parametrize("part", make_example.PARTS)
def test_example_is_rebuilt_byte_for_byte_and_read_as_its_track(part, tmp_path):
    committed = ROOT / "examples" / f"{part}_example.mid"
    rebuilt = make_example.write(tmp_path / "x.mid", 16, part)
    assert rebuilt.read_bytes() == committed.read_bytes()

    params, config = cfg.load_params(), cfg.load_config()
    roll, grid, _ = pianoroll.midi_to_roll(committed, params, config)
    track = [n.lower() for n in params["track_names"]].index(part)
    per_track = roll.sum(axis=(0, 1))
    assert grid.n_bars == 16 and grid.bar_is_44.all()
    assert per_track[track] > 0 and per_track.sum() == per_track[track]
    # every bar has notes: a part that plays throughout
    bars = roll[..., track].reshape(16, -1).any(axis=1)
    assert bars.all(), np.flatnonzero(~bars)
