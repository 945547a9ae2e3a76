"""Runtime settings: seeding, device and dtype choice, thread counts, logging, progress bars.

Nothing here runs at import time; the command line (or a user's script) calls these explicitly.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import random
import sys
from typing import Any, Iterable

import numpy as np
import torch

from sciml._errors import ConfigError

__all__ = [
    "seed_everything",
    "rng_state",
    "set_rng_state",
    "resolve_device",
    "resolve_dtype",
    "set_threads",
    "configure_logging",
    "progress",
    "torch_threads",
    "blas_threads",
    "keep_freed_memory",
    "freed_memory_kept",
    "peak_rss",
    "measure_in_subprocess",
    "DEVICES",
    "DTYPES",
]

DEVICES = ("cpu", "cuda", "auto")
DTYPES = {"float32": torch.float32, "float64": torch.float64}


def seed_everything(seed: int | None = None) -> int:
    """Seed python's ``random``, numpy's legacy global generator and torch (CPU and CUDA).

    Parameters
    ----------
    seed : int or None
        The seed; ``None`` draws one from the operating system so that it can be recorded.

    Returns
    -------
    int
        The seed that was used (record it next to the results).
    """
    if seed is None:
        seed = int.from_bytes(os.urandom(4), "little") & 0x7FFFFFFF
    if not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return seed


def rng_state() -> dict[str, Any]:
    """Every global RNG state as tensors and plain Python values (safe for ``weights_only`` loading)."""
    version, mt, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": [version, list(mt), gauss],
        "numpy": [name, torch.from_numpy(np.asarray(keys, dtype=np.int64)), int(pos), int(has_gauss), float(cached)],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the states saved by :func:`rng_state`."""
    version, mt, gauss = state["python"]
    random.setstate((version, tuple(mt), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    # states may arrive on another device when a checkpoint is loaded with map_location
    np.random.set_state((name, keys.cpu().numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """Map ``'cpu'``, ``'cuda'``, ``'cuda:N'`` or ``'auto'`` (CUDA when present, else CPU) to a device."""
    if isinstance(name, torch.device):
        return name
    base = name.split(":")[0]
    if base not in DEVICES:
        raise ConfigError(f"unknown device {name!r}; choose one of {', '.join(DEVICES)} (or cuda:N)")
    if base == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if base == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} was asked for but torch sees no CUDA device on this machine")
    return torch.device(name)


def resolve_dtype(name: str | torch.dtype) -> torch.dtype:
    """Map ``'float32'`` or ``'float64'`` to a torch dtype."""
    if isinstance(name, torch.dtype):
        return name
    if name not in DTYPES:
        raise ConfigError(f"unknown dtype {name!r}; choose one of {', '.join(DTYPES)}")
    return DTYPES[name]


def set_threads(n: int | None) -> int:
    """Set torch's intra-op thread count (``None``: leave torch's default) and return the count in force.

    BLAS libraries read ``OMP_NUM_THREADS`` at start-up only; the CLI sets it before importing
    numpy when ``--threads`` is given.
    """
    if n is not None:
        if n < 1:
            raise ConfigError(f"threads must be at least 1, got {n}")
        torch.set_num_threads(n)
    return torch.get_num_threads()


MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's largest allowed M_MMAP_THRESHOLD on 64-bit Linux
TRIM_THRESHOLD = 512 * 1024 * 1024
_GLIBC_M_TRIM_THRESHOLD, _GLIBC_M_MMAP_THRESHOLD = -1, -3  # mallopt parameter numbers (malloc.h)
_freed_memory_kept = False


def keep_freed_memory() -> bool:
    """Make glibc's ``malloc`` reuse freed memory for tensors up to 32 MiB instead of returning it to the OS.

    torch's CPU tensors come from ``malloc``. With glibc's defaults, blocks of a few MiB are mapped
    fresh from the OS on allocation and unmapped on free, so every new activation of that size pays
    a page fault per 4 KiB page on first write. Eager code that allocates its intermediate tensors
    anew on every call (a graph network's edge features, for example) then spends about half its
    time in page faults: the neural-PCG network on a 3D 7-point matrix with 4096 unknowns (23040
    edges) took 14 ms per forward with 3100 page faults, and 7 ms with about 30 after this call (one
    thread). This sets ``M_MMAP_THRESHOLD`` to 32 MiB (larger blocks are still mapped) and
    ``M_TRIM_THRESHOLD`` to 512 MiB (at most that much freed memory is kept at the top of the heap),
    trading resident memory for speed; the command line calls it at start-up unless the environment
    sets ``SCIML_KEEP_FREED_MEMORY=0``. A process can call it too (any time; it changes the
    allocator's policy for the whole process).

    Returns whether glibc accepted the settings: False off glibc (macOS, Windows, musl) or when
    ``mallopt`` refuses them. Under a replacement allocator loaded with ``LD_PRELOAD`` (jemalloc,
    tcmalloc) glibc's ``mallopt`` still answers but the settings do nothing; those allocators
    keep freed memory anyway.
    """
    import platform

    if platform.libc_ver()[0] != "glibc":
        return False
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    global _freed_memory_kept
    _freed_memory_kept = bool(mallopt(_GLIBC_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_GLIBC_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    return _freed_memory_kept


def freed_memory_kept() -> bool:
    """Whether :func:`keep_freed_memory` has taken effect in this process (benchmarks record it)."""
    return _freed_memory_kept


@contextlib.contextmanager
def torch_threads(n: int):
    """Run the block with torch's intra-op thread count set to ``n`` (restored afterwards)."""
    before = torch.get_num_threads()
    if before == n:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@functools.lru_cache(maxsize=1)
def _threadpool_controller():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


@contextlib.contextmanager
def blas_threads(n: int):
    """Run the block with the BLAS libraries loaded by numpy/scipy limited to ``n`` threads (threadpoolctl).

    On a machine with few cores, numpy's BLAS threads and torch's OpenMP threads that wait
    alternately for each other's cores slow mixed numpy/torch loops down many times (pyamg V-cycles
    inside a torch CG: 4x; a torch preconditioner inside scipy's CG: 20x). Limiting the side that
    is not doing the heavy work avoids that.
    """
    with _threadpool_controller().limit(limits=n, user_api="blas"):
        yield


class _StderrHandler(logging.StreamHandler):
    """A stream handler on whatever ``sys.stderr`` is when a record is emitted (not the one of the first
    set-up: a caller that replaces stderr, such as a test's capture, gets the records)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # StreamHandler.__init__ assigns one; the property always answers
        pass


def configure_logging(level: int | str = logging.INFO) -> logging.Logger:
    """Send the ``sciml`` logger's records to stderr with a short format; returns that logger."""
    logger = logging.getLogger("sciml")
    if not any(getattr(h, "_sciml", False) for h in logger.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
        handler._sciml = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    return logger


def progress(iterable: Iterable | None = None, *, total: int | None = None, desc: str = "",
             unit: str = "it", enabled: bool | None = None, **kwargs):
    """A tqdm progress bar on stderr that switches itself off when stderr is not a terminal.

    ``enabled=None`` decides by the terminal; ``False`` always hides it.
    """
    from tqdm.auto import tqdm

    disable = (not sys.stderr.isatty()) if enabled is None else (not enabled)
    return tqdm(iterable, total=total, desc=desc, unit=unit, disable=disable, dynamic_ncols=True,
                file=sys.stderr, **kwargs)


def peak_rss() -> float:
    """This process's peak resident set in bytes: Linux's ``VmHWM`` (the high-water mark of this address
    space alone), else ``ru_maxrss``, which after fork + exec also counts the parent's resident set."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return float(line.split()[1]) * 1024.0  # kB
    except OSError:
        pass
    import resource

    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024.0  # Linux: KiB


_MEASURE = """
import importlib, json, sys, torch
torch.set_num_threads(int(sys.argv[4]))
from sciml.config import from_dict
module, cls, fn = sys.argv[1].split(":")
mod = importlib.import_module(module)
config = from_dict(getattr(mod, cls), json.loads(sys.argv[2]))
print(json.dumps(getattr(mod, fn)(config, int(sys.argv[3]), device=sys.argv[5])))
"""


def measure_in_subprocess(timer: str, config: Any, steps: int = 5, *, device: str = "cpu", threads: int = 1,
                          timeout: float = 600.0) -> dict[str, Any]:
    """``timer(config, steps, device=...)`` in a fresh Python process, so that its peak resident set is this
    configuration's alone. ``timer`` is ``"module:ConfigClass:function"``; the function returns a JSON-ready
    dict. ``{"error": ...}`` when it fails, runs out of memory or passes ``timeout`` seconds."""
    import json
    import subprocess
    import sys

    from sciml.config import to_dict

    try:
        done = subprocess.run([sys.executable, "-c", _MEASURE, timer, json.dumps(to_dict(config)), str(steps),
                               str(threads), device], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"more than {timeout:.0f} s for {steps + 1} steps"}
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["killed"])[-1]
        return {"error": f"exit status {done.returncode}: {tail[-200:]}"}
    return json.loads(done.stdout.strip().splitlines()[-1])

