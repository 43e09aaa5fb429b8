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
    # float32 on every CPU, so a test's numbers do not depend on the machine's bfloat16 units
    "mixed_precision": False,
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


# Three tracks (piano between two generated ones) keep graphs small and JAX's compiles short.
THREE = {"data_shape": [4, 24, 24, 3], "track_names": ["Drums", "Piano", "Bass"], "programs": [0, 0, 33],
         "is_drums": [True, False, False]}


def three_track_experiment(root: Path, name: str = "exp", params: dict = None, config: dict = None) -> Path:
    """`make_experiment` of a hybrid model conditional on piano, over three tracks (drums,
    piano, bass) of 24 phrases of 8 songs."""
    from musegan.music.data import write_sparse_npz

    data = Path(root) / "tiny.npz"
    if not data.exists():
        x = tiny_phrases(24)[..., :3]
        data.parent.mkdir(parents=True, exist_ok=True)
        write_sparse_npz(data, x, song_ids=np.arange(len(x)) // 3, song_names=[f"song{i}" for i in range(8)])
    return make_experiment(root, name, params={**THREE, "multitrack": "hybrid", "condition_track": "piano",
                                               **(params or {})}, config=config)


def saved(exp: Path, backend: str, step: int = None) -> dict:
    """{variable name: array} of the experiment's latest save (or the one of `step`): a
    TensorFlow checkpoint (`backend` 'tf') or a training state ('jax')."""
    if backend == "tf":
        import tensorflow as tf

        from musegan.weights import checkpoints

        path = checkpoints.latest(exp / "model") if step is None else str(exp / "model" / f"model.ckpt-{step}")
        reader = tf.train.load_checkpoint(path)
        return {n: reader.get_tensor(n) for n in reader.get_variable_to_shape_map()}
    from musegan.weights.states import load_state
    from musegan.weights.store import latest_state

    return load_state(latest_state(exp) if step is None else exp / "state" / f"step-{step}")
