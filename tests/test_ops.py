"""The reshape + matmul layers (musegan.nets.layers, here on TensorFlow) equal the convolutions
they stand for; batch norm's moving averages move only through the training step."""
import numpy as np
import pytest
import tensorflow as tf

from musegan.nets import layers
from musegan.nets.tf_ops import TFOps
from musegan.training.step import moving_average_steps

v1 = tf.compat.v1


def _run(build):
    graph = tf.Graph()
    with graph.as_default():
        v1.set_random_seed(0)
        outputs = build()
        with v1.Session() as sess:
            sess.run(v1.global_variables_initializer())
            return sess.run(outputs)


@pytest.mark.parametrize("length", [48, 12, 6, 2])
def test_conv_stride2_is_kernel4_stride2_same_conv(length):
    rng = np.random.default_rng(length)
    x = rng.standard_normal((3 * length, 5)).astype(np.float32)  # 3 sequences, 5 channels

    def build():
        y = layers.conv_stride2(TFOps(), tf.constant(x), length, 7, "conv")
        with v1.variable_scope("conv", reuse=True):
            kernel, bias = v1.get_variable("kernel"), v1.get_variable("bias")
        # kernel[0] holds taps 0-1 over (step, channel), kernel[1] taps 2-3
        filters = tf.reshape(kernel, [4, 5, 7])
        ref = tf.nn.conv1d(tf.reshape(x, [3, length, 5]), filters, stride=2, padding="SAME") + bias
        grads = tf.gradients(tf.reduce_sum(tf.square(y)), kernel)[0]
        ref_grads = tf.gradients(tf.reduce_sum(tf.square(ref)), kernel)[0]
        return y, tf.reshape(ref, [-1, 7]), grads, ref_grads

    y, ref, grads, ref_grads = _run(build)
    assert y.shape == (3 * length // 2, 7)
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(grads, ref_grads, rtol=1e-3, atol=1e-3)


def test_upsample_is_transposed_conv_with_kernel_equal_stride():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 6)).astype(np.float32)  # 4 sequences of one step

    def build():
        y = layers.upsample(TFOps(), tf.constant(x), 3, 5, "up", use_bias=False)
        with v1.variable_scope("up", reuse=True):
            kernel = v1.get_variable("kernel")  # (6, 3 * 5)
        filters = tf.transpose(tf.reshape(kernel, [6, 3, 5]), [1, 2, 0])  # (width, out, in)
        ref = tf.nn.conv1d_transpose(tf.reshape(x, [4, 1, 6]), filters, [4, 3, 5], strides=3)
        return y, tf.reshape(ref, [-1, 5])

    y, ref = _run(build)
    assert y.shape == (12, 5)
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)


def test_downsample_is_conv_with_kernel_equal_stride():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4 * 6, 3)).astype(np.float32)  # 4 sequences of 6 steps

    def build():
        y = layers.downsample(TFOps(), tf.constant(x), 2, 5, "down")
        with v1.variable_scope("down", reuse=True):
            kernel, bias = v1.get_variable("kernel"), v1.get_variable("bias")
        ref = tf.nn.conv1d(tf.reshape(x, [4, 6, 3]), tf.reshape(kernel, [2, 3, 5]), stride=2,
                           padding="VALID") + bias
        return y, tf.reshape(ref, [-1, 5])

    y, ref = _run(build)
    assert y.shape == (12, 5)
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)


def test_batch_norm_moving_averages_move_only_through_the_step():
    """Training mode normalizes with the batch's statistics and records them; the moving averages
    move (momentum 0.99) when the step subtracts what `moving_average_steps` gives, for the
    scopes trained only."""
    x = np.arange(12, dtype=np.float32).reshape(6, 2)
    graph = tf.Graph()
    with graph.as_default():
        ops = TFOps()
        with ops.scope("Generator"):
            y = layers.batch_norm(ops, tf.constant(x), True, "bn")
            layers.batch_norm(ops, tf.constant(x), True, "frozen/bn")
        new = moving_average_steps(ops, ("Generator/bn",))
        update = tf.group(*[v.assign_sub(new[n]) for n, v in ops.variables.items() if n in new])
        mean = ops.variables["Generator/bn/moving_mean"]
        with tf.compat.v1.Session() as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            out = sess.run(y)
            assert np.allclose(sess.run(mean), 0)
            sess.run(update)
            # momentum 0.99: 1% of the batch mean (5, 6) after one update
            np.testing.assert_allclose(sess.run(mean), [0.05, 0.06], rtol=1e-5)
    np.testing.assert_allclose(out.mean(0), 0, atol=1e-5)
    assert sorted(new) == ["Generator/bn/moving_mean", "Generator/bn/moving_variance"]
