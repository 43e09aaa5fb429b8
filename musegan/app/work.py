"""What the page does, without the page: list a song's parts, accompany it, render and describe.

Everything is written under one run folder the caller gives (a temporary folder of the
app's own); errors come back as the CLI's one-line messages (`error_line`), never as a
traceback.
"""
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from musegan.config import condition_index, load_experiment
from musegan.errors import MuseganError, UsageError

__all__ = ["ROOT", "PART_COLUMNS", "Model", "PartRow", "Band", "find_models", "find_examples", "song_parts",
           "default_parts", "make_band", "error_line", "safe_stem", "clear"]

ROOT = Path(__file__).resolve().parents[2]  # the repository: exp/ and examples/ of a source checkout
PART_COLUMNS = ["#", "name", "instrument", "notes", "bars"]


@dataclass(frozen=True)
class Model:
    """An accompaniment experiment: the part it is given, its folder and its track names."""

    given: str  # the condition track's name, lower case: what the page calls the model
    exp_dir: Path
    names: List[str]  # params' track names
    condition: int

    @property
    def band(self) -> List[str]:
        """The tracks it can add: every track but the given one."""
        return [n for t, n in enumerate(self.names) if t != self.condition]


@dataclass(frozen=True)
class PartRow:
    """One part of a song as the page lists it (`musegan.music.song.Part` and its bars)."""

    index: int
    name: str
    instrument: str
    family: str
    notes: int
    bars: str  # "14 of 16"

    def row(self) -> list:
        return [self.index, self.name or "(unnamed)", self.instrument, self.notes, self.bars]


@dataclass
class Band:
    """One run's results, every path inside the run folder."""

    midi: Path
    picture: Path
    mix: Path  # your part and the band
    yours: Path  # your part alone
    band: Path  # the band alone
    table: str  # `musegan describe`'s text
    lines: List[str] = field(default_factory=list)  # what `musegan accompany` printed
    warnings: List[str] = field(default_factory=list)
    seconds: Dict[str, float] = field(default_factory=dict)


def find_models(root: Optional[Path] = None) -> Dict[str, Model]:
    """Accompaniment experiments with weights under `root` (default: ./exp/accompaniment, else
    the repository's), by the part they are given, in the params' track order."""
    from musegan.accompany import has_weights

    if root is None:
        root = next((r for r in (Path("exp/accompaniment"), ROOT / "exp" / "accompaniment") if r.is_dir()),
                    ROOT / "exp" / "accompaniment")
    found = []
    for exp in sorted(Path(root).glob("*/params.yaml")):
        try:
            _, params = load_experiment(exp.parent)
        except MuseganError:
            continue
        c = condition_index(params)
        if c is None or not has_weights(exp.parent):
            continue
        found.append((c, Model(params["track_names"][c].lower(), exp.parent, list(params["track_names"]), c)))
    return {m.given: m for _, m in sorted(found, key=lambda cm: cm[0])}


def find_examples(folder: Optional[Path] = None) -> List[Path]:
    """The example songs (`*_example.mid`) of `folder` (default: the repository's examples/)."""
    return sorted(Path(folder or ROOT / "examples").glob("*_example.mid"))


def song_parts(path: Path, model: Model) -> List[PartRow]:
    """The parts of the song at `path` as `musegan accompany` numbers them (`--track INDEX`),
    with their General MIDI instrument and the bars they play in. DataError (one line) for a
    file that is not a readable song."""
    import pretty_midi

    from musegan.music.song import part_events, read_song

    config, _ = load_experiment(model.exp_dir)
    song = read_song(Path(path), config)
    try:
        pm = pretty_midi.PrettyMIDI(str(path))
        downbeats = np.array([pm.time_to_tick(t) for t in pm.get_downbeats()])
    except Exception:  # noqa: BLE001 - the bars column is a courtesy: a file read_song took is still usable
        downbeats = np.array([0])
    rows = []
    for part in song.parts:
        ticks = [t for t, m in part_events(song, part) if m.type == "note_on" and m.velocity > 0]
        bars = np.unique(np.searchsorted(downbeats, ticks, side="right"))
        instrument = "Drums" if part.is_drum else pretty_midi.program_to_instrument_name(part.program)
        rows.append(PartRow(part.index, part.name, f"{instrument} ({part.family})", part.family, part.n_notes,
                            f"{len(bars)} of {len(downbeats)}"))
    return rows


def default_parts(path: Path, model: Model) -> Tuple[List[int], str]:
    """The parts `musegan accompany` gives `model` when no --track is named, and the line it
    prints when it takes a part for its role (else ""); a one-line MuseganError when no part
    can play the model's part."""
    from musegan.music.song import read_song, select_parts

    config, _ = load_experiment(model.exp_dir)
    notes: List[str] = []
    chosen = select_parts(read_song(Path(path), config), None, model.given, notes.append)
    return [p.index for p in chosen], " ".join(line.split(": ", 1)[-1] for line in notes)


def safe_stem(name: str) -> str:
    """A file name stem from an uploaded file's name: letters, digits, '-' and '_' only."""
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", Path(name).stem).strip("_")[:60]
    return stem or "song"


def make_band(song: Path, model: Model, run_dir: Path, parts: Optional[Sequence[int]] = None, seed: int = 0,
              latents: str = "style", band: Optional[Sequence[str]] = None, name: Optional[str] = None,
              progress: Callable[[float, str], None] = lambda fraction, what: None) -> Band:
    """`musegan accompany` of `song` with `model` into `run_dir` (the MIDI file and its picture),
    then the audio (your part alone, the band alone and both together), then `musegan describe`.
    `parts`: the part indices to give (default: accompany's own choice); `band`: the track
    names to add (default all); `name`: the song's name for the output files."""
    from musegan.accompany import accompany
    from musegan.describe import report
    from musegan.music.audio import render_stems

    if parts is not None and not len(parts):
        raise UsageError("--track is empty: choose your part")
    run_dir = Path(run_dir)
    stem = safe_stem(name or Path(song).name)
    given = run_dir / f"{stem}.mid"  # under its own name: the lines printed name the user's file
    shutil.copyfile(song, given)
    out = run_dir / f"{stem}_band.mid"
    lines, warnings, seconds = [], [], {}
    t0 = time.perf_counter()
    progress(0.05, "reading the song and generating the band")
    summary = accompany(given, model.exp_dir, out, track=",".join(map(str, parts)) if parts else None,
                        seed=int(seed), latent=latents, band=band, overwrite=True,
                        log=lambda line: lines.append(line.replace(f"{run_dir}{os.sep}", "")),
                        warn=warnings.append)
    seconds["accompany"] = time.perf_counter() - t0
    progress(0.5, "rendering the audio")
    t1 = time.perf_counter()
    # The file: conductor, then the model's tracks in order, the user's part (one chunk per part) in its place.
    before = sum(model.names.index(n) < model.condition for n in summary["band"])
    yours = list(range(1 + before, 1 + before + len(summary["parts"])))
    others = [k for k in range(1, 1 + len(summary["parts"]) + len(summary["band"])) if k not in yours]
    wavs, used = render_stems(out, {f"{stem}_yours": yours, f"{stem}_band_only": others}, run_dir,
                              mix=f"{stem}_band")
    seconds["audio"] = time.perf_counter() - t1
    lines.append(f"audio: {used}")
    progress(0.9, "describing the band")
    table, _ = report([out], model.exp_dir)
    # the page names the model by the part it is given, not by a folder on the server
    table = table.replace(f"the generated tracks of {model.exp_dir}", f"the generated tracks of the {model.given} model")
    seconds["total"] = time.perf_counter() - t0
    return Band(midi=out, picture=summary["paths"]["png"], mix=wavs[f"{stem}_band"], yours=wavs[f"{stem}_yours"],
                band=wavs[f"{stem}_band_only"], table=table, lines=lines, warnings=warnings, seconds=seconds)


def error_line(command: str, error: BaseException) -> str:
    """The one line the CLI prints for `error`: `musegan COMMAND: error: ...`; an unforeseen
    exception gets its type and first line, never a traceback."""
    if isinstance(error, MuseganError):
        return f"musegan {command}: error: {error}"
    text = str(error).strip().splitlines()[0][:200] if str(error).strip() else ""
    return f"musegan {command}: error: unexpected {type(error).__name__}{': ' + text if text else ''}"


def clear(folder: Path) -> None:
    """Remove a run folder (the page keeps only the latest run of each visitor)."""
    shutil.rmtree(folder, ignore_errors=True)
