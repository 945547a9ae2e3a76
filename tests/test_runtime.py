"""Process-wide runtime settings."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

FAULTS = """
import resource, sys, numpy as np, torch
from sciml.gallery import poisson3d
from sciml.learned.neural_pcg import NeuralPCG, NeuralPCGConfig
from sciml.runtime import freed_memory_kept, keep_freed_memory
torch.set_num_threads(1)
if sys.argv[1] == "keep":
    assert keep_freed_memory() and freed_memory_kept()
else:
    assert not freed_memory_kept()
    # glibc's initial thresholds (128 KiB), pinned: left alone, glibc raises its mmap threshold after the
    # first large free, so whether a fresh process maps activations afresh depends on what it allocated
    # and freed before (seen: 1 fault in one run, 2855 in another); pinning them is the default policy
    import ctypes
    mallopt = ctypes.CDLL(None).mallopt
    assert mallopt(-3, 128 * 1024) == 1 and mallopt(-1, 128 * 1024) == 1  # M_MMAP_THRESHOLD, M_TRIM_THRESHOLD
A = poisson3d(16).tocsr()  # n = 4096, 23040 edges: activations of 0.4-3 MiB
crow, col = (torch.from_numpy(a.astype(np.int32)) for a in (A.indptr, A.indices))
values = torch.from_numpy(A.data.astype(np.float64))
model = NeuralPCG(NeuralPCGConfig())
with torch.no_grad():
    for _ in range(2):
        model(crow, col, values)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(5):
        model(crow, col, values)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_keep_freed_memory_stops_page_faults_on_repeated_allocations():
    """With glibc's defaults the activations of a graph network's forward pass (0.4-3 MiB each) are
    mapped afresh on every call, a page fault per 4 KiB page on first write; after keep_freed_memory
    the freed blocks are reused. Counts page faults, not time."""
    # glibc's defaults: no allocator settings or replacement allocators from the environment
    env = {k: v for k, v in os.environ.items()
           if not (k.startswith("MALLOC_") or k in ("GLIBC_TUNABLES", "LD_PRELOAD"))}
    faults = {mode: int(subprocess.run([sys.executable, "-c", FAULTS, mode], capture_output=True, text=True,
                                       check=True, env=env).stdout.split()[-1]) for mode in ("default", "keep")}
    assert faults["default"] > 1000  # 1000-4000 per forward pass were seen
    assert faults["keep"] < faults["default"] / 10, faults
