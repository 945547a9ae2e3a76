"""Pieces shared by the FNO experiments (``fno-darcy``, ``fno-burgers``): training one FNO and its
super-resolution table, the inference-speed comparison with the reference solver, plots and report
sections."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from sciml.io import atomic_path

__all__ = ["train_and_evaluate", "time_per_sample", "speed_comparison", "plot_training_curve",
           "plot_predictions_2d", "plot_predictions_1d", "results_section", "speed_section", "report_results"]

log = logging.getLogger("sciml.experiments")


def train_and_evaluate(run_dir: Path, train_path: Path, val_path: Path, test_paths: list[Path], *,
                       model: dict[str, Any], train: dict[str, Any], device: str) -> dict[str, Any]:
    """Train an FNO on ``train_path`` and evaluate the model of the last epoch at every test resolution.

    ``val_path`` is evaluated after every epoch for the training curve only: the reported model is the
    last one, not the one that scored best on it (``best.pt``), so the test set picks nothing.

    Returns
    -------
    ``{"summary": trainer summary, "epochs": metrics.jsonl rows, "evaluation": evaluate_resolutions(...)}``
    """
    from sciml.runs import evaluate_resolutions, train_model

    from sciml._errors import ConfigError

    overrides = {**model, **train, "device": device}
    summary = None
    if (run_dir / "checkpoint.pt").exists():  # an interrupted experiment continues its training
        try:
            summary = train_model("fno", train_path, run_dir, val_path=val_path, overrides=overrides, resume=True,
                                  show_progress=False)
        except ConfigError as exc:
            log.info("not resuming %s (%s); training again", run_dir, exc)
    if summary is None:
        summary = train_model("fno", train_path, run_dir, val_path=val_path, overrides=overrides, force=True,
                              show_progress=False)
    epochs = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    evaluation = evaluate_resolutions(run_dir, test_paths, which="model", device=device)
    return {"summary": summary, "epochs": epochs, "evaluation": evaluation}


def train_each_resolution(out: Path, trains: dict[int, Path], tests: dict[int, Path], size: dict[str, Any],
                          device: str) -> list[dict[str, Any]]:
    """Train one model per training resolution of ``size`` (into ``out/fno_s{res}``), each evaluated on every test set."""
    models = []
    for res in size["train_res"]:
        run_dir = out / f"fno_s{res}"
        trained = train_and_evaluate(run_dir, trains[res], tests[res], [tests[r] for r in size["test_res"]],
                                     model=size["model"], train=size["train"], device=device)
        own = next(r for r in trained["evaluation"]["rows"] if r["resolution"][0] == res)  # square grids
        models.append({"train_resolution": res, "run_dir": str(run_dir), "summary": trained["summary"],
                       "epochs": trained["epochs"], "evaluation": trained["evaluation"], "own_resolution_row": own})
    return models


def super_resolution(models: list[dict[str, Any]], coarse: int, fine: int, goal: float | None
                     ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The model trained at ``coarse`` and its error at ``fine`` over its error at ``coarse``."""
    base = next(m for m in models if m["train_resolution"] == coarse)
    rows = {r["resolution"][0]: r for r in base["evaluation"]["rows"]}
    result = {"train": coarse, "test": fine, "rel_l2_train_res": rows[coarse]["rel_l2"],
              "rel_l2_test_res": rows[fine]["rel_l2"], "goal": goal}
    result["ratio"] = result["rel_l2_test_res"] / result["rel_l2_train_res"]
    return base, result


def time_per_sample(fn: Callable[[], Any], n_samples: int, *, repeats: int = 3) -> float:
    """Seconds per sample of ``fn()`` (which processes ``n_samples``): the best of ``repeats`` calls."""
    best = float("inf")
    for _ in range(repeats):
        tic = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - tic)
    return best / n_samples


@torch.no_grad()
def speed_comparison(model: torch.nn.Module, x: torch.Tensor, solvers: list[tuple[str, Callable[[], Any], int]], *,
                     resolution: list[int]) -> dict[str, Any]:
    """Per-sample seconds of the model's forward pass (batched and one sample at a time) against solvers.

    ``x`` is a batch of inputs at ``resolution``; each solver is ``(label, solve, n)`` where
    ``solve()`` solves ``n`` samples of the same problem with the reference solver. The first
    solver is the one at the model's resolution (the ``speedup_*`` ratios); ``rows`` has them all.
    """
    model.eval()
    model(x[:1])  # warm-up (FFT plans, allocations)
    batched = time_per_sample(lambda: model(x), len(x))
    single = time_per_sample(lambda: [model(x[i:i + 1]) for i in range(min(len(x), 10))], min(len(x), 10))
    rows = []
    for label, solve, n in solvers:
        seconds = time_per_sample(solve, n, repeats=1)
        rows.append({"solver": label, "solver_s": seconds, "speedup_batched": seconds / batched,
                     "speedup_single": seconds / single})
    return {"resolution": resolution, "threads": torch.get_num_threads(), "model_batched_s": batched,
            "model_batch_size": len(x), "model_single_s": single, "solvers": rows, **rows[0]}


def _save(fig, path: Path) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    with atomic_path(path) as tmp:
        FigureCanvasAgg(fig).print_png(str(tmp))
    return path.name


def plot_training_curve(epochs: list[dict[str, Any]], path: Path, *, label: str) -> str:
    """Training loss and validation relative L2 per epoch (log scale)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5, 3.4), layout="constrained")
    ax = fig.subplots()
    ax.semilogy([r["epoch"] for r in epochs], [r["train_loss"] for r in epochs], label="train relative L2")
    if epochs and "val_rel_l2" in epochs[0]:
        ax.semilogy([r["epoch"] for r in epochs], [r["val_rel_l2"] for r in epochs], label=f"test relative L2 ({label})")
    ax.set_xlabel("epoch")
    ax.set_ylabel("relative L2")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return _save(fig, path)


@torch.no_grad()
def plot_predictions_2d(model: torch.nn.Module, datasets: list[tuple[str, Any]], path: Path) -> str:
    """Coefficient, truth, prediction and |error| of the first test sample at each resolution."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(13, 3.2 * len(datasets)), layout="constrained")
    axes = fig.subplots(len(datasets), 4, squeeze=False)
    for row, (label, data) in enumerate(datasets):
        x, y = data._read([0])
        pred = model(x)
        panels = [(x[0, 0], "coefficient a", "viridis"), (y[0, 0], "truth u", "magma"),
                  (pred[0, 0], "FNO prediction", "magma"), ((pred - y)[0, 0].abs(), "|error|", "inferno")]
        vmin, vmax = float(y.min()), float(y.max())
        for col, (img, title, cmap) in enumerate(panels):
            ax = axes[row, col]
            kwargs = {"vmin": vmin, "vmax": vmax} if col in (1, 2) else {}
            im = ax.imshow(img.numpy().T, origin="lower", extent=(0, 1, 0, 1), cmap=cmap, **kwargs)
            ax.set_title(f"{title} ({label})", fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
            fig.colorbar(im, ax=ax, shrink=0.8)
    return _save(fig, path)


@torch.no_grad()
def plot_predictions_1d(model: torch.nn.Module, datasets: list[tuple[str, Any]], path: Path, *,
                        samples: int = 3) -> str:
    """Truth and prediction of the first test samples (top) and their inputs (bottom), one column per resolution.

    Inputs get their own panel: at nu = 0.1 the Burgers solution at t = 1 is about 50 times smaller
    than the initial condition.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6 * len(datasets), 5.6), layout="constrained")
    axes = fig.subplots(2, len(datasets), squeeze=False, sharex=True)
    for col, (label, data) in enumerate(datasets):
        idx = list(range(min(samples, len(data))))
        x, y = data._read(idx)
        pred = model(x)
        grid = np.arange(y.shape[-1]) / y.shape[-1]
        top, bottom = axes[0, col], axes[1, col]
        for i in idx:
            line, = top.plot(grid, y[i, 0].numpy(), lw=1.8, label=f"truth, sample {i}")
            top.plot(grid, pred[i, 0].numpy(), "--", color="k", lw=0.9, label="FNO" if i == 0 else None)
            bottom.plot(grid, x[i, 0].numpy(), color=line.get_color(), lw=1.0, label=f"input, sample {i}")
        top.set_title(f"output, s = {label}", fontsize=9)
        bottom.set_title(f"input, s = {label}", fontsize=9)
        bottom.set_xlabel("x")
        top.legend(fontsize=7)
        bottom.legend(fontsize=7)
    return _save(fig, path)


def report_results(r: dict[str, Any], *, name: str, predictions_caption: str) -> list[str]:
    """The report of ``fno-darcy`` / ``fno-burgers`` after its setting: accuracy and super-resolution
    tables, training time and curve, predictions, the speed comparison and how to reproduce."""
    lines = ["## Accuracy", ""]
    lines += results_section(r, paper=r["reference"]["rel_l2"], train_key="train_resolution",
                             super_resolution=(str(r["super_resolution"]["train"]), str(r["super_resolution"]["test"])))
    base = r["models"][0]
    trained_s = sum(row.get("epoch_seconds", 0.0) for row in base["epochs"])
    lines += [f"Training: {base['summary']['epochs']} epochs in {trained_s:.0f} s (sum of the epochs' times, over "
              f"every session of an interrupted and resumed run; {r['threads']} torch threads in the last).", "",
              "![training curve](training_curve.png)", "",
              f"![{predictions_caption}](predictions.png)",
              "", "## Inference speed against the reference solver", ""]
    lines += speed_section(r["speed"])
    lines += [f"Run time {r['seconds']:.0f} s; reproduce with `sciml reproduce {name} --scale {r['scale']} "
              f"--out DIR` (add `--data-dir` to reuse generated data).", ""]
    return lines


def results_section(result: dict[str, Any], *, paper: dict[str, float], train_key: str,
                    super_resolution: tuple[str, str] | None) -> list[str]:
    """Markdown: our error next to the paper's per training resolution, and each model's resolution table."""
    lines = ["| train resolution | test resolution | our relative L2 | our nRMSE | paper relative L2 | ratio to paper |",
             "|---|---|---|---|---|---|"]
    for entry in result["models"]:
        own = entry["own_resolution_row"]
        ref = paper.get(str(entry[train_key]))
        ratio = f"{own['rel_l2'] / ref:.2f}" if ref else "-"
        lines.append(f"| {entry[train_key]} | {entry[train_key]} | {own['rel_l2']:.4f} | {own['nrmse']:.4f} | "
                     f"{ref if ref else '-'} | {ratio} |")
    lines.append("")
    for entry in result["models"]:
        lines += [f"### Model trained at s = {entry[train_key]}: every test resolution", "",
                  entry["evaluation"]["table"], ""]
    if super_resolution is not None and result.get("super_resolution"):
        sr = result["super_resolution"]
        goal = f" (goal <= {sr['goal']})" if sr.get("goal") else ""
        lines += [f"Zero-shot super-resolution: error at s = {super_resolution[1]} / error at s = "
                  f"{super_resolution[0]} (same model, same test samples from the same fine grid): "
                  f"**{sr['ratio']:.2f}**{goal}.", ""]
    lines += ["Fourier-band errors are PDEBench's fRMSE: RMS over samples of the error's Fourier amplitude "
              "summed over shells of integer wavenumber |k|, averaged over the shells of each band: low |k| < 4, "
              "mid 4 <= |k| < 12, high |k| >= 12 (full spectrum; see docs/training.md).", ""]
    return lines


def speed_section(speed: dict[str, Any]) -> list[str]:
    """Markdown: model forward against the reference solver(s)."""
    grid = "x".join(str(n) for n in speed["resolution"])
    lines = [f"Per-sample seconds; the model's output is on the {grid} grid.", "",
             "| | seconds per sample | solver / FNO batched | solver / FNO one at a time |", "|---|---|---|---|"]
    for row in speed["solvers"]:
        lines.append(f"| reference solver: {row['solver']} | {row['solver_s']:.4g} | {row['speedup_batched']:.1f} | "
                     f"{row['speedup_single']:.1f} |")
    lines += [f"| FNO forward, batch of {speed['model_batch_size']} | {speed['model_batched_s']:.4g} | | |",
              f"| FNO forward, one sample at a time | {speed['model_single_s']:.4g} | | |",
              "", f"Measured in this run with {speed['threads']} torch threads on the CPU, best of 3 calls for the "
              "model, one call for each solver; other jobs shared the machine, so the timings are noisy.", ""]
    return lines
