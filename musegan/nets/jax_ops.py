"""`musegan.nets.layers.Ops` in JAX: pure functions of a dict of arrays keyed by the TensorFlow
variable names (`Generator/bar/drums/time0/kernel`, ...), with the same shapes and layouts,
so weights move between the two frameworks by name. No TensorFlow here.

Batch norm in training mode is TensorFlow's fused kernel: normalized with the biased batch
variance, epsilon 1e-3, and the Bessel-corrected variance returned for the moving average.
"""
import contextlib
from typing import Callable, Dict, Iterator, List, Mapping, Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from musegan.nets.layers import BN_EPSILON, Init
from musegan.nets.network import MuseGAN

__all__ = ["JaxOps", "Lookup", "variable_specs", "init_variables"]

Array = jnp.ndarray
Specs = Dict[str, Tuple[Tuple[int, ...], Init]]


class Lookup:
    """Variables from a dict {TF name: array}, checked against the shape the model asks for."""

    def __init__(self, values: Mapping[str, Array]):
        self.values = values

    def __call__(self, name: str, shape: Sequence[int], init: Init) -> Array:
        value = self.values[name]
        if tuple(value.shape) != tuple(shape):
            raise ValueError(f"'{name}' has shape {tuple(value.shape)}, the model needs {tuple(shape)}")
        return value


class _Recorder:
    """Zeros (ones) for every variable asked for, noting its name, shape and initializer."""

    def __init__(self):
        self.specs: Specs = {}

    def __call__(self, name: str, shape: Sequence[int], init: Init) -> Array:
        self.specs.setdefault(name, (tuple(int(d) for d in shape), init))
        return (jnp.ones if init[0] == "ones" else jnp.zeros)(shape, jnp.float32)


class JaxOps:
    """jax.numpy ops; `get(name, shape, init)` answers each variable by its full name (`Lookup`)."""

    def __init__(self, get: Callable[[str, Sequence[int], Init], Array] = None):
        self._get = get
        self._scopes: List[str] = []
        self.batch_stats: Dict[str, Tuple[Array, Array]] = {}
        self.variables: Dict[str, Array] = {}

    @contextlib.contextmanager
    def scope(self, name: str) -> Iterator[None]:
        self._scopes.append(name)
        try:
            yield
        finally:
            self._scopes.pop()

    def scope_name(self) -> str:
        return "/".join(self._scopes)

    def variable(self, name: str, shape: Sequence[int], init: Init, trainable: bool = True) -> Array:
        full = "/".join(self._scopes + [name])
        value = self.variables[full] = self._get(full, shape, init)
        return value

    def matmul(self, x, kernel):
        return x @ kernel

    def bias_add(self, x, bias):
        return x + bias

    def batch_normalize(self, x, gamma, beta, mean, variance, training: bool):
        """In the arithmetic order of TensorFlow's fused CPU kernel."""
        if not training:
            return (x - mean) * (lax.rsqrt(variance + BN_EPSILON) * gamma) + beta, None, None
        n = x.shape[0]
        batch_mean = jnp.sum(x, axis=0) * (1.0 / n)
        centered = x - batch_mean
        batch_variance = jnp.sum(jnp.square(centered), axis=0) * (1.0 / n)
        y = centered * (lax.rsqrt(batch_variance + BN_EPSILON) * gamma) + beta
        return y, batch_mean, batch_variance * (n / (n - 1) if n > 1 else 1.0)

    def tanh(self, x):
        return jnp.tanh(x)

    def relu(self, x):
        return jax.nn.relu(x)

    def leaky_relu(self, x):
        return jnp.where(x > 0, x, 0.2 * x)

    def softplus(self, x):
        return jax.nn.softplus(x)

    def sqrt(self, x):
        return jnp.sqrt(x)

    def square(self, x):
        return jnp.square(x)

    def clip(self, x, low: float, high: float):
        return jnp.clip(x, low, high)

    def to_float(self, x):
        return jnp.asarray(x).astype(jnp.float32)

    def reshape(self, x, shape):
        return jnp.reshape(x, shape)

    def concat(self, xs, axis: int):
        return jnp.concatenate(xs, axis)

    def stack(self, xs, axis: int):
        return jnp.stack(xs, axis)

    def split(self, x, sizes: Sequence[int], axis: int) -> List[Array]:
        return jnp.split(x, np.cumsum(sizes)[:-1].tolist(), axis=axis)

    def tile(self, x, multiples):
        return jnp.tile(x, multiples)

    def pad(self, x, paddings, value: float = 0.0):
        return jnp.pad(x, [tuple(p) for p in paddings], constant_values=value)

    def reduce_sum(self, x, axis, keepdims: bool = False):
        return jnp.sum(x, axis=tuple(axis) if isinstance(axis, (list, tuple)) else axis, keepdims=keepdims)

    def reduce_mean(self, x, axis=None):
        return jnp.mean(x, axis=axis)

    def reduce_variance(self, x, axis: int):
        return jnp.var(x, axis)

    def where(self, condition, x, y):
        return jnp.where(condition, x, y)

    def zeros_like(self, x):
        return jnp.zeros_like(x)

    def stop_gradient(self, x):
        return lax.stop_gradient(x)

    def gradients(self, fn: Callable, xs: List[Array]) -> List[Array]:
        return jax.grad(fn)(xs)

    def arange(self, n: int):
        return jnp.arange(n)

    def gather_rows(self, x, index):
        return x[index]

    def unpack_signs(self, rows):
        bits = (rows[..., None] >> jnp.arange(7, -1, -1, dtype=jnp.uint8)) & jnp.uint8(1)
        return bits.reshape(rows.shape[0], -1).astype(jnp.int8) * 2 - 1

    def gather_pitches(self, x, index):
        silent = jnp.pad(x, [(0, 0)] * 3 + [(0, 1), (0, 0)], constant_values=-1)
        return jnp.take_along_axis(silent, jnp.swapaxes(index, 1, 2)[:, None, None], axis=3)


def variable_specs(params: dict) -> Specs:
    """{TF name: (shape, initializer)} of every G and D variable, in TensorFlow's creation order
    (the training step's first generator pass, then the discriminator)."""
    recorder = _Recorder()

    def build(z, condition):
        model = MuseGAN(params, JaxOps(recorder))
        return model.discriminator(model.generator(z, condition, training=True))

    model = MuseGAN(params, JaxOps(recorder))
    shape = (2, *params["data_shape"][:3])
    condition = jax.ShapeDtypeStruct(shape, jnp.float32) if model.condition is not None else None
    jax.eval_shape(build, jax.ShapeDtypeStruct((2, model.latent_size), jnp.float32), condition)
    return recorder.specs


def init_variables(specs: Specs, key) -> Dict[str, Array]:
    """Fresh values as TensorFlow's initializers give them (truncated normal within 2 stddev, zeros, ones)."""
    out = {}
    for i, (name, (shape, (kind, stddev))) in enumerate(specs.items()):
        if kind == "truncated_normal":
            out[name] = stddev * jax.random.truncated_normal(jax.random.fold_in(key, i), -2.0, 2.0, shape, jnp.float32)
        else:
            out[name] = (jnp.ones if kind == "ones" else jnp.zeros)(shape, jnp.float32)
    return out
