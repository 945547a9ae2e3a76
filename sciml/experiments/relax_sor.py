"""``relax-sor-sequence``: choosing the SOR relaxation factor online over a sequence of systems.

Khodak et al., "Learning to Relax", arXiv 2310.02246: over a sequence of shifted Laplacians
``L + c_t I``, a bandit that sees only iteration counts (Tsallis-INF over 20 values of ``omega`` in
[1, 1.95]) approaches the best fixed ``omega`` in hindsight, and a contextual learner that also sees
``c_t`` approaches the instance-optimal ``omega``. The paper's numbers are not recorded here; the
experiment reports our totals against both baselines and the regret curves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from sciml.experiments import Experiment

__all__ = ["EXPERIMENT", "SIZES"]

# grid m, systems T, SOR tolerance, iteration cap
SIZES = {"smoke": {"m": 6, "systems": 60, "rtol": 1e-6, "maxiter": 60},
         "small": {"m": 10, "systems": 1000, "rtol": 1e-6, "maxiter": 120},
         "paper": {"m": 32, "systems": 5000, "rtol": 1e-8, "maxiter": 2000}}


def _plot(out: Path, bandit, contextual) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from sciml.io import atomic_path

    fig = Figure(figsize=(11, 3.8), layout="constrained")
    left, right = fig.subplots(1, 2)
    t = np.arange(1, len(bandit.costs) + 1)
    left.plot(t, bandit.regret_vs_best_fixed, label="Tsallis-INF vs best fixed")
    left.plot(t, contextual.regret_vs_best_fixed, label="contextual vs best fixed")
    left.plot(t, bandit.regret_vs_instance_optimal, "--", label="Tsallis-INF vs instance-optimal")
    left.plot(t, contextual.regret_vs_instance_optimal, "--", label="contextual vs instance-optimal")
    left.axhline(0, color="k", lw=0.5)
    left.set_xlabel("system")
    left.set_ylabel("cumulative regret (iterations)")
    left.legend(fontsize=8)
    right.scatter(contextual.features, contextual.instance_optimal_omegas, s=6, label="instance-optimal")
    right.scatter(contextual.features, contextual.chosen_omegas, s=6, alpha=0.5, label="contextual choice")
    right.axhline(contextual.best_fixed_omega, color="k", lw=0.8, label="best fixed omega (this sequence)")
    right.set_xscale("log")
    right.set_xlabel("diagonal shift c")
    right.set_ylabel("omega")
    right.legend(fontsize=8)
    name = "regret.png"
    with atomic_path(out / name) as tmp:
        FigureCanvasAgg(fig).print_png(str(tmp))
    return name


def run(out: Path, scale: str, device: str) -> dict[str, Any]:
    from sciml.learned.relax import shifted_laplacian_sequence, tune_omega, tune_omega_contextual

    size = SIZES[scale]
    settings = {"method": "sor", "rtol": size["rtol"], "maxiter": size["maxiter"]}
    uniform = shifted_laplacian_sequence(size["m"], size["systems"], shift_range=(0.0, 1.0), seed=0)
    spread = shifted_laplacian_sequence(size["m"], size["systems"], shift_range=(1e-3, 1.0),
                                        distribution="log-uniform", seed=1)
    bandit = tune_omega(uniform, seed=0, **settings)
    contextual = tune_omega_contextual(spread, seed=0, **settings)
    contextual_bandit = tune_omega(spread, seed=0, **settings)
    figure = _plot(out, bandit, contextual)

    def totals(result) -> dict[str, Any]:
        return {"learner": result.total_cost, "best_fixed": result.best_fixed_cost,
                "best_fixed_omega": result.best_fixed_omega, "instance_optimal": result.instance_optimal_cost,
                "worst_fixed": result.worst_fixed_cost,
                "ratio_to_best_fixed": result.total_cost / result.best_fixed_cost,
                "ratio_to_instance_optimal": result.total_cost / result.instance_optimal_cost}

    return {"sizes": size, "results": {"bandit_uniform_shift": totals(bandit),
                                       "contextual_log_uniform_shift": totals(contextual),
                                       "bandit_log_uniform_shift": totals(contextual_bandit)},
            "figures": [figure]}


def report(r: dict[str, Any]) -> str:
    s = r["sizes"]
    rows = [("Tsallis-INF, c ~ U[0, d]", r["results"]["bandit_uniform_shift"]),
            ("Tsallis-INF, log c ~ U[log 1e-3 d, log d]", r["results"]["bandit_log_uniform_shift"]),
            ("contextual (Chebyshev regression on c), same sequence", r["results"]["contextual_log_uniform_shift"])]
    lines = [f"# relax-sor-sequence ({r['scale']} scale)", "", f"Paper: {r['paper']}.", "", f"Claim: {r['claim']}", "",
             f"Setting: {s['systems']} systems `L + c I`, L the 5-point Laplacian on a {s['m']}x{s['m']} grid "
             f"(d = 4 (m+1)^2 its diagonal), b ~ N(0, I), SOR to rtol {s['rtol']} capped at {s['maxiter']} sweeps; "
             "20 arms omega in [1, 1.95]. Costs are total SOR sweeps over the sequence.", "",
             "| learner | total | best fixed omega (value) | instance-optimal | worst fixed | ratio to best fixed |"
             " ratio to instance-optimal |", "|---|---|---|---|---|---|---|"]
    for label, t in rows:
        lines.append(f"| {label} | {t['learner']} | {t['best_fixed']} ({t['best_fixed_omega']:.3f}) | "
                     f"{t['instance_optimal']} | {t['worst_fixed']} | {t['ratio_to_best_fixed']:.3f} | "
                     f"{t['ratio_to_instance_optimal']:.3f} |")
    lines += ["", "The paper's numbers were not available; the issue's goal is a bandit total within 10% of the best "
              "fixed omega over 1000 systems.", "", "![regret](regret.png)", "",
              f"Run time {r['seconds']:.1f} s; reproduce with `sciml reproduce relax-sor-sequence --scale {r['scale']} "
              f"--out DIR`.", ""]
    return "\n".join(lines)


EXPERIMENT = Experiment(
    name="relax-sor-sequence",
    paper="Khodak, Chow, Balcan, Talwalkar: Learning to Relax, arXiv 2310.02246",
    claim="a bandit choosing omega from iteration counts alone approaches the best fixed omega in hindsight; "
          "a contextual learner using the diagonal shift approaches the instance-optimal omega",
    reference={},
    run=run,
    report=report,
)
