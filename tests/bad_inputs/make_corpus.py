#!/usr/bin/env python
"""Generate the bad-input corpus: every kind of file a user may hand `musegan`, and what must happen.

    python tests/bad_inputs/make_corpus.py OUT_DIR [CASE ...]      # write the inputs (all or some cases)
    python tests/bad_inputs/make_corpus.py --list                  # name, command and expectation per case

Nothing here is a collected binary: every input is built from code, byte by byte
where the point is a malformed file. Each case gets its own folder `OUT_DIR/<case>/`
holding its inputs; `Case.argv` is the `musegan` command to run there (`{d}` is
the case folder), `code` the exit status it must end with and `expect` the
fragments its one error line (`musegan CMD: error: ...`) must contain: the file
and the problem. The folder must be left exactly as it was, apart from the
files `creates` names (a command that succeeds, or collect's summary). A case
with `xfail` set is a known problem, reported and not fixed yet: the test
expects it to fail until it is fixed.

`tests/test_bad_inputs.py` runs every case through the real CLI. Cases with
`tf=True` import TensorFlow (~5-10 s a process), so that test runs them in one
process (`--batch`, below) calling the same `musegan.cli.main` as
`python -m musegan`; the rest each run as a separate `python -m musegan`.

    python tests/bad_inputs/make_corpus.py --batch OUT_DIR RESULTS.json CASE ...

builds those cases (the checkpoint cases train a tiny model once) and runs them,
writing for each the exit code, stderr, stdout and what changed in its folder.
"""
import contextlib
import hashlib
import io
import json
import os
import shutil
import struct
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Sequence

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests/: tiny_exp, conftest

PREVIOUS = b"a previous result: must survive\n"  # content of outputs that exist before a run

# --------------------------------------------------------------------------- raw MIDI bytes


def vlq(n: int) -> bytes:
    """MIDI variable-length quantity."""
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))


def chunk(tag: bytes, data: bytes, length: int = None) -> bytes:
    return tag + struct.pack(">I", len(data) if length is None else length) + data


def header(fmt: int = 1, n_tracks: int = 1, division: int = 480) -> bytes:
    return chunk(b"MThd", struct.pack(">HHh" if division < 0 else ">HHH", fmt, n_tracks, division))


def track(events: Sequence, end: bool = True) -> bytes:
    """An MTrk chunk of (delta ticks, event bytes), closed by end-of-track unless `end` is False."""
    body = b"".join(vlq(delta) + event for delta, event in events)
    return chunk(b"MTrk", body + (b"\x00\xff\x2f\x00" if end else b""))


def tempo(us_per_beat: int) -> bytes:
    return b"\xff\x51\x03" + us_per_beat.to_bytes(3, "big")


def meter(numerator: int, denominator_power: int) -> bytes:
    return b"\xff\x58\x04" + bytes([numerator, denominator_power, 24, 8])


def program(channel: int, number: int) -> bytes:
    return bytes([0xC0 | channel, number])


def part(pitches: Sequence[int], channel: int = 0, length: int = 480, gap: int = 0,
         prog: int = None) -> List:
    """Events of one note after the other (note-on, note-off after `length` ticks, `gap` ticks of rest)."""
    events = [(0, program(channel, prog))] if prog is not None else []
    for p in pitches:
        events += [(gap, bytes([0x90 | channel, p, 90])), (length, bytes([0x80 | channel, p, 0]))]
    return events


def band_bytes(n_bars: int = 8, fmt: int = 1, conductor: Sequence = ((0, tempo(500_000)),),
               tpq: int = 480) -> bytes:
    """A 4/4 band: drums, piano, bass, one note a beat, `n_bars` bars (collects into phrases)."""
    beats = 4 * n_bars
    tracks = [track(list(conductor)),
              track(part([36] * beats, channel=9, length=tpq // 2, gap=tpq // 2)),
              track(part([60, 64, 67, 72] * n_bars, channel=0, length=tpq, prog=0)),
              track(part([36, 43] * (beats // 2), channel=1, length=tpq, prog=33))]
    return header(fmt, len(tracks), tpq) + b"".join(tracks)


# --------------------------------------------------------------------------- mido-built MIDI


def song(path: Path, parts: Sequence[Dict], bpm: float = 120, meters=((0, 4, 4),), tpq: int = 480) -> Path:
    """Type-1 file: each part {'notes': [(pitch, start beat, end beat)], 'program', 'drum'}."""
    from conftest import write_midi  # the tests' one MIDI writer

    return write_midi(path, parts, tempos=((0, bpm),), meters=meters, tpq=tpq)


def band(n_beats: int, tracks: str = "dpb") -> List[Dict]:
    """Parts of a band, one note a beat: d(rums) p(iano) b(ass)."""
    spec = {"d": dict(drum=True, name="Drums", notes=[(36, b, b + 0.5) for b in range(n_beats)]),
            "p": dict(program=0, name="Piano", notes=[(60 + b % 3 * 4, b, b + 1) for b in range(n_beats)]),
            "b": dict(program=33, name="Bass", notes=[(36, b, b + 2) for b in range(0, n_beats, 2)])}
    return [spec[t] for t in tracks]


# --------------------------------------------------------------------------- data files


def sparse(path: Path, **arrays) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        np.savez_compressed(f, **arrays)
    return path


def phrases(n: int = 6, shape=(4, 48, 84, 5), seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, *shape)) < 0.01


class Payload:
    """Unpickling this writes `marker`: proof that something was unpickled."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (Path(self.marker), "unpickled!"))


def evil_npz(path: Path, marker: Path) -> Path:
    x = phrases()
    return sparse(path, shape=np.array(x.shape),
                  nonzero=np.array([Payload(str(marker)), 1], dtype=object))


# --------------------------------------------------------------------------- experiments


def experiment(d: Path, name: str = "exp", params: dict = None, config: dict = None,
               params_text: str = None, config_text: str = None) -> Path:
    """A tiny experiment (tests/tiny_exp.py) under `d`, its files optionally replaced by raw text."""
    from tiny_exp import make_experiment

    exp = make_experiment(d, name=name, params=params, config=config)
    if params_text is not None:
        (exp / "params.yaml").write_bytes(params_text.encode() if isinstance(params_text, str) else params_text)
    if config_text is not None:
        (exp / "config.yaml").write_bytes(config_text.encode() if isinstance(config_text, str) else config_text)
    return exp


CONDITIONAL = {"condition_track": "piano"}  # the accompaniment model: Piano given, the band generated


def trained_model(root: Path) -> Path:
    """`model/` folder of a tiny hybrid model, track-conditional on piano, trained 1 step;
    trained once per corpus folder (imports TensorFlow)."""
    shared = root / "_trained"
    if not (shared / "exp" / "model" / "checkpoint").is_file():
        from musegan.training.loop import train

        shutil.rmtree(shared, ignore_errors=True)
        train(experiment(shared, params=CONDITIONAL), steps=1, log=lambda *a: None)
    return shared / "exp" / "model"


def with_model(d: Path, root: Path, damage: Callable[[Path], None] = None, **kw) -> Path:
    """A tiny experiment holding a copy of the trained model, then `damage(model_dir)`."""
    kw["params"] = {**CONDITIONAL, **kw.get("params", {})}
    exp = experiment(d, **kw)
    shutil.copytree(trained_model(root), exp / "model")
    if damage is not None:
        damage(exp / "model")
    return exp


def _corrupt_data(model: Path) -> None:
    data = next(model.glob("*.data-*"))
    size = data.stat().st_size
    data.write_bytes(bytes(np.random.default_rng(0).integers(0, 256, size, dtype=np.uint8)))


def _truncate_index(model: Path) -> None:
    index = next(model.glob("*.index"))
    index.write_bytes(index.read_bytes()[:40])


def _garbage_state(model: Path) -> None:
    (model / "checkpoint").write_bytes(b"\x00\xffnot a checkpoint state {{{\n")


def _state_points_nowhere(model: Path) -> None:
    for f in model.glob("model.ckpt-*"):
        f.unlink()


# --------------------------------------------------------------------------- cases


@dataclass
class Case:
    name: str
    build: Callable[[Path, Path], None]  # (case folder, corpus root)
    argv: List[str]                      # musegan arguments; "{d}" is the case folder
    code: int                            # exit status: 2 usage/config, 1 data/checkpoint, 0 success
    expect: List[str]                    # fragments of the error line (of stdout when code is 0)
    tf: bool = False                     # imports TensorFlow: run in the batch process
    creates: List[str] = field(default_factory=list)  # files (globs) the run may write in the folder
    timeout: float = 60.0                # seconds; past this the command hangs: a failure
    why: str = ""
    xfail: str = ""                      # a known problem, reported, not fixed yet: what it is
    slow: bool = False                   # seconds, not a fraction of one (pytest -m "not slow" skips it)

    def args(self, d: Path) -> List[str]:
        return [a.replace("{d}", str(d)) for a in self.argv]

    def fragments(self, d: Path) -> List[str]:
        return [e.replace("{d}", str(d)) for e in self.expect]


CASES: List[Case] = []


def case(name, argv, code, expect, **kw):
    def register(build):
        CASES.append(Case(name, build, argv.split() if isinstance(argv, str) else argv, code, expect, **kw))
        return build
    return register


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


COLLECT = "collect {d}/in {d}/out.npz --jobs 1"
SUMMARY = ["out.summary.json"]  # collect writes its report, naming every skipped file, even when it fails
PITCHES = [60, 64, 67, 72] * 32

# ----- MIDI through `musegan collect` (a folder holding only that file)


@case("midi_not_midi", COLLECT, 1, ["{d}/in/song.mid", "not a MIDI file"], creates=SUMMARY)
def _(d, root):
    write(d / "in" / "song.mid", b"This is a text file that was renamed song.mid\n" * 20)


@case("midi_truncated", COLLECT, 1, ["{d}/in/song.mid", "truncated"], creates=SUMMARY)
def _(d, root):
    write(d / "in" / "song.mid", band_bytes()[:700])


@case("midi_zero_bytes", COLLECT, 1, ["{d}/in/song.mid", "empty file (0 bytes)"], creates=SUMMARY)
def _(d, root):
    write(d / "in" / "song.mid", b"")


@case("midi_header_only", COLLECT, 1, ["{d}/in/song.mid", "no tracks"], creates=SUMMARY)
def _(d, root):
    write(d / "in" / "song.mid", header(1, 0))


@case("midi_header_promises_tracks", COLLECT, 1, ["{d}/in/song.mid", "truncated"], creates=SUMMARY,
      why="MThd says 3 tracks, the file ends after it")
def _(d, root):
    write(d / "in" / "song.mid", header(1, 3))


@case("midi_no_notes", COLLECT, 1, ["{d}/in/song.mid", "no notes"], creates=SUMMARY)
def _(d, root):
    write(d / "in" / "song.mid", header(1, 2) + track([(0, tempo(500_000))]) +
          track([(0, program(0, 0)), (1920, b"\xb0\x07\x64")]))


@case("midi_notes_out_of_range", COLLECT, 1, ["{d}/in/song.mid", "outside MIDI pitches 24..107"],
      creates=SUMMARY, why="every note below C1 or above B7: nothing on the 84-pitch roll")
def _(d, root):
    song(d / "in" / "song.mid", [dict(program=0, notes=[(p, b, b + 1) for b, p in enumerate([10, 120] * 32)]),
                                 dict(program=33, notes=[(5, b, b + 1) for b in range(64)])])


@case("midi_only_drums", COLLECT, 1, ["{d}/in/song.mid", "tracks in the song: Drums"], creates=SUMMARY)
def _(d, root):
    song(d / "in" / "song.mid", band(64, "d"))


@case("midi_three_four", COLLECT, 1, ["{d}/in/song.mid", "no 4 consecutive 4/4 bars", "3/4"], creates=SUMMARY)
def _(d, root):
    song(d / "in" / "song.mid", band(96), meters=[(0, 3, 4)])


@case("midi_six_eight", COLLECT, 1, ["{d}/in/song.mid", "no 4 consecutive 4/4 bars", "6/8"], creates=SUMMARY)
def _(d, root):
    song(d / "in" / "song.mid", band(96), meters=[(0, 6, 8)])


@case("midi_two_hours", COLLECT, 0, ["collected 3597 phrases from 1 of 1 files"],
      creates=["out.npz", "out.summary.json"], timeout=90, slow=True,
      why="a 2-hour song at 120 bpm (14,400 beats) is collected in well under the 90 s bound")
def _(d, root):
    song(d / "in" / "song.mid", band(2 * 3600 * 2))


@case("midi_declares_millions_of_beats", COLLECT, 1, ["{d}/in/song.mid", "9,000,000 beats long", "refused"],
      creates=SUMMARY, timeout=15,
      why="20 bytes of events declaring a 9,000,000-beat song: refused before any grid is built")
def _(d, root):
    write(d / "in" / "song.mid", header(1, 1, 1) + track([(0, b"\x90\x3c\x50"), (9_000_000, b"\x80\x3c\x00")]))


@case("midi_fifty_tracks", COLLECT, 0, ["collected 5 phrases from 1 of 1 files"],
      creates=["out.npz", "out.summary.json"], why="50 tracks on 16 channels: merged into families")
def _(d, root):
    parts = [dict(program=(8 * i) % 128, drum=i % 10 == 9,
                  notes=[(36 + i, b, b + 1) for b in range(i % 4, 32, 4)]) for i in range(50)]
    song(d / "in" / "song.mid", parts)


@case("midi_tempo_zero", COLLECT, 0, ["collected 5 phrases from 1 of 1 files", "with events ignored"],
      creates=["out.npz", "out.summary.json"],
      why="a tempo of 0 microseconds per beat means nothing: ignored (named in the summary), the song read")
def _(d, root):
    write(d / "in" / "song.mid", band_bytes(conductor=[(0, tempo(0))]))


@case("midi_stray_event_far_away", COLLECT, 0, ["collected 5 phrases from 1 of 1 files", "with events ignored"],
      creates=["out.npz", "out.summary.json"], timeout=30,
      why="a controller at tick 4,294,967,248 (a negative delta written unsigned) after a 32-beat song: "
          "ignored; the notes decide the song's length")
def _(d, root):
    write(d / "in" / "song.mid", band_bytes(conductor=[(0, tempo(500_000)), (2 ** 32 - 48, b"\xb0\x62\x20")]))


@case("midi_meter_denominator_2_63", COLLECT, 0, ["collected 5 phrases from 1 of 1 files", "with events ignored"],
      creates=["out.npz", "out.summary.json"],
      why="a time signature 3/2**63 (found by tests/test_fuzz.py: numpy's int64 overflowed): no meter, ignored")
def _(d, root):
    write(d / "in" / "song.mid", band_bytes(conductor=[(0, tempo(500_000)), (0, meter(3, 63))]))


@case("midi_riff_wrapped", COLLECT, 0, ["collected 5 phrases from 1 of 1 files"],
      creates=["out.npz", "out.summary.json"], why="a RIFF MIDI file (.rmi): the MIDI file in its data chunk")
def _(d, root):
    body = band_bytes()
    riff = b"RMID" + b"data" + struct.pack("<I", len(body)) + body
    write(d / "in" / "song.mid", b"RIFF" + struct.pack("<I", len(riff)) + riff)


@case("midi_two_four_throughout", COLLECT, 0, ["collected 5 phrases from 1 of 1 files",
                                               "1 files marked 1/4 or 2/4 read in 4-beat bars"],
      creates=["out.npz", "out.summary.json"], why="2/4 marks a pulse, not the bar: regrouped into 4-beat bars")
def _(d, root):
    write(d / "in" / "song.mid", band_bytes(conductor=[(0, tempo(500_000)), (0, meter(2, 2))]))


@case("midi_absurd_tempi", COLLECT, 0, ["collected 5 phrases from 1 of 1 files"],
      creates=["out.npz", "out.summary.json"],
      why="1 us per beat (60,000,000 bpm) then 16.7 s per beat (3.6 bpm): the grid is in beats, so it works")
def _(d, root):
    write(d / "in" / "song.mid", band_bytes(conductor=[(0, tempo(1)), (480 * 16, tempo(0xFFFFFF))]))


@case("midi_repeated_time_signature", COLLECT, 0, ["collected 5 phrases from 1 of 1 files"],
      creates=["out.npz", "out.summary.json"],
      why="4/4 written twice at one tick mid-song and at the end (found by tests/test_fuzz.py): "
          "pretty_midi repeated a beat, which added a bar, and at the end divided by zero")
def _(d, root):
    write(d / "in" / "song.mid", band_bytes(conductor=[(0, tempo(500_000)), (0, meter(4, 2)), (480 * 16, meter(4, 2)),
                                                       (0, meter(4, 2)), (480 * 16, meter(4, 2)), (0, meter(4, 2))]))


@case("midi_type_2", COLLECT, 1, ["{d}/in/song.mid", "type-2 MIDI"], creates=SUMMARY)
def _(d, root):
    write(d / "in" / "song.mid", band_bytes(fmt=2))


@case("midi_running_status", COLLECT, 0, ["collected 5 phrases from 1 of 1 files"],
      creates=["out.npz", "out.summary.json"],
      why="valid running status (also across a meta event, as many sequencers write it)")
def _(d, root):
    beats = 32
    drums = [(0, b"\x99\x24\x50")] + [(240, b"\x24\x00"), (240, b"\x24\x50")] * (beats - 1) + [(240, b"\x24\x00")]
    piano = [(0, b"\x90\x3c\x50")]
    for _ in range(beats - 1):
        piano += [(480, b"\x3c\x00"), (0, b"\xff\x01\x03abc"), (0, b"\x3c\x50")]
    piano += [(480, b"\x3c\x00")]
    bass = [(0, b"\xc1\x21"), (0, b"\x91\x24\x50")] + [(960, b"\x24\x00"), (0, b"\x24\x50")] * 15 + [(960, b"\x24\x00")]
    write(d / "in" / "song.mid", header(1, 4) + track([(0, tempo(500_000))]) + track(drums) + track(piano)
          + track(bass))


@case("midi_running_status_without_status", COLLECT, 1, ["{d}/in/song.mid", "running status"],
      creates=SUMMARY, why="a track starting with a data byte: no status to run")
def _(d, root):
    write(d / "in" / "song.mid", header(1, 1) + track([(0, b"\x3c\x50"), (480, b"\x3c\x00")] * 40))


@case("midi_running_status_after_sysex", COLLECT, 1, ["{d}/in/song.mid", "no notes"], creates=SUMMARY,
      why="running status across a sysex (invalid; mido then reads the notes as sysex): no notes left")
def _(d, root):
    write(d / "in" / "song.mid", header(1, 1) +
          track([(0, b"\x90\x3c\x50"), (0, b"\xf0\x02\x7e\xf7"), (480, b"\x3c\x00")] * 40))


@case("midi_smpte_division", COLLECT, 1, ["{d}/in/song.mid", "SMPTE"], creates=SUMMARY)
def _(d, root):
    write(d / "in" / "song.mid", header(1, 1, -(25 << 8) + 40) + track(part(PITCHES)))


@case("midi_zero_ticks_per_beat", COLLECT, 1, ["{d}/in/song.mid", "0 ticks per beat"], creates=SUMMARY)
def _(d, root):
    write(d / "in" / "song.mid", header(1, 1, 0) + track(part(PITCHES)))


@case("midi_chunk_length_lies", COLLECT, 1, ["{d}/in/song.mid", "truncated"], creates=SUMMARY)
def _(d, root):
    write(d / "in" / "song.mid", header(1, 1) + chunk(b"MTrk", b"\x00\x90\x3c\x50", length=10 ** 6))


@case("midi_meter_numerator_zero", COLLECT, 0, ["collected 5 phrases from 1 of 1 files", "with events ignored"],
      creates=["out.npz", "out.summary.json"], why="a time signature 0/4 is no meter: ignored, the song read")
def _(d, root):
    write(d / "in" / "song.mid", band_bytes(conductor=[(0, meter(0, 2))]))


@case("midi_notes_never_end", COLLECT, 1, ["{d}/in/song.mid", "no notes"], creates=SUMMARY,
      why="note-ons without note-offs: pretty_midi drops unfinished notes")
def _(d, root):
    write(d / "in" / "song.mid", header(1, 1) + track([(480, bytes([0x90, 60 + i % 12, 90])) for i in range(64)]))


@case("midi_folder_named_mid", COLLECT, 1, ["{d}/in", "no .mid/.midi/.kar files"],
      why="a folder named song.mid is searched as a folder, not read as a file")
def _(d, root):
    (d / "in" / "song.mid").mkdir(parents=True)


@case("midi_fifo", COLLECT, 1, ["{d}/in/song.mid", "not a regular file"], creates=SUMMARY, timeout=20,
      why="a named pipe would block a reader forever")
def _(d, root):
    (d / "in").mkdir(parents=True)
    os.mkfifo(d / "in" / "song.mid")


@case("midi_vanished", COLLECT, 1, ["{d}/in/song.mid", "file not found"], creates=SUMMARY,
      why="a dangling link: listed, gone when read")
def _(d, root):
    (d / "in").mkdir(parents=True)
    os.symlink(d / "deleted.mid", d / "in" / "song.mid")


@case("collect_some_bad", COLLECT, 0, ["collected 5 phrases from 1 of 4 files", "empty.mid: empty file",
                                       "gone.mid: file not found", "text.mid: not a MIDI file"],
      creates=["out.npz", "out.summary.json"], why="bad files are skipped, named, and the rest collected")
def _(d, root):
    write(d / "in" / "good.mid", band_bytes())
    write(d / "in" / "empty.mid", b"")
    write(d / "in" / "text.mid", b"hello\n")
    os.symlink(d / "deleted.mid", d / "in" / "gone.mid")


@case("collect_output_exists", COLLECT, 2, ["{d}/out.npz", "already exists", "--overwrite"])
def _(d, root):
    write(d / "in" / "good.mid", band_bytes())
    write(d / "out.npz", PREVIOUS)


@case("collect_output_not_npz", "collect {d}/in {d}/out.txt --jobs 1", 2, ["{d}/out.txt", ".npz"])
def _(d, root):
    write(d / "in" / "good.mid", band_bytes())


@case("collect_no_midi_files", COLLECT, 1, ["{d}/in", "no .mid/.midi/.kar files"])
def _(d, root):
    write(d / "in" / "readme.txt", b"no music here\n")


@case("collect_no_such_folder", COLLECT, 2, ["{d}/in", "no such folder"])
def _(d, root):
    d.mkdir(parents=True)


# ----- MIDI through `musegan render`

RENDER = "render {d}/song.mid {d}/song.wav"


@case("render_not_midi", RENDER, 1, ["{d}/song.mid", "not a MIDI file"])
def _(d, root):
    write(d / "song.mid", b"RIFF....WAVEfmt " * 8)


@case("render_type_2", RENDER, 1, ["{d}/song.mid", "type-2 MIDI"])
def _(d, root):
    write(d / "song.mid", band_bytes(fmt=2))


@case("render_declares_millions_of_beats", RENDER, 1, ["{d}/song.mid", "beats long"], timeout=15)
def _(d, root):
    write(d / "song.mid", header(1, 1, 1) + track([(0, b"\x90\x3c\x50"), (9_000_000, b"\x80\x3c\x00")]))


@case("render_folder_named_mid", RENDER, 1, ["{d}/song.mid", "is a folder"])
def _(d, root):
    (d / "song.mid").mkdir(parents=True)


@case("render_fifo", RENDER, 1, ["{d}/song.mid", "not a regular file"], timeout=20)
def _(d, root):
    d.mkdir(parents=True)
    os.mkfifo(d / "song.mid")


@case("render_output_exists", RENDER, 2, ["{d}/song.wav", "already exists"])
def _(d, root):
    write(d / "song.mid", band_bytes(n_bars=1))
    write(d / "song.wav", PREVIOUS)


# ----- datasets through `musegan process` and `musegan evaluate --data`

PROCESS = "process {d}/data.npz {d}/out.npz"


@case("data_not_a_dataset", PROCESS, 1, ["{d}/data.npz", "not an npz (zip) or npy file"])
def _(d, root):
    write(d / "data.npz", b"shape,nonzero\n1,2\n")


@case("data_missing_keys", PROCESS, 1, ["{d}/data.npz", "expected keys 'shape' and 'nonzero'", "found x"])
def _(d, root):
    sparse(d / "data.npz", x=phrases())


@case("data_missing_shape", PROCESS, 1, ["{d}/data.npz", "missing key 'shape'"])
def _(d, root):
    sparse(d / "data.npz", nonzero=np.array(phrases().nonzero()))


@case("data_wrong_shape", PROCESS, 1, ["{d}/data.npz", "'shape' must be 5 integers"])
def _(d, root):
    x = phrases()
    sparse(d / "data.npz", shape=np.array(x.shape[1:]), nonzero=np.array(x.nonzero()))


@case("data_wrong_dtype", PROCESS, 1, ["{d}/data.npz", "'nonzero' must hold integers", "float64"])
def _(d, root):
    x = phrases()
    sparse(d / "data.npz", shape=np.array(x.shape), nonzero=np.array(x.nonzero(), dtype=np.float64))


@case("data_object_array", PROCESS, 1, ["{d}/data.npz", "refusing to unpickle"],
      why="the payload writes {d}/unpickled.txt if ever unpickled; the folder must stay unchanged")
def _(d, root):
    evil_npz(d / "data.npz", d / "unpickled.txt")


@case("data_nonzero_out_of_bounds", PROCESS, 1, ["{d}/data.npz", "out of bounds"])
def _(d, root):
    x = phrases()
    nz = np.array(x.nonzero())
    nz[2, -1] = 48  # step 48 of a 48-step bar
    sparse(d / "data.npz", shape=np.array(x.shape), nonzero=nz)


@case("data_nonzero_rows_mismatch", PROCESS, 1, ["{d}/data.npz", "'nonzero' has shape (4,"])
def _(d, root):
    x = phrases()
    sparse(d / "data.npz", shape=np.array(x.shape), nonzero=np.array(x.nonzero())[:4])


@case("data_empty", PROCESS, 1, ["{d}/data.npz", "empty dataset"])
def _(d, root):
    sparse(d / "data.npz", shape=np.array((0, 4, 48, 84, 5)), nonzero=np.zeros((5, 0), np.int64))


@case("data_no_notes", PROCESS, 1, ["{d}/data.npz", "no notes at all"])
def _(d, root):
    sparse(d / "data.npz", shape=np.array((6, 4, 48, 84, 5)), nonzero=np.zeros((5, 0), np.int64))


@case("data_truncated_zip", PROCESS, 1, ["{d}/data.npz", "damaged npz"])
def _(d, root):
    x = phrases(50)
    whole = sparse(d / "full.npz", shape=np.array(x.shape), nonzero=np.array(x.nonzero())).read_bytes()
    (d / "full.npz").unlink()
    write(d / "data.npz", whole[:len(whole) // 2] + whole[-200:])


@case("data_dense_float", "process {d}/data.npy {d}/out.npz", 1, ["{d}/data.npy", "bool pianoroll", "float32"])
def _(d, root):
    d.mkdir(parents=True)
    np.save(d / "data.npy", phrases().astype(np.float32))


@case("process_output_exists", PROCESS, 2, ["{d}/out.npz", "already exists"])
def _(d, root):
    x = phrases()
    sparse(d / "data.npz", shape=np.array(x.shape), nonzero=np.array(x.nonzero()))
    write(d / "out.npz", PREVIOUS)


EVALUATE_DATA = "evaluate --data {d}/data.npz --out {d}/out"


@case("evaluate_data_object_array", EVALUATE_DATA, 1, ["{d}/data.npz", "refusing to unpickle"])
def _(d, root):
    evil_npz(d / "data.npz", d / "unpickled.txt")


@case("evaluate_data_unbuildable_shape", EVALUATE_DATA, 1, ["{d}/data.npz", "(4, 50, 84, 5)"],
      why="50 steps per bar: no beat resolution, so no metrics")
def _(d, root):
    x = phrases(shape=(4, 50, 84, 5))
    sparse(d / "data.npz", shape=np.array(x.shape), nonzero=np.array(x.nonzero()))


@case("evaluate_output_exists", EVALUATE_DATA, 2, ["{d}/out/metrics.json", "already exists"])
def _(d, root):
    x = phrases()
    sparse(d / "data.npz", shape=np.array(x.shape), nonzero=np.array(x.nonzero()))
    write(d / "out" / "metrics.json", PREVIOUS)


# ----- training states through `musegan average-states`

AVERAGE = "average-states {d}/avg {d}/a {d}/b"


def tiny_state(path: Path, step: int, names: Sequence[str] = ("Generator/x/kernel", "Discriminator/y/bias")) -> None:
    from musegan.weights.states import save_state
    save_state(path, {**{n: np.full((2, 3), step, np.float32) for n in names}, "global_step": np.int64(step)})


@case("average_one_state", "average-states {d}/avg {d}/a", 2, ["{d}/a", "one state given", "two or more"])
def _(d, root):
    tiny_state(d / "a", 1)


@case("average_other_models", AVERAGE, 1, ["{d}/b", "not a state of the same model as {d}/a"],
      why="a drums-conditional state beside a piano one: their variables differ")
def _(d, root):
    tiny_state(d / "a", 1)
    tiny_state(d / "b", 2, names=("Generator/x/kernel", "Discriminator/z/bias"))


@case("average_other_shapes", AVERAGE, 1, ["{d}/b", "'Generator/x/kernel' has shape (3,)", "(2, 3) in {d}/a"])
def _(d, root):
    tiny_state(d / "a", 1)
    from musegan.weights.states import save_state
    save_state(d / "b", {"Generator/x/kernel": np.zeros(3, np.float32), "Discriminator/y/bias": np.zeros((2, 3), np.float32),
                         "global_step": np.int64(2)})


@case("average_state_garbage", AVERAGE, 1, ["{d}/b/state-00.npz", "cannot read state"])
def _(d, root):
    tiny_state(d / "a", 1)
    write(d / "b" / "state-00.npz", b"not a zip file at all\n" * 10)


@case("average_output_exists", AVERAGE, 2, ["{d}/avg", "already exists", "--overwrite"])
def _(d, root):
    tiny_state(d / "a", 1)
    tiny_state(d / "b", 2)
    write(d / "avg" / "state-00.npz", PREVIOUS)


@case("average_two_states", AVERAGE, 0, ["{d}/avg: mean of 2 states (steps 1, 3)"], creates=["avg/state-00.npz"],
      why="the mean of the weights, at the latest step")
def _(d, root):
    tiny_state(d / "a", 1)
    tiny_state(d / "b", 3)


# ----- config.yaml / params.yaml through `musegan train` and `musegan infer` (checked before TensorFlow)

TRAIN = "train {d}/exp"
INFER = "infer {d}/exp --rows 1 --columns 1"


@case("config_invalid_yaml", TRAIN, 2, ["{d}/exp/config.yaml", "invalid YAML at line 2"])
def _(d, root):
    experiment(d, config_text="steps: [1, 2\nbatch_size: 4\n")


@case("config_unknown_key", TRAIN, 2, ["{d}/exp/config.yaml", "unknown key 'bach_size'"])
def _(d, root):
    experiment(d, config={"bach_size": 4})


@case("config_wrong_type", TRAIN, 2, ["{d}/exp/config.yaml", "'batch_size' must be int, got '64'"])
def _(d, root):
    experiment(d, config={"batch_size": "64"})


@case("config_duplicate_key", TRAIN, 2, ["{d}/exp/config.yaml", "key 'steps' is given twice"])
def _(d, root):
    exp = experiment(d)
    (exp / "config.yaml").write_text((exp / "config.yaml").read_text() + "steps: 99\n")


@case("config_nan_learning_rate", TRAIN, 2, ["{d}/exp/config.yaml", "'learning_rate' must be a positive number"])
def _(d, root):
    experiment(d, config={"learning_rate": float("nan")})


@case("config_ema_decay_one", TRAIN, 2, ["{d}/exp/config.yaml", "'ema_decay' must be in [0, 1)"])
def _(d, root):
    experiment(d, config={"ema_decay": 1.0})


@case("config_negative_critic_warmup", TRAIN, 2, ["{d}/exp/config.yaml", "'critic_warmup_updates' must be 0 or more"])
def _(d, root):
    experiment(d, config={"critic_warmup_updates": -1})


@case("config_not_utf8", INFER, 2, ["{d}/exp/params.yaml", "not UTF-8"])
def _(d, root):
    experiment(d, params_text="# r\xe9glages\nmultitrack: hybrid\n".encode("latin1"))


@case("config_nested_too_deep", TRAIN, 2, ["{d}/exp/config.yaml", "nested too deeply"], timeout=30)
def _(d, root):
    experiment(d, config_text="collect: " + "[" * 5000 + "]" * 5000 + "\n")


@case("config_alias_bomb", TRAIN, 2, ["{d}/exp/params.yaml", "'track_names' must list 5 str values"],
      timeout=20, why="YAML aliases nesting 9^8 strings: the message shows a short repr, not all of them")
def _(d, root):
    levels = ["  - &a [" + ", ".join(["x"] * 9) + "]"]
    levels += [f"  - &{n} [{', '.join(['*' + p] * 9)}]" for p, n in zip("abcdefg", "bcdefgh")]
    experiment(d, params_text="track_names:\n" + "\n".join(levels) + "\n")


@case("config_folder_instead_of_file", TRAIN, 2, ["{d}/exp/config.yaml", "not a readable file"])
def _(d, root):
    exp = experiment(d)
    (exp / "config.yaml").unlink()
    (exp / "config.yaml").mkdir()


@case("config_unbuildable_data_shape", TRAIN, 2, ["{d}/exp/params.yaml", "'data_shape'", "6 * 2^k"])
def _(d, root):
    experiment(d, params={"data_shape": [4, 40, 24, 5], "beat_resolution": 10})


@case("config_condition_track_out_of_range", INFER, 2,
      ["{d}/exp/params.yaml", "'condition_track' 7 is out of range"])
def _(d, root):
    experiment(d, params={"condition_track": 7})


@case("config_monophonic_drums", INFER, 2,
      ["{d}/exp/params.yaml", "'monophonic_tracks' entry 'Drums' is a drum track"])
def _(d, root):
    experiment(d, params={"monophonic_tracks": ["Drums"]})


@case("config_no_experiment", TRAIN, 2, ["{d}/exp", "no such experiment folder"])
def _(d, root):
    d.mkdir(parents=True)


# ----- training data through `musegan train` (config 'data')


@case("train_data_missing", TRAIN, 1, ["{d}/missing.npz", "training data not found"], tf=True)
def _(d, root):
    experiment(d, config={"data": str(d / "missing.npz")})


@case("train_data_missing_keys", TRAIN, 1, ["{d}/bad.npz", "expected keys"], tf=True)
def _(d, root):
    sparse(d / "bad.npz", x=phrases())
    experiment(d, config={"data": str(d / "bad.npz")})


@case("train_data_object_array", TRAIN, 1, ["{d}/bad.npz", "refusing to unpickle"], tf=True)
def _(d, root):
    evil_npz(d / "bad.npz", d / "unpickled.txt")
    experiment(d, config={"data": str(d / "bad.npz")})


@case("train_data_empty", TRAIN, 1, ["{d}/bad.npz", "empty dataset"], tf=True)
def _(d, root):
    sparse(d / "bad.npz", shape=np.array((0, 4, 24, 24, 5)), nonzero=np.zeros((5, 0), np.int64))
    experiment(d, config={"data": str(d / "bad.npz")})


@case("train_data_shape_mismatch", TRAIN, 1, ["{d}/other.npz", "(4, 48, 84, 5)", "do not match data_shape"],
      tf=True, why="data collected at 48 steps x 84 pitches, the model built for 24 x 24")
def _(d, root):
    x = phrases()
    sparse(d / "other.npz", shape=np.array(x.shape), nonzero=np.array(x.nonzero()))
    experiment(d, config={"data": str(d / "other.npz")})


# ----- checkpoints through `musegan infer` / `musegan train`


@case("checkpoint_none", INFER, 1, ["{d}/exp", "no trained model"], tf=True)
def _(d, root):
    experiment(d)


@case("checkpoint_other_shape", INFER, 1, ["model.ckpt-1", "has shape", "the model needs"], tf=True,
      why="the model folder of a 24-pitch model under params asking for 36 pitches")
def _(d, root):
    with_model(d, root, params={"data_shape": [4, 24, 36, 5]})


@case("checkpoint_other_model", INFER, 1, ["model.ckpt-1", "has shape", "the model needs"], tf=True,
      why="a hybrid model's checkpoint under params asking for the jamming model")
def _(d, root):
    with_model(d, root, params={"multitrack": "jamming"})


@case("checkpoint_corrupt_data", INFER, 1, ["model.ckpt-1", "checkpoint"], tf=True)
def _(d, root):
    with_model(d, root, damage=_corrupt_data)


@case("checkpoint_truncated_index", INFER, 1, ["model.ckpt-1", "checkpoint"], tf=True)
def _(d, root):
    with_model(d, root, damage=_truncate_index)


@case("checkpoint_state_file_garbage", INFER, 0, ["weights: {d}/exp/model/model.ckpt-1"], tf=True,
      creates=["exp/results/inference/*"],
      why="the 'checkpoint' state file is garbage: the complete checkpoint beside it is used")
def _(d, root):
    with_model(d, root, damage=_garbage_state)


@case("checkpoint_listed_but_deleted", INFER, 1, ["{d}/exp", "no trained model"], tf=True)
def _(d, root):
    with_model(d, root, damage=_state_points_nowhere)


@case("train_state_file_garbage", TRAIN + " --steps 2", 0, ["resumed from {d}/exp/model/model.ckpt-1",
                                                            "step 2/2"], tf=True,
      creates=["exp/model/*", "exp/results/training/*"],
      why="training resumes from step 1, not from 0, when the 'checkpoint' state file is damaged")
def _(d, root):
    with_model(d, root, damage=_garbage_state, config={"save_samples_steps": 1000})


@case("train_corrupt_checkpoint", TRAIN, 1, ["model.ckpt-1", "checkpoint"], tf=True,
      why="resuming must not start again from scratch over a damaged checkpoint")
def _(d, root):
    with_model(d, root, damage=_corrupt_data)


@case("infer_results_exist", INFER, 2, ["{d}/exp/results/inference", "already exists"], tf=True)
def _(d, root):
    exp = with_model(d, root)
    write(exp / "results" / "inference" / "keep.txt", PREVIOUS)


@case("interpolate_results_exist", "interpolate {d}/exp --rows 2 --columns 2", 2,
      ["{d}/exp/results/interpolation", "already exists"], tf=True)
def _(d, root):
    exp = with_model(d, root)
    write(exp / "results" / "interpolation" / "keep.txt", PREVIOUS)


@case("infer_bad_bounds", INFER + " --lower 2 --upper -2", 2, ["--lower 2.0 must be below --upper -2.0"],
      tf=True, why="fails after the model is loaded: no partial results folder may remain")
def _(d, root):
    with_model(d, root)


@case("evaluate_model_no_checkpoint", "evaluate {d}/exp --bars 8 --out {d}/out", 1, ["{d}/exp", "no trained model"],
      tf=True)
def _(d, root):
    experiment(d)


# ----- MIDI through `musegan accompany` (input errors answer before the weights are read)

ACCOMPANY = "accompany {d}/song.mid --exp {d}/exp --out {d}/out.mid"


def placeholder_weights(d: Path, params: dict = CONDITIONAL) -> Path:
    """A track-conditional tiny experiment whose shipped weights are a placeholder: the input is
    refused before any weight is read, and before TensorFlow is imported."""
    exp = experiment(d, params=params)
    sparse(exp / "pretrained" / "generator.npz", placeholder=np.zeros(1))
    return exp


@case("accompany_not_midi", ACCOMPANY, 1, ["{d}/song.mid", "not a"])
def _(d, root):
    write(d / "song.mid", b"This is a text file that was renamed song.mid\n" * 20)
    placeholder_weights(d)


@case("accompany_zero_bytes", ACCOMPANY, 1, ["{d}/song.mid", "empty file (0 bytes)"])
def _(d, root):
    write(d / "song.mid", b"")
    placeholder_weights(d)


@case("accompany_truncated", ACCOMPANY, 1, ["{d}/song.mid", "truncated"])
def _(d, root):
    write(d / "song.mid", band_bytes()[:700])
    placeholder_weights(d)


@case("accompany_no_notes", ACCOMPANY, 1, ["{d}/song.mid", "no notes"])
def _(d, root):
    write(d / "song.mid", header(1, 2) + track([(0, tempo(500_000))]) + track([(0, program(0, 0))]))
    placeholder_weights(d)


@case("accompany_notes_out_of_range", ACCOMPANY, 1, ["{d}/song.mid", "within MIDI pitches 48..71"])
def _(d, root):
    song(d / "song.mid", [dict(program=0, notes=[(p, b, b + 1) for b, p in enumerate([10, 120] * 32)])])
    placeholder_weights(d)


@case("accompany_three_four", ACCOMPANY, 1, ["{d}/song.mid", "no 4/4 bar to accompany", "3/4"])
def _(d, root):
    song(d / "song.mid", band(48, "p"), meters=[(0, 3, 4)])
    placeholder_weights(d)


@case("accompany_six_eight", ACCOMPANY, 1, ["{d}/song.mid", "no 4/4 bar to accompany", "6/8"])
def _(d, root):
    song(d / "song.mid", band(48, "p"), meters=[(0, 6, 8)])
    placeholder_weights(d)


@case("accompany_type_2", ACCOMPANY, 1, ["{d}/song.mid", "type-2 MIDI"])
def _(d, root):
    write(d / "song.mid", band_bytes(fmt=2))
    placeholder_weights(d)


@case("accompany_tempo_zero", ACCOMPANY + " --seed 1", 0, ["generated Drums, Guitar, Bass, Strings for 8 bars"],
      tf=True, creates=["out.mid", "out.png"], why="a tempo of 0 is ignored with a warning; the song is accompanied")
def _(d, root):
    write(d / "song.mid", band_bytes(conductor=[(0, tempo(0))]))
    with_model(d, root)


@case("accompany_declares_millions_of_beats", ACCOMPANY, 1, ["{d}/song.mid", "beats long"], timeout=15)
def _(d, root):
    write(d / "song.mid", header(1, 1, 1) + track([(0, b"\x90\x3c\x50"), (9_000_000, b"\x80\x3c\x00")]))
    placeholder_weights(d)


@case("accompany_fifo", ACCOMPANY, 1, ["{d}/song.mid", "not a regular file"], timeout=20)
def _(d, root):
    placeholder_weights(d)
    os.mkfifo(d / "song.mid")


@case("accompany_folder_named_mid", ACCOMPANY, 2, ["{d}/out.mid", "with a folder to accompany, --out names a folder"],
      why="a folder named song.mid is a folder of songs to accompany: its results go to a folder, not to out.mid")
def _(d, root):
    (d / "song.mid").mkdir(parents=True)
    placeholder_weights(d)


@case("accompany_output_exists", ACCOMPANY, 2, ["{d}/out.mid", "already exists"])
def _(d, root):
    song(d / "song.mid", band(32, "p"))
    placeholder_weights(d)
    write(d / "out.mid", PREVIOUS)


@case("accompany_picture_exists", ACCOMPANY, 2, ["{d}/out.png", "already exists"],
      why="OUT.png is written beside OUT.mid: an old one is refused too")
def _(d, root):
    song(d / "song.mid", band(32, "p"))
    placeholder_weights(d)
    write(d / "out.png", PREVIOUS)


@case("accompany_output_not_mid", "accompany {d}/song.mid --exp {d}/exp --out {d}/out.wav", 2,
      ["--out {d}/out.wav", "must name a .mid file"])
def _(d, root):
    song(d / "song.mid", band(32, "p"))
    placeholder_weights(d)


@case("accompany_model_not_conditional", ACCOMPANY, 2, ["{d}/exp", "not a track-conditional model"])
def _(d, root):
    song(d / "song.mid", band(32, "p"))
    placeholder_weights(d, params={})


@case("accompany_no_weights", ACCOMPANY, 1, ["{d}/exp", "no trained model"])
def _(d, root):
    song(d / "song.mid", band(32, "p"))
    experiment(d, params=CONDITIONAL)


@case("accompany_track_out_of_range", ACCOMPANY + " --track 3", 2, ["--track 3", "has tracks 0..0"])
def _(d, root):
    song(d / "song.mid", band(32, "p"))
    placeholder_weights(d)


@case("accompany_only_drum_parts", ACCOMPANY, 1, ["{d}/song.mid", "only drum parts", "piano"],
      why="two drum tracks, the model wants piano: no part can play it")
def _(d, root):
    song(d / "song.mid", band(32, "d") + [dict(drum=True, name="Toms", notes=[(45, b, b + 0.5) for b in range(32)])])
    placeholder_weights(d)


@case("accompany_no_part_of_the_condition_family", ACCOMPANY + " --seed 1", 0,
      ["your part 1 'Guitar' (guitar, 32 notes) as Piano"], tf=True, creates=["out.mid", "out.png"],
      why="drums and a guitar, the model wants piano: the guitar, the only pitched part, plays its role (named)")
def _(d, root):
    song(d / "song.mid", band(32, "d") + [dict(program=25, name="Guitar",
                                                notes=[(60 + b % 3 * 4, b, b + 1) for b in range(32)])])
    with_model(d, root)


@case("accompany_folder_with_a_broken_file", "accompany {d}/in --exp {d}/exp --out {d}/out --seed 1", 0,
      ["accompanied 1 of 2 files", "corrupt (1): broken.mid"], tf=True,
      creates=["out/good.mid", "out/good.png"], why="one bad file never stops a folder's run")
def _(d, root):
    song(d / "in" / "good.mid", band(32, "p"))
    write(d / "in" / "broken.mid", b"This is a text file that was renamed broken.mid\n")
    with_model(d, root)


@case("accompany_only_drums", ACCOMPANY, 1, ["{d}/song.mid", "the part to accompany is drums"], tf=True)
def _(d, root):
    song(d / "song.mid", [dict(drum=True, name="Drums", notes=[(49 + b % 3, b, b + 0.5) for b in range(32)])])
    with_model(d, root)


@case("accompany_checkpoint_other_shape", ACCOMPANY, 1, ["model.ckpt-1", "shape"], tf=True)
def _(d, root):
    song(d / "song.mid", band(32, "p"))
    with_model(d, root, params={"data_shape": [4, 24, 36, 5]})


@case("accompany_checkpoint_corrupt", ACCOMPANY, 1, ["model.ckpt-1", "checkpoint"], tf=True)
def _(d, root):
    song(d / "song.mid", band(32, "p"))
    with_model(d, root, damage=_corrupt_data)


def _damaged_pretrained(d: Path, root: Path) -> Path:
    """A tiny experiment whose only weights are a shipped generator.npz cut in half."""
    exp = with_model(d, root)
    import tensorflow as tf

    reader = tf.train.load_checkpoint(str(exp / "model" / "model.ckpt-1"))
    weights = {k: reader.get_tensor(k).astype(np.float16) for k in reader.get_variable_to_shape_map()
               if k.startswith("Generator/")}
    shutil.rmtree(exp / "model")
    whole = sparse(exp / "pretrained" / "generator.npz", **weights).read_bytes()
    write(exp / "pretrained" / "generator.npz", whole[:len(whole) // 2])
    return exp


@case("infer_pretrained_weights_damaged", INFER, 1, ["{d}/exp/pretrained/generator.npz", "cannot read weights"],
      tf=True, why="shipped weights (pretrained/generator.npz) cut in half")
def _(d, root):
    _damaged_pretrained(d, root)


@case("accompany_pretrained_weights_damaged", ACCOMPANY, 1, ["{d}/exp/pretrained/generator.npz", "cannot read"],
      tf=True)
def _(d, root):
    song(d / "song.mid", band(32, "p"))
    _damaged_pretrained(d, root)


@case("accompany_mixed_meters", ACCOMPANY + " --seed 1", 0, ["generated Drums, Guitar, Bass, Strings for 8 bars"],
      tf=True, creates=["out.mid", "out.png"], why="a 3/4 bar among 4/4 ones: left unaccompanied, the rest written")
def _(d, root):
    song(d / "song.mid", band(35, "dp"), meters=[(0, 4, 4), (16, 3, 4), (19, 4, 4)])
    with_model(d, root)



# ----- accompaniments through `musegan describe` (no TensorFlow, nothing written)

DESCRIBE = "describe {d}/band.mid --exp {d}/exp"


@case("describe_not_midi", DESCRIBE, 1, ["{d}/band.mid", "not a"])
def _(d, root):
    write(d / "band.mid", b"This is a text file that was renamed band.mid\n" * 20)
    experiment(d, params=CONDITIONAL)


@case("describe_not_a_band", DESCRIBE, 1, ["{d}/band.mid", "not a file of `musegan accompany`"],
      why="a song of three tracks, not a band written by accompany (it has five and a conductor)")
def _(d, root):
    song(d / "band.mid", band(8, "dpb"))
    experiment(d, params=CONDITIONAL)


@case("describe_model_not_conditional", DESCRIBE, 2, ["not a track-conditional model"])
def _(d, root):
    song(d / "band.mid", band(8, "dpb"))
    experiment(d)

# --------------------------------------------------------------------------- building and running


def by_name(names: Sequence[str] = ()) -> List[Case]:
    known = {c.name: c for c in CASES}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"unknown cases: {', '.join(unknown)}")
    return [known[n] for n in names] if names else list(CASES)


def build(root: Path, cases: Sequence[Case]) -> None:
    """Write the inputs of `cases` under `root/<case>/` (a fresh folder each)."""
    root = Path(root)
    for c in cases:
        d = root / c.name
        shutil.rmtree(d, ignore_errors=True)
        c.build(d, root)
        d.mkdir(parents=True, exist_ok=True)


def snapshot(d: Path) -> Dict[str, str]:
    """{relative path: sha1 (or 'fifo', 'link -> target')} of everything under `d`, folders excepted."""
    out = {}
    for folder, dirs, files in os.walk(d):
        for name in files + [x for x in dirs if os.path.islink(os.path.join(folder, x))]:
            path = Path(folder) / name
            rel = path.relative_to(d).as_posix()
            if path.is_symlink():
                out[rel] = f"link -> {os.readlink(path)}"
            elif path.is_file():
                out[rel] = hashlib.sha1(path.read_bytes()).hexdigest()
            else:
                out[rel] = "special"
    return out


def changes(before: Dict[str, str], after: Dict[str, str]) -> List[str]:
    """Sorted 'added X', 'removed X', 'changed X' between two snapshots."""
    out = [f"added {k}" for k in after if k not in before]
    out += [f"removed {k}" for k in before if k not in after]
    out += [f"changed {k}" for k in before if k in after and before[k] != after[k]]
    return sorted(out)


def run_in_process(argv: List[str]) -> Dict:
    """`musegan ARGV` through musegan.cli.main in this process: code, stdout, stderr as a process gives them."""
    from musegan import cli

    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            cli.main(argv)
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
            if isinstance(e.code, str):
                print(e.code, file=sys.stderr)
        except BaseException:  # what the interpreter would do with an uncaught exception
            traceback.print_exc()
            code = 1
    return {"code": code, "stdout": out.getvalue(), "stderr": err.getvalue()}


def batch(root: Path, results: Path, names: Sequence[str]) -> None:
    """Build and run `names` in this process; write {name: {code, stdout, stderr, changes, seconds}}."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ["CUDA_VISIBLE_DEVICES"] = ""
    cases = by_name(names)
    build(root, cases)
    report = {}
    for c in cases:
        d = root / c.name
        before = snapshot(d)
        start = time.monotonic()
        result = run_in_process(c.args(d))
        result["seconds"] = round(time.monotonic() - start, 2)
        result["changes"] = changes(before, snapshot(d))
        report[c.name] = result
    results.write_text(json.dumps(report, indent=1))


def main(argv: Sequence[str]) -> None:
    if argv and argv[0] == "--list":
        for c in CASES:
            print(f"{c.name}: musegan {' '.join(c.argv)} -> exit {c.code}, {' / '.join(c.expect)}"
                  f"{' [TensorFlow]' if c.tf else ''}{f'  ({c.why})' if c.why else ''}"
                  f"{f'  [KNOWN PROBLEM: {c.xfail}]' if c.xfail else ''}")
        return
    if argv and argv[0] == "--batch":
        batch(Path(argv[1]), Path(argv[2]), argv[3:])
        return
    if not argv:
        raise SystemExit(__doc__)
    cases = by_name(argv[1:])
    build(Path(argv[0]), cases)
    print(f"wrote {len(cases)} cases under {argv[0]}")


if __name__ == "__main__":
    main(sys.argv[1:])
