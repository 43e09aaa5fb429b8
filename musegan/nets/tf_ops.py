"""`musegan.nets.layers.Ops` as tf.compat.v1 graph ops: variables by `get_variable` in variable
scopes (shared between calls), fused batch norm, `tf.gradients`."""
from typing import Callable, ContextManager, Dict, List, Sequence, Tuple

import numpy as np
import tensorflow as tf
from tensorflow.python.ops import gen_nn_ops

from musegan.nets.layers import BN_EPSILON, Init
from musegan.nets.network import MuseGAN

__all__ = ["TFOps", "generator_variable_names", "count_parameters"]

v1 = tf.compat.v1


@tf.RegisterGradient("MuseganLeakyReluGradGrad")
def _leaky_relu_grad_grad(op, grad):
    """TensorFlow's gradient of LeakyReluGrad, but None for the features: the derivative of
    the mask is 0 there, and the zeros TensorFlow returns instead flow into a whole backward
    pass through D's forward pass on x_hat, matmuls over zeros (13% of a D update's FLOPs)."""
    return gen_nn_ops.leaky_relu_grad(grad, op.inputs[1], alpha=op.get_attr("alpha")), None


def _initializer(init: Init):
    kind, stddev = init
    if kind == "truncated_normal":
        return v1.truncated_normal_initializer(stddev=stddev)
    return v1.ones_initializer() if kind == "ones" else v1.zeros_initializer()


class TFOps:
    """Graph ops in the default graph. One object per network pass whose batch statistics
    matter (`batch_stats`); variables are shared through the graph's variable scopes."""

    def __init__(self):
        self.batch_stats: Dict[str, Tuple[tf.Tensor, tf.Tensor]] = {}
        self.variables: Dict[str, tf.Variable] = {}

    def scope(self, name: str) -> ContextManager:
        return v1.variable_scope(name, reuse=v1.AUTO_REUSE)

    def scope_name(self) -> str:
        return v1.get_variable_scope().name

    def variable(self, name: str, shape: Sequence[int], init: Init, trainable: bool = True):
        value = v1.get_variable(name, shape, initializer=_initializer(init), trainable=trainable)
        self.variables[f"{self.scope_name()}/{name}"] = value
        return value

    def matmul(self, x, kernel):
        return tf.matmul(x, kernel)

    def bias_add(self, x, bias):
        return tf.nn.bias_add(x, bias)

    def batch_normalize(self, x, gamma, beta, mean, variance, training: bool):
        """TensorFlow's fused kernel over `(rows, 1, 1, c)`."""
        c = x.shape[-1]
        x4 = tf.reshape(x, [-1, 1, 1, c])
        if training:
            y, batch_mean, batch_variance = v1.nn.fused_batch_norm(x4, gamma, beta, epsilon=BN_EPSILON,
                                                                    is_training=True)
            return tf.reshape(y, [-1, c]), batch_mean, batch_variance
        y, _, _ = v1.nn.fused_batch_norm(x4, gamma, beta, mean=mean, variance=variance, epsilon=BN_EPSILON,
                                         is_training=False)
        return tf.reshape(y, [-1, c]), None, None

    def tanh(self, x):
        return tf.tanh(x)

    def relu(self, x):
        return tf.nn.relu(x)

    def leaky_relu(self, x):
        return tf.nn.leaky_relu(x, alpha=0.2)

    def softplus(self, x):
        return tf.nn.softplus(x)

    def sqrt(self, x):
        return tf.sqrt(x)

    def square(self, x):
        return tf.square(x)

    def clip(self, x, low: float, high: float):
        return tf.clip_by_value(x, low, high)

    def to_float(self, x):
        return tf.cast(x, tf.float32)

    def reshape(self, x, shape):
        return tf.reshape(x, shape)

    def concat(self, xs, axis: int):
        return tf.concat(xs, axis)

    def stack(self, xs, axis: int):
        if axis == -1:
            # Pack on the innermost axis copies one number at a time (the generator's five tracks
            # at batch 64: 11 ms on a core); whole blocks, then one 2-D transpose, take half of that
            flat = tf.transpose(tf.stack([tf.reshape(x, [-1]) for x in xs], 0))
            return tf.reshape(flat, [-1, *xs[0].shape[1:], len(xs)])
        return tf.stack(xs, axis)

    def split(self, x, sizes: Sequence[int], axis: int) -> List[tf.Tensor]:
        return tf.split(x, len(sizes) if len(set(sizes)) == 1 else list(sizes), axis=axis)

    def tile(self, x, multiples):
        return tf.tile(x, multiples)

    def pad(self, x, paddings, value: float = 0.0):
        return tf.pad(x, [list(p) for p in paddings], constant_values=value)

    def reduce_sum(self, x, axis, keepdims: bool = False):
        return tf.reduce_sum(x, axis=axis, keepdims=keepdims)

    def reduce_mean(self, x, axis=None):
        return tf.reduce_mean(x, axis=axis)

    def reduce_variance(self, x, axis: int):
        return tf.math.reduce_variance(x, axis)

    def where(self, condition, x, y):
        return tf.where(condition, x, y)

    def zeros_like(self, x):
        return tf.zeros_like(x)

    def stop_gradient(self, x):
        return tf.stop_gradient(x)

    def gradients(self, fn: Callable, xs: List[tf.Tensor]) -> List[tf.Tensor]:
        y = fn(xs)
        with v1.get_default_graph().gradient_override_map({"LeakyReluGrad": "MuseganLeakyReluGradGrad"}):
            return tf.gradients(y, xs)

    def arange(self, n: int):
        return tf.range(n)

    def gather_rows(self, x, index):
        return tf.gather(x, index)

    def unpack_signs(self, rows):
        # one lookup per byte: half the time of shifting and masking each bit
        signs = tf.gather(_SIGNS, tf.cast(rows, tf.int32))
        return tf.reshape(signs, [-1, 8 * rows.shape[1]])

    def gather_pitches(self, x, index):
        _, bars, steps, pitches, tracks = x.shape
        # rows (pitch, track) of the phrase's steps, and a silent row last: the gather then
        # moves whole rows of bytes, not one byte at a time
        rows = tf.transpose(tf.reshape(x, [-1, bars * steps, pitches * tracks]), [0, 2, 1])
        rows = tf.pad(rows, [[0, 0], [0, 1], [0, 0]], constant_values=-1)
        by_pitch = tf.transpose(index, [0, 2, 1])  # (k, pitch, track)
        track = np.arange(tracks, dtype=np.int32)
        flat = tf.reshape(tf.where(by_pitch < pitches, by_pitch * tracks + track, pitches * tracks),
                          [-1, pitches * tracks])
        moved = tf.transpose(tf.gather(rows, flat, axis=1, batch_dims=1), [0, 2, 1])
        return tf.reshape(moved, [-1, bars, steps, pitches, tracks])


# _SIGNS[byte] = its bits as -1/+1, most significant first
_SIGNS = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1).astype(np.int8) * 2 - 1


def count_parameters(variables) -> int:
    return int(sum(np.prod(v.shape.as_list()) for v in variables))


def generator_variable_names(params: dict) -> List[str]:
    """Names of the generator's variables (weights and batch-norm moving averages): what a
    shipped generator.npz holds. Built in a scratch graph; no values are computed."""
    graph = tf.Graph()
    with graph.as_default():
        model = MuseGAN(params, TFOps())
        z = v1.placeholder(tf.float32, [None, model.latent_size])
        shape = params["data_shape"]
        condition = v1.placeholder(tf.float32, [None, *shape[:3]]) if model.condition is not None else None
        model.generator(z, condition, training=False)
        return [v.op.name for v in v1.global_variables()]
