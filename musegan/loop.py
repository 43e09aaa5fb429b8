"""Training-loop helpers shared by the TensorFlow (musegan.train) and JAX (musegan.train_jax)
trainers; no framework imports."""
import math
import signal
import sys


class Stop:
    """Turns the first SIGINT/SIGTERM into a request to checkpoint and stop."""

    SAVING = "saving a checkpoint after this step..."
    WARMUP = "stopping after this update; the critic warm-up saves nothing..."

    def __init__(self):
        self.signal = None
        self._old = {}
        # what the first signal will do, as told to the user: a phase that saves nothing says so
        self.message = self.SAVING

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, sig, frame):
        if self.signal is not None:  # second signal: stop now
            raise KeyboardInterrupt
        self.signal = signal.Signals(sig).name
        print(f"\n{self.signal}: {self.message}", file=sys.stderr, flush=True)

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)


def exit_if_stopped(stopped_by) -> None:
    """A run stopped by a signal saved its state but is not done: exit as the signal would (130, 143)."""
    if stopped_by:
        sys.exit(128 + signal.Signals[stopped_by].value)


def duration(seconds: float) -> str:
    """'1h02m' or '3m04s'; '?' when not finite."""
    if not math.isfinite(seconds):
        return "?"
    h, rem = divmod(int(seconds), 3600)
    return f"{h}h{rem // 60:02d}m" if h else f"{rem // 60}m{rem % 60:02d}s"
