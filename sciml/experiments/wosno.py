"""``wos-no-poisson2d``: WoS-NO against physics-informed and FEM-supervised training (arXiv 2603.01193).

One family of 2-D Poisson problems on star domains (:mod:`sciml.wos.wosno`); the same GINO trained the same
number of steps (one instance per step) three ways: against running-mean walk-on-spheres estimates (``wos``),
with the autograd PDE residual (``pino``), and against finite-element solutions (``fem``). Test error: relative
L2 against P2 finite elements on held-out instances. Speed and peak memory of a step of each method are
measured in a fresh process each. A method whose results file (``METHOD.json``) in the run directory was made
with the same settings is not trained again (an interrupted run resumes at the method it stopped in).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from sciml.experiments import Experiment

__all__ = ["EXPERIMENT"]

PAPER = "Viswanath, Nam, Deng, Berner, Anandkumar, Bera, Operator learning using weak supervision from " \
        "walk-on-spheres, arXiv:2603.01193"
# abstract and ../shared/PAPERS.md: the largest factors over the paper's experiments, not per-table figures
PAPER_CLAIMS = {"l2_improvement_over_physics_informed_max": 8.75, "training_speedup_max": 6.31,
                "gpu_memory_reduction_max": 2.97, "walks_per_point": 10, "eps": 1e-3}

MODEL_KEYS = ("c_max", "mesh_h", "walks", "eps", "max_steps", "latent_res", "latent_box", "radius", "modes",
              "hidden", "layers", "embed", "in_kernel", "out_kernel", "lr", "weight_decay", "interior_weight",
              "boundary_weight", "seed")


def _config(config: dict[str, Any], method: str):
    from sciml.config import from_dict
    from sciml.wos.wosno import WosNoConfig

    values = {k: config[k] for k in MODEL_KEYS if k in config}
    for k in ("in_kernel", "out_kernel"):
        if k in values:
            values[k] = tuple(values[k])
    return from_dict(WosNoConfig, {**values, "method": method})


def run(out: Path, config: dict[str, Any], device: str) -> dict[str, Any]:
    import torch

    from sciml.io import atomic_path, write_json
    from sciml.wos.spec import model_payload
    from sciml.wos.wosno import WosNoTrainer, make_instances, measure_in_subprocess

    tic = time.perf_counter()
    base = _config(config, config["methods"][0])
    data_seed = config["data_seed"]
    train = make_instances(data_seed, 0, config["n_train"], base, progress=True)
    test = make_instances(data_seed, config["test_start"], config["n_test"], base, progress=True)
    data_seconds = time.perf_counter() - tic
    rows = []
    for method in config["methods"]:
        file = out / f"{method}.json"
        if file.exists():
            saved = json.loads(file.read_text())
            if saved.get("settings") == config:  # the same settings: this method finished before an interruption
                rows.append(saved)
                continue
        cfg = _config(config, method)
        trainer = WosNoTrainer(cfg, train, epochs=config["epochs"], device=device)
        result = trainer.train(test, evaluate_every=config["evaluate_every"], progress=True)
        row = {"method": method, **result, "parameters": sum(p.numel() for p in trainer.model.parameters()),
               "settings": config}
        with atomic_path(out / f"{method}.pt") as tmp:  # a sciml model file: sciml.load(out / "wos.pt")
            torch.save(model_payload(trainer, result), tmp)
        row["timing"] = measure_in_subprocess(cfg, config["timing_steps"], device=device,
                                              timeout=config["timing_timeout"])
        row["example"] = _example(trainer, test[0])
        write_json(file, row)
        rows.append(row)
    instance = test[0]
    results = {"rows": rows, "config": config, "data_seconds": data_seconds,
               "points_per_instance": [len(i.points) for i in train[:1] + test[:1]],
               "seconds": time.perf_counter() - tic}
    results["plots"] = _plot(out, rows, instance)
    return results


def _example(trainer, instance) -> list[float]:
    """The trained model's prediction on the first test instance (for the plot)."""
    import torch

    with torch.no_grad():
        trainer.model.eval()
        return trainer.forward(instance).double().cpu().tolist()


def _plot(out: Path, rows: list[dict[str, Any]], instance) -> list[str]:
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.tri import Triangulation

    from sciml.io import atomic_path

    names = []
    fig = Figure(figsize=(5.5, 3.8), layout="constrained")
    ax = fig.subplots()
    for r in rows:
        hist = [h for h in r["history"] if "rel_l2" in h]
        ax.semilogy([h["step"] for h in hist], [h["rel_l2"] for h in hist], "o-", label=r["method"])
    ax.set_xlabel("training step (one instance each)")
    ax.set_ylabel("test relative L2 against FEM")
    ax.legend()
    names.append("wosno-error.png")
    with atomic_path(out / names[-1]) as tmp:
        FigureCanvasAgg(fig).print_png(str(tmp))

    pts = instance.points.numpy()
    tri = Triangulation(pts[:, 0], pts[:, 1], instance.cells)
    fem = instance.fem.numpy()
    fig = Figure(figsize=(3.2 * (1 + 2 * len(rows)) / 1.2, 3.0), layout="constrained")
    axes = fig.subplots(1, 1 + 2 * len(rows))
    lo, hi = float(fem.min()), float(fem.max())
    im = axes[0].tripcolor(tri, fem, shading="gouraud", vmin=lo, vmax=hi)
    axes[0].set_title("FEM (P2)", fontsize=8)
    fig.colorbar(im, ax=axes[0], shrink=0.7)
    err_max = max(float(np.abs(np.asarray(r["example"]) - fem).max()) for r in rows)
    for k, r in enumerate(rows):
        pred = np.asarray(r["example"])
        axes[1 + 2 * k].tripcolor(tri, pred, shading="gouraud", vmin=lo, vmax=hi)
        axes[1 + 2 * k].set_title(r["method"], fontsize=8)
        im = axes[2 + 2 * k].tripcolor(tri, pred - fem, shading="gouraud", cmap="RdBu_r", vmin=-err_max, vmax=err_max)
        axes[2 + 2 * k].set_title(f"{r['method']} - FEM", fontsize=8)
    fig.colorbar(im, ax=axes[-1], shrink=0.7)
    for a in axes:
        a.set_aspect("equal")
        a.set_xticks([])
        a.set_yticks([])
    names.append("wosno-example.png")
    with atomic_path(out / names[-1]) as tmp:
        FigureCanvasAgg(fig).print_png(str(tmp))
    return names


def report(results: dict[str, Any]) -> str:
    rows, c = results["rows"], results["config"]
    by = {r["method"]: r for r in rows}
    lines = ["# wos-no-poisson2d: WoS-NO against physics-informed and FEM-supervised training", "", f"{PAPER}.", "",
             f"Family: Lap u = f on stars r(t) = 1 + c1 cos 4t + c2 cos 8t (c1, c2 ~ U(-{c['c_max']:g}, {c['c_max']:g})), "
             "f = two Gaussian bumps (beta, mu ~ N(0, 1)), u = g = a Fourier series of degree 2 in the polar angle "
             f"(coefficients ~ U(-1, 1)); each instance meshed by gmsh (h = {c['mesh_h']:g}, "
             f"{results['points_per_instance'][0]} vertices in the first), its P2 finite-element solution the truth. "
             f"{c['n_train']} training and {c['n_test']} test instances (held out, same family), "
             f"{c['epochs']} epochs = {c['epochs'] * c['n_train']} steps of one instance each for every method. "
             f"GINO (neuraloperator): latent grid {c['latent_res']}^2, FNO {c['layers']} layers x {c['hidden']} channels, "
             f"{c['modes']} modes, kernel radius {c['radius']:g}; Adam lr {c['lr']:g} cosine-annealed. "
             f"wos: {c['walks']} fresh walks per interior point per visit (eps {c['eps']:g}), running mean over visits, "
             f"relative L2 loss; pino: {c['interior_weight']:g} x mean (Lap u - f)^2 + {c['boundary_weight']:g} x "
             "mean (u - g)^2 with the Laplacian by autograd; fem: relative L2 to the FEM solution.", "",
             "| method | test rel. L2 (mean) | median | max | vs wos | s/step (training) | s/step (fresh process) | "
             "peak memory GiB | walk s | train s |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    wos = by.get("wos")
    for r in rows:
        t = r.get("timing", {})
        ratio = f"{r['rel_l2'] / wos['rel_l2']:.2f}x" if wos else "-"
        fresh = (f"{t['seconds_per_step']:.3g} | {t['peak_bytes'] / 2 ** 30:.2f}" if "seconds_per_step" in t
                 else f"{t.get('error', '-')} | -")
        lines.append(f"| {r['method']} | {r['rel_l2']:.4g} | {r['rel_l2_median']:.4g} | {r['rel_l2_max']:.4g} | {ratio} | "
                     f"{r['seconds_per_step']:.3g} | {fresh} | {r['walk_seconds']:.0f} | {r['seconds']:.0f} |")
    if wos:
        lines += ["", "Against the paper's claims (largest factors over its experiments):", "",
                  "| | ours | paper |", "|---|---|---|"]
        pino, fem = by.get("pino"), by.get("fem")
        if pino:
            lines.append(f"| L2 error, pino / wos | {pino['rel_l2'] / wos['rel_l2']:.2f}x | up to "
                         f"{PAPER_CLAIMS['l2_improvement_over_physics_informed_max']}x |")
            lines.append(f"| time per step, pino / wos | {pino['seconds_per_step'] / wos['seconds_per_step']:.2f}x | up to "
                         f"{PAPER_CLAIMS['training_speedup_max']}x |")
            tp, tw = pino.get("timing", {}), wos.get("timing", {})
            if "peak_bytes" in tp and "peak_bytes" in tw:
                step_p = tp["peak_bytes"] - tp.get("before_first_step_bytes", 0.0)
                step_w = tw["peak_bytes"] - tw.get("before_first_step_bytes", 0.0)
                lines.append(f"| peak memory, pino / wos ({tw.get('memory')}) | {tp['peak_bytes'] / tw['peak_bytes']:.2f}x "
                             f"(above the model's set-up: {step_p / max(step_w, 1.0):.2f}x) | up to "
                             f"{PAPER_CLAIMS['gpu_memory_reduction_max']}x (GPU) |")
        if fem:
            lines.append(f"| L2 error, wos / fem (supervised) | {wos['rel_l2'] / fem['rel_l2']:.2f}x | - |")
        hist = [h for h in wos["history"] if h.get("target_rel_l2") is not None]
        if hist:
            lines += ["", f"The wos targets themselves (running means, {hist[-1]['epoch'] * c['walks']} walks per point by "
                      f"the end) are {hist[-1]['target_rel_l2']:.3g} from FEM in relative L2 at the training instances' "
                      f"interior points; the operator fitted to them reaches {wos['rel_l2']:.3g} on unseen instances. "
                      f"Unfinished walks (closed at the cap {c['max_steps']}): {wos['unfinished_walks']}."]
    lines += [""] + [f"![{p}]({p})" for p in results["plots"]]
    lines += ["", f"Data generation {results['data_seconds']:.0f} s; run time {results['seconds']:.0f} s.", ""]
    return "\n".join(lines)


EXPERIMENT = Experiment(
    name="wos-no-poisson2d", paper=PAPER,
    claim="a neural operator trained against cheap walk-on-spheres estimates (10 walks per point, running mean) "
          "is several times more accurate than physics-informed training at equal steps, faster and lighter per step, "
          "and close to training on FEM solutions",
    reference=PAPER_CLAIMS, run=run, report=report)
