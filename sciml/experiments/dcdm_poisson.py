"""``dcdm-poisson``: the Deep Conjugate Direction Method on Poisson grids of growing size.

Kaneda et al., "A Deep Conjugate Direction Method for Iteratively Solving Linear Systems", arXiv
2205.10763 (ICML 2023): a CNN trained once, unsupervised, on one grid gives search directions that
reach the tolerance in a number of iterations nearly independent of the problem size (Poisson,
64^3 to 256^3). Here the network (:mod:`sciml.learned.dcdm`) is trained on one grid and tested on
that grid and on grids with 4x and 16x (2D) or 8x and 64x (3D) the unknowns, next to CG without
preconditioner and with Jacobi, IC(0) and AMG (pyamg Ruge-Stuben), all to the same relative
residual.

Data: 2D scales use the ``diffusion-systems`` store (via :func:`~sciml.experiments.experiment_data`)
with ``contrast = 1``, whose matrix is exactly the 5-point Poisson matrix
:func:`sciml.gallery.poisson2d`, and standard normal right-hand sides; the training right-hand
sides are made from the store's matrix (Ritz vectors, see :mod:`sciml.learned.dcdm`). The 3D paper
scale builds :func:`sciml.gallery.poisson3d` directly (the store is 2D only), with standard normal
right-hand sides drawn from a fixed seed. The run directory is itself a DCDM run (``best.pt``...),
so :meth:`sciml.learned.dcdm.DCDMSolver.from_run` loads it.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from sciml.experiments import Experiment

__all__ = ["EXPERIMENT", "BASELINES"]

BASELINES = ("none", "jacobi", "ic0", "amg-rs")

def _train(out: Path, size: dict[str, Any], device: str) -> dict[str, Any]:
    """Train the network into ``out`` (which becomes a DCDM run directory); returns the summary."""
    from sciml.experiments import experiment_data
    from sciml.runs import train_model

    settings = {**size["model"], **size["train"], "device": device, "seed": 0}
    m = size["train_m"]
    if size["dims"] == 2:
        path = experiment_data(out, f"dcdm-train-{m}", "diffusion-systems", n=size["train_systems"], res=m, seed=0,
                               params={"contrast": 1.0, "rhs": "normal"})
        return train_model("dcdm", path, out, overrides=settings, force=True, show_progress=False)
    import torch

    from sciml.config import from_dict
    from sciml.gallery.matrices import poisson3d
    from sciml.learned.dcdm import DCDMConfig, DCDMMethod, DCDMNet, SpectralRHSDataset, spec_complete_config
    from sciml.train.trainer import TrainConfig, Trainer

    data = SpectralRHSDataset([poisson3d(m)] * size["train_systems"], (m, m, m), path=f"poisson3d({m})")
    config = spec_complete_config(from_dict(DCDMConfig, size["model"], where="model"), data)
    train = from_dict(TrainConfig, {**size["train"], "device": device, "seed": 0}, where="train")
    torch.manual_seed(train.seed)
    trainer = Trainer(DCDMMethod(DCDMNet(config)), data, config=train, run_dir=out, model_name="dcdm",
                      model_config=config, force=True, show_progress=False,
                      extra_config={"data": {"train": f"gallery poisson3d({m}), Ritz right-hand sides"}})
    return trainer.fit()


def _test_systems(out: Path, size: dict[str, Any], m: int, device: str) -> list[tuple[Any, np.ndarray]]:
    """``(A, b)`` pairs of the test grid ``m``."""
    if size["dims"] == 2:
        from sciml.data.pdes.diffusion_systems import load_systems
        from sciml.experiments import experiment_data

        path = experiment_data(out, f"dcdm-test-{m}", "diffusion-systems", n=size["test_systems"], res=m, seed=1,
                               params={"contrast": 1.0, "rhs": "normal"})
        data = load_systems(path)
        return [(data.matrix(i), data[i]["rhs"].numpy()) for i in range(len(data))]
    from sciml.gallery.matrices import poisson3d

    A = poisson3d(m)
    rng = np.random.default_rng(1)
    return [(A, rng.standard_normal(A.shape[0])) for _ in range(size["test_systems"])]


def _solve_all(model: Any, systems: list[tuple[Any, np.ndarray]], grid: tuple[int, ...], size: dict[str, Any],
               device: str) -> tuple[dict[str, Any], dict[str, list[float]]]:
    """Iterations, times and true residuals of every method on ``systems``; residual histories of the first."""
    import torch

    from sciml.learned.dcdm import dcdm_solve
    from sciml.linalg import pcg, preconditioner

    for name in BASELINES:  # first calls import pyamg and warm caches; keep that out of the timings
        preconditioner(name, systems[0][0], device=device)
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in (*BASELINES, "dcdm")}
    histories: dict[str, list[float]] = {}
    for k, (A, b) in enumerate(systems):
        b_t = torch.from_numpy(b).to(device)
        for name in rows:
            tic = time.perf_counter()
            M = None if name in ("none", "dcdm") else preconditioner(name, A, device=device)
            setup = time.perf_counter() - tic
            tic = time.perf_counter()
            if name == "dcdm":
                result = dcdm_solve(model, A, b_t, grid, rtol=size["rtol"], maxiter=size["maxiter"])
            else:
                result = pcg(A, b_t, M, rtol=size["rtol"])
            solve = time.perf_counter() - tic
            x = result.x.detach().cpu().numpy()
            rows[name].append({"iterations": int(result.iterations), "setup_s": setup, "solve_s": solve,
                               "status": result.status.value,
                               "true_relative_residual": float(np.linalg.norm(b - A @ x) / np.linalg.norm(b))})
            if k == 0:
                norms = result.residual_norms.detach().cpu().numpy()
                histories[name] = (norms / np.linalg.norm(b)).tolist()
    table = {}
    for name, runs in rows.items():
        table[name] = {"mean_iterations": float(np.mean([r["iterations"] for r in runs])),
                       "iterations": [r["iterations"] for r in runs],
                       "mean_setup_s": float(np.mean([r["setup_s"] for r in runs])),
                       "mean_solve_s": float(np.mean([r["solve_s"] for r in runs])),
                       "mean_total_s": float(np.mean([r["setup_s"] + r["solve_s"] for r in runs])),
                       "all_converged": all(r["status"] == "converged" for r in runs),
                       "statuses": sorted({r["status"] for r in runs}),
                       "max_true_relative_residual": max(r["true_relative_residual"] for r in runs)}
    return table, histories


def _growth(per_size: list[dict[str, Any]]) -> dict[str, Any]:
    """Per method: iterations at the largest over the smallest grid, and the slope p of iterations ~ n^p."""
    n = np.array([s["n"] for s in per_size], dtype=float)
    growth = {}
    for name in per_size[0]["methods"]:
        its = np.array([max(s["methods"][name]["mean_iterations"], 1.0) for s in per_size])
        slope = float(np.polyfit(np.log(n), np.log(its), 1)[0]) if len(n) > 1 else float("nan")
        growth[name] = {"ratio_largest_to_smallest": float(its[-1] / its[0]), "slope_vs_unknowns": slope}
    return growth


def _plots(out: Path, per_size: list[dict[str, Any]], histories: dict[str, list[float]], rtol: float) -> list[str]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from sciml.io import atomic_path

    names = []
    fig = Figure(figsize=(5.5, 4), layout="constrained")
    ax = fig.subplots()
    n = [s["n"] for s in per_size]
    for name in per_size[0]["methods"]:
        ax.loglog(n, [s["methods"][name]["mean_iterations"] for s in per_size], "o-",
                  label="DCDM" if name == "dcdm" else f"CG + {name}")
    ax.set_xlabel("unknowns n")
    ax.set_ylabel(f"iterations to rtol {rtol:g}")
    ax.legend(fontsize=8)
    with atomic_path(out / "iterations.png") as tmp:
        FigureCanvasAgg(fig).print_png(str(tmp))
    names.append("iterations.png")

    fig = Figure(figsize=(5.5, 4), layout="constrained")
    ax = fig.subplots()
    for name, history in histories.items():
        ax.semilogy(np.arange(len(history)), history, label="DCDM" if name == "dcdm" else f"CG + {name}")
    ax.axhline(rtol, color="k", lw=0.5)
    ax.set_xlabel("iteration")
    ax.set_ylabel("||r|| / ||b||")
    ax.set_title(f"grid {per_size[-1]['grid']}, first test system", fontsize=9)
    ax.legend(fontsize=8)
    with atomic_path(out / "residuals.png") as tmp:
        FigureCanvasAgg(fig).print_png(str(tmp))
    names.append("residuals.png")
    return names


def run_size(out: Path, size: dict[str, Any], device: str) -> dict[str, Any]:
    """Train, then test on every grid of ``size`` (a scale's section of ``experiments/dcdm-poisson/config.yaml``)."""
    import torch

    from sciml.learned.dcdm import load

    tic = time.perf_counter()
    summary = _train(out, size, device)
    train_seconds = time.perf_counter() - tic
    model = load(out, map_location=device)
    per_size, histories = [], {}
    for m in size["test_m"]:
        grid = (m,) * size["dims"]
        table, histories = _solve_all(model, _test_systems(out, size, m, device), grid, size, device)
        per_size.append({"m": m, "grid": list(grid), "n": math.prod(grid), "methods": table})
    losses = [float(line["train_loss"]) for line in _metrics(out)]
    return {"sizes": size, "training": {"seconds": train_seconds, "epochs": summary["epochs"],
                                        "best": summary["best"], "train_loss": losses},
            "per_size": per_size, "growth": _growth(per_size), "threads": torch.get_num_threads(),
            "figures": _plots(out, per_size, histories, size["rtol"])}


def _metrics(out: Path) -> list[dict[str, Any]]:
    import json

    path = out / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def run(out: Path, size: dict[str, Any], device: str) -> dict[str, Any]:
    return run_size(out, size, device)


def _label(name: str) -> str:
    return "DCDM" if name == "dcdm" else f"CG + {name}"


def _levels_text(size: dict[str, Any]) -> str:
    """How deep the net is on each test grid."""
    from sciml.learned.dcdm import DCDMConfig

    config = DCDMConfig(n_dims=size["dims"], **size["model"])
    if not config.shared_levels:
        return f"{config.levels} levels"
    counts = [f"{config.levels_for((m,) * size['dims'])} at {m}" for m in size["test_m"]]
    return (f"one down and one up block shared by every level, halving until the shortest axis has at most "
            f"{config.coarsest} cells: {', '.join(counts)} per axis")


def report(r: dict[str, Any]) -> str:
    s = r["sizes"]
    t = r["training"]
    kind = "2D 5-point" if s["dims"] == 2 else "3D 7-point"
    source = ("the diffusion-systems store with contrast 1 (exactly the Poisson matrix), b ~ N(0, I)"
              if s["dims"] == 2 else "sciml.gallery.poisson3d, b ~ N(0, I)")
    model = s["model"]
    lines = [f"# dcdm-poisson ({r['scale']} scale)", "", f"Paper: {r['paper']}.", "", f"Claim: {r['claim']}", "",
             f"Setting: {kind} Poisson matrices from {source}. Network trained on the {s['train_m']}-per-axis grid "
             f"(width {model['width']}, {_levels_text(s)}; {model['ritz_vectors']} Ritz vectors, "
             f"{model['rhs_per_system']} right-hand sides per stored system, {s['train_systems']} stored systems) "
             f"for {t['epochs']} epochs in {t['seconds']:.0f} s; final training loss "
             f"{t['train_loss'][-1]:.4g} (first epoch {t['train_loss'][0]:.4g}). Every method solves "
             f"{s['test_systems']} systems per grid to ||r|| <= {s['rtol']:g} ||b|| (DCDM capped at {s['maxiter']} "
             f"iterations); times are means on {r['threads']} torch thread(s) of a shared CPU, so they are noisy.", "",
             "| grid | n | method | mean iterations | setup s | solve s | total s | converged | max true rel. residual |",
             "|---|---|---|---|---|---|---|---|---|"]
    for size in r["per_size"]:
        for name, m in size["methods"].items():
            lines.append(f"| {'x'.join(map(str, size['grid']))} | {size['n']} | {_label(name)} | "
                         f"{m['mean_iterations']:.1f} | {m['mean_setup_s']:.4f} | {m['mean_solve_s']:.4f} | "
                         f"{m['mean_total_s']:.4f} | {'yes' if m['all_converged'] else ', '.join(m['statuses'])} | "
                         f"{m['max_true_relative_residual']:.2e} |")
    lines += ["", "Iteration growth from the smallest to the largest grid (slope p of iterations ~ n^p; CG theory on "
              "Poisson: p = 1/2 in 2D, 1/3 in 3D; AMG: about 0):", "", "| method | ratio largest/smallest | slope p |",
              "|---|---|---|"]
    for name, g in r["growth"].items():
        lines.append(f"| {_label(name)} | {g['ratio_largest_to_smallest']:.2f} | {g['slope_vs_unknowns']:.2f} |")
    lines += ["", "The paper reports iteration counts nearly independent of the grid (trained at 64^3, tested to "
              "256^3); its tables were not recorded here.", "", "![iterations vs unknowns](iterations.png)", "",
              "![residual vs iteration](residuals.png)", "",
              f"Run time {r['seconds']:.1f} s; reproduce with `sciml reproduce dcdm-poisson --scale {r['scale']} "
              f"--out DIR`. The run directory is a DCDM run: `DCDMSolver.from_run(DIR)`.", ""]
    return "\n".join(lines)


EXPERIMENT = Experiment(
    name="dcdm-poisson",
    paper="Kaneda, Akar, Chen, Kala, Hyde, Teran: A Deep Conjugate Direction Method for Iteratively Solving "
          "Linear Systems, arXiv 2205.10763 (ICML 2023)",
    claim="a CNN trained unsupervised on one grid gives search directions (A-orthogonalised against the previous "
          "two) that reach the tolerance in a number of iterations nearly independent of the problem size",
    reference={},
    run=run,
    report=report,
)
