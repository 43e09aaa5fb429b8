"""The interface the networks are written against (`Ops`) and the layers written once over it.

A backend provides `Ops`: variables by name inside scopes, a matrix product, batch
normalization and the few array ops the networks and the training step use.
`musegan.nets.tf_ops` builds tf.compat.v1 graph ops on `get_variable` (the TF1 shape:
variable scopes, Session, Saver); `musegan.nets.jax_ops` computes with jax.numpy on a
dict of arrays keyed by the TensorFlow variable names. Variable names and shapes come from
the code below, so both backends read and write the same weights.

Every MuseGAN layer whose kernel equals its stride is a matrix product over a reshaped
2-D tensor `(rows, channels)`: rows are ordered (batch, bar, step, ...) with the axis
being grown or shrunk innermost, so a reshape is all the layout work there is. On CPUs
this runs several times faster than convolution kernels (bench/train.py), and plain 2-D
MatMul beats BatchMatMul, so per-track networks stay separate ops.
"""
from typing import Any, Callable, ContextManager, Dict, List, Optional, Protocol, Sequence, Tuple

__all__ = ["Ops", "Init", "ZEROS", "ONES", "truncated_normal", "BN_EPSILON", "BN_MOMENTUM",
           "dense", "upsample", "downsample", "conv_stride2", "batch_norm", "binary_straight_through"]

Array = Any  # a tf.Tensor or a jax.Array
# How a fresh variable starts: ("truncated_normal", stddev) within 2 stddev, ("zeros", 0), ("ones", 0)
Init = Tuple[str, float]
ZEROS: Init = ("zeros", 0.0)
ONES: Init = ("ones", 0.0)
BN_EPSILON = 1e-3
BN_MOMENTUM = 0.99  # moving averages keep 99% of their value per update


def truncated_normal(fan_in: int) -> Init:
    """He-style initializer of a kernel with `fan_in` inputs: stddev sqrt(1 / fan_in)."""
    return ("truncated_normal", (1.0 / fan_in) ** 0.5)


class Ops(Protocol):
    """What a backend provides. Arrays are float32 unless said; shapes are static ints."""

    # {batch-norm scope: (batch mean, Bessel-corrected batch variance)} of the layers run in
    # training mode through this object: what their moving averages take
    batch_stats: Dict[str, Tuple[Array, Array]]
    # {full variable name: the variable (TensorFlow) or its value (JAX)} handed out so far
    variables: Dict[str, Array]

    # variables
    def scope(self, name: str) -> ContextManager: ...
    def scope_name(self) -> str: ...
    def variable(self, name: str, shape: Sequence[int], init: Init, trainable: bool = True) -> Array: ...

    # arithmetic
    def matmul(self, x: Array, kernel: Array) -> Array: ...
    def bias_add(self, x: Array, bias: Array) -> Array: ...
    def batch_normalize(self, x: Array, gamma: Array, beta: Array, mean: Array, variance: Array,
                        training: bool) -> Tuple[Array, Optional[Array], Optional[Array]]:
        """`(rows, c)` -> (y, batch mean, Bessel-corrected batch variance) normalized over rows with
        the batch's statistics (biased variance) when `training`, else with `mean`, `variance`
        (then the statistics are None); epsilon `BN_EPSILON`."""
    def tanh(self, x: Array) -> Array: ...
    def relu(self, x: Array) -> Array: ...
    def leaky_relu(self, x: Array) -> Array:
        """Slope 0.2 below 0."""
    def softplus(self, x: Array) -> Array: ...
    def sqrt(self, x: Array) -> Array: ...
    def square(self, x: Array) -> Array: ...
    def clip(self, x: Array, low: float, high: float) -> Array: ...
    def to_float(self, x: Array) -> Array: ...

    # layout
    def reshape(self, x: Array, shape: Sequence[int]) -> Array: ...
    def concat(self, xs: Sequence[Array], axis: int) -> Array: ...
    def stack(self, xs: Sequence[Array], axis: int) -> Array: ...
    def split(self, x: Array, sizes: Sequence[int], axis: int) -> List[Array]: ...
    def tile(self, x: Array, multiples: Sequence[int]) -> Array: ...
    def pad(self, x: Array, paddings: Sequence[Tuple[int, int]], value: float = 0.0) -> Array: ...
    def reduce_sum(self, x: Array, axis, keepdims: bool = False) -> Array: ...
    def reduce_mean(self, x: Array, axis=None) -> Array: ...
    def reduce_variance(self, x: Array, axis: int) -> Array: ...
    def where(self, condition: Array, x, y) -> Array: ...
    def zeros_like(self, x: Array) -> Array: ...
    def stop_gradient(self, x: Array) -> Array: ...
    def gradients(self, fn: Callable[[List[Array]], Array], xs: List[Array]) -> List[Array]:
        """d fn(xs) / d xs for a scalar `fn` (the gradient penalty's inner derivative)."""

    # data (the training step's batches)
    def arange(self, n: int) -> Array: ...
    def gather_rows(self, x: Array, index: Array) -> Array: ...
    def unpack_signs(self, rows: Array) -> Array:
        """uint8 `(k, n_bytes)` -> int8 `(k, 8 n_bytes)`: +1 for a set bit, -1 for a clear one, most
        significant bit first (np.unpackbits * 2 - 1)."""
    def gather_pitches(self, x: Array, index: Array) -> Array:
        """int8 +-1 `(k, n_bars, n_steps, n_pitches, n_tracks)`, int `(k, n_tracks, n_pitches)` -> the
        same shape: pitch p of track t of phrase i taken from pitch `index[i, t, p]`, silent (-1)
        where that is `n_pitches`."""


def dense(ops: Ops, x: Array, units: int, name: str, use_bias: bool = True) -> Array:
    """`(rows, c_in) -> (rows, units)`."""
    c_in = x.shape[-1]
    with ops.scope(name):
        y = ops.matmul(x, ops.variable("kernel", [c_in, units], truncated_normal(c_in)))
        if use_bias:
            y = ops.bias_add(y, ops.variable("bias", [units], ZEROS))
    return y


def upsample(ops: Ops, x: Array, factor: int, units: int, name: str, use_bias: bool = True) -> Array:
    """Transposed convolution with kernel == stride == `factor` along the innermost row axis:
    `(rows, c) -> (rows * factor, units)`, each row expanding into `factor` consecutive rows."""
    y = ops.reshape(dense(ops, x, factor * units, name, use_bias=False), [-1, units])
    if use_bias:
        with ops.scope(name):
            y = ops.bias_add(y, ops.variable("bias", [units], ZEROS))
    return y


def downsample(ops: Ops, x: Array, factor: int, units: int, name: str) -> Array:
    """Convolution with kernel == stride == `factor` along the innermost row axis:
    `(rows, c) -> (rows / factor, units)`."""
    return dense(ops, ops.reshape(x, [-1, factor * x.shape[-1]]), units, name)


def conv_stride2(ops: Ops, x: Array, length: int, units: int, name: str) -> Array:
    """Convolution with kernel 4, stride 2, SAME padding along the innermost row axis of
    sequences of `length` rows: `(rows, c) -> (rows / 2, units)`; kernel `(2, 2c, units)`.

    Pairs of steps are folded into channels; window i covers pairs i and i+1, so
    y_i = pair_i @ W_a + pair_{i+1} @ W_b: one matmul on the pairs, then an add
    of two shifted halves of its (small) output.
    """
    c = x.shape[-1]
    x = ops.pad(ops.reshape(x, [-1, length, c]), [(0, 0), (1, 1), (0, 0)])
    pairs = ops.reshape(x, [-1, 2 * c])  # (sequences * (length / 2 + 1), 2c)
    with ops.scope(name):
        kernel = ops.variable("kernel", [2, 2 * c, units], truncated_normal(4 * c))
        bias = ops.variable("bias", [units], ZEROS)
    # split, not kernel[0] and kernel[1]: TensorFlow's gradient of a slice is a StridedSliceGrad
    halves = [ops.reshape(k, [2 * c, units]) for k in ops.split(kernel, [1, 1], axis=0)]
    both = ops.matmul(pairs, ops.concat(halves, axis=1))
    first, second = ops.split(ops.reshape(both, [-1, length // 2 + 1, 2 * units]), [units, units], axis=2)
    # splits, not slices: in TensorFlow their gradients are concats, ~25% cheaper than
    # StridedSliceGrad through the gradient penalty's double backward
    first, _ = ops.split(first, [length // 2, 1], axis=1)
    _, second = ops.split(second, [1, length // 2], axis=1)
    return ops.bias_add(ops.reshape(first + second, [-1, units]), bias)


def batch_norm(ops: Ops, x: Array, training: bool, name: str) -> Array:
    """Batch normalization of `(rows, c)` over rows. In training mode the batch's statistics
    go to `ops.batch_stats` under the layer's scope (the training step moves the moving
    averages); at inference the moving averages normalize."""
    c = x.shape[-1]
    with ops.scope(name):
        beta = ops.variable("beta", [c], ZEROS)
        gamma = ops.variable("gamma", [c], ONES)
        moving_mean = ops.variable("moving_mean", [c], ZEROS, trainable=False)
        moving_variance = ops.variable("moving_variance", [c], ONES, trainable=False)
        y, mean, variance = ops.batch_normalize(x, gamma, beta, moving_mean, moving_variance, training)
        if training:
            ops.batch_stats[ops.scope_name()] = (mean, variance)
    return y


def binary_straight_through(ops: Ops, x: Array) -> Array:
    """BinaryMuseGAN's deterministic binary neuron over tanh outputs: forward `x > 0` as {-1, 1}
    (so D sees what inference writes, not soft values it could tell from data), backward the
    identity (straight-through estimator)."""
    return x + ops.stop_gradient(ops.where(x > 0, 1.0, -1.0) - x)
