"""Every shipped model (EXP/pretrained/generator.npz) loads and makes music from a fresh clone:
conditional ones accompany the example of their given track, the others generate phrases."""
import shutil
from pathlib import Path

import numpy as np
import pretty_midi
import pytest

from musegan.config import condition_index, load_experiment, monophonic_indices

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted(p.parents[1] for p in (ROOT / "exp").rglob("pretrained/generator.npz"))


def _fresh_copy(exp: Path, tmp_path: Path) -> Path:
    """The experiment as a fresh clone has it: yaml files and shipped weights, no model/."""
    copy = tmp_path / exp.name
    (copy / "pretrained").mkdir(parents=True)
    for name in ("params.yaml", "config.yaml"):
        if (exp / name).exists():
            shutil.copy(exp / name, copy / name)
    shutil.copy(exp / "pretrained" / "generator.npz", copy / "pretrained" / "generator.npz")
    return copy


@pytest.mark.skipif(not SHIPPED, reason="no shipped weights in exp/*/pretrained yet")
@pytest.mark.parametrize("exp", SHIPPED, ids=lambda p: str(p.relative_to(ROOT / "exp")))
def test_shipped_model_makes_music(exp, tmp_path):
    copy = _fresh_copy(exp, tmp_path)
    _, params = load_experiment(copy)
    c = condition_index(params)
    if c is not None:
        from musegan.accompany import accompany

        out = tmp_path / "band.mid"
        example = ROOT / "examples" / f"{params['track_names'][c].lower()}_example.mid"
        summary = accompany(example, copy, out, seed=0, log=lambda *_: None)
        assert out.is_file() and out.with_suffix(".png").is_file()
        assert summary["phrases"] >= 4
        pm = pretty_midi.PrettyMIDI(str(out))
        generated = [i for i in pm.instruments if i.name != params["track_names"][c]]
        assert len(generated) == len(params["track_names"]) - 1
        assert all(len(i.notes) > 0 for i in generated)
        # one note at a time: a note may reach one step into the next, the note-end rest of the
        # pianoroll undone in MIDI (pianoroll.roll_to_midi), never further
        times, tempi = pm.get_tempo_changes()
        step = lambda t: 60 / tempi[np.searchsorted(times, t, side="right") - 1] / params["beat_resolution"]
        for t in monophonic_indices(params):
            notes = sorted(next(i for i in generated if i.name == params["track_names"][t]).notes,
                           key=lambda n: n.start)
            assert len(notes) > 1 and all(a.end <= b.start + step(b.start) + 1e-6 for a, b in zip(notes, notes[1:]))
        # It follows the example: the generated pitched tracks' notes sit in the given harmony
        # at least twice as often as notes of random pitch would (measured 49-94% against
        # chance 16-31%); under a given drum part, most start on its hits (measured 83-91%).
        from musegan.describe import describe

        rows, about = describe([out], copy)
        pitched = {n: r for n, r in rows.items() if r["pitch_classes"] is not None}
        notes = sum(r["notes_per_bar"] for r in pitched.values())
        share = lambda key: sum(r[key] * r["notes_per_bar"] for r in pitched.values()) / notes
        if about["given_pitch_classes"] is None:
            assert share("with_given_onsets") >= 60
        else:
            assert share("in_given_harmony") >= 2 * 100 * about["given_pitch_classes"] / 12
    else:
        from musegan.generate import generate_phrases

        x = generate_phrases(copy, 4)
        assert x.shape == (4, *params["data_shape"])
        assert x.any(axis=(0, 1, 2, 3)).all()
