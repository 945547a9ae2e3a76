"""``relax-sor-sequence``: choosing the SOR relaxation factor online over a sequence of systems.

Khodak et al., "Learning to Relax", arXiv 2310.02246: over a sequence of shifted Laplacians
``L + c_t I``, a bandit that sees only iteration counts (Tsallis-INF over 20 values of ``omega`` in
[1, 1.95]) approaches the best fixed ``omega`` in hindsight, and a contextual learner that also sees
``c_t`` approaches the instance-optimal ``omega``. The paper's numbers are not recorded here; the
experiment reports our totals against both baselines and the regret curves, on our sequences (shifts
``c ~ U[0, d]`` and log-uniform) and on the paper's own sequence (10x10 grid, ``c = -0.15 + 0.6 Beta(0.5,
1.5)`` at diagonal 4, rtol 1e-8), each bandit row over 20 bandit seeds replayed on one cost table. Next
to the paper's Tsallis-INF it runs our unimodal Thompson sampling (:func:`sciml.learned.tune_omega_unimodal`),
which uses the ordering of the arms.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from sciml.experiments import Experiment

__all__ = ["EXPERIMENT"]

# the sequence of Khodak et al.'s released scripts: 10x10 grid, c = -0.15 + 0.6 Beta(0.5, 1.5) at diagonal 4
# (shift_range in units of the diagonal), SOR to 1e-8; their cap of 10000 sweeps is never reached
PAPER_SEQUENCE = {"m": 10, "shift_range": (-0.15 / 4, 0.45 / 4), "distribution": "beta", "beta": (0.5, 1.5)}
PAPER_SOR = {"method": "sor", "rtol": 1e-8, "maxiter": 10000}
SEEDS = tuple(range(20))  # bandit seeds replayed on each sequence
GOAL = 1.10  # the goal: total iterations within 10% of the best fixed omega over 1000 systems


def _plot(out: Path, bandit, plain, unimodal, contextual) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from sciml.io import atomic_path

    fig = Figure(figsize=(11, 3.8), layout="constrained")
    left, right = fig.subplots(1, 2)
    t = np.arange(1, len(bandit.costs) + 1)
    left.plot(t, bandit.regret_vs_best_fixed, label="Tsallis-INF vs best fixed (uniform c)")
    left.plot(t, plain.regret_vs_best_fixed, ":", label="plain Tsallis-INF (cost/maxiter) vs best fixed (uniform c)")
    left.plot(t, unimodal.regret_vs_best_fixed, label="unimodal Thompson vs best fixed (uniform c)")
    left.plot(t, contextual.regret_vs_best_fixed, label="contextual vs best fixed (log-uniform c)")
    left.plot(t, bandit.regret_vs_instance_optimal, "--", label="Tsallis-INF vs instance-optimal (uniform c)")
    left.plot(t, contextual.regret_vs_instance_optimal, "--", label="contextual vs instance-optimal (log-uniform c)")
    left.axhline(0, color="k", lw=0.5)
    left.set_xlabel("system")
    left.set_ylabel("cumulative regret (iterations)")
    left.legend(fontsize=7)
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


def run(out: Path, size: dict[str, Any], device: str) -> dict[str, Any]:
    from sciml.learned.relax import (shifted_laplacian_sequence, tune_omega, tune_omega_contextual,
                                     tune_omega_unimodal)

    settings = {"method": "sor", "rtol": size["rtol"], "maxiter": size["maxiter"]}
    plain_learner = {"estimator": "importance-weighted", "scale": "unit"}  # Tsallis-INF on cost / maxiter
    uniform = shifted_laplacian_sequence(size["m"], size["systems"], shift_range=(0.0, 1.0), seed=0)
    spread = shifted_laplacian_sequence(size["m"], size["systems"], shift_range=(1e-3, 1.0),
                                        distribution="log-uniform", seed=1)
    paper = shifted_laplacian_sequence(n_systems=size["paper_systems"], seed=2, **PAPER_SEQUENCE)

    def seeds(systems, table, opts, tuner=tune_omega, **learner) -> list:
        """A learner with every seed, replayed on one ``(T, K)`` cost table of the sequence."""
        return [tuner(systems, seed=s, arm_costs=table, **opts, **learner) for s in SEEDS]

    uniform_table = tune_omega(uniform, seed=0, **settings).arm_costs  # solves every arm on every system once
    bandit, plain = seeds(uniform, uniform_table, settings), seeds(uniform, uniform_table, settings, **plain_learner)
    unimodal = seeds(uniform, uniform_table, settings, tune_omega_unimodal)
    contextual = tune_omega_contextual(spread, seed=0, **settings)
    contextual_bandit = seeds(spread, contextual.arm_costs, settings)
    spread_plain = seeds(spread, contextual.arm_costs, settings, **plain_learner)
    spread_unimodal = seeds(spread, contextual.arm_costs, settings, tune_omega_unimodal)
    paper_table = tune_omega(paper, seed=0, **PAPER_SOR).arm_costs
    paper_bandit = seeds(paper, paper_table, PAPER_SOR)
    paper_plain = seeds(paper, paper_table, PAPER_SOR, **plain_learner)
    paper_unimodal = seeds(paper, paper_table, PAPER_SOR, tune_omega_unimodal)
    figure = _plot(out, bandit[0], plain[0], unimodal[0], contextual)

    def totals(results) -> dict[str, Any]:
        result = results[0] if isinstance(results, list) else results
        entry = {"learner": result.total_cost, "best_fixed": result.best_fixed_cost,
                 "best_fixed_omega": result.best_fixed_omega, "instance_optimal": result.instance_optimal_cost,
                 "worst_fixed": result.worst_fixed_cost,
                 "ratio_to_best_fixed": result.total_cost / result.best_fixed_cost,
                 "ratio_to_instance_optimal": result.total_cost / result.instance_optimal_cost}
        # why 10% is hard at this length: what trying every arm once costs against the 10% allowance, and
        # how much one arm's cost varies from system to system against the gaps between arms
        means, spread = result.arm_costs.mean(axis=0), result.arm_costs.std(axis=0)
        entry["one_pull_each_over_allowance"] = float((means - means.min()).sum() / (0.1 * result.best_fixed_cost))
        entry["best_arm_cost_mean_std"] = [float(means[result.best_fixed_arm]), float(spread[result.best_fixed_arm])]
        if isinstance(results, list):
            ratios = np.array([r.total_cost / r.best_fixed_cost for r in results])
            entry.update({"seeds": list(SEEDS), "learner_per_seed": [r.total_cost for r in results],
                          "ratio_mean": float(ratios.mean()), "ratio_std": float(ratios.std()),
                          "ratio_min": float(ratios.min()), "ratio_max": float(ratios.max())})
        return entry

    return {"sizes": size, "paper_sequence": {**PAPER_SEQUENCE, **PAPER_SOR},
            "results": {"bandit_uniform_shift": totals(bandit),
                        "plain_bandit_uniform_shift": totals(plain),
                        "unimodal_uniform_shift": totals(unimodal),
                        "contextual_log_uniform_shift": totals(contextual),
                        "bandit_log_uniform_shift": totals(contextual_bandit),
                        "plain_bandit_log_uniform_shift": totals(spread_plain),
                        "unimodal_log_uniform_shift": totals(spread_unimodal),
                        "bandit_paper_sequence": totals(paper_bandit),
                        "plain_bandit_paper_sequence": totals(paper_plain),
                        "unimodal_paper_sequence": totals(paper_unimodal)},
            "figures": [figure]}


def report(r: dict[str, Any]) -> str:
    s, res, q = r["sizes"], r["results"], r["paper_sequence"]
    seeds = res["bandit_uniform_shift"]["seeds"]  # SEEDS: consecutive
    rows = [("Tsallis-INF, c ~ U[0, d]", "bandit_uniform_shift"),
            ("plain Tsallis-INF (cost / maxiter, importance-weighted), same sequence", "plain_bandit_uniform_shift"),
            ("unimodal Thompson sampling, same sequence", "unimodal_uniform_shift"),
            ("Tsallis-INF, log c ~ U[log 1e-3 d, log d]", "bandit_log_uniform_shift"),
            ("plain Tsallis-INF, same sequence", "plain_bandit_log_uniform_shift"),
            ("unimodal Thompson sampling, same sequence", "unimodal_log_uniform_shift"),
            ("contextual (Chebyshev regression on c), same sequence", "contextual_log_uniform_shift"),
            ("Tsallis-INF, the paper's sequence", "bandit_paper_sequence"),
            ("plain Tsallis-INF, the paper's sequence", "plain_bandit_paper_sequence"),
            ("unimodal Thompson sampling, the paper's sequence", "unimodal_paper_sequence")]
    lines = [f"# relax-sor-sequence ({r['scale']} scale)", "", f"Paper: {r['paper']}.", "", f"Claim: {r['claim']}", "",
             f"Setting: {s['systems']} systems `L + c I`, L the 5-point Laplacian on a {s['m']}x{s['m']} grid "
             f"(d = 4 (m+1)^2 its diagonal), b ~ N(0, I), SOR to rtol {s['rtol']} capped at {s['maxiter']} sweeps; "
             f"20 arms omega in [1, 1.95]. The paper's sequence (from the authors' released scripts): "
             f"{s['paper_systems']} systems on a {q['m']}x{q['m']} grid, c = -0.15 + 0.6 Beta({q['beta'][0]:g}, "
             f"{q['beta'][1]:g}) at diagonal 4 (c/d in [{q['shift_range'][0]:.4g}, {q['shift_range'][1]:.4g}]), SOR to "
             f"rtol {q['rtol']:g} capped at {q['maxiter']} sweeps. Costs are total SOR sweeps over the sequence.", "",
             "Tsallis-INF is the 1/2-Tsallis bandit on iteration counts divided by their running mean, with Zimmert and "
             "Seldin's reduced-variance estimator (baseline: the running mean, for arms with probability >= eta_t^2), "
             "eta_t = 2/sqrt(t); 'plain' is the importance-weighted estimator on cost / maxiter. Unimodal Thompson "
             "sampling compares only the empirical leader and its two neighbours on the omega grid (Student-t "
             "posterior samples of their mean costs), starting at the largest omega. Each bandit row is over bandit "
             f"seeds {seeds[0]}-{seeds[-1]} replayed on one sequence (the totals columns "
             "are seed 0).", "",
             "| learner | total (seed 0) | best fixed omega (value) | instance-optimal | worst fixed | ratio to best fixed "
             "(seed 0) | ratio over seeds: mean +- std [min, max] |", "|---|---|---|---|---|---|---|"]
    for label, key in rows:
        t = res[key]
        spread = (f"{t['ratio_mean']:.3f} +- {t['ratio_std']:.3f} [{t['ratio_min']:.3f}, {t['ratio_max']:.3f}]"
                  if "ratio_mean" in t else "-")
        lines.append(f"| {label} | {t['learner']} | {t['best_fixed']} ({t['best_fixed_omega']:.3f}) | "
                     f"{t['instance_optimal']} | {t['worst_fixed']} | {t['ratio_to_best_fixed']:.3f} | {spread} |")
    lines += ["", f"The issue's goal: a bandit total within 10% of the best fixed omega over 1000 systems (ratio <= "
              f"{GOAL:.2f}), judged here by the mean ratio over the bandit seeds of each sequence ({s['systems']} "
              f"systems at this scale):", ""]
    sequences = (("uniform", "uniform_shift"), ("log-uniform", "log_uniform_shift"), ("paper's", "paper_sequence"))
    for label, prefix in (("Tsallis-INF", "bandit"), ("unimodal Thompson sampling", "unimodal")):
        entries = [(sequence, res[f"{prefix}_{suffix}"]) for sequence, suffix in sequences]
        met = all(t["ratio_mean"] <= GOAL for _, t in entries)
        verdicts = "; ".join(f"{sequence} {t['ratio_mean']:.3f} (max {t['ratio_max']:.3f})" for sequence, t in entries)
        lines.append(f"- {label}: {'met' if met else 'not met'}: {verdicts}.")
    lines += ["", "Why Tsallis-INF, which treats the 20 arms as unrelated, falls short at this length: the regret "
              "allowed is 10% of the best fixed total; trying each arm once costs the given fraction of it, and the "
              "best arm's own cost varies from system to system by the given standard deviation (a bandit sees one "
              "arm per system, so it must average this noise away to tell arms apart whose mean costs differ by a "
              "few sweeps). The unimodal learner plays only the current leader and its neighbours:", ""]
    for label, key in (("c ~ U[0, d]", "bandit_uniform_shift"), ("log-uniform c", "bandit_log_uniform_shift"),
                       ("the paper's sequence", "bandit_paper_sequence")):
        t = res[key]
        mean, std = t["best_arm_cost_mean_std"]
        lines.append(f"- {label}: one pull of each arm = {t['one_pull_each_over_allowance']:.2f} of the allowance; "
                     f"best fixed omega {t['best_fixed_omega']:.2f} costs {mean:.1f} +- {std:.1f} sweeps per system.")
    lines += ["", "![regret](regret.png)", "",
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
