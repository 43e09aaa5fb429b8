"""Fit and continuity of `musegan accompany`'s band, as drawn and as arranged (`musegan.arrange`).

    python bench/groove.py --rwc RWC_DIR --songs MIDI_DIR [--exp exp/accompaniment/piano]
                           [--seeds 8] [--style-candidates 8] [--phrase-candidates 8] [--rests 1]
                           [--limit N] [--json PATH]

Songs:
1. held out: the songs `musegan evaluate EXP` holds out (the experiment's config: its
   data file, `validation_fraction`, split by song with its `seed`), read from RWC_DIR
   (the folder the data file was collected from), with their piano part given (songs
   without one are left out). Their own tracks are the real band.
2. MIDI_DIR: every MIDI file under it that `musegan accompany` accompanies, all its
   pitched parts given (those it refuses are counted and left out).

Each song is accompanied in-process with one loaded generator at seeds 0..N-1, as drawn
(`AS_DRAWN`: the latents `--latents style` draws, no rests) and as arranged (the
options given), and measured on the model's grid (`musegan.arrange`'s measures):
- harmony: % of the guitar/bass/strings notes (the pitched generated tracks) whose pitch
  class the given part sounds in that beat;
- onsets: % of them starting within a 32nd of a note of the given part;
- drums, rhythm: mean similarity of consecutive 4-bar phrases' drum patterns and band
  rhythms (cosine, phrases with a silent pattern left out);
- silent bars % and notes per bar of each generated track.
Pooled over a set's songs for each seed; the table gives the mean over seeds, the
spread (standard deviation over seeds) and, for the real band, the songs' own figures;
the data's share of silent bars (`REST_SHARES`) is printed beside them, and measured anew
on the experiment's training phrases with the notes per bar the texture score aims at
(`TEXTURE_NOTES`). Timings are the band's generation alone (`accompany.band`) per song,
on a loaded model.
"""
import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ("harmony", "onsets", "drums", "rhythm")


def held_out(exp: Path, rwc: Path, params: dict, config: dict) -> List[dict]:
    """The held-out songs: the user's phrases, their layout and the song's own band."""
    from musegan.errors import MuseganError
    from musegan.music import collect, pianoroll, reading
    from musegan.music.splits import load_training_data

    _, valid = load_training_data(config)
    if valid is None or valid.song_names is None:
        sys.exit(f"{config['data']}: holds no song names (or no held-out songs); collect it anew")
    names = [valid.song_names[i] for i in np.unique(valid.song_ids)]
    folder = collect.read_rwc(rwc, config["collect"]["rwc_genres"])
    tasks, _ = collect.select([rwc / name for name in names], [folder])
    songs, left = [], []
    for path, vocal in tasks:
        try:
            r = reading.read_input(path, None, params, config, lambda line: None, beats_mode="file")
        except MuseganError as e:
            left.append(f"{path.name}: {str(e).split(';')[0]}")
            continue
        roll, grid, _ = pianoroll.midi_to_roll(path, params, config, vocal)
        layout = reading.phrase_layout(grid.bar_is_44[:r.song_bars], params["data_shape"][0])
        real = _phrases(roll, grid.bar_starts, layout.bars, params["data_shape"][1])
        songs.append({"name": path.name, "given": r.conditions, "bars": r.layout.bars, "real": real,
                      "real_bars": layout.bars})
    return songs, left


def other_songs(folder: Path, params: dict, config: dict) -> List[dict]:
    """Every MIDI file under `folder` that `musegan accompany` takes, its pitched parts given."""
    from musegan.errors import MuseganError
    from musegan.music import midi, reading
    from musegan.music.song import read_song

    songs, left = [], []
    for path in sorted(p for p in folder.rglob("*") if p.suffix.lower() in midi.MIDI_SUFFIXES):
        try:
            pitched = [str(p.index) for p in read_song(path, config).parts if p.family != "drums"]
            r = reading.read_input(path, ",".join(pitched) or None, params, config, lambda line: None)
        except MuseganError as e:
            left.append(f"{path.name}: {str(e).split(';')[0][-120:]}")
            continue
        songs.append({"name": str(path.relative_to(folder)), "given": r.conditions, "bars": r.layout.bars})
    return songs, left


def data_figures(config: dict, params: dict) -> Dict[str, Dict[str, float]]:
    """The training phrases' share of silent bars and median notes per bar where a track plays,
    by track name (every 4th phrase: the data's phrases overlap by 3 bars)."""
    from musegan.arrange import onsets
    from musegan.music.splits import load_training_data

    train, _ = load_training_data(config)
    per_bar = []
    for start in range(0, len(train), 4 * 256):
        x = train.unpack(np.arange(start, min(start + 4 * 256, len(train)), 4))
        per_bar.append(onsets(x).sum(axis=(2, 3)).reshape(-1, x.shape[-1]))  # (bars, tracks)
    per_bar = np.concatenate(per_bar)
    return {name.lower(): {"silent": float((per_bar[:, t] == 0).mean()),
                           "notes": float(np.median(per_bar[per_bar[:, t] > 0, t]))}
            for t, name in enumerate(params["track_names"])}


def _phrases(roll: np.ndarray, bar_starts: np.ndarray, bars: np.ndarray, n_steps: int) -> np.ndarray:
    """Bool `(n_phrases, n_bars, n_steps, n_pitches, n_tracks)`: the song's roll at `bars`."""
    steps = bar_starts[np.maximum(bars, 0)][..., None] + np.arange(n_steps)
    return roll[np.minimum(steps, len(roll) - 1)] & (bars >= 0)[..., None, None, None]


class Tally:
    """Pooled counts of one set of songs under one setting and seed."""

    def __init__(self, params: dict):
        from musegan.arrange import Scorer

        self.scorer = Scorer(params)
        self.names = [params["track_names"][t] for t in self.scorer.generated]
        self.counts = np.zeros(3)  # in harmony, with onsets, pitched notes
        self.pairs: Dict[str, List[np.ndarray]] = {"drums": [], "rhythm": []}
        self.notes = np.zeros(len(self.names))
        self.silent = np.zeros(len(self.names))
        self.bars = 0

    def add(self, x: np.ndarray, given: np.ndarray, bars: np.ndarray) -> None:
        from musegan.arrange import follows, onsets, similarity

        played = bars >= 0
        x = x & played[:, :, None, None, None]
        on = onsets(x)
        self.counts += np.array([c.sum() for c in self.scorer.fit(on, given)])
        drums, rhythm = self.scorer.patterns(on)
        pairs = follows(bars)
        for key, pattern in (("drums", drums), ("rhythm", rhythm)):
            if pattern is not None:
                self.pairs[key].append(similarity(pattern[:-1], pattern[1:])[pairs])
        per_bar = on[..., self.scorer.generated].sum(axis=(2, 3))[played]  # (bars, tracks)
        self.notes += per_bar.sum(0)
        self.silent += (per_bar == 0).sum(0)
        self.bars += int(played.sum())

    def figures(self) -> Dict[str, float]:
        def mean(key: str) -> float:
            values = np.concatenate(self.pairs[key]) if self.pairs[key] else np.array([np.nan])
            return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")

        out = {"harmony": 100 * self.counts[0] / max(self.counts[2], 1),
               "onsets": 100 * self.counts[1] / max(self.counts[2], 1),
               "drums": mean("drums"), "rhythm": mean("rhythm")}
        for name, notes, silent in zip(self.names, self.notes, self.silent):
            out[f"{name} silent %"] = 100 * silent / max(self.bars, 1)
            out[f"{name} notes/bar"] = notes / max(self.bars, 1)
        return out


def run(songs: List[dict], gen, settings: Dict[str, object], seeds: range, bar) -> Dict[str, dict]:
    """{setting: {"seeds": [figures per seed], "seconds": [per song and seed]}}."""
    from musegan.accompany import play_band

    out = {name: {"seeds": [], "seconds": []} for name in settings}
    for seed in seeds:
        for name, arranging in settings.items():
            tally = Tally(gen.params)
            for song in songs:
                t = time.perf_counter()
                x = play_band(gen, song["given"], song["bars"], np.random.default_rng(seed), "style", "hard", arranging)
                out[name]["seconds"].append(time.perf_counter() - t)
                tally.add(x, song["given"], song["bars"])
                bar.update(1)
            out[name]["seeds"].append(tally.figures())
    return out


def summary(per_seed: List[Dict[str, float]]) -> Dict[str, Dict[str, float]]:
    keys = per_seed[0].keys()
    return {k: {"mean": float(np.mean([s[k] for s in per_seed])), "std": float(np.std([s[k] for s in per_seed])),
                "min": float(np.min([s[k] for s in per_seed])), "max": float(np.max([s[k] for s in per_seed]))}
            for k in keys}


def table(title: str, results: Dict[str, dict], real: Optional[Dict[str, float]], rests: Dict[str, float]) -> str:
    rows = {name: summary(r["seeds"]) for name, r in results.items()}
    keys = list(next(iter(rows.values())).keys())
    cols = ["setting"] + keys
    lines = [f"### {title}", "", "| " + " | ".join(cols) + " |", "|---" * len(cols) + "|"]

    def cell(k: str, v: float) -> str:
        return f"{v:.2f}" if k in ("drums", "rhythm") else f"{v:.1f}"

    for name, row in rows.items():
        lines.append(f"| {name}, seed 0 | " + " | ".join(cell(k, results[name]["seeds"][0][k]) for k in keys) + " |")
        lines.append(f"| {name}, mean of seeds | " + " | ".join(cell(k, row[k]["mean"]) for k in keys) + " |")
        lines.append(f"| {name}, spread (sd) | " + " | ".join(cell(k, row[k]["std"]) for k in keys) + " |")
        lines.append(f"| {name}, range | " + " | ".join(f"{cell(k, row[k]['min'])}-{cell(k, row[k]['max'])}"
                                                           for k in keys) + " |")
    if real is not None:
        lines.append("| real band | " + " | ".join(cell(k, real[k]) for k in keys) + " |")
    lines.append("| data (silent %) | " + " | ".join(
        f"{100 * rests[k.split()[0].lower()]:.1f}" if k.endswith("silent %") and k.split()[0].lower() in rests else ""
        for k in keys) + " |")
    for name, r in results.items():
        s = np.array(r["seconds"])
        lines.append(f"\n{name}: generation {s.mean():.3f} s per song (median {np.median(s):.3f}, max {s.max():.3f})")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--exp", type=Path, default=ROOT / "exp" / "accompaniment" / "piano")
    parser.add_argument("--rwc", type=Path, required=True, help="the RWC MIDI folder the experiment's data came from")
    parser.add_argument("--songs", type=Path, default=None, help="a folder of other MIDI files")
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--style-candidates", type=int, default=None)
    parser.add_argument("--phrase-candidates", type=int, default=None)
    parser.add_argument("--rests", type=float, default=None)
    parser.add_argument("--limit", type=int, default=None, help="at most this many songs of each set (a quick look)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.path.insert(0, str(ROOT))
    warnings.filterwarnings("ignore")
    from tqdm import tqdm

    from musegan.arrange import AS_DRAWN, REST_SHARES, TEXTURE_NOTES, Arranging
    from musegan.config import condition_index, load_experiment
    from musegan.generate import Generator
    from musegan.runtime import quiet_stderr

    defaults = Arranging()
    arranged = Arranging(*(d if a is None else a for a, d in (
        (args.style_candidates, defaults.style_candidates), (args.phrase_candidates, defaults.phrase_candidates),
        (args.rests, defaults.rests)))).check()
    settings = {"as drawn": AS_DRAWN, "arranged": arranged}
    config, params = load_experiment(args.exp)
    sets = {}
    songs, left = held_out(args.exp, args.rwc, params, config)
    sets["held-out RWC songs"] = (songs[:args.limit], left)
    if args.songs is not None:
        songs, left = other_songs(args.songs, params, config)
        sets[f"{args.songs.name}"] = (songs[:args.limit], left)
    with quiet_stderr():
        gen = Generator(args.exp, batch_size=256)
    seeds = range(args.seeds)
    total = sum(len(s) for s, _ in sets.values()) * len(seeds) * len(settings)
    results = {}
    with tqdm(total=total, unit="song", desc="accompanying") as bar:
        for title, (songs, left) in sets.items():
            results[title] = {"songs": [s["name"] for s in songs], "left_out": left,
                              "bars": int(sum((s["bars"] >= 0).sum() for s in songs)),
                              "settings": run(songs, gen, settings, seeds, bar)}
            if songs and "real" in songs[0]:
                tally = Tally(params)
                for s in songs:
                    tally.add(s["real"], s["real"][..., condition_index(params)], s["real_bars"])
                results[title]["real"] = tally.figures()
    gen.close()
    data = data_figures(config, params)
    print("the training phrases (musegan.arrange's constants in brackets): " + "; ".join(
        f"{name} silent {100 * f['silent']:.1f}% ({100 * REST_SHARES.get(name, 0):.1f}), "
        f"{f['notes']:g} notes/bar where it plays ({TEXTURE_NOTES.get(name, float('nan')):g})"
        for name, f in data.items()) + "\n")
    print(f"{args.exp}, seeds 0-{args.seeds - 1}; as drawn = {AS_DRAWN}; arranged = {arranged}\n")
    for title, r in results.items():
        print(f"{title}: {len(r['songs'])} songs, {r['bars']} bars; {len(r['left_out'])} left out")
        print(table(title, r["settings"], r.get("real"), REST_SHARES) + "\n")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"exp": str(args.exp), "seeds": args.seeds, "arranged": arranged.__dict__,
                                         "data": data, "results": results}, indent=1, default=float) + "\n")


if __name__ == "__main__":
    main()
