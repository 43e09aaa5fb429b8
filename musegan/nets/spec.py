"""The framework-free description of the MuseGAN networks: which model has which latents,
generators and discriminators, and every layer's factor and width.

The networks (musegan.nets.network) read their structure from here, and so do the
commands that need to know a model's latents or tracks without building it. No
TensorFlow, no JAX.
"""
from typing import Dict, List, Optional, Tuple

from musegan.config import MODELS, check_train_tracks, condition_index

# How the phrases of one song share latents (`musegan accompany --latents`), as the log says it.
LATENTS: Dict[str, str] = {
    "song": "one latent for the song",
    "style": "the song's style latents, fresh time-dependent ones per phrase",
    "phrase": "a fresh latent per phrase",
}


def latent_layout(params: dict) -> Dict[str, Tuple[int, int]]:
    """{kind: (size, count)} for the kinds of latent the model uses, in input order.

    The paper gives each bar generator 128 inputs: hybrid splits them into
    z, z_t, z_i, z_i,t (32 each); composer into z, z_t and jamming into z_i,
    z_i,t (64 each). Time-dependent kinds pass through a temporal generator.
    """
    design = MODELS[params["multitrack"]]
    n_kinds = 2 * (design.shared_latent + design.private_latent)
    size = params["latent_dim"] // n_kinds
    n_tracks = params["data_shape"][3] - (condition_index(params) is not None)
    layout = {}
    if design.shared_latent:
        layout.update(z=(size, 1), z_t=(size, 1))
    if design.private_latent:
        layout.update(z_i=(size, n_tracks), z_it=(size, n_tracks))
    return layout


def latent_size(params: dict) -> int:
    """Length of the latent vector of one phrase."""
    return sum(size * count for size, count in latent_layout(params).values())


def latent_slices(params: dict) -> Dict[str, List[Tuple[int, int]]]:
    """{kind: [(start, stop)] * count}: where each latent sits in the `(batch, latent_size)` input."""
    slices, start = {}, 0
    for kind, (size, count) in latent_layout(params).items():
        slices[kind] = [(start + k * size, start + (k + 1) * size) for k in range(count)]
        start += size * count
    return slices


def generated_tracks(params: dict) -> List[int]:
    """Indices of the tracks the generator writes (all but the condition track)."""
    c = condition_index(params)
    return [i for i in range(params["data_shape"][3]) if i != c]


def scope_names(params: dict) -> List[str]:
    """Lower-case track names: the variable scopes of per-track networks."""
    return [n.lower() for n in params["track_names"]]


def trained_generator_scopes(params: dict, tracks: Optional[List[str]], source: str = "config") -> Tuple[str, ...]:
    """Name prefixes of the G variables a run updates: `("Generator/",)` when `tracks` is None,
    else each named track's private temporal and bar generators (`config.train_tracks`,
    checked by `musegan.config.check_train_tracks`).

    Fine-tuning one track this way leaves every other track's output, for the same
    latent and condition, exactly as it was.
    """
    if tracks is None:
        return ("Generator/",)
    check_train_tracks(params, tracks, source)
    return tuple(f"Generator/{kind}/{t.lower()}/" for t in tracks for kind in ("temporal_private", "bar"))


def discriminator_names(params: dict) -> List[str]:
    """Variable scope of each discriminator, in the order of the score rows:
    'all', or (jamming) one per generated track."""
    if MODELS[params["multitrack"]].one_discriminator:
        return ["all"]
    names = scope_names(params)
    return [names[i] for i in generated_tracks(params)]


def _time_factors(n_steps: int) -> List[int]:
    """Time upsampling factors after the first 2 steps: 2, 2, ..., then 3 (48 -> [2, 2, 2, 3])."""
    doublings = (n_steps // 6).bit_length() - 1
    return [2] * doublings + [3]


def bar_time_layers(n_steps: int, generator_params: dict) -> List[Tuple[int, int]]:
    """(factor, units) of the bar generator's time layers `time0, time1, ...`: the doubling
    layers take `time_channels` from the front, the final x3 layer its last entry."""
    factors = _time_factors(n_steps)
    channels = generator_params["time_channels"]
    return list(zip(factors, channels[:len(factors) - 1] + channels[-1:]))


def encoder_layers(n_steps: int, n_pitches: int) -> List[Tuple[str, int]]:
    """(scope, factor) of the encoder's downsampling layers after `pitch_octave`: the bar
    generator's layers in reverse (pitch, then time from the finest)."""
    layers = [("pitch", n_pitches // 12)]
    return layers + [(f"time{i}", f) for i, f in enumerate(_time_factors(n_steps)[::-1])]


def temporal_factors(n_bars: int) -> Tuple[int, int]:
    """Upsampling factors of the temporal generator's two layers: 1 vector -> `first` steps
    -> `n_bars` steps."""
    first = 2 if n_bars % 2 == 0 else 1
    return first, n_bars // first
