"""The foundation suite: Darcy data generation, FNO training throughput, DDP scaling on CPU.

- Darcy generation: seconds per sample solving directly at 64x64 and 128x128 (``refine=1``),
  one process, the threads torch has.
- FNO training: samples/s of ``sciml train fno`` on Darcy 32x32 (paper FNO: 12 modes, width 32,
  4 layers, batch 16), median over epochs after the first.
- DDP: the same training as one process with 2 threads, one process with 1 thread, and two gloo
  processes with 1 thread each under torchrun; ratios against the 2-thread single process.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["run"]


def _darcy_seconds_per_sample(res: int, n: int) -> float:
    from sciml.data.pdes import darcy

    params = darcy.check_params(res, {"refine": 1})
    tic = time.perf_counter()
    for _ in darcy.generate(n, res, seed=0, params=params):
        pass
    return (time.perf_counter() - tic) / n


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _train(data: Path, run: Path, *, epochs: int, procs: int, threads: int) -> dict[str, Any]:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    sciml_args = ["-m", "sciml", "--quiet", "--threads", str(threads), "train", "fno", "--data", str(data), "--out",
                  str(run), "--set", f"epochs={epochs}", "--set", "batch_size=16", "--set", "modes=12",
                  "--set", "width=32", "--set", "scheduler=none"]
    if procs == 1:
        cmd = [sys.executable, *sciml_args]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(procs), "--master_addr",
               "127.0.0.1", "--master_port", str(_free_port()), *sciml_args]
    result = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise RuntimeError(f"training run failed ({' '.join(cmd)}):\n{result.stderr[-2000:]}")
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    rates = [r["samples_per_s"] for r in rows[1:]] or [rows[0]["samples_per_s"]]
    return {"processes": procs, "threads_per_process": threads, "epochs": epochs,
            "median_samples_per_s": statistics.median(rates), "per_epoch_samples_per_s": rates}


def run(*, quick: bool = False, workdir: Path | None = None) -> dict[str, Any]:
    from sciml.data import generate_dataset

    n_gen = 4 if quick else 32
    generation = {f"{res}x{res}": {"samples": n_gen, "seconds_per_sample": _darcy_seconds_per_sample(res, n_gen)}
                  for res in (64, 128)}
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        tmp = Path(tmp)
        data = tmp / "train32.h5"
        generate_dataset("darcy", data, n=64 if quick else 512, res=32, seed=0, params={"refine": 4})
        epochs = 2 if quick else 4
        runs = {
            "1 process x 2 threads": _train(data, tmp / "p1t2", epochs=epochs, procs=1, threads=2),
            "1 process x 1 thread": _train(data, tmp / "p1t1", epochs=epochs, procs=1, threads=1),
            "2 gloo processes x 1 thread": _train(data, tmp / "p2t1", epochs=epochs, procs=2, threads=1),
        }
    base = runs["1 process x 2 threads"]["median_samples_per_s"]
    for entry in runs.values():
        entry["ratio_to_1x2"] = entry["median_samples_per_s"] / base
    summary = {
        "darcy_seconds_per_sample_64": generation["64x64"]["seconds_per_sample"],
        "darcy_seconds_per_sample_128": generation["128x128"]["seconds_per_sample"],
        "fno_train_samples_per_s_1x2": base,
        "ddp_2x1_over_1x2": runs["2 gloo processes x 1 thread"]["ratio_to_1x2"],
        "ddp_2x1_over_1x1": (runs["2 gloo processes x 1 thread"]["median_samples_per_s"]
                             / runs["1 process x 1 thread"]["median_samples_per_s"]),
    }
    return {"darcy_generation": generation, "fno_training": runs, "summary": summary,
            "notes": "Darcy solved directly at the stated resolution (refine=1) with scipy's sparse LU; "
                     "FNO on Darcy 32x32, 12 modes, width 32, 4 layers, batch 16 (global), AdamW, no schedule."}
