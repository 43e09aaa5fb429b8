"""The six model combinations as graphs: shapes, pass-through, batch norm, variable ownership."""
import numpy as np
import pytest
import tensorflow as tf

from musegan import config as cfg
from musegan.music.data import pack
from musegan.nets.spec import MODELS
from musegan.nets.network import MuseGAN, beat_onset_share
from musegan.nets.tf_ops import TFOps
from musegan.training.tf_backend import TrainGraph
from tiny_exp import TINY_CONFIG, TINY_PARAMS, tiny_phrases

v1 = tf.compat.v1
v1.disable_eager_execution()
COMBINATIONS = [(m, c) for m in MODELS for c in (None, "piano")]


def tiny(multitrack, condition):
    return cfg.load_params(overrides={**TINY_PARAMS, "multitrack": multitrack, "condition_track": condition})


@pytest.mark.parametrize("multitrack,condition", COMBINATIONS)
def test_builds_with_shapes_and_passes_condition_through(multitrack, condition):
    params = tiny(multitrack, condition)
    with tf.Graph().as_default():
        model = MuseGAN(params, TFOps())
        z = v1.placeholder(tf.float32, [None, model.latent_size])
        c = v1.placeholder(tf.float32, [None, 4, 24, 24]) if condition else None
        x = model.generator(z, c, training=False)
        scores = model.discriminator(x)
        with v1.Session() as sess:
            sess.run(v1.global_variables_initializer())
            feed = {z: np.random.randn(3, model.latent_size)}
            cond = np.where(np.random.rand(3, 4, 24, 24) < 0.1, 1.0, -1.0).astype(np.float32)
            if condition:
                feed[c] = cond
            out, s = sess.run([x, scores], feed)
    assert out.shape == (3, 4, 24, 24, 5)
    assert np.all(np.abs(out) <= 1)
    n_disc = 1 if MODELS[multitrack].one_discriminator else 5 - (condition is not None)
    assert s.shape == (n_disc, 3)
    if condition:
        assert np.array_equal(out[..., 1], cond)  # bit-exact pass-through of the piano track
        assert not np.array_equal(out[..., 0], cond)


def test_latent_split_follows_the_paper():
    sizes = {m: MuseGAN(tiny(m, None), TFOps()).layout for m in MODELS}
    assert sizes["hybrid"] == {"z": (32, 1), "z_t": (32, 1), "z_i": (32, 5), "z_it": (32, 5)}
    assert sizes["jamming"] == {"z_i": (64, 5), "z_it": (64, 5)}
    assert sizes["composer"] == {"z": (64, 1), "z_t": (64, 1)}


@pytest.mark.parametrize("multitrack,condition", [("hybrid", None), ("jamming", "bass"), ("composer", "piano")])
def test_batch_norm_only_in_generator_and_optimizers_own_variables(multitrack, condition):
    params = tiny(multitrack, condition)
    x = tiny_phrases(8)
    with tf.Graph().as_default() as graph:
        TrainGraph(params, cfg.load_config(overrides=TINY_CONFIG), pack(x))
        g_vars = set(v1.trainable_variables("Generator/"))
        d_vars = set(v1.trainable_variables("Discriminator/"))
        assert g_vars and d_vars and not g_vars & d_vars
        assert set(v1.trainable_variables()) == g_vars | d_vars
        bn_ops = [op for op in graph.get_operations() if op.type.startswith("FusedBatchNorm")]
        assert bn_ops and all(op.name.startswith(("Generator", "optimizers/gradients")) for op in bn_ops)
        assert not any("Discriminator" in op.name for op in bn_ops)
        for optimizer, own in (("d_adam", d_vars), ("g_adam", g_vars)):
            updated = {op.inputs[0].name for op in graph.get_operations()
                       if op.type == "ResourceApplyAdam" and op.name.split("/")[1] == optimizer}
            assert updated == {v.handle.name for v in own}


@pytest.mark.parametrize("minibatch_std", [False, True])
def test_minibatch_std_makes_a_score_depend_on_the_batch(minibatch_std):
    """With the option an example's score moves when another example of its batch changes
    (the feature ProGAN adds against dropped modes); without it, it never does."""
    params = cfg.load_params(overrides={**TINY_PARAMS, "multitrack": "hybrid", "condition_track": None,
                                        "discriminator": {**TINY_PARAMS["discriminator"],
                                                          "minibatch_std": minibatch_std}})
    x = tiny_phrases(3, seed=0).astype(np.float32) * 2 - 1
    with tf.Graph().as_default():
        model = MuseGAN(params, TFOps())
        ph = v1.placeholder(tf.float32, [None, *params["data_shape"]])
        scores = model.discriminator(ph)
        with v1.Session() as sess:
            sess.run(v1.global_variables_initializer())
            a = sess.run(scores, {ph: x[[0, 1]]})
            b = sess.run(scores, {ph: x[[0, 2]]})
    assert np.isfinite(a).all() and np.isfinite(b).all()
    assert (not np.allclose(a[:, 0], b[:, 0])) == minibatch_std


@pytest.mark.parametrize("multitrack,minibatch_std", [("hybrid", False), ("jamming", False), ("hybrid", True)])
def test_scores_in_parts_are_the_scores_of_the_whole_batch(multitrack, minibatch_std):
    """The G update scores its batch in slices (independent ops for the cores): the same scores,
    and with minibatch_std (which compares the examples) the batch stays whole."""
    params = cfg.load_params(overrides={**TINY_PARAMS, "multitrack": multitrack, "condition_track": None,
                                        "discriminator": {**TINY_PARAMS["discriminator"], "use_onset": True,
                                                          "use_chroma": True, "minibatch_std": minibatch_std}})
    x = tiny_phrases(5, seed=1).astype(np.float32) * 2 - 1
    with tf.Graph().as_default():
        model = MuseGAN(params, TFOps())
        ph = tf.constant(x)
        whole, parts = model.discriminator(ph), model.discriminator(ph, parts=2)
        with v1.Session() as sess:
            sess.run(v1.global_variables_initializer())
            a, b = sess.run([whole, parts])
    assert a.shape == b.shape == (1 if multitrack == "hybrid" else 5, 5)
    np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5)


def test_beat_onset_share_pools_the_phrase_by_step_of_the_beat():
    """Where in the beat the onsets fall, per track, whatever the bar or beat: one
    phrase of 2 bars (4 beats of 3 steps each), a swung track and a silent one."""
    onset = np.zeros((2, 12, 2), np.float32)               # (batch * n_bars, n_steps, channels)
    onset[0, [0, 2], 0] = 1                                  # bar 0: beat 1 on the beat, its last third
    onset[1, [3, 5, 8, 9], 0] = 1                            # bar 1: beats 2, 3, 4
    moved = onset.copy()
    moved[1, 8, 0], moved[0, 11, 0] = 0, 1                   # the same step of the beat, bar 0's beat 4
    shifted = onset.copy()
    shifted[1, 8, 0], shifted[1, 7, 0] = 0, 1                # the swung third moved to the middle
    with tf.Graph().as_default(), v1.Session() as sess:
        ph = v1.placeholder(tf.float32, [None, 12, 2])
        share = beat_onset_share(TFOps(), ph, n_bars=2, beat=3)
        a, b, c = (sess.run(share, {ph: x}) for x in (onset, moved, shifted))
    assert a.shape == (1, 3, 2)
    np.testing.assert_allclose(a[0, :, 0], np.array([3, 0, 3]) / 7)
    np.testing.assert_array_equal(a[0, :, 1], 0)
    np.testing.assert_allclose(b, a)
    np.testing.assert_allclose(c[0, :, 0], np.array([3, 1, 2]) / 7)
