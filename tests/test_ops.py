"""The reshape + matmul layers equal the convolutions they stand for (SPEC's layer list)."""
import numpy as np
import pytest
import tensorflow as tf

from musegan.nets import tf_layers

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
        y = tf_layers.conv_stride2(tf.constant(x), length, 7, "conv")
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
        y = tf_layers.upsample(tf.constant(x), 3, 5, "up", use_bias=False)
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
        y = tf_layers.downsample(tf.constant(x), 2, 5, "down")
        with v1.variable_scope("down", reuse=True):
            kernel, bias = v1.get_variable("kernel"), v1.get_variable("bias")
        ref = tf.nn.conv1d(tf.reshape(x, [4, 6, 3]), tf.reshape(kernel, [2, 3, 5]), stride=2,
                           padding="VALID") + bias
        return y, tf.reshape(ref, [-1, 5])

    y, ref = _run(build)
    assert y.shape == (12, 5)
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)


def test_batch_norm_moving_averages_move_only_through_update_ops():
    x = np.arange(12, dtype=np.float32).reshape(6, 2)

    def build():
        y = tf_layers.batch_norm(tf.constant(x), True, "bn")
        updates = v1.get_collection(v1.GraphKeys.UPDATE_OPS)
        return y, updates

    graph = tf.Graph()
    with graph.as_default():
        y, updates = build()
        with v1.variable_scope("bn", reuse=True):
            mean = v1.get_variable("moving_mean")
        with v1.Session() as sess:
            sess.run(v1.global_variables_initializer())
            out = sess.run(y)
            assert np.allclose(sess.run(mean), 0)
            sess.run(updates)
            # momentum 0.99: 1% of the batch mean (5, 6) after one update
            np.testing.assert_allclose(sess.run(mean), [0.05, 0.06], rtol=1e-5)
    np.testing.assert_allclose(out.mean(0), 0, atol=1e-5)
    assert len(updates) == 2


def test_binary_straight_through_thresholds_forward_and_passes_gradients_back():
    """TF and JAX: values are the inference rule (x > 0 as {-1, 1}); d/dx is 1 (straight through)."""
    import jax
    import jax.numpy as jnp

    from musegan.training.jax_trainer import binary_straight_through

    x = np.array([-0.9, -1e-3, 0.0, 2e-3, 0.7], np.float32)
    weights = np.array([1.0, -2.0, 3.0, 0.5, -1.5], np.float32)
    want = np.where(x > 0, 1.0, -1.0)

    def build():
        t = tf.constant(x)
        y = tf_layers.binary_straight_through(t)
        return y, tf.gradients(tf.reduce_sum(y * weights), t)[0]

    y, grad = _run(build)
    np.testing.assert_array_equal(y, want)
    np.testing.assert_allclose(grad, weights)
    np.testing.assert_array_equal(np.asarray(binary_straight_through(jnp.asarray(x))), want)
    np.testing.assert_allclose(np.asarray(jax.grad(lambda v: jnp.sum(binary_straight_through(v) * weights))(x)),
                               weights)
