"""The one place that loads and validates `params.yaml` (model) and `config.yaml` (run).

A file is merged over the package defaults; an unknown key, a wrong type or an
impossible shape raises `ConfigError` naming the file, the key and the problem.
"""
import collections.abc
import copy
from dataclasses import dataclass
import math
import reprlib
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import yaml

from musegan.errors import ConfigError

DEFAULTS_DIR = Path(__file__).parent / "defaults"
GAN_LOSSES = ("wasserstein-gp", "classic", "nonsaturating", "hinge")
BINARIZE = ("hard", "bernoulli")
FAMILIES = ("drums", "piano", "guitar", "bass", "strings")
# Text event that `musegan accompany --band` puts first in its output's conductor track, then the
# kept tracks' names (comma-separated): how `musegan describe` knows which tracks such a file holds.
BAND_TEXT = "musegan band: "

@dataclass(frozen=True)
class Design:
    """What distinguishes the three multitrack models (paper, Section 4.1)."""

    shared_latent: bool  # z and z_t, common to all tracks
    private_latent: bool  # z_i and z_i,t, one per track
    one_generator: bool  # a single generator emitting all tracks as channels
    one_discriminator: bool  # a single discriminator over all tracks


# The one registry of model names; nothing else branches on them.
MODELS: Dict[str, Design] = {
    "jamming": Design(shared_latent=False, private_latent=True, one_generator=False, one_discriminator=False),
    "composer": Design(shared_latent=True, private_latent=False, one_generator=True, one_discriminator=True),
    "hybrid": Design(shared_latent=True, private_latent=True, one_generator=False, one_discriminator=True),
}
MULTITRACK_MODELS = tuple(MODELS)

# Keys whose default is null, and what they may hold.
NULLABLE = {"condition_track": (str, int), "init_from": (str,), "train_tracks": (list,), "average_from": (int,)}
# Keys that take true, false or the word `auto` (decided where the run starts).
AUTO_OR_BOOL = ("mixed_precision",)


class _Loader(yaml.SafeLoader):
    """yaml.safe_load's loader, refusing a key given twice (YAML would keep the last silently)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, collections.abc.Hashable):
                continue  # SafeLoader's own construct_mapping reports it
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key '{key}' is given twice", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


def _show(value: Any) -> str:
    """A short repr for messages: a value from YAML can be huge (aliases nest lists cheaply)."""
    return _REPR.repr(value)


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxlist, _REPR.maxdict, _REPR.maxstring, _REPR.maxother = 2, 8, 8, 60, 60


def _read_yaml(path: Path) -> Dict[str, Any]:
    try:
        text = path.read_bytes().decode("utf-8")
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder, not a YAML file") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read ({e.strerror or e})") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text (byte 0x{e.object[e.start]:02x} at offset {e.start}); "
                          "save it as UTF-8") from None
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as e:
        where = getattr(e, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        raise ConfigError(f"{path}: invalid YAML{line}: {getattr(e, 'problem', e)}") from None
    except RecursionError:
        raise ConfigError(f"{path}: invalid YAML: nested too deeply") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings, got {type(data).__name__}")
    return data


def _type_ok(value: Any, default: Any, key: str) -> bool:
    if key in AUTO_OR_BOOL:
        return isinstance(value, bool) or value == "auto"
    if default is None:
        return value is None or isinstance(value, NULLABLE.get(key, (object,)))
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, type(default))


def _merge(defaults: Dict, override: Dict, path: Path, prefix: str = "") -> Dict:
    merged = copy.deepcopy(defaults)
    for key, value in override.items():
        name = prefix + str(key)
        if key not in defaults:
            known = ", ".join(sorted(defaults))
            raise ConfigError(f"{path}: unknown key '{name}' (known: {known})")
        default = defaults[key]
        if isinstance(default, dict):
            if not isinstance(value, dict):
                raise ConfigError(f"{path}: '{name}' must be a mapping, got {_show(value)}")
            merged[key] = _merge(default, value, path, name + ".")
            continue
        if not _type_ok(value, default, key):
            want = ("true, false or auto" if key in AUTO_OR_BOOL else type(default).__name__ if default is not None
                    else "/".join(t.__name__ for t in NULLABLE.get(key, ())) + " or null")
            raise ConfigError(f"{path}: '{name}' must be {want}, got {_show(value)}")
        if isinstance(default, float):
            value = float(value)
        merged[key] = value
    return merged


def defaults(kind: str) -> Dict[str, Any]:
    """Package defaults, `kind` in {'params', 'config'}."""
    return _read_yaml(DEFAULTS_DIR / f"{kind}.yaml")


def condition_index(params: Dict[str, Any], source: str = "params") -> Optional[int]:
    """Index of the condition track, or None for a model generating from scratch."""
    track = params["condition_track"]
    if track is None:
        return None
    names = [n.lower() for n in params["track_names"]]
    if isinstance(track, int):
        if not 0 <= track < len(names):
            raise ConfigError(f"{source}: 'condition_track' {track} is out of range "
                              f"(0..{len(names) - 1}: {', '.join(params['track_names'])})")
        return track
    if track.lower() not in names:
        raise ConfigError(f"{source}: 'condition_track' '{track}' is not a track "
                          f"(tracks: {', '.join(params['track_names'])})")
    return names.index(track.lower())


def monophonic_indices(params: Dict[str, Any], source: str = "params") -> Tuple[int, ...]:
    """Indices of `monophonic_tracks`: generated, non-drum tracks that play one pitch at a time."""
    names = [n.lower() for n in params["track_names"]]
    condition = condition_index(params, source)
    indices = []
    for track in params["monophonic_tracks"]:
        if not isinstance(track, str) or track.lower() not in names:
            raise ConfigError(f"{source}: 'monophonic_tracks' entry {_show(track)} is not a track "
                              f"(tracks: {', '.join(params['track_names'])})")
        i = names.index(track.lower())
        if params["is_drums"][i]:
            raise ConfigError(f"{source}: 'monophonic_tracks' entry '{track}' is a drum track, "
                              "which sounds several drums at once")
        if i == condition:
            raise ConfigError(f"{source}: 'monophonic_tracks' entry '{track}' is the condition track, "
                              "which is given, not generated")
        indices.append(i)
    return tuple(indices)


def _list_of(value, kind, length=None) -> bool:
    return (isinstance(value, list) and all(isinstance(v, kind) and not isinstance(v, bool) or
                                            (kind is bool and isinstance(v, bool)) for v in value)
            and (length is None or len(value) == length))


def validate_params(params: Dict[str, Any], source: str = "params") -> Dict[str, Any]:
    def bad(key, problem):
        raise ConfigError(f"{source}: '{key}' {problem}")

    if params["multitrack"] not in MULTITRACK_MODELS:
        bad("multitrack", f"must be one of {', '.join(MULTITRACK_MODELS)}, got {_show(params['multitrack'])}")
    shape = params["data_shape"]
    if not _list_of(shape, int, 4) or min(shape) < 1:
        bad("data_shape", f"must be 4 positive integers [n_bars, n_steps, n_pitches, n_tracks], got {_show(shape)}")
    n_bars, n_steps, n_pitches, n_tracks = shape
    for key, kind in (("track_names", str), ("programs", int), ("is_drums", bool)):
        if not _list_of(params[key], kind, n_tracks):
            bad(key, f"must list {n_tracks} {kind.__name__} values (one per track), got {_show(params[key])}")
    if not all(0 <= p < 128 for p in params["programs"]):
        bad("programs", "must be General MIDI programs 0..127")
    if n_steps != 4 * params["beat_resolution"]:
        bad("data_shape", f"n_steps {n_steps} must be 4 beats x beat_resolution {params['beat_resolution']} (4/4 only)")
    if n_steps % 6 or (n_steps // 6) & (n_steps // 6 - 1):
        bad("data_shape", f"n_steps {n_steps} cannot be built: the generator grows time 2 -> 4 -> ... -> x3, "
                          "so n_steps must be 6 * 2^k (24, 48, 96)")
    doublings = (n_steps // 6).bit_length() - 1
    if len(params["generator"]["time_channels"]) < doublings + 1:
        bad("generator.time_channels", f"needs at least {doublings + 1} entries for {n_steps} steps per bar")
    if n_pitches % 12:
        bad("data_shape", f"n_pitches {n_pitches} must be a multiple of 12 (pitch grows 1 -> n/12 -> n)")
    if not 0 <= params["lowest_pitch"] <= 128 - n_pitches:
        bad("lowest_pitch", f"{params['lowest_pitch']} + {n_pitches} pitches exceeds MIDI's 128")
    d_time = params["discriminator"]["time_channels"]
    if n_steps % (2 ** len(d_time)):
        bad("discriminator.time_channels", f"{len(d_time)} halvings do not divide n_steps {n_steps}")
    if params["latent_dim"] % 4:
        bad("latent_dim", "must be divisible by 4 (split among z, z_t, z_i, z_i,t)")
    if params["tempo"] <= 0:
        bad("tempo", "must be positive")
    index = condition_index(params, source)
    if index is not None and n_tracks < 2:
        bad("condition_track", "needs at least two tracks")
    monophonic_indices(params, source)
    return params


def validate_config(config: Dict[str, Any], source: str = "config") -> Dict[str, Any]:
    def bad(key, problem):
        raise ConfigError(f"{source}: '{key}' {problem}")

    if config["gan_loss"] not in GAN_LOSSES:
        bad("gan_loss", f"must be one of {', '.join(GAN_LOSSES)}, got {_show(config['gan_loss'])}")
    if config["binarize"] not in BINARIZE:
        bad("binarize", f"must be one of {', '.join(BINARIZE)}")
    for key in ("batch_size", "steps", "n_dis_updates_per_gen_update", "log_loss_steps",
                "save_checkpoint_steps", "keep_checkpoint_max", "n_samples"):
        if config[key] < 1:
            bad(key, "must be at least 1")
    if not 0 <= config["ema_decay"] < 1:
        bad("ema_decay", f"must be in [0, 1) (e.g. 0.999; 0 = off), got {config['ema_decay']}")
    tracks = config["train_tracks"]
    if tracks is not None and not _list_of(tracks, str):
        bad("train_tracks", f"must be a list of track names or null, got {_show(tracks)}")
    for key in ("critic_warmup_updates", "evaluate_steps", "evaluate_bars"):
        if config[key] < 0:
            bad(key, "must be 0 or more")
    for key in ("save_checkpoint_minutes", "evaluate_minutes", "select_min_following"):
        if not (math.isfinite(config[key]) and config[key] >= 0):
            bad(key, f"must be 0 or more, got {config[key]}")
    if isinstance(config["average_from"], bool) or config["average_from"] is not None and config["average_from"] < 0:
        bad("average_from", "must be a step (0 or more) or null")
    if config["average_every"] < 1:
        bad("average_every", "must be at least 1")
    if not (math.isfinite(config["learning_rate"]) and config["learning_rate"] > 0):
        bad("learning_rate", f"must be a positive number, got {config['learning_rate']}")
    for key in ("adam_beta1", "adam_beta2"):
        if not 0 <= config[key] < 1:
            bad(key, f"must be in [0, 1), got {config[key]}")
    if not (math.isfinite(config["gradient_penalty_weight"]) and config["gradient_penalty_weight"] >= 0):
        bad("gradient_penalty_weight", f"must be 0 or more, got {config['gradient_penalty_weight']}")
    for key in ("validation_fraction", "selection_fraction"):
        if not 0 <= config[key] < 1:
            bad(key, "must be in [0, 1)")
    if config["collect"]["vocal_family"] not in FAMILIES:
        bad("collect.vocal_family", f"must be one of {', '.join(FAMILIES)}")
    if config["collect"]["hop_bars"] < 1:
        bad("collect.hop_bars", "must be at least 1")
    return config


def load_params(path: Optional[Path] = None, overrides: Optional[Dict] = None) -> Dict[str, Any]:
    """Params from `path` (a YAML file; None = defaults) merged over the defaults, validated."""
    return _load("params", validate_params, path, overrides)


def load_config(path: Optional[Path] = None, overrides: Optional[Dict] = None) -> Dict[str, Any]:
    """Run config from `path` (None = defaults) merged over the defaults, validated."""
    return _load("config", validate_config, path, overrides)


def _load(kind: str, validate, path: Optional[Path], overrides: Optional[Dict]) -> Dict[str, Any]:
    values, source = defaults(kind), kind
    if path is not None:
        path = Path(path)
        source = str(path)
        values = _merge(values, _read_yaml(path), path)
    if overrides:
        values = _merge(values, overrides, Path(source))
    return validate(values, source)


def check_train_tracks(params: Dict[str, Any], tracks: Optional[List[str]], source: str = "config") -> None:
    """ConfigError unless `tracks` (`config.train_tracks`) is null or names generated tracks of a
    model with per-track generators."""
    if tracks is None:
        return
    if MODELS[params["multitrack"]].one_generator:
        raise ConfigError(f"{source}: 'train_tracks' needs per-track generators; "
                          f"{params['multitrack']} has one generator for all tracks")
    c = condition_index(params)
    generated = [n.lower() for i, n in enumerate(params["track_names"]) if i != c]
    if not tracks:
        raise ConfigError(f"{source}: 'train_tracks' is empty (null trains the whole generator)")
    for track in tracks:
        if track.lower() not in generated:
            raise ConfigError(f"{source}: 'train_tracks' names '{track}', not a generated track "
                              f"(generated: {', '.join(generated)})")


def load_experiment(exp_dir: Path) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """(config, params) of an experiment folder; a missing file means the defaults."""
    exp_dir = Path(exp_dir)
    if not exp_dir.is_dir():
        raise ConfigError(f"{exp_dir}: no such experiment folder (make one with `musegan setup {exp_dir} --note TEXT`)")
    files = [exp_dir / "config.yaml", exp_dir / "params.yaml"]
    for p in files:
        if not p.is_file() and (p.exists() or p.is_symlink()):
            raise ConfigError(f"{p}: not a readable file")
    config_path, params_path = (p if p.is_file() else None for p in files)
    config, params = load_config(config_path), load_params(params_path)
    check_train_tracks(params, config["train_tracks"], str(config_path))
    return config, params
