"""The precond suite: a trained neural PCG preconditioner against none, Jacobi, IC(0) and AMG.

For every system family of :data:`sciml.learned.compare.FAMILIES` whose generator is registered
(the others are listed under ``skipped`` with the reason), the suite generates training,
validation and held-out test systems, trains ``neural-pcg`` at one size (a small budget that fits
a CPU), and solves held-out systems with 1x, 2x and 4x the training unknowns by
:func:`sciml.linalg.pcg` to ``||r|| <= 1e-8 ||b||`` with each preconditioner
(:func:`sciml.learned.compare.compare_systems`). Reported per size: mean iterations, median
set-up (network inference included for the learned one), solve and total seconds, convergence and
the true residual; the ratios learned/IC(0) (iterations and time) and learned/AMG-RS (time); and
per method the growth of iterations with the unknowns.

Everything runs in float64 on the CPU; torch uses the threads in force (``sciml --threads``;
recorded), scipy's sparse kernels are single-threaded and numpy's BLAS is limited to one thread
inside pyamg's V-cycle (:class:`sciml.linalg.AMG`). Timings are measured side by side in one run.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

import torch

from sciml.learned.compare import Family, available_families, compare_sizes, where_amg_wins

__all__ = ["run", "SETTINGS", "FACTORS"]

FACTORS = (1, 2, 4)  # test unknowns relative to training
RTOL = 1e-8

# training resolution and budget, test systems per size
SETTINGS = {
    "quick": {"res": 8, "n_train": 16, "n_val": 4, "n_test": 2,
              "train": {"epochs": 2, "batch_size": 8, "lr": 1e-2, "weight_decay": 0.0},
              "model": {"hidden": 8, "layers": 2}},
    "full": {"res": 32, "n_train": 96, "n_val": 8, "n_test": 6,
             "train": {"epochs": 12, "batch_size": 8, "lr": 1e-2, "weight_decay": 0.0},
             "model": {"hidden": 16, "layers": 1}},
}
# one message-passing layer by default (session 4, one thread, this suite's settings): on diffusion2d and
# poisson-mesh it needed the same iterations as three layers and the network, which is set-up time, ran
# about 2x faster; diffusion3d 0.86 / 0.84 / 0.84x IC(0)'s iterations with one layer against 0.84 / 0.81 / 0.80
# with three, but 0.92-0.95x IC(0)'s time instead of 1.20-1.27x; anisotropic2d needs two (Family.full_model)
# mesh families: res ~ 1/h gives fewer unknowns than a grid of the same res on the unit square
MESH_RES = {"quick": 8, "full": 24}


def _family_res(family: Family, settings: dict[str, Any], quick: bool) -> int:
    if family.pde.endswith("mesh-systems"):
        return MESH_RES["quick" if quick else "full"]
    return int(round(settings["res"] ** (2 / family.dim)))  # a 3D grid with about the unknowns of the 2D one


def _bench_family(family: Family, settings: dict[str, Any], res: int, root: Path, quick: bool) -> dict[str, Any]:
    from sciml.data import generate_dataset
    from sciml.learned.neural_pcg import load
    from sciml.runs import train_model

    folder = root / family.label
    tic = time.perf_counter()
    train = generate_dataset(family.pde, folder / "train.h5", n=settings["n_train"], res=res, seed=0,
                             params=family.params)
    val = generate_dataset(family.pde, folder / "val.h5", n=settings["n_val"], res=res, seed=1, params=family.params)
    tests = {factor: generate_dataset(family.pde, folder / f"test{factor}x.h5", n=settings["n_test"],
                                      res=family.res_for(res, factor), seed=10 + factor, params=family.params)
             for factor in FACTORS}
    generate_s = time.perf_counter() - tic
    train_settings = {**settings["train"], **({} if quick else family.full_train)}
    model_settings = {**settings["model"], **({} if quick else family.full_model)}
    overrides = {**train_settings, **model_settings, "loss": family.loss, "device": "cpu", "seed": 0}
    tic = time.perf_counter()
    summary = train_model("neural-pcg", train, folder / "run", val_path=val, overrides=overrides, force=True,
                          show_progress=False)
    train_s = time.perf_counter() - tic
    compared = compare_sizes(load(folder / "run"), tests, rtol=RTOL)
    for size in compared["sizes"]:
        size["res"] = family.res_for(res, size["factor"])
    return {"pde": family.pde, "params": family.params, "description": family.description,
            "train": {"res": res, "systems": settings["n_train"], "val_systems": settings["n_val"],
                      "overrides": overrides, "seconds": train_s, "best": summary["best"],
                      "final_train_loss": summary["last"].get("train_loss")},
            "generate_s": generate_s, "test_systems_per_size": settings["n_test"], "sizes": compared["sizes"],
            "growth": compared["growth"]}


def _summary(families: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for label, f in families.items():
        entry: dict[str, Any] = {}
        for size in f["sizes"]:
            rows = {r["method"]: r for r in size["table"]}
            entry[f"{size['factor']}x"] = {
                "mean_n": rows["learned"]["mean_n"], **size["ratios"],
                "learned_iterations": rows["learned"]["mean_iterations"], "ic0_iterations": rows["ic0"]["mean_iterations"],
                "fastest": min(size["table"], key=lambda r: r["median_total_s"])["method"],
                "fewest_iterations": min(size["table"], key=lambda r: r["mean_iterations"])["method"]}
        entry["where_amg_wins"] = where_amg_wins(f["sizes"])
        entry["iteration_growth_exponent"] = {m: g["exponent"] for m, g in f["growth"].items()}
        out[label] = entry
    return out


def run(*, quick: bool = False, workdir: Path | None = None, families: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the suite (``families``: labels of :data:`~sciml.learned.compare.FAMILIES`, default all available)."""
    from threadpoolctl import threadpool_info

    settings = SETTINGS["quick" if quick else "full"]
    chosen, skipped = available_families(settings["res"], families)
    results: dict[str, Any] = {}
    if workdir is not None:
        Path(workdir).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=workdir, prefix="precond-bench-") as tmp:
        for family in chosen:
            results[family.label] = _bench_family(family, settings, _family_res(family, settings, quick), Path(tmp),
                                                  quick)
    blas = sorted({p.get("num_threads") for p in threadpool_info() if p.get("user_api") == "blas"})
    return {"threads": {"torch": torch.get_num_threads(), "blas": blas, "scipy_sparse": 1, "blas_in_amg_vcycle": 1},
            "rtol": RTOL, "factors": list(FACTORS), "settings": settings, "families": results, "skipped": skipped,
            "summary": _summary(results)}
