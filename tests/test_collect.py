"""musegan collect: folders of MIDI files -> sparse phrase npz, bad files skipped by reason."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import band, write_midi
from musegan import cli
from musegan.music import collect
from musegan.music import data
from musegan.music import midi
from musegan.music import pianoroll
from musegan.config import load_config, load_params
from musegan.errors import DataError

PARAMS = load_params()
CONFIG = load_config()
RWC = Path(__file__).parents[1].parent / "shared" / "data" / "rwc"


def run(in_dir, out, jobs=1, config=CONFIG, **kw):
    return collect.run(in_dir, out, PARAMS, config, jobs=jobs, stream=open("/dev/null", "w"), **kw)


@pytest.fixture
def folder(tmp_path):
    """Two good songs (8 bars, 3 and 5 tracks) and one file for every skip reason."""
    d = tmp_path / "midi"
    write_midi(d / "a" / "good.mid", band(8, "dpb"))
    write_midi(d / "b" / "good5.MID", band(8, "dpgbs"))
    (d / "corrupt.mid").write_bytes(b"MThd\x00\x00\x00\x06garbage")
    (d / "empty.mid").write_bytes(b"")
    write_midi(d / "high.midi", [dict(program=0, notes=[(110 + i % 10, i, i + 1) for i in range(32)])])
    write_midi(d / "waltz.mid", band(8, "dpb"), meters=[(0, 3, 4)])
    write_midi(d / "duo.kar", band(8, "db"))
    (d / "notes.txt").write_text("not midi")
    return d


def test_collect_skips_each_bad_file_with_its_reason(folder, tmp_path):
    out = tmp_path / "out" / "x.npz"
    summary = run(folder, out)
    skipped = {reason: sorted(v["files"]) for reason, v in summary["skipped"].items()}
    assert skipped == {midi.CORRUPT: ["corrupt.mid"], midi.EMPTY: ["empty.mid"],
                       midi.NO_NOTES_IN_RANGE: ["high.midi"], collect.NOT_44: ["waltz.mid"],
                       collect.NO_PHRASE: ["duo.kar"]}
    assert "3/4" in summary["skipped"][collect.NOT_44]["files"]["waltz.mid"]
    assert summary["files_found"] == summary["files_read"] == 7 and summary["files_used"] == 2
    # 8 bars, hop 1: windows at bars 0..4 in each song
    assert summary["phrases"] == 10 and summary["phrases_on_hop_n_bars"] == 4
    ratios = summary["track_nonempty_ratio"]["phrases"]
    assert ratios == {"Drums": 1.0, "Piano": 1.0, "Guitar": 0.5, "Bass": 1.0, "Strings": 0.5}
    assert summary["speed"]["files_per_second"] > 0 and summary["speed"]["projected_hours_lakh"] > 0
    assert json.loads(collect.summary_path(out).read_text())["phrases"] == 10

    phrases = data.load_phrases(out)
    assert len(phrases) == 10 and tuple(phrases.shape) == (4, 48, 84, 5)
    assert phrases.song_names == ["a/good.mid", "b/good5.MID"]
    np.testing.assert_array_equal(phrases.song_ids, [0] * 5 + [1] * 5)
    with np.load(out) as f:  # the published format: shape + nonzero of the dense array
        x = np.zeros(tuple(f["shape"]), dtype=bool)
        x[tuple(f["nonzero"])] = True
        np.testing.assert_array_equal(f["nonzero"], np.array(x.nonzero()))
    roll, grid, _ = pianoroll.midi_to_roll(folder / "b" / "good5.MID", PARAMS, CONFIG)
    expected, _ = pianoroll.phrases(roll, grid, 4, 1, 3)
    np.testing.assert_array_equal(x[5:], expected)
    assert x[:5, ..., [0, 1, 3]].any() and not x[:5, ..., [2, 4]].any()


def test_pulse_meters_are_read_in_4_beat_bars_and_counted(tmp_path, capsys):
    """A training folder of files marked 2/4 or 1/4 throughout is not lost: read as accompany
    reads it, and the summary counts them."""
    d = tmp_path / "midi"
    write_midi(d / "common.mid", band(8, "dpb"))
    write_midi(d / "pulse.mid", band(8, "dpb"), meters=[(0, 2, 4)])
    write_midi(d / "beat.mid", band(8, "dpb"), meters=[(0, 1, 4)])
    out = tmp_path / "x.npz"
    summary = run(d, out)
    assert summary["files_used"] == 3 and summary["phrases"] == 15
    assert summary["regrouped_files"] == {"count": 2, "files": ["beat.mid", "pulse.mid"]}
    x = data.load_phrases(out).unpack()
    np.testing.assert_array_equal(x[:5], x[5:10])  # the same music, the same phrases
    assert "2 files marked 1/4 or 2/4 read in 4-beat bars" in collect.summary_text(summary, tmp_path / "s.json")


def test_parallel_run_gives_the_same_output(folder, tmp_path):
    run(folder, tmp_path / "one.npz", jobs=1)
    run(folder, tmp_path / "two.npz", jobs=2)
    with np.load(tmp_path / "one.npz") as a, np.load(tmp_path / "two.npz") as b:
        assert sorted(a.files) == sorted(b.files)
        for key in a.files:
            np.testing.assert_array_equal(a[key], b[key])


def test_hop_and_min_tracks_from_config(folder, tmp_path):
    config = load_config(overrides={"collect": {"hop_bars": 4, "min_tracks": 2}})
    summary = run(folder, tmp_path / "x.npz", config=config)
    assert summary["phrases"] == 6 and collect.NO_PHRASE not in summary["skipped"]


def test_vanished_file_is_a_reason_not_a_crash(tmp_path):
    result = collect.collect_file(tmp_path / "gone.mid", PARAMS, CONFIG)
    assert result["reason"] == midi.VANISHED and result["n_phrases"] == 0


def test_nothing_collected_is_a_data_error(tmp_path):
    (tmp_path / "in").mkdir()
    with pytest.raises(DataError, match="no .mid"):
        run(tmp_path / "in", tmp_path / "x.npz")
    (tmp_path / "in" / "empty.mid").write_bytes(b"")
    with pytest.raises(DataError, match="no phrases"):
        run(tmp_path / "in", tmp_path / "x.npz")
    assert not (tmp_path / "x.npz").exists()
    assert json.loads((tmp_path / "x.summary.json").read_text())["skipped"]["empty"]["count"] == 1


def _rwc_folder(root: Path) -> Path:
    """A synthetic RWC layout: metadata.csv, vocal mapping, one piece per collection/genre."""
    rwc = root / "data" / "rwc"
    header = "RWCID;CollID;PieceNo;Title;GenreMain;GenreSub\n"
    rows = ["RWC_P001;P;1;a;Popular;J-pop", "RWC_G001;G;1;b;Rock;x", "RWC_G002;G;2;c;Jazz;y"]
    (rwc).mkdir(parents=True)
    (rwc / "metadata.csv").write_text(header + "\n".join(rows) + "\n")
    (rwc / "metadata_mapping_vocals.csv").write_text(
        "RWCID;MIDITrackNo;MIDITrackName;SemitoneOffset;comment\n"
        "RWC_P001;3;MELODY;12;\nRWC_G001;3;VOICE;0;Not Vocal\n")
    tracks = band(8, "db") + [dict(program=73, name="MELODY", notes=[(72, b, b + 1) for b in range(32)])]
    for name in ("RWC-P/RWC_P001.mid", "RWC-G/RWC_G001.mid", "RWC-G/RWC_G002.mid", "RWC-G/RWC_G999.mid"):
        write_midi(rwc / name, tracks)
    write_midi(root / "data" / "other" / "song.mid", band(8, "dpb"))
    return rwc


def test_rwc_folder_selects_genres_and_maps_vocals(tmp_path):
    _rwc_folder(tmp_path)
    config = load_config(overrides={"collect": {"vocal_family": "guitar"}})
    out = tmp_path / "x.npz"
    summary = run(tmp_path / "data", out, config=config)  # the RWC folder is found below IN_DIR
    assert summary["files_excluded_by_rwc_metadata"] == {"rwc/RWC-G/RWC_G002.mid": "GenreMain Jazz",
                                                         "rwc/RWC-G/RWC_G999.mid": "not in metadata.csv"}
    assert summary["rwc"][0]["selected"] == 2 and summary["rwc"][0]["with_vocal_tracks"] == 1
    phrases = data.load_phrases(out)
    assert phrases.song_names == ["other/song.mid", "rwc/RWC-G/RWC_G001.mid", "rwc/RWC-P/RWC_P001.mid"]
    x = phrases.unpack()
    by_song = {name: x[phrases.song_ids == i] for i, name in enumerate(phrases.song_names)}
    # P001 track 3 is its vocal melody -> guitar; G001's is "Not Vocal" -> strings, as any flute
    assert by_song["rwc/RWC-P/RWC_P001.mid"][..., 2].any() and not by_song["rwc/RWC-P/RWC_P001.mid"][..., 4].any()
    assert by_song["rwc/RWC-G/RWC_G001.mid"][..., 4].any() and not by_song["rwc/RWC-G/RWC_G001.mid"][..., 2].any()


def test_real_rwc_files(tmp_path):
    if not (RWC / "metadata.csv").is_file():
        pytest.skip(f"RWC data not found at {RWC} (the RWC MIDI folder, not shipped: docs/data.md)")
    rwc = tmp_path / "rwc"  # a few files copied: the real folder stays read-only and the test fast
    for name in ("metadata.csv", "metadata_mapping_vocals.csv", "RWC-R/RWC_R011.mid",
                 "RWC-P/RWC_P072.mid", "RWC-G/RWC_G085.mid"):
        (rwc / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(RWC / name, rwc / name)
    out = tmp_path / "rwc.npz"
    summary = run(rwc, out, jobs=2)
    assert summary["files_read"] == 2 and list(summary["files_excluded_by_rwc_metadata"]) == ["RWC-G/RWC_G085.mid"]
    assert summary["files_used"] == 1 and list(summary["skipped"]) == [collect.NO_PHRASE]
    assert summary["phrases"] > 20
    phrases = data.load_phrases(out)
    assert phrases.song_names == ["RWC-R/RWC_R011.mid"] and len(phrases) == summary["phrases"]
    x = phrases.unpack()
    assert x[..., 0].any() and x[..., 3].any()  # drums and bass
    # re-timed file, moved back onto its grid: drum hits on sixteenths
    drums = x[..., 0].any(axis=-1).reshape(-1, 48)
    assert drums[:, ::3].sum() / drums.sum() > 0.8


def test_cli_refuses_existing_output(folder, tmp_path, capsys):
    out = tmp_path / "x.npz"
    out.write_bytes(b"keep me")
    with pytest.raises(SystemExit) as e:
        cli.main(["collect", str(folder), str(out), "--jobs", "1"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "already exists" in err and "--overwrite" in err
    assert out.read_bytes() == b"keep me"


def test_cli_refuses_existing_summary(folder, tmp_path, capsys):
    out = tmp_path / "x.npz"
    summary = tmp_path / "x.summary.json"
    summary.write_text("my notes")
    with pytest.raises(SystemExit) as e:
        cli.main(["collect", str(folder), str(out), "--jobs", "1"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(summary) in err and "--overwrite" in err
    assert summary.read_text() == "my notes" and not out.exists()


def test_cli_overwrite_and_exp(folder, tmp_path, capsys):
    exp = tmp_path / "exp"
    exp.mkdir()
    (exp / "config.yaml").write_text("collect:\n  hop_bars: 4\n")
    out = tmp_path / "x.npz"
    out.write_bytes(b"old")
    cli.main(["collect", str(folder), str(out), "--exp", str(exp), "--jobs", "2", "--overwrite"])
    assert len(data.load_phrases(out)) == 4
    printed = capsys.readouterr()
    assert "collected 4 phrases from 2 of 7 files" in printed.out and "collect: 7/7 files" in printed.err


def test_collect_data_script_is_a_thin_wrapper():
    script = Path(__file__).parents[1] / "scripts" / "collect_data.sh"
    text = script.read_text()
    assert script.stat().st_mode & 0o111 and "set -euo pipefail" in text and "musegan collect" in text
