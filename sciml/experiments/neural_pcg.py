"""``neural-pcg-diffusion2d`` and ``neural-pcg-heat-mesh``: a learned ``L L^T`` preconditioner for CG.

Li, Chen, Du, Matusik, arXiv 2305.16432: a graph network on the matrix graph predicts a lower
triangular ``L`` with the sparsity of ``tril(A)``; ``P = L L^T`` preconditions CG. Trained on one
family of systems, it is compared on held-out systems of that family with no preconditioner,
Jacobi, IC(0) and pyamg's Ruge-Stuben and smoothed-aggregation AMG, at the training size and at 2x
and 4x the unknowns (:mod:`sciml.learned.compare`). Network inference counts as set-up time.

* ``neural-pcg-diffusion2d``: ``-div(a grad u) = f`` on the unit square (5-point stencil), ``log a``
  a Gaussian random field scaled to the contrast ``max a / min a`` of the scale's settings
  (``diffusion-systems``).
* ``neural-pcg-heat-mesh``: one implicit (backward Euler) heat step ``(M + dt K) u = M u_old`` per
  system, FEM on unstructured gmsh meshes of varied shapes (``heat-mesh-systems``). Trained with
  the condition loss (the exact log condition number of ``L^-1 A L^-T``; Frobenius at paper scale,
  whose systems are too large for it): the right-hand sides ``M u_old`` are smooth, and the solution
  loss ``||L L^T x - b||`` on them only constrains ``P`` on smooth vectors (72 iterations against
  IC(0)'s 25 on held-out systems at small scale); the Frobenius and probe-solution losses, which
  probe all directions, stay at 1.1x IC(0)'s iterations; the condition loss goes below IC(0).

The run directory is itself a ``neural-pcg`` training run (``best.pt``, ``model.pt``,
``config.yaml``, ``metrics.jsonl``), so ``sciml solve MATRIX --precond RUN_DIR`` and
:func:`sciml.learned.preconditioner_from_run` use the trained network directly. The paper's
numbers are not recorded here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sciml._errors import SciMLError
from sciml.experiments import Experiment, experiment_data

__all__ = ["DIFFUSION2D", "HEAT_MESH", "FACTORS", "RTOL"]

FACTORS = (1, 2, 4)  # held-out unknowns relative to training
RTOL = 1e-8
PAPER = "Li, Chen, Du, Matusik: Learning Preconditioners for Conjugate Gradient PDE Solvers, arXiv 2305.16432"
RUN_FILES = ("checkpoint.pt", "config.yaml", "metrics.jsonl")


_LOSSES = {"solution": "solution (Li et al.: ||L L^T x - b||^2 / ||b||^2)",
           "frobenius": "Frobenius (NeuralIF: ||(L L^T - A) z||^2 / ||A||_F^2, z ~ N(0, I))",
           "probe-solution": "probe-solution (||L L^T A^-1 z - z||^2 / ||z||^2, z ~ N(0, I), A^-1 z solved directly)",
           "condition": "condition (log(lambda_max / lambda_min) of L^-1 A L^-T, exact, dense)"}


def _res_for(res: int, factor: int) -> int:
    return int(round(res * factor ** 0.5))  # both families are 2D: unknowns ~ res^2


def _run(name: str, out: Path, size: dict[str, Any], device: str) -> dict[str, Any]:
    from sciml.data.pdes import PDES
    from sciml.learned.compare import compare_sizes, convergence_plot, where_amg_wins
    from sciml.learned.neural_pcg import load
    from sciml.runs import train_model

    if size["pde"] not in PDES:
        raise SciMLError(f"{name} needs the {size['pde']!r} system generator, which this sciml does not have yet; "
                         f"available generators: {', '.join(PDES)}")
    out = Path(out)
    rerun = (out / "results.json").exists()  # run_experiment refuses that without force
    if not rerun and any((out / f).exists() for f in RUN_FILES):
        raise SciMLError(f"{out} holds a training run but no results (an interrupted reproduce, or another run); "
                         f"remove it or choose another --out")
    data = {"train": experiment_data(out, "train", size["pde"], n=size["n_train"], res=size["res"], seed=0,
                                     params=size["params"]),
            "val": experiment_data(out, "val", size["pde"], n=size["n_val"], res=size["res"], seed=1,
                                   params=size["params"])}
    tests = {factor: experiment_data(out, f"test{factor}x", size["pde"], n=size["n_test"],
                                     res=_res_for(size["res"], factor), seed=10 + factor, params=size["params"])
             for factor in FACTORS}
    # the experiment's directory is itself the training run, so that it can serve as --precond RUN_DIR
    overrides = {**size["train"], "device": device, "seed": 0}
    # force: beside the data/ folder (a run here was refused above unless its results are being redone)
    summary = train_model("neural-pcg", data["train"], out, val_path=data["val"], overrides=overrides, force=True,
                          show_progress=False)
    model = load(out)
    compared = compare_sizes(model, tests, rtol=RTOL, device="cpu", histories_of=(1, FACTORS[-1]))
    figures = []
    for factor, histories in compared["histories"].items():
        figure = f"convergence-{factor}x.png"
        convergence_plot(histories, out / figure, rtol=RTOL,
                         title=f"{name}: first held-out system at {factor}x the training unknowns "
                               f"(n = {histories['learned']['n']})")
        figures.append(figure)
    for size_entry in compared["sizes"]:
        size_entry["res"] = _res_for(size["res"], size_entry["factor"])
    return {"sizes": size, "factors": list(FACTORS), "rtol": RTOL,
            "training": {"epochs": summary["epochs"], "best": summary["best"],
                         "final_train_loss": summary["last"].get("train_loss"),
                         "seconds": summary["seconds_this_session"], "loss": _LOSSES[size["train"]["loss"]]},
            "comparison": compared["sizes"], "growth": compared["growth"], "histories": compared["histories"],
            "where_amg_wins": where_amg_wins(compared["sizes"]), "figures": figures}


def report(r: dict[str, Any]) -> str:
    from sciml.learned.compare import LABELS, markdown_table

    s, t = r["sizes"], r["training"]
    lines = [f"# {r['experiment']} ({r['scale']} scale)", "", f"Paper: {r['paper']}.", "", f"Claim: {r['claim']}", "",
             f"Systems: `{s['pde']}` with {s['params'] or 'the generator defaults'}; trained at res {s['res']} on "
             f"{s['n_train']} systems ({s['n_val']} for validation), {t['epochs']} epochs, loss {t['loss']}, best "
             f"val loss {t['best']['value']:.4g} at epoch {t['best']['epoch']}, {t['seconds']:.1f} s of training. "
             f"Held-out systems (other seeds): {s['n_test']} per size. PCG stops at ||r|| <= {r['rtol']:g} ||b||; "
             f"float64 on the CPU with {r['machine']['threads']} torch thread(s). Iterations are means, times "
             "medians over the systems; set-up includes network inference for the learned factor; total = "
             "set-up + solve.", ""]
    for size in r["comparison"]:
        lines += [f"## {size['factor']}x the training unknowns (res {size['res']}, mean n = {size['mean_n']:.0f})", ""]
        lines += markdown_table(size["table"])
        q = size["ratios"]
        lines += ["", f"Learned / IC(0): {q['learned_over_ic0_iterations']:.2f}x the iterations, "
                      f"{q['learned_over_ic0_time']:.2f}x the time to solution; learned / AMG-RS time: "
                      f"{q['learned_over_amg_rs_time']:.2f}x.", ""]
    factors = [f"{f}x" for f in r["factors"]]
    lines += ["## Generalisation: mean iterations at each size", "",
              "| method | " + " | ".join(factors) + " | growth 4x/1x | exponent p (its ~ n^p) |",
              "|---|" + "---|" * (len(factors) + 2)]
    for method, g in r["growth"].items():
        lines.append(f"| {LABELS.get(method, method)} | " + " | ".join(f"{v:.1f}" for v in g["iterations"]) +
                     f" | {g['relative_to_first'][-1]:.2f} | {g['exponent']:.2f} |")
    lines += ["", "## Where AMG wins", "", r["where_amg_wins"], ""]
    for figure in r["figures"]:
        lines += [f"![convergence]({figure})", ""]
    lines += ["Left: relative residual against iteration; right: against wall-clock time since set-up began "
              "(the first point of each curve sits at the end of its set-up).", "",
              "This directory is itself the trained preconditioner: `sciml solve A.npz --precond DIR`, "
              "`sciml.learned.preconditioner_from_run(DIR, A)`, `sciml eval DIR --data TEST.h5`.", "",
              f"Run time {r['seconds']:.1f} s; reproduce with `sciml reproduce {r['experiment']} --scale {r['scale']} "
              f"--out DIR`. The paper's numbers were not available here; timings on a shared CPU are noisy.", ""]
    return "\n".join(lines)


def _experiment(name: str, claim: str) -> Experiment:
    return Experiment(name=name, paper=PAPER, claim=claim, reference={},
                      run=lambda out, size, device: _run(name, out, size, device), report=report)


DIFFUSION2D = _experiment(
    "neural-pcg-diffusion2d",
    "a GNN-predicted L L^T preconditioner needs fewer CG iterations than IC(0) and reaches the solution sooner "
    "on held-out 2D diffusion systems with a GRF coefficient, and keeps that advantage on larger grids")
HEAT_MESH = _experiment(
    "neural-pcg-heat-mesh",
    "a GNN-predicted L L^T preconditioner needs fewer CG iterations than IC(0) and reaches the solution sooner "
    "on held-out implicit heat-step systems on unstructured meshes, including finer meshes than trained on")
