"""`musegan describe`: figures of hand-made accompaniments, known by construction."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import write_midi
from musegan.describe import describe
from musegan.errors import DataError, UsageError

ROOT = Path(__file__).resolve().parents[1]
PIANO = ROOT / "exp" / "accompaniment" / "piano"  # only its yaml files are read

# Four 4/4 bars at 120 bpm; positions in beats. The piano holds C major (C E G) for two
# bars, then F major (F A C).
C, F = [(60, 0, 8), (64, 0, 8), (67, 0, 8)], [(65, 8, 16), (69, 8, 16), (72, 8, 16)]
DRUMS = dict(drum=True, name="Drums", notes=[(36, b, b + 0.25) for b in range(16)])
GUITAR = dict(program=25, name="Guitar",  # C, E in bar 0, D in bar 1, F in bar 2, nothing in bar 3
              notes=[(60, 0, 0.5), (64, 1, 1.5), (62, 4.5, 5), (65, 8, 8.5)])
BASS = dict(program=33, name="Bass", notes=[(36, 0, 1), (36, 4, 5), (41, 8, 9), (41, 12, 13)])
STRINGS = dict(program=48, name="Strings", notes=[(61, 1, 3), (69, 9, 11)])  # C# (off), A (in)


def band_file(path: Path, piano=({"name": "My piano", "notes": C + F},), guitar=GUITAR) -> Path:
    """The layout `musegan accompany --exp exp/accompaniment/piano` writes: conductor, Drums,
    the user's part (one or more tracks), Guitar, Bass, Strings."""
    return write_midi(path, [DRUMS, *piano, guitar, BASS, STRINGS])


def test_figures_of_a_known_band(tmp_path):
    rows, about = describe([band_file(tmp_path / "band.mid")], PIANO)
    assert about == {"bars": 4, "given_pitch_classes": 3.0,  # one phrase: nothing to continue
                     "continuity": {"band": {"drums": None, "rhythm": None}}}
    g = rows["Guitar"]
    assert g["notes_per_bar"] == 1.0 and g["median_16ths"] == pytest.approx(2.0)
    assert g["silent_bars"] == 25.0 and g["pitch_classes"] == pytest.approx(4 / 3)
    assert g["in_given_harmony"] == 75.0  # C, E, F in; D out
    assert g["with_given_onsets"] == 50.0  # the piano starts at beats 0 and 8 only
    assert g["in_song_harmony"] is None  # no --reference
    b = rows["Bass"]
    assert (b["in_given_harmony"], b["with_given_onsets"], b["median_16ths"]) == (100.0, 50.0, pytest.approx(4.0))
    assert rows["Strings"]["in_given_harmony"] == 50.0 and rows["Strings"]["silent_bars"] == 50.0
    d = rows["Drums"]
    assert d["notes_per_bar"] == 4.0 and d["in_given_harmony"] is None and d["pitch_classes"] is None


def test_given_part_in_two_tracks_and_a_reference_song(tmp_path):
    # Both hands as two tracks: the band's tracks are found after them all the same.
    hands = ({"name": "RH", "notes": C[1:] + F[1:]}, {"name": "LH", "notes": [C[0], F[0]]})
    path = band_file(tmp_path / "song.mid", piano=hands)
    # The original song: its melody plays D in bar 1, which the piano never does.
    write_midi(tmp_path / "ref" / "sub" / "song.mid", [{"name": "Melody", "notes": [(74, 4, 5)]}, DRUMS])
    rows, about = describe([path], PIANO, reference_dir=tmp_path / "ref")
    assert rows["Guitar"]["in_given_harmony"] == 75.0
    assert rows["Guitar"]["in_song_harmony"] == 25.0  # only the D is in the song's bar-1 harmony
    assert rows["Bass"]["in_song_harmony"] == 0.0


def test_files_that_are_not_bands_are_refused(tmp_path):
    lone = write_midi(tmp_path / "lone.mid", [{"name": "Piano", "notes": C}])
    with pytest.raises(DataError, match="lone.mid: not a file of `musegan accompany`"):
        describe([lone], PIANO)
    renamed = band_file(tmp_path / "renamed.mid", guitar={**GUITAR, "name": "Lead"})
    with pytest.raises(DataError, match="renamed.mid: track 3 is 'Lead' where `musegan accompany` writes 'Guitar'"):
        describe([renamed], PIANO)
    write_midi(tmp_path / "songs" / "other.mid", [{"name": "Piano", "notes": C}])
    with pytest.raises(DataError, match="no band.mid under --reference-dir"):  # itself is not its song
        describe([band_file(tmp_path / "band.mid")], PIANO, reference_dir=tmp_path)
    with pytest.raises(UsageError, match="not a track-conditional model"):
        describe([band_file(tmp_path / "band.mid")], ROOT / "exp" / "default")


def test_cli_prints_the_table_and_one_line_errors(tmp_path):
    path = band_file(tmp_path / "band.mid")
    run = lambda *a: subprocess.run([sys.executable, "-m", "musegan", "describe", *map(str, a)],
                                    capture_output=True, text=True, cwd=ROOT)
    ok = run(path, "--exp", PIANO)
    assert ok.returncode == 0, ok.stderr
    assert "| Guitar | 1.0 | 2.00 | 25 | 1.3 | 75 | 50 |" in ok.stdout
    assert "random pitch is in the given harmony 25% of the time" in ok.stdout
    assert "| the band | – | – |" in ok.stdout  # a single phrase has none before it
    bad = run(tmp_path / "missing.mid", "--exp", PIANO)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().splitlines() == [bad.stderr.strip()] and "missing.mid" in bad.stderr
    both = run(path, path, "--exp", PIANO, "--reference", path)
    assert both.returncode == 2 and "--reference names one song" in both.stderr


def test_a_silent_generated_track_is_all_rests(tmp_path):
    silent = write_midi(tmp_path / "band.mid", [DRUMS, {"name": "My piano", "notes": C + F}, GUITAR, BASS,
                                                {"name": "Strings", "program": 48, "notes": []}])
    rows, _ = describe([silent], PIANO)
    assert rows["Strings"]["notes_per_bar"] == 0.0 and rows["Strings"]["silent_bars"] == 100.0
    assert rows["Strings"]["in_given_harmony"] is None and rows["Guitar"]["in_given_harmony"] == 75.0


def test_continuity_of_consecutive_phrases_for_the_band_and_the_song(tmp_path):
    # Eight bars: two 4-bar phrases. The drums keep one pattern; the guitar plays beats 1 and 3
    # of each bar, then beat 1 only; the bass beat 1 throughout; the strings rest.
    beats = range(32)
    drums = dict(drum=True, name="Drums", notes=[(36, b, b + 0.25) for b in beats])
    guitar = dict(program=25, name="Guitar",
                  notes=[(64, b, b + 1) for b in beats if b % 4 == 0 or (b < 16 and b % 4 == 2)])
    bass = dict(program=33, name="Bass", notes=[(36, b, b + 1) for b in beats if b % 4 == 0])
    piano = {"name": "My piano", "notes": [(60, b, b + 1) for b in beats]}
    path = write_midi(tmp_path / "band.mid", [drums, piano, guitar, bass, dict(program=48, name="Strings", notes=[])])
    rows, about = describe([path], PIANO)
    assert about["continuity"]["band"]["drums"] == pytest.approx(1.0)
    # rhythm (Guitar, Bass on a 16th grid): 8 + 4 onsets, then 4 + 4; 8 shared: 8 / sqrt(12 * 8)
    assert about["continuity"]["band"]["rhythm"] == pytest.approx(8 / np.sqrt(96))
    assert rows["Strings"]["silent_bars"] == 100.0
    # The song's own drummer plays the beats, then the off-beats: nothing alike; it has no guitar,
    # bass or strings: no rhythm to compare.
    own = dict(drum=True, name="Kit", notes=[(36, b + 0.5 * (b >= 16), b + 0.5 * (b >= 16) + 0.25) for b in beats])
    write_midi(tmp_path / "song.mid", [own, piano])
    rows, about = describe([path], PIANO, reference=tmp_path / "song.mid")
    assert about["continuity"]["song"] == {"drums": 0.0, "rhythm": None}
    assert about["song_rows"]["Drums"]["notes_per_bar"] == 4.0 and about["song_rows"]["Guitar"]["silent_bars"] == 100.0
    assert about["song_rows"]["Drums"]["with_given_onsets"] == 50.0  # the off-beats start with no piano note
