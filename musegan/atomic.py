"""Atomic writers: every result lands under its final name complete, or not at all."""
import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator, Union

import numpy as np

from musegan.errors import UsageError

PathLike = Union[str, os.PathLike]
_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path: PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; results should read like any file
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _write(path: PathLike, writer: Callable[[Path], None]) -> Path:
    with atomic_path(path) as tmp:
        writer(tmp)
    return Path(path)


def save_npy(path: PathLike, array: np.ndarray) -> Path:
    def w(tmp):
        with open(tmp, "wb") as f:
            np.save(f, array, allow_pickle=False)
    return _write(path, w)


def save_npz(path: PathLike, compressed: bool = True, **arrays: np.ndarray) -> Path:
    def w(tmp):
        with open(tmp, "wb") as f:
            (np.savez_compressed if compressed else np.savez)(f, **arrays)
    return _write(path, w)


def save_text(path: PathLike, text: str) -> Path:
    return _write(path, lambda tmp: tmp.write_text(text))


def save_json(path: PathLike, obj: Any) -> Path:
    return save_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def save_png(path: PathLike, image: np.ndarray) -> Path:
    """Save an `(h, w)` or `(h, w, 3)` uint8 image."""
    import imageio.v2 as imageio

    return _write(path, lambda tmp: imageio.imwrite(tmp, image, format="png"))


def save_midi(path: PathLike, midi) -> Path:
    """Save a `pretty_midi.PrettyMIDI`."""
    return _write(path, lambda tmp: midi.write(str(tmp)))


def check_writable(path: PathLike, overwrite: bool) -> Path:
    """Refuse to replace an existing file or non-empty folder unless `overwrite`."""
    path = Path(path)
    exists = path.is_file() or (path.is_dir() and any(path.iterdir()))
    if exists and not overwrite:
        raise UsageError(f"{path}: already exists; pass --overwrite to replace it")
    return path


def fresh_dir(path: PathLike, overwrite: bool) -> Path:
    """Return an empty folder at `path`; an existing non-empty one needs `overwrite`."""
    path = check_writable(path, overwrite)
    if path.is_dir() and overwrite:
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    return path


def replace_dir(staging: PathLike, path: PathLike) -> Path:
    """Move the finished folder `staging` to `path`, replacing what was there."""
    staging, path = Path(staging), Path(path)
    if path.exists():
        old = path.with_name(f".{path.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(path, old)
        os.replace(staging, path)
        shutil.rmtree(old)
    else:
        os.replace(staging, path)
    return path
