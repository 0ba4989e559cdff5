"""Thread counts and runtime settings that keep this package fast on a busy machine.

MicroAUNet's passes are too small to share among threads: a second thread speeds inference up by at most
1.2-1.4x on a quiet machine, and where other processes hold the cores, threads that spin while they wait
(OpenMP's default, ONNX Runtime's) make it 5-15x slower. So:

- inference and evaluation use **one** thread unless told otherwise (``--threads N`` or
  ``MICROAUNET_THREADS``);
- training, whose passes are larger, takes the cores that are free: the cores this process may run on
  (``os.sched_getaffinity``) less the one-minute load average, at least one;
- OpenMP threads spin only briefly before they sleep when they wait (``GOMP_SPINCOUNT=10000``, libgomp's, which
  PyTorch's Linux wheels use; set when this package is imported, before PyTorch starts OpenMP, unless
  ``GOMP_SPINCOUNT`` or ``OMP_WAIT_POLICY`` is already set), and ONNX Runtime's threads do not spin
  (``session.intra_op.allow_spinning=0``). Sleeping at once (``OMP_WAIT_POLICY=PASSIVE``) would cost a
  two-thread training step on a quiet machine nearly half its speed (every small operator wakes the threads);
  spinning as long as libgomp does by default makes it twice as slow beside other work; the short spin keeps
  most of the quiet machine's speed and most of the passive policy's under load (results/speed.md).

A value given explicitly always wins: ``--threads N`` over ``MICROAUNET_THREADS`` over the rule above.
"""

from __future__ import annotations

import os

ENV_THREADS = "MICROAUNET_THREADS"


SPIN_COUNT = "10000"


def set_openmp_defaults() -> None:
    """OpenMP threads spin briefly, then sleep, when they wait, unless the environment says otherwise. It only
    takes effect before the OpenMP runtime starts (before ``import torch``): :mod:`microaunet`'s ``__init__``
    calls it first."""
    if "OMP_WAIT_POLICY" not in os.environ:
        os.environ.setdefault("GOMP_SPINCOUNT", SPIN_COUNT)


def available_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def free_cores(cores: int | None = None, load: float | None = None) -> int:
    """``cores`` (default: :func:`available_cores`) less the one-minute load average (rounded), at least one."""
    cores = available_cores() if cores is None else cores
    if load is None:
        try:
            load = os.getloadavg()[0]
        except (AttributeError, OSError):
            load = 0.0
    return max(1, min(cores, cores - round(load)))


def env_threads() -> int:
    """``MICROAUNET_THREADS`` as a positive count, 0 where it is unset or empty."""
    value = os.environ.get(ENV_THREADS, "").strip()
    if not value:
        return 0
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{ENV_THREADS} must be a positive whole number, got {value!r}")
    return int(value)


def choose_threads(threads: int = 0, kind: str = "inference") -> int:
    """The thread count to use: ``threads`` when positive, else ``MICROAUNET_THREADS``, else 1 for ``inference``
    (prediction, evaluation, benchmarks of one image) and the free cores for ``training``."""
    if threads < 0:
        raise ValueError(f"threads must be 0 (automatic) or positive, got {threads}")
    if kind not in ("inference", "training"):
        raise ValueError(f"kind must be 'inference' or 'training', got {kind!r}")
    return threads or env_threads() or (1 if kind == "inference" else free_cores())


def use_threads(threads: int = 0, kind: str = "inference") -> int:
    """Set PyTorch's (and OpenCV's) thread count by :func:`choose_threads`; return it."""
    import cv2
    import torch

    n = choose_threads(threads, kind)
    torch.set_num_threads(n)
    cv2.setNumThreads(n)
    return n
