"""notebooks/musegan.ipynb: committed clean, and it runs end to end headless.

The run executes the notebook as a laptop user would (Colab-only cells, tagged
`colab`, skipped) with MUSEGAN_NOTEBOOK_SMALL=1, in a scratch copy of the files
it reads (the example MIDI and the experiments' yaml files, plus their shipped
weights where they exist), so it never writes into the checkout and never
picks up a training run's checkpoints. The executed copy goes to tmp_path.
"""
import json
import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "musegan.ipynb"
COLAB_TAG = "colab"
# What only works on Colab: such a cell must carry the tag (and do nothing elsewhere).
COLAB_ONLY = ("from google.colab", "apt-get", "git clone", "files.upload(", "files.download(")
SHIPPED = ("exp/default", "exp/accompaniment/piano")


def _notebook():
    import nbformat

    return nbformat.read(str(NOTEBOOK), as_version=4)


def _tags(cell):
    return cell.get("metadata", {}).get("tags", [])


def test_notebook_committed_clean():
    """No outputs, Colab-only cells tagged and guarded, every code cell valid IPython."""
    import nbformat
    from IPython.core.inputtransformer2 import TransformerManager

    nb = _notebook()
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, "no code cells"
    transform = TransformerManager().transform_cell
    for cell in code:
        assert cell.outputs == [] and cell.execution_count is None, f"cell {cell.id} has outputs"
        compile(transform(cell.source), f"<cell {cell.id}>", "exec")
        if any(s in cell.source for s in COLAB_ONLY):
            assert COLAB_TAG in _tags(cell), f"cell {cell.id} is Colab-only but not tagged '{COLAB_TAG}'"
            assert "if IN_COLAB:" in cell.source, f"cell {cell.id} runs Colab-only code outside Colab"
    first = code[0].source
    assert COLAB_TAG in _tags(code[0]) and "git clone" in first
    # REPO_URL is a Colab form field, with a one-line instruction above it
    assert any(line.startswith("REPO_URL = ") and line.endswith('# @param {type:"string"}')
               for line in first.splitlines())
    instructions = [line for line in first.splitlines() if line.startswith("# @markdown ")]
    assert len(instructions) == 1 and "URL" in instructions[0]


def _kernelspec(tmp_path: Path) -> str:
    """A kernelspec running this interpreter (the `python3` one may name another `python`)."""
    name = "musegan-notebook-test"
    spec = tmp_path / "jupyter" / "kernels" / name
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": f"Python ({sys.executable})", "language": "python"}))
    return name


def _workdir(tmp_path: Path) -> Path:
    """A scratch 'repository' with what the notebook reads."""
    work = tmp_path / "repo"
    (work / "examples").mkdir(parents=True)
    shutil.copy2(ROOT / "examples" / "piano_example.mid", work / "examples")
    for exp in SHIPPED:
        (work / exp).mkdir(parents=True)
        for f in (ROOT / exp).glob("*"):
            if f.is_file():
                shutil.copy2(f, work / exp)
        shipped = ROOT / exp / "pretrained" / "generator.npz"
        if shipped.is_file():
            (work / exp / "pretrained").mkdir()
            (work / exp / "pretrained" / "generator.npz").symlink_to(shipped)
    return work


def _stdout(nb, cell_id: str) -> str:
    cell = next(c for c in nb.cells if c.get("id") == cell_id)
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


def _kernel_env(tmp_path: Path, monkeypatch) -> str:
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("MUSEGAN_NOTEBOOK_SMALL", "1")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    return _kernelspec(tmp_path)


@pytest.mark.slow
def test_colab_cells_do_nothing_elsewhere(tmp_path, monkeypatch):
    """'Run all' in Jupyter runs the tagged cells too: off Colab they must pass quietly."""
    from nbclient import NotebookClient

    work = _workdir(tmp_path)
    nb = _notebook()
    nb.cells = [c for c in nb.cells if c.cell_type == "code" and (COLAB_TAG in _tags(c) or c.id == "setup")]
    assert len(nb.cells) >= 4
    NotebookClient(nb, kernel_name=_kernel_env(tmp_path, monkeypatch), timeout=120, startup_timeout=120,
                   resources={"metadata": {"path": str(work)}}).execute()
    errors = [o for c in nb.cells for o in c.outputs if o.output_type == "error"]
    assert not errors
    assert "not on Colab" in _stdout(nb, "install")
    assert sorted(p.name for p in work.iterdir()) == ["examples", "exp", "results"]


@pytest.mark.slow
def test_notebook_runs(tmp_path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    work = _workdir(tmp_path)
    (work / "notebooks").mkdir()  # started where the notebook lives, as Jupyter does: it moves to the root
    nb = _notebook()
    client = NotebookClient(nb, kernel_name=_kernel_env(tmp_path, monkeypatch), timeout=600, startup_timeout=120,
                            skip_cells_with_tag=COLAB_TAG, resources={"metadata": {"path": str(work / "notebooks")}})
    try:
        client.execute()  # CellExecutionError (with the cell's traceback) when a cell fails
    finally:
        nbformat.write(nb, str(tmp_path / "musegan.executed.ipynb"))

    for cell in nb.cells:
        if COLAB_TAG in _tags(cell):
            assert cell.get("outputs", []) == [], f"tagged cell {cell.id} was executed"
    out = work / "results" / "notebook"
    bands = sorted(out.glob("piano_example_band*.mid"))
    assert bands and all(b.with_suffix(".png").is_file() and b.with_suffix(".wav").is_file() for b in bands)
    models = _stdout(nb, "models")
    for exp in SHIPPED:
        missing = not (work / exp / "pretrained" / "generator.npz").exists()
        assert (f"{exp}: no trained model yet" in models) == missing, models
        if missing:  # its output is never passed off as the shipped model's
            assert "TINY DEMO" in _stdout(nb, "accompany" if "accompaniment" in exp else "infer")
    if not (work / "exp/accompaniment/piano/pretrained/generator.npz").exists():
        assert [b.name for b in bands] == ["piano_example_band_TINY_DEMO.mid"]
    assert "the app runs at http://127.0.0.1:" in _stdout(nb, "app")
    report = next(c for c in nb.cells if c.get("id") == "evaluate").outputs
    assert any("text/markdown" in o.get("data", {}) for o in report), "no metric tables shown"
