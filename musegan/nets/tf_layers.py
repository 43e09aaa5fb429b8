"""Small layer ops on `tf.compat.v1.get_variable` + `tf.nn`, over 2-D tensors `(rows, channels)`.

Every MuseGAN layer whose kernel equals its stride is a matrix product over a
reshaped tensor: rows are ordered (batch, bar, step, ...) with the axis being
grown or shrunk innermost, so a reshape is all the layout work there is. On
CPUs this runs several times faster than conv kernels (shared PERF.md), and
plain 2-D MatMul beats BatchMatMul, so per-track networks stay separate ops.
"""
import tensorflow as tf

v1 = tf.compat.v1


def dense(x: tf.Tensor, units: int, name: str, use_bias: bool = True) -> tf.Tensor:
    """`(rows, c_in) -> (rows, units)`."""
    c_in = x.shape[-1]
    with v1.variable_scope(name):
        kernel = v1.get_variable("kernel", [c_in, units],
                                 initializer=v1.truncated_normal_initializer(stddev=(1.0 / c_in) ** 0.5))
        y = tf.matmul(x, kernel)
        if use_bias:
            y = tf.nn.bias_add(y, v1.get_variable("bias", [units], initializer=v1.zeros_initializer()))
    return y


def upsample(x: tf.Tensor, factor: int, units: int, name: str, use_bias: bool = True) -> tf.Tensor:
    """Transposed convolution with kernel == stride == `factor` along the innermost row axis:
    `(rows, c) -> (rows * factor, units)`, each row expanding into `factor` consecutive rows."""
    y = tf.reshape(dense(x, factor * units, name, use_bias=False), [-1, units])
    if use_bias:
        with v1.variable_scope(name):
            y = tf.nn.bias_add(y, v1.get_variable("bias", [units], initializer=v1.zeros_initializer()))
    return y


def downsample(x: tf.Tensor, factor: int, units: int, name: str) -> tf.Tensor:
    """Convolution with kernel == stride == `factor` along the innermost row axis:
    `(rows, c) -> (rows / factor, units)`."""
    return dense(tf.reshape(x, [-1, factor * x.shape[-1]]), units, name)


def conv_stride2(x: tf.Tensor, length: int, units: int, name: str) -> tf.Tensor:
    """Convolution with kernel 4, stride 2, SAME padding along the innermost row axis of
    sequences of `length` rows: `(rows, c) -> (rows / 2, units)`.

    Pairs of steps are folded into channels; window i covers pairs i and i+1, so
    y_i = pair_i @ W_a + pair_{i+1} @ W_b: one matmul on the pairs, then an add
    of two shifted halves of its (small) output.
    """
    c = x.shape[-1]
    x = tf.pad(tf.reshape(x, [-1, length, c]), [[0, 0], [1, 1], [0, 0]])
    pairs = tf.reshape(x, [-1, 2 * c])  # (sequences * (length / 2 + 1), 2c)
    with v1.variable_scope(name):
        kernel = v1.get_variable("kernel", [2, 2 * c, units],
                                 initializer=v1.truncated_normal_initializer(stddev=(1.0 / (4 * c)) ** 0.5))
        bias = v1.get_variable("bias", [units], initializer=v1.zeros_initializer())
    both = tf.matmul(pairs, tf.concat([kernel[0], kernel[1]], axis=1))
    first, second = tf.split(tf.reshape(both, [-1, length // 2 + 1, 2 * units]), 2, axis=2)
    # splits, not slices: their gradients are concats, ~25% cheaper than StridedSliceGrad
    # through the gradient penalty's double backward
    first, _ = tf.split(first, [length // 2, 1], axis=1)
    _, second = tf.split(second, [1, length // 2], axis=1)
    y = first + second
    return tf.nn.bias_add(tf.reshape(y, [-1, units]), bias)


def batch_norm(x: tf.Tensor, training: bool, name: str, momentum: float = 0.99,
               epsilon: float = 1e-3) -> tf.Tensor:
    """Batch normalization of `(rows, c)` over rows (fused kernel).

    Moving averages are updated by ops in `GraphKeys.UPDATE_OPS` while
    training and used at inference.
    """
    c = x.shape[-1]
    with v1.variable_scope(name):
        beta = v1.get_variable("beta", [c], initializer=v1.zeros_initializer())
        gamma = v1.get_variable("gamma", [c], initializer=v1.ones_initializer())
        moving_mean = v1.get_variable("moving_mean", [c], initializer=v1.zeros_initializer(), trainable=False)
        moving_var = v1.get_variable("moving_variance", [c], initializer=v1.ones_initializer(), trainable=False)
    x4 = tf.reshape(x, [-1, 1, 1, c])
    if training:
        y, mean, var = v1.nn.fused_batch_norm(x4, gamma, beta, epsilon=epsilon, is_training=True)
        for moving, value in ((moving_mean, mean), (moving_var, var)):
            v1.add_to_collection(v1.GraphKeys.UPDATE_OPS,
                                 v1.assign_sub(moving, (1.0 - momentum) * (moving - value)))
    else:
        y, _, _ = v1.nn.fused_batch_norm(x4, gamma, beta, mean=moving_mean, variance=moving_var,
                                         epsilon=epsilon, is_training=False)
    return tf.reshape(y, [-1, c])


def leaky_relu(x: tf.Tensor) -> tf.Tensor:
    return tf.nn.leaky_relu(x, alpha=0.2)


def binary_straight_through(x: tf.Tensor) -> tf.Tensor:
    """BinaryMuseGAN's deterministic binary neuron over tanh outputs: forward `x > 0` as {-1, 1}
    (so D sees what inference writes, not soft values it could tell from data), backward the
    identity (straight-through estimator)."""
    return x + tf.stop_gradient(tf.where(x > 0, 1.0, -1.0) - x)
