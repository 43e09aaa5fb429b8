"""What a training run measures and keeps besides its checkpoints, for either backend:
the evaluation of its generator at chosen steps (and the best state so far) and the
average of its generator over steps.

A GAN's samples do not improve step by step, so a run can keep the best state it has
seen as well as its last (`keep_best`), and the mean of its generator over the second
half of a run smooths what single steps get wrong (`average_from`).
"""
import json
import shutil
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

from musegan import atomic, metrics
from musegan.config import condition_index
from musegan.metrics.datasets import dataset_metrics
from musegan.metrics.goal import abs_difference, goal_checks, goal_score
from musegan.music.data import PackedPhrases
from musegan.music.notes import to_notes
from musegan.weights.states import ema_as_generator, load_generator, save_generator, save_state

__all__ = ["BEST", "AVERAGE", "Evaluator", "selection_rank", "Averager"]

BEST = "best"  # EXP_DIR/best/: the best-scoring state (a state folder) and its score.json
AVERAGE = "average"  # EXP_DIR/average/: generator.npz (the mean) and running.npz (its sums so far)
Rank = Tuple[bool, int, float]


def selection_rank(goal: Tuple[int, float], gap: Optional[float], data_gap: Optional[float],
                   min_following: float) -> Rank:
    """Ordering key of a scored state, larger = better: first whether it follows the given part
    at least `min_following` times as much as the given phrases' own tracks do (always true at
    0), then more goal metrics met, then the smaller distance sum (metrics.goal.goal_score)."""
    follows = min_following <= 0 or (gap is not None and data_gap is not None and gap >= min_following * data_gap)
    return follows, goal[0], -goal[1]


def metrics_line(m: dict) -> str:
    def avg(d):
        vals = [v for v in d.values() if v is not None]
        return sum(vals) / len(vals) if vals else float("nan")

    return (f"EB {avg(m['EB']):.1f}%  UPC {avg(m['UPC']):.2f}  QN {avg(m['QN']):.1f}%  "
            f"DP {m['DP'] if m['DP'] is not None else float('nan'):.1f}%  TD {avg(m['TD']):.3f}")


def flat_metrics(m: dict) -> Dict[str, float]:
    out = {}
    for metric in ("EB", "UPC", "QN", "TD"):
        out.update({f"{metric}/{k}": v for k, v in m[metric].items() if v is not None})
    if m["DP"] is not None:
        out["DP"] = m["DP"]
    return out


class Evaluator:
    """Scores a run's generator with the evaluation's goal (musegan.metrics.goal.goal_score) on
    fixed inputs: `evaluate_bars` bars from fixed latents and, for a conditional model, the
    condition tracks of fixed phrases of `conditions` (the selection split, the songs kept
    out of fitting; else the training split, never the held-out songs: those stay for the
    report), against the training split's metrics. With `keep_best`, the best-ranked state
    (`selection_rank`) is kept in `EXP_DIR/best/`, its generator the EMA where kept."""

    def __init__(self, exp_dir: Path, params: dict, config: dict, train_data: PackedPhrases,
                 conditions: PackedPhrases, latent_size: int):
        self.params, self.keep_best = params, config["keep_best"]
        self.min_following = config["select_min_following"]
        self.best_dir = Path(exp_dir) / BEST
        self.train_data = train_data
        self.reference = None  # the training split's metrics, at the first evaluation
        n = max(1, config["evaluate_bars"] // params["data_shape"][0])
        rng = np.random.default_rng(config["seed"])
        self.z = rng.standard_normal((n, latent_size)).astype(np.float32)
        self.c = condition_index(params)
        self.condition = self.phrases = self.data_gap = None
        if self.c is not None:
            self.phrases = conditions.unpack(rng.choice(len(conditions), size=n, replace=len(conditions) < n))
            self.condition = self.phrases[..., self.c].astype(np.float32) * 2.0 - 1.0
        self.best_rank: Optional[Rank] = None
        self.best_step: Optional[int] = None
        self.last_step: Optional[int] = None
        score = self.best_dir / "score.json"
        if self.keep_best and score.is_file():  # a resumed run competes with its earlier best
            kept = json.loads(score.read_text())
            self.best_rank, self.best_step = tuple(kept["rank"]), kept["step"]

    def _following_gap(self, x: np.ndarray, m: Dict) -> Optional[float]:
        return metrics.following_gap(metrics.following_of(lambda: [x], x[..., self.c], self.c, self.params, own=m))

    def observe(self, session, step: int) -> Tuple[str, Dict[str, float]]:
        """Score the session's generator at `step`; keep its state when it ranks above every one
        before it (the first of equals stays). Returns the log line and the metrics."""
        t = time.time()
        if self.reference is None:
            self.reference = dataset_metrics(self.train_data, self.params)
            if self.c is not None:
                self.data_gap = self._following_gap(self.phrases, metrics.all_metrics(self.phrases, self.params))
        x = to_notes(session.generate(self.z, self.condition), self.params)
        m = metrics.all_metrics(x, self.params)
        difference = abs_difference(m, self.reference)
        met, missed = goal_checks(difference, self.params)
        score = goal_score(difference, self.params)
        extras = ""
        if any(self.params["is_drums"]):
            rates = " ".join(f"{name} {v:.1f}" for name, v in m["on_drums"].items() if v is not None)
            extras = f"; on drums % {rates}"
        gap = self._following_gap(x, m) if self.c is not None else None
        rank = selection_rank(score, gap, self.data_gap, self.min_following)
        if self.c is not None:
            fmt = lambda v: "-" if v is None else f"{v:.2f}"
            extras += (f"; following gap {fmt(gap)} (given phrases {fmt(self.data_gap)})"
                       + ("" if rank[0] else ", below select_min_following"))
        self.last_step = step
        if self.keep_best and (self.best_rank is None or rank > self.best_rank):
            self.best_rank, self.best_step = rank, step
            self._keep(session, step, rank)
        line = (f"eval step {step}: {metrics_line(m)}  goal met on {len(met)} of {len(met) + len(missed)} metrics, "
                f"distance sum {score[1]:.4f}{extras} ({time.time() - t:.1f} s)")
        if self.keep_best:
            line += f"; best: step {self.best_step}"
        return line, flat_metrics(m)

    def _keep(self, session, step: int, rank: Rank) -> None:
        """The state (without Adam; G's EMA as its generator) and its score in `EXP_DIR/best/`,
        replaced whole."""
        arrays, _ = ema_as_generator(session.flat_state(with_adam=False))
        staging = self.best_dir.with_name(f".{BEST}.partial")
        shutil.rmtree(staging, ignore_errors=True)
        save_state(staging, arrays)
        atomic.save_json(staging / "score.json", {"step": step, "rank": list(rank)})
        atomic.replace_dir(staging, self.best_dir)


class Averager:
    """The mean of the generator a user gets (the EMA where kept) at global steps `start`,
    `start + every`, ...: checkpoint averaging on the fly, written as a shipped generator.npz
    to `EXP_DIR/average/generator.npz`. Its sums are saved with each checkpoint, so a resumed
    run goes on with them."""

    def __init__(self, exp_dir: Path, start: int, every: int, step: int, log):
        self.start, self.every = start, every
        self.dir = Path(exp_dir) / AVERAGE
        self.total: Optional[Dict[str, np.ndarray]] = None
        self.steps: List[int] = []
        running = self.dir / "running.npz"
        if running.is_file():
            kept = load_generator(running)
            saved = (int(kept.pop("__saved_at__")), int(kept.pop("__start__")), int(kept.pop("__every__")))
            steps = [int(s) for s in kept.pop("__steps__")]
            if saved == (step, start, every):
                self.total, self.steps = (kept or None), steps
            else:
                log(f"{running}: sums of steps {start}+{every}k up to step {saved[0]} do not go with this run "
                    f"(resumed at step {step}, average_from {start}, average_every {every}); the average starts over")

    def observe(self, session, step: int) -> bool:
        """Add the session's generator when `step` is one of the averaged steps; whether it was."""
        if step < self.start or (step - self.start) % self.every:
            return False
        weights = session.generator_weights()
        if self.total is None:
            self.total = {n: np.asarray(v, np.float64) for n, v in weights.items()}
        else:
            for n, v in weights.items():
                self.total[n] += v
        self.steps.append(step)
        return True

    def save(self, step: int) -> None:
        """Save the sums so far, as of the checkpoint of `step`."""
        meta = {"__saved_at__": np.int64(step), "__start__": np.int64(self.start), "__every__": np.int64(self.every),
                "__steps__": np.asarray(self.steps, np.int64)}
        atomic.save_npz(self.dir / "running.npz", compressed=False, **meta, **(self.total or {}))

    def write(self) -> str:
        """Write the mean as a shipped generator.npz (musegan.weights.states.save_generator); the log line."""
        if not self.steps:
            return f"nothing averaged: no step from {self.start} every {self.every} was reached"
        path = self.dir / "generator.npz"
        n = len(self.steps)
        save_generator(path, {name: (v / n).astype(np.float32) for name, v in self.total.items()})
        return (f"averaged the generator at {n} steps ({self.steps[0]}-{self.steps[-1]}, every {self.every}) "
                f"into {path}")
