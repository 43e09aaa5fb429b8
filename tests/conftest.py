"""Shared test helpers: write small MIDI files with exactly known contents.

Hypothesis runs derandomized here (profile `ci`: the same examples on every machine and
run, no example database), so the suite cannot fail by chance; the long fuzz run
(`MUSEGAN_FUZZ_EXAMPLES=...`, tests/test_fuzz.py) draws at random (profile `fuzz`), as
does any run with `MUSEGAN_HYPOTHESIS_PROFILE=fuzz`.
"""
import atexit
import itertools
import os
import shutil
import tempfile
from pathlib import Path
from typing import Dict, Sequence, Tuple

import mido
import pytest
from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None)
settings.register_profile("fuzz", derandomize=False)
settings.load_profile(os.environ.get("MUSEGAN_HYPOTHESIS_PROFILE",
                                     "fuzz" if "MUSEGAN_FUZZ_EXAMPLES" in os.environ else "ci"))

# The tests' JAX programs are tiny: XLA's LLVM optimizations cost more compile time than they
# save (they halve the JAX tests' run time). Set before JAX starts its CPU backend, which reads it once.
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0").strip()
# Runs of one tiny model (a resume, the same model in another test or subprocess) compile the same
# programs: a compilation cache for this session only.
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    _CACHE = tempfile.mkdtemp(prefix="musegan-jax-cache-")
    atexit.register(shutil.rmtree, _CACHE, True)
    os.environ.update(JAX_COMPILATION_CACHE_DIR=_CACHE, JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0")


def write_midi(path: Path, tracks: Sequence[Dict], tempos: Sequence[Tuple[float, float]] = ((0, 120.0),),
               meters: Sequence[Tuple[float, int, int]] = ((0, 4, 4),), tpq: int = 480,
               offset_ticks: int = 0, stretch: float = 1.0) -> Path:
    """Write a type-1 MIDI file; positions are in beats (quarter notes).

    tracks: dicts with `notes` [(pitch, start_beat, end_beat)], optional
    `program` (0), `drum` (False) and `name`. tempos: (beat, bpm); meters:
    (beat, numerator, denominator); none of either writes no such event.
    Notes (only) are moved to `stretch * tick + offset_ticks`, as re-timed files are.
    """
    midi = mido.MidiFile(type=1, ticks_per_beat=tpq)
    events = [(int(b * tpq), mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm))) for b, bpm in tempos]
    events += [(int(b * tpq), mido.MetaMessage("time_signature", numerator=n, denominator=d)) for b, n, d in meters]
    midi.tracks.append(_track(events))
    channels = itertools.cycle(c for c in range(16) if c != 9)  # more than 15 parts share channels
    for spec in tracks:
        channel = 9 if spec.get("drum") else next(channels)
        events = [(0, mido.MetaMessage("track_name", name=spec.get("name", ""))),
                  (0, mido.Message("program_change", channel=channel, program=spec.get("program", 0)))]
        for pitch, start, end in spec["notes"]:
            on, off = (int(round(stretch * b * tpq)) + offset_ticks for b in (start, end))
            events.append((on, mido.Message("note_on", channel=channel, note=pitch, velocity=90)))
            events.append((off, mido.Message("note_off", channel=channel, note=pitch, velocity=0)))
        midi.tracks.append(_track(events))
    path.parent.mkdir(parents=True, exist_ok=True)
    midi.save(str(path))
    return path


def _track(events):
    track, last = mido.MidiTrack(), 0
    # note_off (type sorts before note_on) first at equal ticks, as sequencers write them
    for tick, msg in sorted(events, key=lambda e: (e[0], e[1].type != "note_off")):
        track.append(msg.copy(time=tick - last))
        last = tick
    return track


def band(n_bars: int = 8, tracks: str = "dpb", pitch: int = 60) -> list:
    """A simple 4/4 band, one note per beat: d(rums) p(iano) g(uitar) b(ass) s(trings)."""
    spec = {"d": dict(drum=True, name="Drums", notes=[(36, b, b + 0.5) for b in range(4 * n_bars)]),
            "p": dict(program=0, name="Piano", notes=[(pitch, b, b + 1) for b in range(4 * n_bars)]),
            "g": dict(program=25, name="Guitar", notes=[(pitch + 4, b, b + 1) for b in range(4 * n_bars)]),
            "b": dict(program=33, name="Bass", notes=[(pitch - 24, b, b + 2) for b in range(0, 4 * n_bars, 2)]),
            "s": dict(program=48, name="Strings", notes=[(pitch + 7, b, b + 4) for b in range(0, 4 * n_bars, 4)])}
    return [spec[t] for t in tracks]


def downbeat_band(n_bars: int = 16, pickup: int = 0) -> list:
    """A 4/4 band whose bars are plain from the music: drums (kick on 1 and 3, snare on 2 and
    4, a crash every 4 bars), a bass root on each downbeat, a chord a bar (C F G Am), and
    `pickup` beats of melody before bar 1 (bar k starts at beat `pickup + 4 k`)."""
    roots = (48, 41, 43, 45)
    chords = ((60, 64, 67), (60, 65, 69), (59, 62, 67), (60, 64, 69))
    drums, bass, keys, tune = [], [], [], [(72 + 2 * b, b, b + 0.5) for b in range(pickup)]
    for bar in range(n_bars):
        one = pickup + 4 * bar
        drums += [(36, one, one + 0.25), (38, one + 1, one + 1.25), (36, one + 2, one + 2.25), (38, one + 3, one + 3.25)]
        drums += [(42, one + b / 2, one + b / 2 + 0.1) for b in range(8)]
        if bar % 4 == 0:
            drums.append((49, one, one + 0.5))
        bass += [(roots[bar % 4], one, one + 1.5), (roots[bar % 4] + 7, one + 2, one + 2.5)]
        keys += [(p, one, one + 3.8) for p in chords[bar % 4]]
        tune += [(72 + (bar + b) % 5, one + b, one + b + 0.9) for b in (0, 2, 3)]
    return [dict(drum=True, name="Drums", notes=drums), dict(program=33, name="Bass", notes=bass),
            dict(program=0, name="Piano", notes=keys), dict(program=73, name="Flute", notes=tune)]


@pytest.fixture
def make_midi(tmp_path):
    """make_midi(name, tracks, **write_midi options) -> path under tmp_path."""
    return lambda name, tracks, **kw: write_midi(tmp_path / name, tracks, **kw)


@pytest.fixture(scope="session")
def tiny_piano_exp(tmp_path_factory):
    """A tiny accompaniment model conditioned on piano, trained one step (tests/tiny_exp.py):
    4-bar phrases of 24 steps a bar (6 a beat), pitches 48..71."""
    from musegan.training.loop import train
    from tiny_exp import make_experiment

    exp = make_experiment(tmp_path_factory.mktemp("accompany"), params={"multitrack": "hybrid",
                                                                         "condition_track": "piano"})
    train(exp, steps=1, log=lambda *a: None)
    return exp

