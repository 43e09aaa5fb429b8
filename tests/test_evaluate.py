"""`musegan evaluate`: a dataset through the CLI, and a model through a stand-in generator."""
import json
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import yaml

from musegan import evaluate
from musegan.metrics import goal, report
from musegan.errors import UsageError

KEYS = {"EB", "UPC", "UPC_nonempty", "QN", "DP", "TD", "polyphony", "in_scale", "info"}


def band(n, seed=0):
    """`(n, 4, 48, 84, 5)` phrases: per phrase a random key, I-IV-V-I in every track, kick on 1."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, 4, 48, 84, 5), dtype=bool)
    for i, key in enumerate(rng.integers(0, 12, n)):
        for bar, degree in enumerate((0, 5, 7, 0)):
            row = 24 + (key + degree) % 12            # MIDI 48 + ... (row 0 = MIDI 24)
            for t, (start, stop) in zip((1, 2, 3, 4), ((0, 46), (0, 22), (0, 46), (24, 46))):
                for p in ((row - 12,) if t == 3 else (row, row + 4, row + 7)):
                    x[i, bar, start:stop, p, t] = True
            x[i, bar, ::12, 12, 0] = True
        if i % 2:
            x[i, 2:, :, :, 2] = False                 # guitar silent in half the bars of odd phrases
    return x


def write_npz(path: Path, x: np.ndarray) -> Path:
    with open(path, "wb") as f:
        np.savez_compressed(f, shape=x.shape, nonzero=x.nonzero())
    return path


def run_cli(*argv):
    return subprocess.run([sys.executable, "-m", "musegan", "evaluate", *map(str, argv)],
                          capture_output=True, text=True, timeout=120)


def test_evaluate_data_through_the_cli(tmp_path):
    data = write_npz(tmp_path / "phr.npz", band(12))
    out = tmp_path / "eval"
    done = run_cli("--data", data, "--out", out)
    assert done.returncode == 0, done.stderr
    result = json.loads((out / "metrics.json").read_text())
    assert KEYS <= set(result)
    assert result["info"]["n_phrases"] == 12 and result["source"]["data"] == str(data)
    assert result["EB"] == {"drums": 0.0, "piano": 0.0, "guitar": 25.0, "bass": 0.0, "strings": 0.0}
    assert result["UPC"]["bass"] == 1.0 and result["UPC"]["guitar"] == 2.25
    assert result["DP"] == 100.0 and "drums" not in result["QN"]
    assert result["TD"]["piano-guitar"] == 0.0 and result["TD"]["piano-bass"] > 0.5
    report = (out / "report.md").read_text()
    assert report.splitlines()[5] == f"musegan evaluate --data {data} --out {out}"
    assert "| data: phr.npz | 0.00 | 0.00 | 25.00 |" in report        # EB B, D, G
    assert "paper: cond. hybrid" in report and "| TD | B-G | B-S | B-P | G-S | G-P | S-P |" in report

    again = run_cli("--data", data, "--out", out)
    assert again.returncode == 2 and "already exists; pass --overwrite" in again.stderr
    assert run_cli("--data", data, "--out", out, "--overwrite").returncode == 0


def args(**kw):
    """Keyword arguments of `evaluate.evaluate`, as the command line's defaults give them."""
    base = dict(exp_dir=None, data=None, out=None, bars=20000, condition_dir=None, binarization=None, seed=None,
                overwrite=False, by_song=False)
    return {**base, **kw}


@pytest.mark.parametrize("kw, message", [
    ({}, "either EXP_DIR"),
    ({"exp_dir": Path("e"), "data": Path("d.npz")}, "not both"),
    ({"data": Path("d.npz")}, "needs --out"),
    ({"data": Path("d.npz"), "out": Path("o"), "binarization": "hard"}, "apply to a model"),
    ({"data": Path("d.npz"), "out": Path("o"), "by_song": True}, "apply to a model"),
])
def test_usage_errors(kw, message):
    with pytest.raises(UsageError, match=message):
        evaluate.evaluate(**args(**kw))


def experiment(tmp_path, n=16, **params):
    exp = tmp_path / "exp"
    exp.mkdir()
    data = write_npz(tmp_path / "phr.npz", band(n))
    (exp / "config.yaml").write_text(yaml.safe_dump({"data": str(data), "validation_fraction": 0.25, "seed": 3}))
    if params:
        (exp / "params.yaml").write_text(yaml.safe_dump(params))
    return exp


class FakeModel:
    """Stands in for `musegan.generate.generate_phrases`: plays the band with shuffled tracks."""

    def __init__(self):
        self.calls, self.binarizations = [], []

    def __call__(self, exp_dir, n_phrases, conditions=None, seed=0, binarization="hard"):
        self.calls.append((exp_dir, n_phrases, conditions, seed))
        self.binarizations.append(binarization)
        x = band(n_phrases, seed=7)
        rng = np.random.default_rng(seed)
        for t in range(5):
            x[..., t] = x[rng.permutation(n_phrases), ..., t]
        if conditions is not None:
            x[..., 1] = conditions                     # the given piano comes back unchanged
        return x


def test_evaluate_model_compares_with_the_training_split(tmp_path, monkeypatch):
    exp = experiment(tmp_path)
    fake = FakeModel()
    monkeypatch.setitem(sys.modules, "musegan.generate", types.SimpleNamespace(generate_phrases=fake))
    evaluate.evaluate(**args(exp_dir=exp, bars=30))
    (_, n_phrases, conditions, seed), = fake.calls
    assert n_phrases == 8 and conditions is None and seed == 3      # ceil(30 / 4) phrases
    out = exp / "results" / "evaluation"
    result = json.loads((out / "metrics.json").read_text())
    assert set(result) == {"training_data", "model", "abs_difference", "info"}
    assert KEYS <= set(result["model"]) and KEYS <= set(result["training_data"])
    assert result["training_data"]["info"]["n_phrases"] == 12       # 16 phrases, 4 held out
    assert result["model"]["info"]["n_bars"] == 32
    pair = "piano-guitar"
    assert result["model"]["TD"][pair] > result["training_data"]["TD"][pair]
    assert result["abs_difference"]["TD"][pair] == pytest.approx(
        result["model"]["TD"][pair] - result["training_data"]["TD"][pair], abs=2e-4)
    report = (out / "report.md").read_text()
    assert f"musegan evaluate {exp} --bars 30 --out {out}" in report
    for row in ("| this model's training data |", "| this model |", "| abs difference |", "| paper: training data"):
        assert row in report
    assert (out / "samples.png").stat().st_size > 0
    with pytest.raises(UsageError, match="already exists"):
        evaluate.evaluate(**args(exp_dir=exp, bars=30))


def test_selection_songs_are_neither_reference_nor_condition(tmp_path):
    """Songs kept out for checkpoint selection are not in the training reference (the model is
    not fitted to them), and the report says how many."""
    exp = experiment(tmp_path, condition_track="piano")
    config_path = exp / "config.yaml"
    config_path.write_text(config_path.read_text() + "selection_fraction: 0.34\n")
    fake = FakeModel()
    result = evaluate.evaluate_model(exp, tmp_path / "out", 16, generate=fake)
    assert result["training_data"]["info"]["n_phrases"] == 8             # 16 - 4 held out - 4 kept
    assert "4 held out, 4 kept out for checkpoint selection" in (tmp_path / "out" / "report.md").read_text()


def test_seed_draws_other_latents_for_the_same_conditions(tmp_path, monkeypatch):
    """--seed changes the latent vectors only: the same held-out conditions as the config seed
    gives, and the report names the seed and the command that reproduces it."""
    exp = experiment(tmp_path, condition_track="piano")
    fake = FakeModel()
    monkeypatch.setitem(sys.modules, "musegan.generate", types.SimpleNamespace(generate_phrases=fake))
    evaluate.evaluate(**args(exp_dir=exp, bars=24, out=tmp_path / "a"))
    evaluate.evaluate(**args(exp_dir=exp, bars=24, seed=7, out=tmp_path / "b"))
    (_, _, first, seed_a), (_, _, second, seed_b) = fake.calls
    assert (seed_a, seed_b) == (3, 7) and np.array_equal(first, second)
    report = (tmp_path / "b" / "report.md").read_text()
    assert f"--seed 7 --out {tmp_path / 'b'}" in report and "latent vectors of seed 7" in report
    assert json.loads((tmp_path / "b" / "metrics.json").read_text())["info"]["latent_seed"] == 7
    with pytest.raises(UsageError, match="--seed and --by-song apply to a model"):
        evaluate.evaluate(**args(data=tmp_path / "phr.npz", out=tmp_path / "c", seed=1))


def test_following_tells_a_band_that_plays_along_from_one_that_does_not(tmp_path):
    """The fake model takes each track from another phrase (another key): unlike the data, it
    is no closer to its own piano than to another phrase's. The report shows both."""
    exp = experiment(tmp_path, n=40, condition_track="piano")
    result = evaluate.evaluate_model(exp, tmp_path / "out", 80, generate=FakeModel())
    f = result["following"]
    assert f["given"] == "piano" and f["data"]["metric"] == f["model"]["metric"] == "TD"
    tracks = ("guitar", "bass", "strings")
    data_gap = [f["data"]["other"][t] - f["data"]["own"][t] for t in tracks]
    model_gap = [f["model"]["other"][t] - f["model"]["own"][t] for t in tracks]
    assert min(data_gap) > 0.5 and max(abs(g) for g in model_gap) < 0.3, (data_gap, model_gap)
    report = (tmp_path / "out" / "report.md").read_text()
    section = report.split("## Following the given part", 1)[1].split("## Definitions")[0]
    assert "| given phrases, own piano |" in section and "| this model, another phrase's piano |" in section
    assert f"given phrases {np.mean(data_gap):.2f}, this model {np.mean(model_gap):.2f}" in section


@pytest.mark.parametrize("condition_track, bars", [(None, 16), ("piano", 4)])
def test_no_following_without_a_part_or_a_second_phrase(tmp_path, condition_track, bars):
    """An unconditional model has no given part; one phrase has no other phrase to compare with."""
    exp = experiment(tmp_path, **({"condition_track": condition_track} if condition_track else {}))
    result = evaluate.evaluate_model(exp, tmp_path / "out", bars, generate=FakeModel())
    assert "following" not in result
    assert "Following" not in (tmp_path / "out" / "report.md").read_text()


def test_conditional_model_gets_held_out_phrases(tmp_path):
    exp = experiment(tmp_path, condition_track="piano")
    fake = FakeModel()
    out = tmp_path / "elsewhere"
    result = evaluate.evaluate_model(exp, out, 24, generate=fake)
    (_, n_phrases, conditions, _), = fake.calls
    assert conditions.shape == (6, 4, 48, 84) and conditions.dtype == bool    # the piano track
    # the held-out split: 4 of the 16 phrases, repeated to fill 6
    from musegan.music import data
    from musegan.music import splits
    _, valid = splits.split_by_song(data.load_phrases(tmp_path / "phr.npz"), 0.25, 3)
    held = {valid.unpack([i])[0, ..., 1].tobytes() for i in range(len(valid))}
    assert len(valid) == 4 and all(c.tobytes() in held for c in conditions)
    assert len({c.tobytes() for c in conditions}) == 4
    assert result["info"]["condition_track"] == "Piano"
    assert "given the Piano track of 4 held-out phrases (repeated)" in (out / "report.md").read_text()


def test_binarization_comes_from_the_config_unless_asked(tmp_path, monkeypatch):
    exp = experiment(tmp_path)
    (exp / "config.yaml").write_text((exp / "config.yaml").read_text() + "binarize: bernoulli\n")
    fake = FakeModel()
    result = evaluate.evaluate_model(exp, tmp_path / "a", 8, generate=fake)
    assert fake.binarizations == ["bernoulli"] and result["info"]["binarization"] == "bernoulli"
    assert "bernoulli binarization" in (tmp_path / "a" / "report.md").read_text()
    monkeypatch.setattr(evaluate, "evaluate_model", lambda *a, **kw: fake(a[0], 2, binarization=kw["binarization"]))
    evaluate.evaluate(**args(exp_dir=exp, bars=8, binarization="hard"))
    assert fake.binarizations[-1] == "hard"
    assert "--binarize hard" in evaluate._command(exp, None, tmp_path, 8, None, "hard", None, False)


def test_condition_dir_needs_a_conditional_model(tmp_path):
    exp = experiment(tmp_path)
    with pytest.raises(UsageError, match="track-conditional"):
        evaluate.evaluate_model(exp, tmp_path / "o", 8, condition_dir=tmp_path, generate=FakeModel())


def test_report_layout_maps_our_tracks_to_the_papers_letters():
    from musegan import config
    from musegan import metrics

    params = config.load_params()
    m = metrics.all_metrics(band(4), params)
    t1 = report.table1({"row": m}, params).splitlines()
    assert t1[0].startswith("|  | EB B | EB D | EB G | EB P | EB S | UPC B | UPC G | UPC P | UPC S | QN B")
    assert t1[0].endswith("| DP |")
    assert t1[2].startswith("| row | 0.00 | 0.00 | 25.00 | 0.00 | 0.00 | 1.00 |")
    t2 = report.table2({"row": m}, params).splitlines()
    assert t2[3] == "| paper: training data (LPD) | 1.57 | 1.58 | 1.51 | 1.10 | 1.02 | 1.04 |"


def test_condition_dir_phrases_condition_the_model(tmp_path):
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(initial_tempo=120)        # 2 s a bar
    piano, bass = pretty_midi.Instrument(program=0), pretty_midi.Instrument(program=33)
    for bar in range(8):
        for beat in range(4):
            t = 2 * bar + 0.5 * beat
            piano.notes.append(pretty_midi.Note(90, 60 + (bar % 2) * 5, t, t + 0.4))
            bass.notes.append(pretty_midi.Note(90, 36, t, t + 0.4))
    pm.instruments += [piano, bass]
    (tmp_path / "midi").mkdir()
    pm.write(str(tmp_path / "midi" / "song.mid"))
    (tmp_path / "midi" / "notes.txt").write_text("not midi")

    exp = experiment(tmp_path, condition_track="piano")
    fake = FakeModel()
    result = evaluate.evaluate_model(exp, tmp_path / "o", 12, condition_dir=tmp_path / "midi", generate=fake,
                                     by_song=True)
    (_, _, conditions, _), = fake.calls
    assert conditions.shape == (3, 4, 48, 84)
    # 8 bars -> 2 non-overlapping phrases; each bar alternates C and F quarter notes
    assert conditions[:, 0, 0, 60 - 24].all() and conditions[:, 1, 0, 65 - 24].all()
    assert conditions.sum() == 3 * 16 * conditions[0, 0, :12, 60 - 24].sum()
    assert result["info"]["conditions"] == str(tmp_path / "midi")
    songs = json.loads((tmp_path / "o" / "by_song.json").read_text())    # each MIDI file a song
    assert list(songs) == ["song.mid"] and songs["song.mid"]["phrases"] == 3


def test_paper_best_distance_is_the_goal_of_the_shipped_models():
    best, td = goal.paper_best_distance(conditional=True)
    # |row - LPD data| minimised over the conditional jamming, composer, hybrid rows (SPEC, Table 1-2)
    assert best["EB"]["B"] == pytest.approx(3.46)  # jamming 4.60 vs 8.06
    assert best["QN"]["S"] == pytest.approx(22.5)  # hybrid 67.1 vs 89.6
    assert best["DP"] == pytest.approx(3.0)
    assert "P" not in best["EB"]  # the piano is given, the paper reports no piano column
    assert td[goal.PAPER_TD_PAIRS.index("GP")] == pytest.approx(0.01)
    scratch, td = goal.paper_best_distance(conditional=False)
    assert scratch["QN"]["B"] == pytest.approx(45.4) and "P" not in scratch["EB"]  # no data column for P
    assert td == ()


def test_goal_summary_counts_metrics_within_the_papers_best():
    params = {"track_names": ["Drums", "Piano", "Guitar", "Bass", "Strings"], "condition_track": "piano",
              "is_drums": [True, False, False, False, False]}
    difference = {"EB": {"bass": 3.46, "drums": 3.6}, "UPC": {"guitar": 0.5}, "QN": {"strings": 30.0},
                  "DP": 0.1, "TD": {"guitar-piano": 0.2}}
    line = goal.goal_summary(difference, params)
    assert "on 3 of 6 metrics" in line
    assert "Met: EB B 3.46 vs 3.46, UPC G 0.50 vs 0.71, DP 0.10 vs 3.00." in line
    assert "Not met: EB D 3.60 vs 3.53, QN S 30.00 vs 22.50, TD G-P 0.20 vs 0.01." in line


@pytest.mark.parametrize("given,absent,count", [("bass", "EB B", "2 of 4"), ("drums", "DP", "1 of 3")])
def test_goal_summary_leaves_out_the_given_tracks_own_metrics(given, absent, count):
    """The given track is the data's: its EB/UPC/QN (or DP) would count as met for free."""
    params = {"track_names": ["Drums", "Piano", "Guitar", "Bass", "Strings"], "condition_track": given,
              "is_drums": [True, False, False, False, False]}
    difference = {"EB": {"bass": 0.0, "drums": 0.0, "guitar": 9.0}, "UPC": {}, "QN": {}, "DP": 0.0,
                  "TD": {"bass-guitar": 0.7}}
    line = goal.goal_summary(difference, params)
    assert absent not in line and "EB G 9.00 vs 6.10" in line and "TD B-G 0.70 vs 0.06" in line
    assert f"on {count} metrics" in line, line


def test_goal_score_counts_met_metrics_then_sums_the_ratios():
    params = {"track_names": ["Drums", "Piano", "Guitar", "Bass", "Strings"], "condition_track": "piano",
              "is_drums": [True, False, False, False, False]}
    row = lambda eb_bass, dp: {"EB": {"bass": eb_bass}, "UPC": {}, "QN": {}, "DP": dp, "TD": {"bass-piano": 0.0}}
    # ratios to the paper's best: EB B /3.46, DP /3.0, TD B-P /0.01
    assert goal.goal_score(row(3.46, 6.0), params) == (2, pytest.approx(1.0 + 2.0))
    assert goal.goal_score(row(6.92, 1.5), params) == (2, pytest.approx(2.0 + 0.5))
    scores = [goal.goal_score(row(*r), params) for r in [(3.46, 6.0), (6.92, 1.5), (1.0, 1.0)]]
    best = max(range(3), key=lambda i: (scores[i][0], -scores[i][1]))
    assert best == 2 and scores[2][0] == 3


def test_extras_table_shows_on_drums_only_where_there_are_drums():
    from musegan import config
    from musegan import metrics

    params = config.load_params()
    x = np.zeros((1, *params["data_shape"]), dtype=bool)
    x[0, 0, 0, 12, 0] = x[0, 0, 0, 12, 3] = x[0, 0, 6, 14, 3] = True   # a kick; bass on it and off it
    rows = {"data": metrics.all_metrics(x, params)}
    table = report.extras_table(rows, params)
    assert "on-drums B" in table.splitlines()[0] and "| 50.0 |" in table
    no_drums = dict(params, is_drums=[False] * 5)
    assert "on-drums" not in report.extras_table({"data": metrics.all_metrics(x, no_drums)}, no_drums)


def song_experiment(tmp_path):
    """A piano-conditional experiment on 16 phrases of 4 songs; the drums of song "swung" hit
    a step after the beat, off the 16th grid, which no piano tells."""
    from musegan.music import data

    x = band(16)
    swung = np.arange(16) // 4 == 1
    x[swung, ..., 0] = np.roll(x[swung, ..., 0], 1, axis=2)
    exp = tmp_path / "exp"
    exp.mkdir()
    path = data.write_sparse_npz(tmp_path / "songs.npz", x, np.arange(16) // 4, ["a", "swung", "c", "d"])
    (exp / "config.yaml").write_text(yaml.safe_dump({"data": str(path), "validation_fraction": 0.5, "seed": 1}))
    (exp / "params.yaml").write_text(yaml.safe_dump({"condition_track": "piano"}))
    return exp


def test_by_song_sets_each_songs_own_figures_beside_the_models(tmp_path, monkeypatch):
    from musegan.music import data, splits

    exp = song_experiment(tmp_path)
    monkeypatch.setitem(sys.modules, "musegan.generate", types.SimpleNamespace(generate_phrases=FakeModel()))
    _, valid = splits.split_by_song(data.load_phrases(tmp_path / "songs.npz"), 0.5, 1)
    held = sorted(valid.song_names[i] for i in set(valid.song_ids.tolist()))
    assert "swung" in held, "the test needs the swung song held out"
    out = tmp_path / "out"
    evaluate.evaluate(**args(exp_dir=exp, bars=40, out=out, by_song=True))
    songs = json.loads((out / "by_song.json").read_text())
    assert sorted(songs) == held and sum(s["phrases"] for s in songs.values()) == 10
    # the fake band plays its drums on the beat: the swung song's data is off the grid, the model not
    assert songs["swung"]["data"]["DP"] == 0.0 and songs["swung"]["model"]["DP"] == 100.0
    for s in songs.values():                    # the given piano is the same on both sides
        assert s["data"]["EB"]["piano"] == s["model"]["EB"]["piano"]
        assert s["data"]["UPC"]["piano"] == s["model"]["UPC"]["piano"]
    md = (out / "by_song.md").read_text()
    assert f"musegan evaluate {exp} --bars 40 --by-song --out {out}" in md
    assert f"| swung ({songs['swung']['phrases']}): data |" in md and "| swung: model |" in md
    assert "paper: training data" not in md          # no paper rows: the songs are ours
    for name in ("metrics.json", "report.md", "samples.png"):   # the song tables alone are refused too
        (out / name).unlink()
    with pytest.raises(UsageError, match="by_song.json: already exists"):
        evaluate.evaluate_model(exp, out, 40, generate=FakeModel(), by_song=True)


def test_by_song_needs_a_conditional_model_and_song_names(tmp_path):
    from musegan.errors import DataError

    exp = experiment(tmp_path)
    with pytest.raises(UsageError, match="--by-song needs a track-conditional model"):
        evaluate.evaluate_model(exp, tmp_path / "o", 8, generate=FakeModel(), by_song=True)
    (exp / "params.yaml").write_text(yaml.safe_dump({"condition_track": "piano"}))
    with pytest.raises(DataError, match="carry no song names"):
        evaluate.evaluate_model(exp, tmp_path / "o", 8, generate=FakeModel(), by_song=True)
    assert not (tmp_path / "o").exists()
