"""A tiny experiment (small shapes and channels) for fast tests of the TensorFlow parts."""
from pathlib import Path

import numpy as np
import yaml

TINY_PARAMS = {
    "data_shape": [4, 24, 24, 5],
    "beat_resolution": 6,
    "lowest_pitch": 48,
    "generator": {"temporal_channels": 16, "dense_channels": 32, "time_channels": [16, 16, 8],
                  "pitch_channels": 8},
    "encoder_channels": 4,
    "discriminator": {"pitch_channels": [8, 8], "time_channels": [8, 8, 16], "dense_channels": 16,
                      "phrase_channels": 8},
}
TINY_CONFIG = {
    "batch_size": 4, "steps": 4, "log_loss_steps": 2, "save_checkpoint_steps": 2,
    "save_samples_steps": 2, "n_samples": 4, "evaluate_steps": 1000,
}


def tiny_phrases(n: int = 24, seed: int = 0) -> np.ndarray:
    """Bool `(n, 4, 24, 24, 5)`: sparse random notes, every track active."""
    rng = np.random.default_rng(seed)
    return rng.random((n, *TINY_PARAMS["data_shape"])) < 0.03


def make_experiment(root: Path, name: str = "exp", params: dict = None, config: dict = None,
                    n_phrases: int = 24) -> Path:
    """Write data and an experiment folder under `root`; return the folder."""
    from musegan.music.data import write_sparse_npz

    root = Path(root)
    data = root / "tiny.npz"
    if not data.exists():
        x = tiny_phrases(n_phrases)
        songs = (np.arange(len(x)) // 3).astype(np.int32)
        write_sparse_npz(data, x, song_ids=songs, song_names=np.array([f"song{i}" for i in range(songs.max() + 1)]))
    exp = root / name
    exp.mkdir(parents=True)
    merged = dict(TINY_PARAMS)
    for key, value in (params or {}).items():
        merged[key] = {**merged[key], **value} if isinstance(value, dict) else value
    (exp / "params.yaml").write_text(yaml.safe_dump(merged))
    (exp / "config.yaml").write_text(yaml.safe_dump({**TINY_CONFIG, "data": str(data), **(config or {})}))
    return exp
