"""Training: WGAN-GP (or classic / nonsaturating / hinge), 5 D updates per G update.

The whole training set lives in the graph as bit-packed bytes; batches are
sampled, unpacked and transposed by graph ops, so a step costs no Python work
and no feed_dict copies. Re-running the same command resumes from the latest
checkpoint in `EXP_DIR/model/`; SIGINT/SIGTERM save one before exiting.
"""
import time
from pathlib import Path
from typing import Dict, Optional

import numpy as np
import tensorflow as tf
from tensorflow.python.ops import gen_nn_ops

from musegan.weights import checkpoints
from musegan.config import condition_index, load_experiment
from musegan.music.data import PackedPhrases
from musegan.music.splits import TRANSPOSE_HIGH, TRANSPOSE_LOW, check_shape, load_splits
from musegan.nets.spec import trained_generator_scopes
from musegan.errors import TrainingError
from musegan.metrics.datasets import dataset_metrics
from musegan.metrics.goal import abs_difference, goal_checks
from musegan.runtime import Stop as _Stop, duration as _duration
from musegan.nets.network import MuseGAN, count_parameters
from musegan.music.notes import to_notes
from musegan.weights.states import EMA

v1 = tf.compat.v1
TRANSPOSE_RANGE = (TRANSPOSE_LOW, TRANSPOSE_HIGH)


# ---------------------------------------------------------------------- data
def sample_batch(packed: tf.Tensor, shape, batch_size: int, is_drums, transpose: bool,
                 seed: Optional[int] = None) -> tf.Tensor:
    """Random phrases from packed bytes `(n, n_bytes)` -> float `(batch, *shape)` in [-1, 1].

    Bytes hold `np.packbits(x.reshape(n, -1), axis=1)` (big bit order). With
    `transpose`, each phrase's non-drum tracks shift by -5..+6 semitones and
    notes shifted out of range are dropped.
    """
    n_bits = int(np.prod(shape))
    index = tf.random.uniform([batch_size], 0, tf.shape(packed)[0], dtype=tf.int32, seed=seed)
    rows = tf.gather(packed, index)
    bits = tf.bitwise.bitwise_and(
        tf.bitwise.right_shift(rows[..., None], tf.constant([7, 6, 5, 4, 3, 2, 1, 0], tf.uint8)), 1)
    x = tf.reshape(tf.reshape(bits, [batch_size, -1])[:, :n_bits], [batch_size, *shape])
    x = tf.cast(x, tf.float32)
    if transpose:
        x = _transpose(x, is_drums, seed)
    return x * 2.0 - 1.0


def _transpose(x: tf.Tensor, is_drums, seed: Optional[int]) -> tf.Tensor:
    batch, n_pitches = x.shape[0], x.shape[3]
    shift = tf.random.uniform([batch, 1], TRANSPOSE_RANGE[0], TRANSPOSE_RANGE[1] + 1, dtype=tf.int32,
                              seed=None if seed is None else seed + 1)
    source = tf.range(n_pitches)[None, :] - shift  # pitch p takes pitch p - shift
    valid = tf.cast((source >= 0) & (source < n_pitches), x.dtype)
    by_pitch = tf.transpose(x, [0, 3, 1, 2, 4])  # (batch, pitch, bar, step, track)
    moved = tf.gather(by_pitch, tf.clip_by_value(source, 0, n_pitches - 1), axis=1, batch_dims=1)
    moved = tf.transpose(moved * valid[:, :, None, None, None], [0, 2, 3, 1, 4])
    drums = tf.constant(np.asarray(is_drums, bool))
    return tf.where(drums, x, moved)


# --------------------------------------------------------------------- graph
def gan_losses(kind: str, d_real: tf.Tensor, d_fake: tf.Tensor):
    """(d_loss, g_loss) from scores `(groups, batch)`; each group is its own D, so losses add."""
    mean = lambda t: tf.reduce_sum(tf.reduce_mean(t, axis=1))
    if kind == "wasserstein-gp":
        return mean(d_fake) - mean(d_real), -mean(d_fake)
    if kind == "hinge":
        return mean(tf.nn.relu(1.0 - d_real)) + mean(tf.nn.relu(1.0 + d_fake)), -mean(d_fake)
    d_loss = mean(tf.nn.softplus(-d_real)) + mean(tf.nn.softplus(d_fake))
    if kind == "classic":  # G minimises log(1 - D(G(z)))
        return d_loss, -mean(tf.nn.softplus(d_fake))
    return d_loss, mean(tf.nn.softplus(-d_fake))  # nonsaturating


@tf.RegisterGradient("MuseganLeakyReluGradGrad")
def _leaky_relu_grad_grad(op, grad):
    """TensorFlow's gradient of LeakyReluGrad, but None for the features: the derivative of
    the mask is 0 there, and the zeros TensorFlow returns instead flow into a whole backward
    pass through D's forward pass on x_hat, matmuls over zeros (13% of a D update's FLOPs)."""
    return gen_nn_ops.leaky_relu_grad(grad, op.inputs[1], alpha=op.get_attr("alpha")), None


def gradient_penalty(model: MuseGAN, real: tf.Tensor, fake: tf.Tensor, seed=None,
                     eps: Optional[tf.Tensor] = None) -> tf.Tensor:
    """Sum over discriminators of mean over examples of (||grad D(x_hat)|| - 1)^2,
    x_hat = eps * real + (1 - eps) * fake with one eps `(batch, 1, 1, 1, 1)` per example
    (uniform in [0, 1) unless given)."""
    batch = tf.shape(real)[0]
    if eps is None:
        eps = tf.random.uniform([batch, 1, 1, 1, 1], seed=seed)
    groups = model.group(eps * real + (1.0 - eps) * fake)
    with v1.get_default_graph().gradient_override_map({"LeakyReluGrad": "MuseganLeakyReluGradGrad"}):
        grads = tf.gradients(tf.reduce_sum(model.score(groups)), groups)
    penalty = 0.0
    for grad in grads:  # each discriminator sees only its own group
        norm = tf.sqrt(tf.reduce_sum(tf.square(tf.reshape(grad, [batch, -1])), axis=1) + 1e-12)
        penalty += tf.reduce_mean(tf.square(norm - 1.0))
    return penalty


class TrainGraph:
    """The training graph of one experiment: data, losses, optimizers, step counter."""

    def __init__(self, params: dict, config: dict, train_data: PackedPhrases):
        self.params, self.config = params, config
        tf_seed = config["seed"]
        v1.set_random_seed(tf_seed)
        self.model = model = MuseGAN(params)
        batch = config["batch_size"]
        shape = tuple(params["data_shape"])
        check_shape(train_data, shape, config["data"])

        self.data_init = v1.placeholder(tf.uint8, train_data.packed.shape, name="packed_data")
        self.packed = v1.Variable(self.data_init, trainable=False, name="packed_data",
                                  collections=[v1.GraphKeys.LOCAL_VARIABLES])
        self.local_init = v1.variables_initializer([self.packed])
        self.step = v1.train.get_or_create_global_step()

        def real_batch():
            return sample_batch(self.packed, shape, batch, params["is_drums"],
                                config["use_random_transpose"])

        def latent():
            return tf.random.normal([batch, model.latent_size])

        # Random inputs and some outputs are kept as attributes so that tests can feed and
        # fetch them (a feed replaces any tensor): real, z, eps for the D step; g_real, g_z
        # for the G step; fake (the generator in training mode) and d_real (D's scores).
        c = condition_index(params)
        self.real = real = real_batch()
        self.z = latent()
        self.fake = fake = model.generator(self.z, real[..., c] if c is not None else None, training=True)
        d_real, d_fake = model.discriminator(real), model.discriminator(fake)
        self.d_real = d_real
        self.d_loss, _ = gan_losses(config["gan_loss"], d_real, d_fake)
        self.eps = tf.random.uniform([batch, 1, 1, 1, 1])
        if config["gradient_penalty_weight"] > 0:
            self.d_loss += config["gradient_penalty_weight"] * gradient_penalty(model, real, fake, eps=self.eps)

        # G step: fresh batch and latent (conditions come from real phrases). Batch-norm
        # moving averages follow this step's own batch statistics: tying g_train to the D
        # step's generator pass instead would recompute that whole pass in every G update.
        self.g_real = g_real = real_batch() if c is not None else None
        self.g_z = latent()
        n_updates = len(v1.get_collection(v1.GraphKeys.UPDATE_OPS))
        g_fake = model.generator(self.g_z, g_real[..., c] if c is not None else None, training=True)
        scopes = trained_generator_scopes(params, config["train_tracks"])
        # a frozen part keeps its moving averages too, so its output is exactly as before
        bn_updates = [u for u in v1.get_collection(v1.GraphKeys.UPDATE_OPS)[n_updates:]
                      if u.op.inputs[0].op.name.startswith(scopes)]
        _, self.g_loss = gan_losses(config["gan_loss"], d_real, model.discriminator(g_fake))

        self.learning_rate = _learning_rate(self.step, config)
        adam = dict(learning_rate=self.learning_rate, beta1=config["adam_beta1"], beta2=config["adam_beta2"])
        g_vars = v1.trainable_variables("Generator/")
        trained = [v for v in g_vars if v.op.name.startswith(scopes)]
        d_vars = v1.trainable_variables("Discriminator/")
        with v1.variable_scope("optimizers"):
            self.d_train = v1.train.AdamOptimizer(name="d_adam", **adam).minimize(self.d_loss, var_list=d_vars)
            with tf.control_dependencies(bn_updates):
                self.g_train = v1.train.AdamOptimizer(name="g_adam", **adam).minimize(
                    self.g_loss, var_list=trained, global_step=self.step)
        self.n_params = {"generator": count_parameters(g_vars), "discriminator": count_parameters(d_vars),
                         "trained": count_parameters(trained)}
        self.ema, self.ema_reset = _generator_ema(g_vars, config["ema_decay"])
        if self.ema:
            with tf.control_dependencies([self.g_train]):
                rate = 1.0 - config["ema_decay"]
                self.g_train = tf.group(*[e.assign_add(rate * (g - e)) for g, e in zip(g_vars, self.ema)])

        # fixed latent (and conditions) for the samples saved while training
        self.sample_z = v1.placeholder(tf.float32, [None, model.latent_size], name="sample_z")
        self.sample_condition = (v1.placeholder(tf.float32, [None, *shape[:3]], name="sample_condition")
                                 if c is not None else None)
        self.samples = model.generator(self.sample_z, self.sample_condition, training=False)
        self.init = v1.global_variables_initializer()

    def initialize(self, sess: v1.Session, packed: np.ndarray) -> None:
        sess.run(self.local_init, {self.data_init: packed})


def _generator_ema(g_vars, decay: float):
    """([ema/<name> variable per G weight], op setting them to G's weights), or ([], None)
    when `decay` is 0. Named as train_jax's states name them, so states carry them unchanged."""
    if not decay:
        return [], None
    ema = [v1.get_variable(EMA + g.op.name, g.shape, tf.float32, v1.zeros_initializer(), trainable=False)
           for g in g_vars]
    return ema, tf.group(*[e.assign(g) for g, e in zip(g_vars, ema)])


def _learning_rate(step: tf.Tensor, config: dict) -> tf.Tensor:
    """Constant, then linear decay to 0 from `lr_decay_start` to `steps`."""
    base, start, end = config["learning_rate"], config["lr_decay_start"], config["steps"]
    if start >= end:
        return tf.constant(base)
    frac = (tf.cast(end, tf.float32) - tf.cast(step, tf.float32)) / float(end - start)
    return base * tf.clip_by_value(frac, 0.0, 1.0)


def session_config(config: dict) -> v1.ConfigProto:
    proto = v1.ConfigProto(allow_soft_placement=True)
    proto.gpu_options.allow_growth = True
    if config["mixed_precision"]:
        from tensorflow.core.protobuf import rewriter_config_pb2

        on = rewriter_config_pb2.RewriterConfig.ON
        proto.graph_options.rewrite_options.auto_mixed_precision_onednn_bfloat16 = on
        proto.graph_options.rewrite_options.auto_mixed_precision = on
    return proto


# ---------------------------------------------------------------------- loop
def train(exp_dir: Path, steps: Optional[int] = None, log=print) -> Dict[str, float]:
    """Train the experiment in `exp_dir` up to `steps` G updates (default: config), resuming."""
    t_start = time.time()
    exp_dir = Path(exp_dir)
    config, params = load_experiment(exp_dir)
    if steps is not None:
        config["steps"] = steps
    train_data, selection_data, valid_data = load_splits(config, params["data_shape"])
    # the running evaluation picks checkpoints, so it conditions on the selection songs when
    # there are some: the held-out ones stay for the report
    eval_data = selection_data or valid_data or train_data
    v1.disable_eager_execution()
    graph = tf.Graph()
    with graph.as_default():
        tg = TrainGraph(params, config, train_data)
        saver = checkpoints.saver(max_to_keep=config["keep_checkpoint_max"])
        sample_feed = _sample_feed(tg, config, params, valid_data or train_data)
    graph.finalize()
    model_dir = exp_dir / "model"
    sess = v1.Session(graph=graph, config=session_config(config))
    with sess, _Stop() as stop:
        fresh = checkpoints.latest(model_dir) is None
        step = checkpoints.restore_or_initialize(sess, saver, model_dir, tg.init, tg.step, log=log)
        left_fresh = []
        if config["init_from"] and fresh:
            left_fresh = checkpoints.warm_start(
                sess, tg.model.variables("Generator") + tg.model.variables("Discriminator"),
                Path(config["init_from"]), log=log)
        if fresh and tg.ema:
            sess.run(tg.ema_reset)
        tg.initialize(sess, train_data.packed)
        log(f"{exp_dir}: {params['multitrack']} model, condition track "
            f"{params['condition_track']}, G {tg.n_params['generator']:,} / D "
            f"{tg.n_params['discriminator']:,} parameters, {len(train_data):,} training phrases"
            + (f", an EMA of G (decay {config['ema_decay']:g})" if tg.ema else "")
            + (f", G trained only in {', '.join(config['train_tracks'])} ({tg.n_params['trained']:,} parameters)"
               if config["train_tracks"] else "")
            + f"; step {step}/{config['steps']}")
        last = {"d_loss": float("nan"), "g_loss": float("nan")}
        if any(n.startswith("Discriminator/") for n in left_fresh) and not _critic_warmup(
                sess, tg, config, stop, exp_dir, log):
            log(f"stopped by {stop.signal} during the critic warm-up; nothing saved, "
                "the same command starts over")
            return {"step": step, "stopped_by": stop.signal, **last}
        writer = (v1.summary.FileWriter(str(exp_dir / "logs")) if config["save_summaries_steps"] else None)
        t_log, step_log = time.time(), step
        first = True
        reference = None  # the training split's metrics, for the goal count of each evaluation
        while step < config["steps"] and stop.signal is None:
            for _ in range(config["n_dis_updates_per_gen_update"]):
                _, d_loss = sess.run([tg.d_train, tg.d_loss])
            _, g_loss = sess.run([tg.g_train, tg.g_loss])
            step += 1
            if first:
                log(f"first step done {time.time() - t_start:.1f} s after start")
                first = False
            if not (np.isfinite(d_loss) and np.isfinite(g_loss)):
                raise TrainingError(f"{exp_dir}: loss became NaN/inf at step {step} (d {d_loss}, g {g_loss}); "
                                    f"the last good checkpoint is kept in {model_dir}")
            last = {"d_loss": float(d_loss), "g_loss": float(g_loss)}
            if step % config["log_loss_steps"] == 0 or step == config["steps"]:
                now = time.time()
                rate = (now - t_log) / max(step - step_log, 1)
                eta = rate * (config["steps"] - step)
                log(f"step {step}/{config['steps']}  d_loss {d_loss:9.4f}  g_loss {g_loss:9.4f}  "
                    f"{rate:.2f} s/it  ETA {_duration(eta)}")
                t_log, step_log = now, step
            if step % config["save_samples_steps"] == 0:
                x = _save_samples(sess, tg, sample_feed, exp_dir, step, params)
                if writer is not None:
                    _summary_image(writer, step, x, params)
            if config["evaluate_steps"] and step % config["evaluate_steps"] == 0:
                metrics = _evaluate(sess, tg, config, params, eval_data, step)
                if reference is None:
                    reference = dataset_metrics(train_data, params)
                met, missed = goal_checks(abs_difference(metrics, reference), params)
                log(f"eval step {step}: {_metrics_line(metrics)}  goal met on {len(met)} of "
                    f"{len(met) + len(missed)} metrics")
                if writer is not None:
                    _summary_scalars(writer, step, _flat_metrics(metrics))
            if writer is not None and step % config["save_summaries_steps"] == 0:
                _summary_scalars(writer, step, {"loss/d": d_loss, "loss/g": g_loss,
                                                "learning_rate": sess.run(tg.learning_rate)})
            if step % config["save_checkpoint_steps"] == 0:
                checkpoints.save(sess, saver, model_dir, step)
        checkpoints.save(sess, saver, model_dir, step)
        if writer is not None:
            writer.close()
        if stop.signal is not None:
            log(f"stopped by {stop.signal} at step {step}; run the same command to resume")
    return {"step": step, "stopped_by": stop.signal, **last}


def _critic_warmup(sess, tg: TrainGraph, config: dict, stop: _Stop, exp_dir: Path, log) -> bool:
    """`critic_warmup_updates` D-only updates; False when a signal stopped them.

    A trained G facing an untrained critic would follow gradients that point nowhere
    and lose what it learnt; WGAN's reference code likewise gives its critic 100
    updates per G update at first. A warm start from a shipped generator needs it:
    only G's weights ship.
    """
    updates = config["critic_warmup_updates"]
    if updates:
        log(f"critic warm-up: {updates} discriminator updates before the first generator update "
            "(the warm start left D fresh)")
    t0 = time.time()
    stop.message = _Stop.WARMUP
    for i in range(1, updates + 1):
        if stop.signal is not None:
            return False
        _, d_loss = sess.run([tg.d_train, tg.d_loss])
        if not np.isfinite(d_loss):
            raise TrainingError(f"{exp_dir}: loss became NaN/inf in the critic warm-up's update {i} (d {d_loss})")
        if i % config["log_loss_steps"] == 0 or i == updates:
            rate = (time.time() - t0) / i
            log(f"critic warm-up {i}/{updates}  d_loss {d_loss:9.4f}  {rate:.2f} s/update  "
                f"ETA {_duration(rate * (updates - i))}")
    stop.message = _Stop.SAVING
    return True


def _sample_feed(tg: TrainGraph, config: dict, params: dict, data: PackedPhrases) -> dict:
    rng = np.random.default_rng(config["seed"])
    n = config["n_samples"]
    feed = {tg.sample_z: rng.standard_normal((n, tg.model.latent_size)).astype(np.float32)}
    c = condition_index(params)
    if c is not None:
        x = data.unpack(rng.choice(len(data), size=n, replace=len(data) < n))
        feed[tg.sample_condition] = x[..., c].astype(np.float32) * 2 - 1
    return feed


def _save_samples(sess, tg: TrainGraph, feed: dict, exp_dir: Path, step: int, params: dict) -> np.ndarray:
    from musegan.music.results import save_phrases

    x = to_notes(sess.run(tg.samples, feed), params)
    save_phrases(exp_dir / "results" / "training", f"step{step:07d}", x, params)
    return x


def _evaluate(sess, tg: TrainGraph, config: dict, params: dict, data: PackedPhrases, step: int) -> dict:
    """Objective metrics of `evaluate_bars` bars generated now (hard thresholding)."""
    from musegan.metrics import all_metrics

    rng = np.random.default_rng(step)
    n = max(1, config["evaluate_bars"] // params["data_shape"][0])
    c = condition_index(params)
    chunks = []
    for start in range(0, n, config["batch_size"]):
        k = min(config["batch_size"], n - start)
        feed = {tg.sample_z: rng.standard_normal((k, tg.model.latent_size)).astype(np.float32)}
        if c is not None:
            feed[tg.sample_condition] = data.unpack(rng.integers(0, len(data), k))[..., c] * 2.0 - 1.0
        chunks.append(to_notes(sess.run(tg.samples, feed), params))
    return all_metrics(np.concatenate(chunks), params)


def _metrics_line(m: dict) -> str:
    def avg(d):
        vals = [v for v in d.values() if v is not None]
        return sum(vals) / len(vals) if vals else float("nan")

    return (f"EB {avg(m['EB']):.1f}%  UPC {avg(m['UPC']):.2f}  QN {avg(m['QN']):.1f}%  "
            f"DP {m['DP'] if m['DP'] is not None else float('nan'):.1f}%  TD {avg(m['TD']):.3f}")


def _flat_metrics(m: dict) -> Dict[str, float]:
    out = {}
    for metric in ("EB", "UPC", "QN", "TD"):
        out.update({f"{metric}/{k}": v for k, v in m[metric].items() if v is not None})
    if m["DP"] is not None:
        out["DP"] = m["DP"]
    return out


def _summary_scalars(writer, step: int, values: Dict[str, float]) -> None:
    writer.add_summary(v1.Summary(value=[v1.Summary.Value(tag=k, simple_value=float(v))
                                         for k, v in values.items()]), step)
    writer.flush()


def _summary_image(writer, step: int, x: np.ndarray, params: dict) -> None:
    import io as _io

    import imageio.v2 as imageio

    from musegan.music.results import grid_picture, grid_shape

    img = grid_picture(x, params, *grid_shape(len(x)), title=f"step {step}")
    buf = _io.BytesIO()
    imageio.imwrite(buf, img, format="png")
    height, width = img.shape[:2]
    image = v1.Summary.Image(height=height, width=width, colorspace=img.ndim == 3 and 3 or 1,
                             encoded_image_string=buf.getvalue())
    writer.add_summary(v1.Summary(value=[v1.Summary.Value(tag="samples", image=image)]), step)
    writer.flush()

