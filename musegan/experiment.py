"""Experiment folders: `config.yaml`, `params.yaml`, `exp_note.txt`, then `model/` and `results/`."""
import shutil
from pathlib import Path
from typing import Optional

from musegan import config as cfg
from musegan.errors import UsageError
from musegan.atomic import save_text


def setup(exp_dir: Path, note: str, source: Optional[Path] = None) -> Path:
    """Create `exp_dir` with copies of the default (or `source`'s) config and params."""
    exp_dir = Path(exp_dir)
    if exp_dir.exists():
        raise UsageError(f"{exp_dir}: already exists; choose a new experiment folder")
    src = Path(source) if source is not None else cfg.DEFAULTS_DIR
    for name in ("config.yaml", "params.yaml"):
        if not (src / name).is_file():
            raise UsageError(f"{src / name}: not found")
    cfg.load_config(src / "config.yaml")
    cfg.load_params(src / "params.yaml")
    exp_dir.mkdir(parents=True)
    for name in ("config.yaml", "params.yaml"):
        shutil.copyfile(src / name, exp_dir / name)
    save_text(exp_dir / "exp_note.txt", note.rstrip() + "\n")
    print(f"created {exp_dir} (edit {exp_dir / 'params.yaml'} and {exp_dir / 'config.yaml'})")
    return exp_dir
