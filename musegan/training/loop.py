"""The training loop, one for both backends (`musegan train EXP --backend tf|jax`).

WGAN-GP (or classic / nonsaturating / hinge), `n_dis_updates_per_gen_update` D updates per
G update. A run resumes from the experiment's latest checkpoint (tf backend: `EXP_DIR/model/`)
or training state (jax backend: `EXP_DIR/state/`); a fresh one warm-starts from `init_from`
and then, when that left the discriminator fresh, trains the critic alone first. It stops at
`steps` (or `--stop-step`, or after `--minutes`), on SIGINT/SIGTERM (saving first), or with
an error on a NaN/inf loss (the last good checkpoint kept). On the way it saves checkpoints
(every `save_checkpoint_steps` steps and `save_checkpoint_minutes` minutes), samples
(`save_samples_steps`), evaluations (`evaluate_steps`, `evaluate_minutes`; with `keep_best` the
best state in `EXP_DIR/best/`) and the average of the generator (`average_from`,
`average_every`, into `EXP_DIR/average/generator.npz`). Progress: a bar with rate and ETA on a
terminal, and a log line after the first step, then every `log_loss_steps` steps and at least
once a minute.
"""
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Protocol, TextIO, Tuple

import numpy as np
from tqdm import tqdm

from musegan.config import condition_index, load_experiment
from musegan.errors import TrainingError, UsageError
from musegan.music.data import PackedPhrases
from musegan.music.notes import to_notes
from musegan.music.splits import load_splits
from musegan.nets.spec import latent_size
from musegan.runtime import Stop, duration
from musegan.training.evaluation import Averager, Evaluator

__all__ = ["BACKENDS", "Training", "train"]

BACKENDS = ("tf", "jax")
LOG_SECONDS = 60.0  # a progress line at least this often, whatever log_loss_steps


class Training(Protocol):
    """What a backend gives the loop: a run's model restored from its latest save, or fresh.
    Built as `Backend(exp_dir, params, config, train_data, log)`."""

    name: str
    step: int  # G updates done
    fresh: bool  # nothing was restored: a fresh run
    save_dir: Path  # where its saves go
    n_params: Dict[str, int]  # "generator", "discriminator", "trained"
    warmup_chunk: int  # D updates per `critic_updates` call in the critic warm-up

    def warm_start(self, source: Path, log) -> List[str]:
        """G and D from experiment `source` (`init_from`); the names left fresh."""

    def iteration(self) -> Tuple[Any, Any]:
        """One iteration (`n_dis_updates_per_gen_update` D updates, one G update): (d_loss, g_loss),
        scalars `float()` reads (from the device: only when the loop asks)."""

    def critic_updates(self, n: int) -> Any:
        """`n` D-only updates; the last d_loss."""

    def generate(self, z: np.ndarray, condition: Optional[np.ndarray]) -> np.ndarray:
        """The generator a user gets (the EMA where kept), inference mode: `(n, latent_size)`
        [+ `(n, n_bars, n_steps, n_pitches)` in [-1, 1]] -> phrases in [-1, 1]."""

    def generator_weights(self) -> Dict[str, np.ndarray]:
        """{TF name: array} of that generator with its moving averages (a shipped generator.npz)."""

    def flat_state(self, with_adam: bool = False) -> Dict[str, np.ndarray]:
        """{TF name: array} of every variable (musegan.weights.states)."""

    def finite(self) -> bool: ...

    def save(self, step: int) -> None: ...

    def summarize(self, step: int, scalars: Dict[str, float], image: Optional[np.ndarray] = None) -> None:
        """TensorBoard summaries where the backend writes them."""

    def close(self) -> None: ...


def _open(backend: str, exp_dir: Path, params: dict, config: dict, data: PackedPhrases, log) -> Training:
    """The backend's training session (its framework imported only now)."""
    if backend == "tf":
        from musegan.runtime import quiet_stderr

        with quiet_stderr():
            from musegan.training.tf_backend import TFTraining
        return TFTraining(exp_dir, params, config, data, log)
    if backend == "jax":
        from musegan.training.jax_backend import JaxTraining

        return JaxTraining(exp_dir, params, config, data, log)
    raise UsageError(f"--backend {backend}: expected one of {', '.join(BACKENDS)}")


def _bar(progress: Optional[TextIO], **kw) -> tqdm:
    """A tqdm bar on `progress`, or on stderr when that is a terminal (else none)."""
    file = progress if progress is not None else sys.stderr
    return tqdm(file=file, disable=progress is None and not file.isatty(), dynamic_ncols=True, **kw)


def _rate(seconds_per_step: float) -> str:
    return f"{1 / seconds_per_step:.2f} it/s" if seconds_per_step < 1 else f"{seconds_per_step:.2f} s/it"


def train(exp_dir: Path, backend: str = "tf", steps: Optional[int] = None, stop_step: Optional[int] = None,
          minutes: Optional[float] = None, log: Callable[[str], None] = print,
          progress: Optional[TextIO] = None) -> Dict:
    """Train the experiment in `exp_dir` with `backend` ('tf' or 'jax') up to `steps` G updates
    (default: config `steps`, also the end of the learning-rate decay), or global step
    `stop_step` (the schedule unchanged), or `minutes` of wall-clock time from the start,
    resuming where it was. `progress`: where the bar goes (default stderr on a terminal).
    Returns {"step", "stopped_by", "d_loss", "g_loss", "seconds", "iterations"}."""
    t_start = time.time()
    exp_dir = Path(exp_dir)
    config, params = load_experiment(exp_dir)
    if steps is not None:
        config["steps"] = steps
    if stop_step is not None and stop_step < 0:
        raise UsageError(f"--stop-step {stop_step}: expected a step of 0 or more")
    if minutes is not None and not minutes > 0:
        raise UsageError(f"--minutes {minutes}: expected a positive number of minutes")
    end = config["steps"] if stop_step is None else min(stop_step, config["steps"])
    deadline = t_start + 60.0 * minutes if minutes is not None else float("inf")
    train_data, selection_data, valid_data = load_splits(config, params["data_shape"])
    session = _open(backend, exp_dir, params, config, train_data, log)
    try:
        return _run(session, exp_dir, config, params, (train_data, selection_data, valid_data), end, deadline,
                    t_start, log, progress)
    finally:
        session.close()


def _run(session: Training, exp_dir: Path, config: dict, params: dict, splits: tuple, end: int, deadline: float,
         t_start: float, log, progress: Optional[TextIO]) -> Dict:
    train_data, selection_data, valid_data = splits
    step = session.step
    warmup = 0
    if session.fresh and config["init_from"]:
        fresh = session.warm_start(Path(config["init_from"]), log)
        if any(n.startswith("Discriminator/") for n in fresh):
            warmup = config["critic_warmup_updates"]
    n = session.n_params
    log(f"{exp_dir}: {params['multitrack']} model, condition track {params['condition_track']}, "
        f"G {n['generator']:,} / D {n['discriminator']:,} parameters, {len(train_data):,} training phrases"
        + (f", an EMA of G (decay {config['ema_decay']:g})" if config["ema_decay"] else "")
        + (f", G trained only in {', '.join(config['train_tracks'])} ({n['trained']:,} parameters)"
           if config["train_tracks"] else "")
        + f"; step {step}/{config['steps']}" + (f", stopping at {end}" if end < config["steps"] else ""))
    evaluator = None
    if config["evaluate_steps"] or config["evaluate_minutes"]:
        evaluator = Evaluator(exp_dir, params, config, train_data, selection_data or train_data, latent_size(params))
        if condition_index(params) is not None and not selection_data:
            log("evaluation: given training phrases' condition tracks (selection_fraction is 0: the score rewards "
                "fitting the training songs, which is not the held-out best)")
    averager = (Averager(exp_dir, config["average_from"], config["average_every"], step, log)
                if config["average_from"] is not None else None)
    samples = _sample_inputs(config, params, valid_data or train_data)
    last = {"d_loss": float("nan"), "g_loss": float("nan")}
    result = {"step": step, "stopped_by": None, "iterations": 0, "seconds": 0.0, **last}

    with Stop() as stop:
        if warmup and not _critic_warmup(session, warmup, stop, config, exp_dir, log, progress):
            log(f"stopped by {stop.signal} during the critic warm-up; nothing saved, the same command starts over")
            return {**result, "stopped_by": stop.signal}
        if evaluator is not None and evaluator.keep_best:  # training may make it worse: the start is a candidate
            log(evaluator.observe(session, step)[0])
        pending = deque()  # (step, d_loss, g_loss) not yet read back from the device

        def settle(keep: int) -> None:
            while len(pending) > keep:
                at, d_loss, g_loss = pending.popleft()
                last.update(d_loss=float(d_loss), g_loss=float(g_loss))
                if not (np.isfinite(last["d_loss"]) and np.isfinite(last["g_loss"])):
                    raise TrainingError(f"{exp_dir}: loss became NaN/inf at step {at} (d {last['d_loss']}, "
                                        f"g {last['g_loss']}); the last good checkpoint is kept in {session.save_dir}")

        saved = [None if session.fresh else step]  # the step of the latest save

        def save() -> None:
            settle(0)
            if saved[0] == step:
                return
            if not session.finite():
                raise TrainingError(f"{exp_dir}: weights became NaN/inf before step {step}; "
                                    f"the last good checkpoint is kept in {session.save_dir}")
            session.save(step)
            saved[0] = step
            if averager is not None:
                averager.save(step)

        t_loop = t_log = t_save = t_eval = time.time()
        step_log, first = step, step
        with _bar(progress, total=end, initial=step, unit="step", desc="training") as bar:
            def say(line: str) -> None:
                with tqdm.external_write_mode(file=sys.stdout):
                    log(line)

            while step < end and stop.signal is None and time.time() < deadline:
                d_loss, g_loss = session.iteration()
                step += 1
                pending.append((step, d_loss, g_loss))
                if step == first + 1:
                    say(f"first step done {time.time() - t_start:.1f} s after start")
                if averager is not None:
                    averager.observe(session, step)
                logging = (step % config["log_loss_steps"] == 0 or step == end
                           or time.time() - t_log >= LOG_SECONDS)
                settle(0 if logging else 2)  # keep the device's queue short, so the clock checks mean something
                now = time.time()
                bar.update(1)
                if logging:
                    rate = (now - t_log) / max(step - step_log, 1)
                    say(f"step {step}/{end}  d_loss {last['d_loss']:9.4f}  g_loss {last['g_loss']:9.4f}  "
                        f"{_rate(rate)}  ETA {duration(min(rate * (end - step), deadline - now))}")
                    t_log, step_log = now, step
                image = None
                if step % config["save_samples_steps"] == 0:
                    image = _save_samples(session, samples, exp_dir, step, params)
                if config["save_summaries_steps"] and step % config["save_summaries_steps"] == 0:
                    settle(0)
                    session.summarize(step, {"loss/d": last["d_loss"], "loss/g": last["g_loss"]}, image)
                elif image is not None:
                    session.summarize(step, {}, image)
                if evaluator is not None and (config["evaluate_steps"] and step % config["evaluate_steps"] == 0 or
                                              config["evaluate_minutes"] and
                                              now - t_eval >= 60.0 * config["evaluate_minutes"]):
                    line, values = evaluator.observe(session, step)
                    say(line)
                    session.summarize(step, values)
                    t_eval = time.time()
                if (step % config["save_checkpoint_steps"] == 0 or
                        config["save_checkpoint_minutes"] and now - t_save >= 60.0 * config["save_checkpoint_minutes"]):
                    save()
                    t_save = time.time()
        save()
        wall = time.time() - t_loop
        if averager is not None:
            log(averager.write())
        if evaluator is not None and evaluator.keep_best and evaluator.last_step != step:
            log(evaluator.observe(session, step)[0])
        if stop.signal is not None:
            log(f"stopped by {stop.signal} at step {step}; run the same command to resume")
    done = step - first
    if done:
        log(f"{done} iterations in {wall:.1f} s ({_rate(wall / done)}); step {step}")
    result.update(step=step, stopped_by=stop.signal, iterations=done, seconds=wall, **last)
    if evaluator is not None and evaluator.keep_best:
        result.update(best_step=evaluator.best_step)
    return result


def _critic_warmup(session, updates: int, stop: Stop, config: dict, exp_dir: Path, log,
                   progress: Optional[TextIO]) -> bool:
    """`updates` D-only updates; False when a signal stopped them (nothing is saved: the
    warm-up is redone).

    A trained G facing an untrained critic would follow gradients that point nowhere
    and lose what it learnt; WGAN's reference code likewise gives its critic 100
    updates per G update at first. A warm start from a shipped generator needs it:
    only G's weights ship.
    """
    log(f"critic warm-up: {updates} discriminator updates before the first generator update "
        "(the warm start left D fresh)")
    stop.message = Stop.WARMUP
    t0, done = time.time(), 0
    with _bar(progress, total=updates, unit="update", desc="critic warm-up") as bar:
        while done < updates:
            if stop.signal is not None:
                return False
            n = min(session.warmup_chunk, updates - done)
            d_loss = float(session.critic_updates(n))
            done += n
            bar.update(n)
            if not np.isfinite(d_loss):
                raise TrainingError(f"{exp_dir}: loss became NaN/inf in the critic warm-up before update {done} "
                                    f"(d {d_loss})")
            if done == n or done % config["log_loss_steps"] < n or done == updates:
                rate = (time.time() - t0) / done
                with tqdm.external_write_mode(file=sys.stdout):
                    log(f"critic warm-up {done}/{updates}  d_loss {d_loss:9.4f}  {_rate(rate)}  "
                        f"ETA {duration(rate * (updates - done))}")
    stop.message = Stop.SAVING
    return True


def _sample_inputs(config: dict, params: dict, data: PackedPhrases) -> tuple:
    """Fixed latents (and condition tracks in [-1, 1]) of the samples saved while training."""
    rng = np.random.default_rng(config["seed"])
    n = config["n_samples"]
    z = rng.standard_normal((n, latent_size(params))).astype(np.float32)
    c = condition_index(params)
    if c is None:
        return z, None
    x = data.unpack(rng.choice(len(data), size=n, replace=len(data) < n))
    return z, x[..., c].astype(np.float32) * 2 - 1


def _save_samples(session, samples: tuple, exp_dir: Path, step: int, params: dict) -> np.ndarray:
    """Write the samples of `step` to `EXP_DIR/results/training/`; return their image."""
    from musegan.music.results import grid_picture, grid_shape, save_phrases

    x = to_notes(session.generate(*samples), params)
    save_phrases(exp_dir / "results" / "training", f"step{step:07d}", x, params)
    return grid_picture(x, params, *grid_shape(len(x)), title=f"step {step}")
