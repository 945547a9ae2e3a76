"""The precond-ood suite: learned preconditioners in and out of their training family, with and without the guard.

Two neural-pcg networks are trained at one size (the small scale of ``neural-pcg-diffusion2d``:
32x32, 96 systems, 12 epochs, one message-passing layer): ``narrow`` on the previous small-scale
family (GRF log-coefficient of contrast 1e3, ``tau = 3``) and ``wide`` on the current one (contrast
and ``tau`` drawn per system, :data:`WIDE`). Both are compared on held-out systems (other seeds)
of :data:`TEST_SETS`: the two training families at 1x and 4x the training unknowns, and three
families neither was trained on (a 64x64 grid with contrast 1e5-1e6 and a shorter correlation
length, a 3D 7-point grid, anisotropic P1 FEM). Every system is solved by
:func:`sciml.linalg.pcg` to ``||r|| <= 1e-8 ||b||`` with Jacobi, IC(0), AMG-RS, AMG-SA, the
learned factor, and the learned factor behind the guard (:func:`sciml.learned.guard`, fallback
IC(0), default steps; its check counted in set-up time), via :func:`sciml.learned.compare.compare_systems`.

A step study measures how long the guard's probes must be: per system and probe setting
(:data:`PROBES`: a fixed number of steps, or a minimum grown to a fraction of the predicted
iterations), the learned factor and each of IC(0), Jacobi, SSOR and AMG-RS are estimated
(:func:`sciml.linalg.estimate_condition`) and the estimate's choice is compared with the true PCG
iterations (pairs that differ by less than 10% do not count as errors either way). A last part
times the check on larger grids of the wide family (128^2, 181^2, 256^2), where the solves are longer.

Float64 on the CPU; torch uses the threads in force (``sciml --threads``; recorded).
"""

from __future__ import annotations

import contextlib
import logging
import math
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["run", "markdown", "TEST_SETS", "NARROW", "WIDE", "SETTINGS", "PROBES", "PREDICTORS"]

RTOL = 1e-8
NARROW = {"contrast": 1e3, "rhs": "normal"}  # the small scale of neural-pcg-diffusion2d before the wider family
WIDE_RANGES = {"contrast_range": [10.0, 1e4], "tau_range": [2.0, 12.0]}
WIDE = {**WIDE_RANGES, "rhs": "normal"}  # its small scale now (experiments/neural-pcg-diffusion2d/config.yaml)
METHODS = ("jacobi", "ic0", "amg-rs", "amg-sa", "learned", "guarded")
# probe settings of the step study: label -> (minimum steps, fraction of the predicted iterations)
PROBES = {"8": (8, 0.0), "16": (16, 0.0), "32": (32, 0.0), "16, 10%": (16, 0.10), "16, 15%": (16, 0.15),
          "16, 30%": (16, 0.30)}
STUDY_FALLBACKS = ("ic0", "jacobi", "ssor", "amg-rs")

# name: (pde, params, resolution relative to training ("x1", "x4") or absolute, kind, description)
TEST_SETS: dict[str, dict[str, Any]] = {
    "wide-1x": {"pde": "diffusion-systems", "params": WIDE, "size": 1, "family": "wide",
                "description": "2D diffusion, contrast 10-1e4 and tau 2-12 per system (the wide family), 1x"},
    "wide-4x": {"pde": "diffusion-systems", "params": WIDE, "size": 4, "family": "wide",
                "description": "the wide family at 4x the training unknowns"},
    "c1e3-1x": {"pde": "diffusion-systems", "params": NARROW, "size": 1, "family": "narrow",
                "description": "2D diffusion, contrast 1e3, tau 3 (the narrow family), 1x"},
    "c1e3-4x": {"pde": "diffusion-systems", "params": NARROW, "size": 4, "family": "narrow",
                "description": "the narrow family at 4x the training unknowns"},
    "high-contrast-4x": {"pde": "diffusion-systems", "size": 4, "family": None,
                         "params": {"contrast_range": [1e5, 1e6], "tau_range": [20.0, 30.0], "rhs": "normal"},
                         "description": "2D diffusion, contrast 1e5-1e6, tau 20-30 (shorter correlation), 4x"},
    "3d": {"pde": "diffusion-systems", "params": {"dim": 3, "contrast": 1e3, "rhs": "normal"}, "size": "3d",
           "family": None, "description": "3D diffusion, 7-point, contrast 1e3, about 4x the training unknowns"},
    "anisotropic": {"pde": "anisotropic-systems", "params": {"eps": 1e-2, "theta": "random"}, "size": 1,
                    "family": None, "description": "2D anisotropic P1 FEM, eps 1e-2, random angle, 1x"},
}
COST_METHODS = ("ic0", "learned", "guarded")  # the check's cost on larger in-family grids
SETTINGS = {
    "quick": {"res": 8, "n_train": 16, "n_val": 4, "n_test": 2, "cost_res": (16,), "cost_systems": 1,
              "train": {"epochs": 2, "batch_size": 8, "lr": 1e-2, "weight_decay": 0.0, "hidden": 8, "layers": 1,
                        "loss": "solution"}},
    "full": {"res": 32, "n_train": 96, "n_val": 8, "n_test": 6, "cost_res": (128, 181, 256), "cost_systems": 3,
             "train": {"epochs": 12, "batch_size": 8, "lr": 1e-2, "weight_decay": 0.0, "hidden": 16, "layers": 1,
                       "loss": "solution"}},
}


def _res(test: dict[str, Any], base: int) -> int:
    if test["size"] == "3d":
        return int(round((4 * base * base) ** (1 / 3)))  # about 4x the 2D training unknowns
    return int(round(base * math.sqrt(test["size"])))


def _train(name: str, params: dict[str, Any], settings: dict[str, Any], root: Path) -> tuple[Any, dict[str, Any]]:
    from sciml.data import generate_dataset
    from sciml.learned.neural_pcg import load
    from sciml.runs import train_model

    folder = root / name
    train = generate_dataset("diffusion-systems", folder / "train.h5", n=settings["n_train"], res=settings["res"],
                             seed=0, params=params)
    val = generate_dataset("diffusion-systems", folder / "val.h5", n=settings["n_val"], res=settings["res"], seed=1,
                           params=params)
    overrides = {**settings["train"], "device": "cpu", "seed": 0}
    tic = time.perf_counter()
    summary = train_model("neural-pcg", train, folder / "run", val_path=val, overrides=overrides, force=True,
                          show_progress=False)
    return load(folder / "run"), {"params": params, "res": settings["res"], "systems": settings["n_train"],
                                  "overrides": overrides, "seconds": time.perf_counter() - tic,
                                  "best": summary["best"]}


# the step study's rankings: ours (the rate over the last two thirds, extended), and two it was chosen over
PREDICTORS = {"predicted": "rate over the last two thirds (the guard's)",
              "condition_predicted": "Ritz condition number, 0.5 sqrt(kappa) ln(2 / rtol)",
              "average_rate_predicted": "average rate over the whole probe"}


def _alternatives(e: Any) -> tuple[float, float]:
    """The iterations two other rules would predict from the same probe (exact when the probe converged)."""
    if e.status.value == "converged":
        return float(e.steps), float(e.steps)
    if not e.spd:
        return math.inf, math.inf
    condition = 0.5 * math.sqrt(e.condition) * math.log(2 / RTOL)
    average = e.steps * math.log(RTOL) / math.log(e.residual_reduction) if e.residual_reduction < 1 else math.inf
    return condition, average


def _step_study(model: Any, systems: list[tuple[Any, np.ndarray]]) -> list[dict[str, Any]]:
    """Per system: true PCG iterations and, per probe setting, what each preconditioner's probe predicts."""
    from sciml.learned.neural_pcg import LearnedPreconditioner
    from sciml.linalg import estimate_condition, pcg, preconditioner

    out = []
    for A, b in systems:
        built = {"learned": LearnedPreconditioner(model, A)}
        built.update({name: preconditioner(name, A) for name in STUDY_FALLBACKS})
        b_t = torch.from_numpy(b)
        row: dict[str, Any] = {"n": A.shape[0], "true": {}, "probe_steps": {}, "probe_seconds": {},
                               "lambda_max": {}, **{key: {} for key in PREDICTORS}}
        for name, M in built.items():
            row["true"][name] = int(pcg(A, b_t, M, rtol=RTOL).iterations)
            estimates = {label: estimate_condition(A, M, steps=steps, fraction=fraction, rtol=RTOL)
                         for label, (steps, fraction) in PROBES.items()}
            alternatives = {label: _alternatives(e) for label, e in estimates.items()}
            row["predicted"][name] = {label: e.predicted_iterations for label, e in estimates.items()}
            row["condition_predicted"][name] = {label: a[0] for label, a in alternatives.items()}
            row["average_rate_predicted"][name] = {label: a[1] for label, a in alternatives.items()}
            row["lambda_max"][name] = {label: e.lambda_max for label, e in estimates.items()}
            row["probe_steps"][name] = {label: e.steps for label, e in estimates.items()}
            row["probe_seconds"][name] = {label: e.seconds for label, e in estimates.items()}
        out.append(row)
    return out


def _ranking(rows: list[dict[str, Any]], k: str, key: str) -> dict[str, Any]:
    """Pairs (learned vs each fallback) whose true iterations differ by >= 10% that ``key``'s predictions order
    right, overall and against IC(0), and the iterations of the chosen over the better one (every pair)."""
    clear = right = ic0_clear = ic0_right = 0
    chosen = best = 0.0
    wrong = []
    for row in rows:
        learned_true, learned_pred = row["true"]["learned"], row[key]["learned"][k]
        for name in STUDY_FALLBACKS:
            other_true, other_pred = row["true"][name], row[key][name][k]
            pick_learned = learned_pred <= other_pred
            best += min(learned_true, other_true)
            chosen += learned_true if pick_learned else other_true
            if abs(learned_true - other_true) >= 0.1 * min(learned_true, other_true):
                ok = pick_learned == (learned_true < other_true)
                clear, right = clear + 1, right + ok
                if name == "ic0":
                    ic0_clear, ic0_right = ic0_clear + 1, ic0_right + ok
                if not ok:
                    wrong.append({"set": row.get("set"), "n": row["n"], "fallback": name,
                                  "true": [learned_true, other_true], "predicted": [learned_pred, other_pred]})
    return {"clear_pairs": clear, "right": right, "clear_pairs_vs_ic0": ic0_clear, "right_vs_ic0": ic0_right,
            "chosen_over_best_iterations": chosen / best if best else math.nan, "wrong": wrong}


def _study_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per probe setting: the ranking of each predictor (:func:`_ranking`), the log error of the guard's
    predictions, and the probes' length and time."""
    out = {}
    for k in PROBES:
        errors = []
        for row in rows:
            for name in ("learned",) + STUDY_FALLBACKS:
                true, pred = row["true"][name], row["predicted"][name][k]
                if true > row["probe_steps"][name][k] + 2 and math.isfinite(pred):  # a converged probe is exact
                    errors.append(math.log(pred / true))
        out[k] = {**_ranking(rows, k, "predicted"),
                  "alternatives": {key: _ranking(rows, k, key) for key in PREDICTORS if key != "predicted"},
                  "prediction_log_error_mean": float(np.mean(errors)) if errors else math.nan,
                  "prediction_log_error_sd": float(np.std(errors)) if errors else math.nan,
                  "median_probe_s_learned": float(np.median([row["probe_seconds"]["learned"][k] for row in rows])),
                  "median_probe_s_ic0": float(np.median([row["probe_seconds"]["ic0"][k] for row in rows])),
                  "max_probe_steps_learned": int(max(row["probe_steps"]["learned"][k] for row in rows)),
                  "probe_steps_over_learned_iterations": float(np.median(
                      [row["probe_steps"]["learned"][k] / row["true"]["learned"] for row in rows]))}
    return out


def _guard_summary(solves: dict[str, list[Any]]) -> dict[str, Any]:
    """What the guard did on each system, and what it cost next to the learned factor and IC(0) alone."""
    guarded, learned, ic0 = solves["guarded"], solves["learned"], solves["ic0"]
    decisions = [s.guard["decision"] for s in guarded]
    oracle_its = [min(a.iterations, b.iterations) for a, b in zip(learned, ic0)]
    per_system = [{"decision": s.guard["decision"], "iterations": s.iterations, "learned_iterations": a.iterations,
                   "ic0_iterations": b.iterations, "learned_predicted": s.guard["learned"]["predicted_iterations"],
                   "ic0_predicted": s.guard["fallback_estimate"]["predicted_iterations"],
                   "check_s": s.guard["seconds"], "total_s": s.total_s}
                  for s, a, b in zip(guarded, learned, ic0)]
    return {"fallbacks": decisions.count("fallback"), "kept": decisions.count("learned"), "systems": len(guarded),
            "mean_iterations_guarded": float(np.mean([s.iterations for s in guarded])),
            "mean_iterations_better_of_learned_and_ic0": float(np.mean(oracle_its)),
            "median_check_s": float(np.median([s.guard["seconds"] for s in guarded])),
            "guarded_over_learned_time": float(np.median([s.total_s for s in guarded]) /
                                               np.median([s.total_s for s in learned])),
            "guarded_over_ic0_time": float(np.median([s.total_s for s in guarded]) /
                                           np.median([s.total_s for s in ic0])),
            "per_system": per_system}


@contextlib.contextmanager
def _quiet_guard():
    """The guard warns on every fallback; here each decision is recorded in the results instead."""
    logger = logging.getLogger("sciml.learned")
    before = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(before)


def _json_ready(value: Any) -> Any:
    """Non-finite numbers (a probe that predicts no convergence) as ``None``, so the JSON is strict."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    return value


def run(*, quick: bool = False, workdir: Path | None = None) -> dict[str, Any]:
    """Run the suite; returns the JSON-ready results (non-finite numbers as ``None``)."""
    with _quiet_guard():
        return _json_ready(_run(quick, workdir))


def _run(quick: bool, workdir: Path | None) -> dict[str, Any]:
    from sciml.data import generate_dataset
    from sciml.learned.compare import compare_systems, load_test_systems, ratios, summarize
    from sciml.linalg.estimate import DEFAULT_STEPS

    settings = SETTINGS["quick" if quick else "full"]
    if workdir is not None:
        Path(workdir).mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    models, training, sets, systems = {}, {}, {}, {}
    with tempfile.TemporaryDirectory(dir=workdir, prefix="precond-ood-") as tmp:
        root = Path(tmp)
        for name, params in (("narrow", NARROW), ("wide", WIDE)):
            models[name], training[name] = _train(name, params, settings, root)
        for offset, (name, test) in enumerate(TEST_SETS.items()):
            res = _res(test, settings["res"])
            path = generate_dataset(test["pde"], root / "tests" / f"{name}.h5", n=settings["n_test"], res=res,
                                    seed=100 + offset, params=test["params"])
            systems[name] = load_test_systems(path)
            sets[name] = {**test, "res": res, "n": int(np.mean([A.shape[0] for A, _ in systems[name]])),
                          "systems": len(systems[name])}
        cost_systems = {res: load_test_systems(generate_dataset(
            "diffusion-systems", root / "tests" / f"cost{res}.h5", n=settings["cost_systems"], res=res,
            seed=200 + res, params=WIDE)) for res in settings["cost_res"]}
    results: dict[str, Any] = {}
    study_rows: list[dict[str, Any]] = []
    for model_name, model in models.items():
        results[model_name] = {}
        for set_name, set_systems in systems.items():
            solves = compare_systems(set_systems, model=model, methods=METHODS, rtol=RTOL)
            table = summarize(solves)
            results[model_name][set_name] = {
                "in_family": TEST_SETS[set_name]["family"] == model_name or (
                    model_name == "wide" and TEST_SETS[set_name]["family"] == "narrow"),
                "table": table, "ratios": ratios(table), "guard": _guard_summary(solves)}
            if model_name == "wide":
                study = _step_study(model, set_systems)
                for row in study:
                    row["set"] = set_name
                study_rows += study
    cost = []
    for res, cost_set in cost_systems.items():
        solves = compare_systems(cost_set, model=models["wide"], methods=COST_METHODS, rtol=RTOL)
        rows = {row["method"]: row for row in summarize(solves)}
        checks = [s.guard["seconds"] for s in solves["guarded"]]
        study = _step_study(models["wide"], cost_set)
        for row in study:
            row["set"] = f"cost{res}"
        study_rows += study
        cost.append({"res": res, "n": res * res, "systems": len(cost_set), "table": list(rows.values()),
                     "decisions": [s.guard["decision"] for s in solves["guarded"]],
                     "median_check_s": float(np.median(checks)),
                     "check_over_learned_total": float(np.median(checks)) / rows["learned"]["median_total_s"]})
    return {"rtol": RTOL, "settings": settings, "methods": list(METHODS), "guard_steps": DEFAULT_STEPS,
            "guard_fallback": "ic0", "threads": {"torch": torch.get_num_threads()}, "training": training,
            "test_sets": sets, "results": results,
            "step_study": {"model": "wide", "probes": {k: list(v) for k, v in PROBES.items()},
                           "fallbacks": list(STUDY_FALLBACKS),
                           "by_steps": _study_summary(study_rows), "per_system": study_rows},
            "cost": cost, "seconds": time.perf_counter() - started, "summary": _summary(results)}


def _summary(results: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for model_name, by_set in results.items():
        for set_name, r in by_set.items():
            rows = {row["method"]: row for row in r["table"]}
            out[f"{model_name}/{set_name}"] = {
                "in_family": r["in_family"],
                "iterations": {m: rows[m]["mean_iterations"] for m in METHODS},
                "total_ms": {m: 1e3 * rows[m]["median_total_s"] for m in METHODS},
                "guard_fallbacks": f"{r['guard']['fallbacks']}/{r['guard']['systems']}"}
    return out


def markdown(result: dict[str, Any]) -> str:
    """The tables of docs/learned-preconditioners.md from a result of :func:`run` (or its JSON)."""
    from sciml.learned.compare import LABELS

    lines = ["Mean iterations / median time to solution in ms (set-up + solve; the guard's check is set-up), "
             f"{result['settings']['n_test']} held-out systems per set, rtol {result['rtol']:g}:", ""]
    header = "| network | test set | n | family | " + " | ".join(LABELS[m] for m in result["methods"]) + \
             " | guard fell back |"
    lines += [header, "|---" * (header.count("|") - 1) + "|"]
    for model, by_set in result["results"].items():
        for name, r in by_set.items():
            rows = {row["method"]: row for row in r["table"]}
            cells = [f"{rows[m]['mean_iterations']:.1f} / {1e3 * rows[m]['median_total_s']:.1f}"
                     for m in result["methods"]]
            lines.append(f"| {model} | {name} | {result['test_sets'][name]['n']} | "
                         f"{'in' if r['in_family'] else 'out'} | " + " | ".join(cells) +
                         f" | {r['guard']['fallbacks']}/{r['guard']['systems']} |")
    study = result["step_study"]
    lines += ["", f"Probe length (the {study['model']} network against {', '.join(study['fallbacks'])} on every "
                  "system above and on the larger grids below; a pair counts when the true iterations differ by 10% "
                  "or more; probe: minimum steps, fraction of the predicted iterations):", "",
              "| probe | right (all pairs) | right (vs IC(0)) | iterations chosen / better | log(predicted / true) "
              "| probe steps / learned iterations | longest probe | probe ms, learned | probe ms, IC(0) |",
              "|---|---|---|---|---|---|---|---|---|"]
    for k, s in study["by_steps"].items():
        lines.append(f"| {k} | {s['right']}/{s['clear_pairs']} | {s['right_vs_ic0']}/{s['clear_pairs_vs_ic0']} | "
                     f"{s['chosen_over_best_iterations']:.3f} | {s['prediction_log_error_mean']:+.2f} +- "
                     f"{s['prediction_log_error_sd']:.2f} | {s['probe_steps_over_learned_iterations']:.2f} | "
                     f"{s['max_probe_steps_learned']} | {1e3 * s['median_probe_s_learned']:.2f} | "
                     f"{1e3 * s['median_probe_s_ic0']:.2f} |")
    lines += ["", "The same pairs ranked by other rules from the same probes (right of all pairs / of the pairs "
                  "against IC(0)):", "", "| probe | " + " | ".join(PREDICTORS.values()) + " |",
              "|---" * (len(PREDICTORS) + 1) + "|"]
    for k, s in study["by_steps"].items():
        cells = [s if key == "predicted" else s["alternatives"][key] for key in PREDICTORS]
        lines.append(f"| {k} | " + " | ".join(f"{c['right']}/{c['clear_pairs']}, {c['right_vs_ic0']}/"
                                             f"{c['clear_pairs_vs_ic0']}" for c in cells) + " |")
    lines += ["", "The check's cost on larger grids of the wide family (wide network):", "",
              "| n | IC(0) | learned L L^T | learned + guard | decisions | check ms | check / learned total |",
              "|---|---|---|---|---|---|---|"]
    for c in result["cost"]:
        rows = {row["method"]: row for row in c["table"]}
        cells = [f"{rows[m]['mean_iterations']:.1f} / {1e3 * rows[m]['median_total_s']:.1f}" for m in COST_METHODS]
        lines.append(f"| {c['n']} | " + " | ".join(cells) + f" | {', '.join(c['decisions'])} | "
                     f"{1e3 * c['median_check_s']:.1f} | {c['check_over_learned_total']:.2f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # python -m sciml.bench.precond_ood RESULT.json: print the tables
    import json
    import sys

    print(markdown(json.loads(Path(sys.argv[1]).read_text())), end="")
