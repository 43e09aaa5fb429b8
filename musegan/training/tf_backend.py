"""The TensorFlow backend of training: the step (musegan.training.step) as a tf.compat.v1
graph with tf.compat.v1's AdamOptimizer, run in a Session; checkpoints by Saver in
`EXP_DIR/model/` (musegan.weights.checkpoints); TensorBoard summaries.

The training set is a graph variable of bit-packed bytes; a D update and a G update are
one Session run each, with no feed.
"""
import io
import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import rewriter_config_pb2

from musegan.errors import CheckpointError
from musegan.music.data import PackedPhrases
from musegan.music.splits import check_shape
from musegan.nets.spec import trained_generator_scopes
from musegan.nets.network import MuseGAN
from musegan.nets.tf_ops import TFOps, count_parameters
from musegan.runtime import use_bfloat16
from musegan.training import step as train_step
from musegan.training.losses import learning_rate
from musegan.weights import checkpoints
from musegan.weights.states import EMA
from musegan.weights.store import MODEL, STATE, newer_state

__all__ = ["TrainGraph", "TFTraining", "session_config"]

v1 = tf.compat.v1
OPS_AT_ONCE = 2  # ops a Session runs at a time (session_config)


class _Draw:
    """Random ops seeded from the graph's seed. `tensors` lists them in the order drawn and
    `kinds` what each is, ("integers", low, high), ("normal",) or ("uniform",): a test feeds
    them (a feed replaces any tensor)."""

    def __init__(self):
        self.tensors: List[tf.Tensor] = []
        self.kinds: List[tuple] = []

    def _add(self, tensor: tf.Tensor, *kind) -> tf.Tensor:
        self.tensors.append(tensor)
        self.kinds.append(kind)
        return tensor

    def integers(self, shape: Sequence[int], low: int, high: int) -> tf.Tensor:
        return self._add(tf.random.uniform(shape, low, high, dtype=tf.int32), "integers", low, high)

    def normal(self, shape: Sequence[int]) -> tf.Tensor:
        return self._add(tf.random.normal(shape), "normal")

    def uniform(self, shape: Sequence[int]) -> tf.Tensor:
        return self._add(tf.random.uniform(shape), "uniform")


class TrainGraph:
    """The training graph of one experiment: data, losses, optimizers, step counter.

    `d_train` runs one D update on a fresh batch, latents and eps (`d_draws`), `g_train` one
    G update (`g_draws`), the batch-norm moving averages from that update's own batch
    (tying them to the D update's generator pass would recompute it in every G update),
    then G's EMA where kept. `samples` is the generator a user gets (the EMA where kept) in
    inference mode on `sample_z` (and `sample_condition`).
    """

    def __init__(self, params: dict, config: dict, train_data: PackedPhrases):
        self.params, self.config = params, config
        v1.set_random_seed(config["seed"])
        shape = tuple(params["data_shape"])
        check_shape(train_data, shape, config["data"])
        self.data_init = v1.placeholder(tf.uint8, train_data.packed.shape, name="packed_data")
        self.packed = v1.Variable(self.data_init, trainable=False, name="packed_data",
                                  collections=[v1.GraphKeys.LOCAL_VARIABLES])
        self.local_init = v1.variables_initializer([self.packed])
        self.step = v1.train.get_or_create_global_step()

        self.model = model = MuseGAN(params, TFOps())
        draw = _Draw()
        real, z, eps = train_step.d_inputs(model, draw, config, self.packed)
        self.d_loss, self.d_draws = train_step.d_loss(model, config, real, z, eps), draw
        g_model, draw = MuseGAN(params, TFOps()), _Draw()
        g_real, g_z = train_step.g_inputs(g_model, draw, config, self.packed)
        # D scores G's batch in halves: without them the G update's D passes are one chain of
        # ops, and one of the OPS_AT_ONCE runners waits
        self.g_loss, self.g_draws = train_step.g_loss(g_model, config, g_real, g_z, parts=OPS_AT_ONCE), draw
        scopes = trained_generator_scopes(params, config["train_tracks"])
        bn_updates = [v1.assign_sub(g_model.ops.variables[name], decrease)
                      for name, decrease in train_step.moving_average_steps(g_model.ops, scopes).items()]

        self.learning_rate = learning_rate(model.ops, self.step, config)
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
                self.g_train = tf.group(*[e.assign_add(train_step.ema_step(e, g, config["ema_decay"]))
                                          for g, e in zip(g_vars, self.ema)])

        # the generator a user gets (its EMA where kept) for the samples and evaluations while training
        self.sample_z = v1.placeholder(tf.float32, [None, model.latent_size], name="sample_z")
        self.sample_condition = (v1.placeholder(tf.float32, [None, *shape[:3]], name="sample_condition")
                                 if model.condition is not None else None)
        ema_of = {g.op.name: e for g, e in zip(g_vars, self.ema)}

        def shipped(getter, name, *args, **kwargs):
            return ema_of[name] if name in ema_of else getter(name, *args, **kwargs)

        with v1.variable_scope("", custom_getter=shipped):
            self.samples = MuseGAN(params, TFOps()).generator(self.sample_z, self.sample_condition, training=False)
        self.init = v1.global_variables_initializer()

    def initialize(self, sess: v1.Session, packed: np.ndarray) -> None:
        sess.run(self.local_init, {self.data_init: packed})


def _generator_ema(g_vars, decay: float):
    """([ema/<name> variable per G weight], op setting them to G's weights), or ([], None)
    when `decay` is 0. Named as the jax backend's states name them, so states carry them unchanged."""
    if not decay:
        return [], None
    ema = [v1.get_variable(EMA + g.op.name, g.shape, tf.float32, v1.zeros_initializer(), trainable=False)
           for g in g_vars]
    return ema, tf.group(*[e.assign(g) for g, e in zip(g_vars, ema)])


def session_config(config: dict, bfloat16: bool = False) -> v1.ConfigProto:
    """The Session's options; `bfloat16` (`runtime.use_bfloat16` of config `mixed_precision`)
    lets grappler run matmuls and convolutions in bfloat16 (oneDNN on a CPU)."""
    proto = v1.ConfigProto(allow_soft_placement=True)
    proto.gpu_options.allow_growth = True
    # OPS_AT_ONCE ops at a time, each on its share of the cores. TensorFlow's default runs as
    # many ops at once as there are cores, each on every core: two matmuls then share each
    # core and wait on each other's threads (docs/benchmarks.md)
    proto.inter_op_parallelism_threads = OPS_AT_ONCE
    proto.intra_op_parallelism_threads = max(1, (os.cpu_count() or 1) // OPS_AT_ONCE)
    # one pass of grappler's optimizers instead of two: the steps run as fast (bench/train.py)
    # and the first D and G updates start 0.7 s sooner
    proto.graph_options.rewrite_options.meta_optimizer_iterations = rewriter_config_pb2.RewriterConfig.ONE
    # grappler's memory optimizer turns sums of three large gradients into a temporary variable
    # added to three times; one AddN is faster, and the peak RSS is the data copy's anyway
    proto.graph_options.rewrite_options.memory_optimization = rewriter_config_pb2.RewriterConfig.NO_MEM_OPT
    if bfloat16:
        on = rewriter_config_pb2.RewriterConfig.ON
        proto.graph_options.rewrite_options.auto_mixed_precision_onednn_bfloat16 = on
        proto.graph_options.rewrite_options.auto_mixed_precision = on
    return proto


class TFTraining:
    """A training run's TensorFlow side (musegan.training.loop's backend): the graph in a Session,
    restored from the latest checkpoint in `EXP_DIR/model/` or initialized (`fresh`)."""

    name = "tf"
    warmup_chunk = 1  # D updates per call in the critic warm-up (each is one Session run)

    def __init__(self, exp_dir: Path, params: dict, config: dict, train_data: PackedPhrases, log):
        self.exp_dir, self.params, self.config = Path(exp_dir), params, config
        self.model_dir = self.save_dir = self.exp_dir / MODEL
        latest = checkpoints.latest(self.model_dir)
        state = newer_state(self.exp_dir, None if latest is None else Path(latest))
        if state is not None:
            raise CheckpointError(f"{state}: the jax backend's training state is newer than any checkpoint in "
                                  f"{self.model_dir}; continue it with `--backend jax`, or here after "
                                  f"`musegan import-state {self.exp_dir} {self.exp_dir / STATE}`")
        v1.disable_eager_execution()
        graph = tf.Graph()
        with graph.as_default():
            self.tg = tg = TrainGraph(params, config, train_data)
            self.saver = checkpoints.saver(max_to_keep=config["keep_checkpoint_max"])
            model_vars = [v for v in v1.global_variables() if v.op.name.startswith(("Generator/", "Discriminator/", EMA))]
            self._finite = tf.reduce_all(tf.stack([tf.reduce_all(tf.math.is_finite(v)) for v in model_vars]))
            generator = {v.op.name: v for v in v1.global_variables("Generator/")}
            for e in tg.ema:  # the generator a user gets is the EMA
                generator[e.op.name[len(EMA):]] = e
            self._generator = generator
            self._all = {v.op.name: v for v in v1.global_variables()}
        graph.finalize()
        self.n_params = tg.n_params
        bfloat16, notice = use_bfloat16(config["mixed_precision"], bool(tf.config.list_physical_devices("GPU")))
        log(notice)
        self.sess = v1.Session(graph=graph, config=session_config(config, bfloat16))
        self.fresh = latest is None
        self.step = checkpoints.restore_or_initialize(self.sess, self.saver, self.model_dir, tg.init, tg.step, log=log)
        if self.fresh and tg.ema:
            self.sess.run(tg.ema_reset)
        tg.initialize(self.sess, train_data.packed)
        self.writer = (v1.summary.FileWriter(str(self.exp_dir / "logs"))
                       if config["save_summaries_steps"] else None)

    def warm_start(self, source: Path, log) -> List[str]:
        """G and D from another experiment (`init_from`); the names left fresh."""
        variables = [v for n, v in self._all.items() if n.startswith(("Generator/", "Discriminator/"))]
        fresh = checkpoints.warm_start(self.sess, variables, source, log=log)
        if self.tg.ema:
            self.sess.run(self.tg.ema_reset)
        return fresh

    def iteration(self) -> Tuple[float, float]:
        """`n_dis_updates_per_gen_update` D updates, one G update: (last d_loss, g_loss)."""
        for _ in range(self.config["n_dis_updates_per_gen_update"]):
            _, d_loss = self.sess.run([self.tg.d_train, self.tg.d_loss])
        _, g_loss = self.sess.run([self.tg.g_train, self.tg.g_loss])
        return d_loss, g_loss

    def critic_updates(self, n: int) -> float:
        for _ in range(n):
            _, d_loss = self.sess.run([self.tg.d_train, self.tg.d_loss])
        return d_loss

    def generate(self, z: np.ndarray, condition: Optional[np.ndarray]) -> np.ndarray:
        """The generator in inference mode: latents `(n, latent_size)`, conditions `(n, n_bars,
        n_steps, n_pitches)` in [-1, 1] -> phrases in [-1, 1]."""
        batch, out = self.config["batch_size"], []
        for start in range(0, len(z), batch):
            feed = {self.tg.sample_z: z[start:start + batch]}
            if self.tg.sample_condition is not None:
                feed[self.tg.sample_condition] = condition[start:start + batch]
            out.append(self.sess.run(self.tg.samples, feed))
        return np.concatenate(out)

    def generator_weights(self) -> Dict[str, np.ndarray]:
        """What `musegan export` ships: G's weights (their EMA where kept) and moving averages."""
        return self.sess.run(self._generator)

    def flat_state(self, with_adam: bool = False) -> Dict[str, np.ndarray]:
        """{TF name: value} of every variable (Adam's only `with_adam`)."""
        return self.sess.run({n: v for n, v in self._all.items() if with_adam or not n.startswith("optimizers/")})

    def finite(self) -> bool:
        return bool(self.sess.run(self._finite))

    def save(self, step: int) -> str:
        checkpoints.save(self.sess, self.saver, self.model_dir, step)
        return str(self.model_dir / f"model.ckpt-{step}")

    def summarize(self, step: int, scalars: Dict[str, float], image: Optional[np.ndarray] = None) -> None:
        """TensorBoard summaries in `EXP_DIR/logs/` (`save_summaries_steps`), with the learning rate."""
        if self.writer is None:
            return
        scalars = {**scalars, "learning_rate": float(self.sess.run(self.tg.learning_rate))}
        values = [v1.Summary.Value(tag=k, simple_value=float(v)) for k, v in scalars.items()]
        if image is not None:
            import imageio.v2 as imageio

            buf = io.BytesIO()
            imageio.imwrite(buf, image, format="png")
            values.append(v1.Summary.Value(tag="samples", image=v1.Summary.Image(
                height=image.shape[0], width=image.shape[1], colorspace=3 if image.ndim == 3 else 1,
                encoded_image_string=buf.getvalue())))
        self.writer.add_summary(v1.Summary(value=values), step)
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.sess.close()
