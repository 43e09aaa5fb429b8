"""The process around a long command: signals that stop it cleanly, durations for progress
lines, the device it runs on, and TensorFlow's start-up noise held back. No framework is
imported here until a function needs it."""
import contextlib
import math
import os
import signal
import sys
import tempfile
from pathlib import Path
from typing import Optional, Tuple

from musegan.errors import MuseganError

__all__ = ["Stop", "exit_if_stopped", "duration", "quiet_stderr", "select_device", "gpu_notice", "cpu", "bf16_units",
           "use_bfloat16"]


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


@contextlib.contextmanager
def quiet_stderr():
    """Hold back what TensorFlow's C++ side prints on stderr while it loads (CUDA probing,
    the oneDNN note: absl ignores TF_CPP_MIN_LOG_LEVEL that early); replayed if loading
    fails with an unexpected error. TensorFlow's Python logger is then set to errors only:
    its compat.v1 Saver warns of its own deprecated internals."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no usable fd 2: nothing to hold back
        yield
        return
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        except MuseganError:
            raise
        except BaseException:
            sys.stderr.flush()
            os.dup2(saved, 2)
            held.seek(0)
            os.write(2, held.read()[-20000:])
            raise
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            if "tensorflow" in sys.modules:
                sys.modules["tensorflow"].get_logger().setLevel("ERROR")


def select_device(gpu) -> None:
    """Make only GPU `gpu` visible; an empty string hides all GPUs."""
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def gpu_notice(gpu) -> None:
    """One line when TensorFlow sees no GPU, so a CPU run is never a surprise."""
    import tensorflow as tf

    if not tf.config.list_physical_devices("GPU"):
        asked = f" (GPU {gpu} was asked for)" if gpu not in (None, "") else ""
        print(f"no GPU found{asked}: running on CPU", file=sys.stderr)


def cpu() -> Tuple[str, frozenset]:
    """The CPU's model name and its feature flags, from /proc/cpuinfo ("" and none where there
    is no such file)."""
    name, flags = "", frozenset()
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return name, flags
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags" and not flags:
            flags = frozenset(value.split())
        if key.strip() == "model name" and not name:
            name = value.strip()
    return name, flags


def bf16_units() -> Optional[str]:
    """The CPU's bfloat16 matrix units as a reader knows them ("AMX" or "AVX512-BF16"), or None."""
    flags = cpu()[1]
    if "amx_bf16" in flags:
        return "AMX"
    if "avx512_bf16" in flags:
        return "AVX512-BF16"
    return None


def use_bfloat16(setting, on_gpu: bool) -> Tuple[bool, str]:
    """Whether TensorFlow training runs its matmuls and convolutions in bfloat16 (config
    `mixed_precision`: true, false or auto), and the one line that says so. `auto` turns it
    on for a CPU run where the CPU has bfloat16 units (oneDNN's bf16 kernels: about 1.3x the
    float32 speed of the default model on AVX512-BF16, docs/benchmarks.md), off elsewhere."""
    units = None if on_gpu else bf16_units()
    if setting == "auto":
        on = units is not None
        why = (f"this CPU has {units} units; mixed_precision: false for float32" if on else
               "a GPU run" if on_gpu else "this CPU has no bfloat16 units")
    else:
        on, why = bool(setting), "mixed_precision: " + ("true" if setting else "false")
    return on, f"precision: {'bfloat16 matmuls and convolutions, float32 weights' if on else 'float32'} ({why})"
