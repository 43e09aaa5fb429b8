"""`musegan accompany` on MIDI files nobody here wrote: how many get a band, and why the rest do not.

    python bench/realworld.py DIR [--json PATH] [--seed 0] [--families piano,bass,...]

Every MIDI file below DIR is read (`song.read_song`) to find the families of its parts; a
file counts under each family it has a part of (a file with a piano part under piano, etc.),
and that family's model (exp/accompaniment/FAMILY) accompanies it, as a user would:
`musegan accompany FOLDER --exp exp/accompaniment/FAMILY --out OUT --seed 0` over a folder
holding those files (links, same relative paths). The main command (the piano model) also
runs over every file. A file that cannot be read at all has no family: it counts as
refused in the overall line.

Printed: a table per model (files, accompanied, refused by reason, median seconds per file
on this machine, model loading included in the first file's), the share of files
accompanied by every model whose part they contain, and every refusal. JSON: all of it,
file by file.
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from musegan.accompany import accompany_folder  # noqa: E402
from musegan.config import FAMILIES, load_config  # noqa: E402
from musegan.errors import MuseganError  # noqa: E402
from musegan.music import midi  # noqa: E402
from musegan.music.song import read_song  # noqa: E402


def families_of(files, in_dir: Path):
    """{file: sorted families of its parts} and {file: why it cannot be read}."""
    config = load_config()
    found, unreadable = {}, {}
    for path in files:
        name = path.relative_to(in_dir).as_posix()
        try:
            found[name] = sorted({p.family for p in read_song(path, config).parts})
        except MuseganError as e:
            unreadable[name] = str(e)
    return found, unreadable


def run_model(family: str, names, in_dir: Path, seed: int) -> dict:
    """accompany_folder with the family's model over a folder of links to `names`."""
    with tempfile.TemporaryDirectory(prefix=f"realworld_{family}.") as tmp:
        songs, out = Path(tmp) / "songs", Path(tmp) / "bands"
        for name in names:
            (songs / name).parent.mkdir(parents=True, exist_ok=True)
            os.symlink((in_dir / name).resolve(), songs / name)
        t0 = time.perf_counter()
        lines = []
        try:
            result = accompany_folder(songs, ROOT / "exp" / "accompaniment" / family, out, seed=seed,
                                      log=lambda line: (lines.append(line), print(f"  {line}"[:160],
                                                                                  file=sys.stderr)))
        except MuseganError as e:  # none accompanied
            result = {"accompanied": {}, "refused": {"none accompanied": {n: str(e) for n in names}},
                      "seconds": {}}
        seconds = time.perf_counter() - t0
    return {"files": len(names), "accompanied": sorted(result["accompanied"]),
            "bars": {n: [s["accompanied_bars"], s["bars"]] for n, s in result["accompanied"].items()},
            "refused": result["refused"], "seconds_per_file": result["seconds"], "wall_seconds": seconds,
            "lines": lines}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--families", default=",".join(FAMILIES))
    args = parser.parse_args()
    in_dir = args.folder
    files = sorted((p for p in in_dir.rglob("*") if p.suffix.lower() in midi.MIDI_SUFFIXES and p.is_file()),
                   key=lambda p: p.relative_to(in_dir).as_posix())
    found, unreadable = families_of(files, in_dir)
    runs = {}
    for family in args.families.split(","):
        names = [n for n, fams in found.items() if family in fams]
        print(f"{family}: {len(names)} files with a {family} part", file=sys.stderr)
        runs[family] = run_model(family, names, in_dir, args.seed) if names else None
    print(f"piano model on every file (the main command): {len(files)} files", file=sys.stderr)
    every = run_model("piano", [p.relative_to(in_dir).as_posix() for p in files], in_dir, args.seed)

    def row(label, r):
        reasons = Counter({reason: len(v) for reason, v in r["refused"].items()})
        refused = ", ".join(f"{k} {v}" for k, v in reasons.most_common()) or "-"
        median = statistics.median(r["seconds_per_file"].values()) if r["seconds_per_file"] else float("nan")
        return (f"| {label} | {r['files']} | {len(r['accompanied'])} ({len(r['accompanied']) / r['files']:.0%}) | "
                f"{refused} | {median:.2f} |")

    print(f"\n`python bench/realworld.py {in_dir}`: {len(files)} files, {len(unreadable)} unreadable\n")
    print("| model (files with its part) | files | accompanied | refused, by reason | median s / file |")
    print("|---|---|---|---|---|")
    for family, r in runs.items():
        if r is not None:
            print(row(family, r))
    print(row("piano, every file", every))
    ok_every = [n for n, fams in found.items() if all(runs.get(f) and n in runs[f]["accompanied"] for f in fams)]
    ok_any = [n for n, fams in found.items() if any(runs.get(f) and n in runs[f]["accompanied"] for f in fams)]
    print(f"\nfiles accompanied by every model whose part they contain: {len(ok_every)} of {len(files)} "
          f"({len(ok_every) / len(files):.1%}); by at least one: {len(ok_any)} ({len(ok_any) / len(files):.1%})")
    print("\nrefusals:")
    for label, r in [*((f, r) for f, r in runs.items() if r), ("piano, every file", every)]:
        for reason, problems in r["refused"].items():
            for name, problem in problems.items():
                print(f"  {label}: {name}: {reason}: {problem[:200]}")
    for name, why in unreadable.items():
        print(f"  (unreadable): {why[:200]}")
    if args.json:
        args.json.write_text(json.dumps({"folder": str(in_dir), "files": len(files), "families": found,
                                         "unreadable": unreadable, "runs": runs, "piano_every_file": every,
                                         "accompanied_by_every_model": len(ok_every),
                                         "accompanied_by_some_model": len(ok_any)}, indent=1))


if __name__ == "__main__":
    main()
