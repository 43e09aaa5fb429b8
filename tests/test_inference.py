"""Loading generators: constants from checkpoints equal the trained variables; shipped
(mostly) float16 weights give the same music; inference and interpolation trees."""
import subprocess
import sys

import numpy as np
import pypianoroll
import pytest
import tensorflow as tf

from musegan.weights import checkpoints
from musegan.config import load_experiment
from musegan.errors import CheckpointError
from musegan.generate import Generator, infer, interpolate
from musegan.weights.export import export_generator
from musegan.nets.network import MuseGAN
from musegan.nets.tf_ops import TFOps
from musegan.training.loop import train
from tiny_exp import make_experiment

v1 = tf.compat.v1


@pytest.fixture(scope="module")
def exp(tmp_path_factory):
    exp = make_experiment(tmp_path_factory.mktemp("inference"), params={"condition_track": "piano"})
    train(exp, steps=2, log=lambda *_: None)
    return exp


def _inputs(n=3):
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, 32 * 2 + 32 * 4 * 2)).astype(np.float32), rng.random((n, 4, 24, 24)) < 0.1


def test_generator_equals_restored_variables(exp):
    z, c = _inputs()
    gen = Generator(exp)
    assert gen.latent_size == z.shape[1]
    ours = gen(z, c)
    gen.close()
    _, params = load_experiment(exp)
    with tf.Graph().as_default():
        model = MuseGAN(params, TFOps())
        out = model.generator(tf.constant(z), tf.constant(c * 2.0 - 1.0, tf.float32), training=False)
        saver = v1.train.Saver(v1.get_collection(v1.GraphKeys.GLOBAL_VARIABLES, "Generator/"))
        with v1.Session() as sess:
            saver.restore(sess, checkpoints.latest(exp / "model"))
            theirs = sess.run(out)
    np.testing.assert_allclose(ours, theirs, atol=1e-5)
    assert np.array_equal(ours[..., 1], c * 2.0 - 1.0)


def test_export_ships_float16_weights_that_generate_the_same(exp, tmp_path):
    out = export_generator(exp, overwrite=True)
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    for name in ("params.yaml", "config.yaml"):
        (shipped / name).write_text((exp / name).read_text())
    (shipped / "pretrained").mkdir()
    (shipped / "pretrained" / "generator.npz").write_bytes(out.read_bytes())
    with np.load(out) as f:
        for k in f.files:
            assert f[k].dtype == (np.float32 if "/moving_" in k else np.float16), k
        assert not any("adam" in k or k.startswith("Discriminator") for k in f.files)
    z, c = _inputs()
    a, b = Generator(exp), Generator(shipped)
    assert b.source.endswith("generator.npz")
    assert np.mean((a(z, c) > 0) == (b(z, c) > 0)) > 0.99
    with pytest.raises(CheckpointError, match="no trained model"):
        Generator(tmp_path)


def test_shipped_weights_keep_what_float16_cannot_hold():
    from musegan.weights.states import compact

    big = np.array([1e5, 1.0], np.float32)  # a trained model's moving variance reached 1e5
    assert compact("G/bn/moving_variance", big).dtype == np.float32
    assert compact("G/dense/kernel", big).dtype == np.float32
    np.testing.assert_array_equal(compact("G/dense/kernel", big), big)
    small = np.array([0.5, -2.0], np.float32)
    assert compact("G/dense/kernel", small).dtype == np.float16


def test_inference_and_interpolation_trees_round_trip_through_pypianoroll(exp, tmp_path):
    out = infer(exp, runs=2, rows=1, columns=2, seed=0, overwrite=True)
    names = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    for run in (0, 1):
        assert f"arrays/fake_x_{run}.npy" in names
        for kind in ("hard_thresholding", "bernoulli_sampling"):
            for f in (f"arrays/fake_x_{kind}_{run}.npy", f"images/fake_x_{kind}_{run}.png",
                      f"images/fake_x_{kind}_{run}_colored.png", f"pianorolls/fake_x_{kind}_{run}.npz",
                      f"pianorolls/fake_x_{kind}_{run}_00.mid", f"pianorolls/fake_x_{kind}_{run}_01.mid"):
                assert f in names, f
    multitrack = pypianoroll.Multitrack(str(out / "pianorolls" / "fake_x_hard_thresholding_0.npz"))
    assert len(multitrack.tracks) == 5 and multitrack.tracks[0].is_drum
    multitrack.write(str(tmp_path / "round_trip.mid"))
    assert (tmp_path / "round_trip.mid").stat().st_size > 0
    raw = np.load(out / "arrays" / "fake_x_0.npy")
    assert raw.shape == (2, 4, 24, 24, 5)

    out = interpolate(exp, runs=1, rows=2, columns=3, seed=0, overwrite=True)
    grid = np.load(out / "arrays" / "fake_x_0.npy")
    assert grid.shape == (6, 4, 24, 24, 5)
    proc = subprocess.run([sys.executable, "-m", "musegan", "interpolate", str(exp)], capture_output=True, text=True)
    assert proc.returncode == 2 and "--overwrite" in proc.stderr


def test_export_steps_spec():
    from musegan.errors import UsageError
    from musegan.weights.export import parse_steps

    assert parse_steps("2000:3600:400") == [2000, 2400, 2800, 3200, 3600]
    assert parse_steps("3000,2000,3000") == [2000, 3000]
    for bad in ("a:b", "1:2", "5:1:1", "1:2:0", "-5", "", "1,,2"):
        with pytest.raises(UsageError, match="--steps"):
            parse_steps(bad)
