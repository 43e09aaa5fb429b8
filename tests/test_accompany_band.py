"""`musegan accompany --band drums,bass`: only the named generated tracks, the rest as without it."""
import os
import subprocess
import sys
from pathlib import Path

import pretty_midi
import pytest

from musegan.accompany import accompany, band_tracks
from musegan.describe import describe
from musegan.errors import UsageError

ROOT = Path(__file__).resolve().parents[1]
PIANO = ROOT / "exp" / "accompaniment" / "piano"
EXAMPLE = ROOT / "examples" / "piano_example.mid"
GOLDEN = ROOT / "examples" / "piano_example_band.mid"  # the whole band at --seed 0 (tests/test_golden.py)
NAMES = ["Drums", "Piano", "Guitar", "Bass", "Strings"]


def notes(pm, name):
    inst = next(i for i in pm.instruments if i.name == name)
    return [(n.pitch, round(n.start, 6), round(n.end, 6), n.velocity) for n in inst.notes]


def test_band_names():
    assert band_tracks(None, NAMES, 1) == [0, 2, 3, 4]
    assert band_tracks(["bass", " DRUMS", "bass"], NAMES, 1) == [0, 3]
    with pytest.raises(UsageError, match="--band flute: not a track of this model; choose from drums, guitar"):
        band_tracks(["flute"], NAMES, 1)
    with pytest.raises(UsageError, match="--band Piano: piano is the part you give"):
        band_tracks(["drums", "Piano"], NAMES, 1)
    with pytest.raises(UsageError, match="--band is empty"):
        band_tracks(["", " "], NAMES, 1)


def test_drums_and_bass_only_are_those_of_the_whole_band(tmp_path):
    out = tmp_path / "db.mid"
    summary = accompany(EXAMPLE, PIANO, out, seed=0, band=["drums", "bass"], log=lambda line: None)
    assert summary["band"] == ["Drums", "Bass"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["db.mid", "db.png"]
    pm, whole = pretty_midi.PrettyMIDI(str(out)), pretty_midi.PrettyMIDI(str(GOLDEN))
    assert [i.name for i in pm.instruments] == ["Drums", "Piano", "Bass"]
    for name in ("Drums", "Piano", "Bass"):  # the model still generated all: the same band, less two
        assert notes(pm, name) == notes(whole, name), name
    rows, _ = describe([out], PIANO)
    full_rows, _ = describe([GOLDEN], PIANO)
    assert list(rows) == ["Drums", "Bass"] and all(rows[k] == full_rows[k] for k in rows)


def test_cli_refuses_a_band_without_writing(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-m", "musegan", "accompany", str(EXAMPLE), "--exp", str(PIANO),
                           "--out", str(tmp_path / "x.mid"), "--band", "drums,piano"],
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        "musegan accompany: error: --band piano: piano is the part you give; the band can be drums, guitar, "
        "bass, strings"]
    assert not any(tmp_path.iterdir())
