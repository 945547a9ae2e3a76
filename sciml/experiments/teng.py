"""``teng-heat``, ``teng-allen-cahn``, ``teng-burgers``: TENG-Euler and TENG-Heun against TDVP and a PINN
(arXiv 2404.10771).

One initial fit of ``u0`` (shared by every method of a run, as the authors share theirs), then each method
integrates to ``t_final``: TENG-Euler, TENG-Heun, TDVP (RK4, :mod:`sciml.teng.baselines`), checkpointed per
step in the run directory (an interrupted run resumes at its last step; a method whose results file was made
with the same settings is not run again); the space-time PINN trains for TENG-Heun's wall time. Errors:
relative L2 on a uniform grid against the exact (heat) or pseudo-spectral reference, beside each scheme's
time-discretisation floor.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from sciml.experiments import Experiment

__all__ = ["HEAT", "ALLEN_CAHN", "BURGERS"]

PAPER = "Chen, McCarran, Vizcaino, Soljacic, Luo, TENG: Time-evolving natural gradient for solving PDEs with " \
        "deep neural nets toward machine precision, arXiv:2404.10771"
# ../shared/PAPERS.md: T = 4, dt = 0.005, width 40; the paper's claim and its heat floors
PAPER_NUMBERS = {"t_final": 4.0, "dt": 0.005, "claim_rel_l2": "about 1e-6 or below",
                 "heat_floor_euler": 3e-4, "heat_floor_heun": 3e-7}

RUN_KEYS = ("coefficient", "dt", "t_final", "points", "resample", "iterations", "params_first", "params_rest",
            "width", "depth", "model_seed", "seed", "amplitude", "sharpness", "init_adam_steps", "init_lr",
            "init_steps", "init_iterations", "init_params", "eval_points", "eval_every", "reference_step", "damping",
            "lstsq_driver", "chunk")
METHODS = ("teng-euler", "teng-heun", "tdvp", "pinn")


def _config(config: dict[str, Any], equation: str, integrator: str = "heun"):
    from sciml.config import from_dict
    from sciml.teng.stepper import TengConfig

    values = {k: config[k] for k in RUN_KEYS if k in config}
    return from_dict(TengConfig, {**values, "equation": equation, "integrator": integrator})


def _same_settings(saved: dict[str, Any] | None, config: dict[str, Any]) -> bool:
    """Whether a method's saved results were made with ``config``; which other methods ran beside it does not
    change a method's result, so ``methods`` is not compared."""
    if not isinstance(saved, dict):
        return False
    strip = lambda d: {k: v for k, v in json.loads(json.dumps(d)).items() if k != "methods"}  # noqa: E731
    return strip(saved) == strip(config)


def _initial(out: Path, base, settings: dict[str, Any], device: str = "cpu"):
    """The shared initial fit: ``out/init.pt`` when made with the same settings, else fitted and saved."""
    from sciml.io import load_checkpoint, save_checkpoint
    from sciml.teng.stepper import TengRun

    path = out / "init.pt"
    keys = ("width", "depth", "model_seed", "seed", "amplitude", "sharpness", "points", "iterations", "init_adam_steps",
            "init_lr", "init_steps", "init_iterations", "init_params", "damping", "lstsq_driver")
    wanted = {k: settings.get(k) for k in keys}
    if path.exists():
        saved = load_checkpoint(path)
        if saved.get("settings") == json.loads(json.dumps(wanted)):
            return saved["theta"], saved["info"]
    run = TengRun(base, device=device)
    info = run.fit_initial()
    save_checkpoint(path, {"settings": wanted, "theta": run.projector.theta.cpu(), "info": info})
    return run.projector.theta.detach().clone(), info


def make_run(equation: str):
    def run(out: Path, config: dict[str, Any], device: str) -> dict[str, Any]:
        from sciml.io import write_json
        from sciml.teng.baselines import PinnRun, TdvpRun
        from sciml.teng.stepper import TengRun

        tic = time.perf_counter()
        methods = list(config["methods"])
        unknown = [m for m in methods if m not in METHODS]
        if unknown:
            from sciml._errors import ConfigError

            raise ConfigError(f"unknown TENG method(s) {', '.join(unknown)}; choose from {', '.join(METHODS)}")
        base = _config(config, equation)
        theta0, init_info = _initial(out, base, config, device)
        rows: dict[str, dict[str, Any]] = {}
        references = None
        for method in [m for m in methods if m != "pinn"]:
            file = out / f"{method}.json"
            if file.exists():
                saved = json.loads(file.read_text())
                if _same_settings(saved.get("settings"), config):
                    rows[method] = saved
                    continue
            cfg = _config(config, equation, "euler" if method == "teng-euler" else "heun")
            runner = (TdvpRun if method == "tdvp" else TengRun)(cfg, device=device)
            history = runner.run(out / f"{method}.ckpt", progress=True, initial=(theta0, init_info))
            references = runner.references
            row = {"method": method, "history": history, "seconds": runner.seconds,
                   "seconds_per_step": (runner.seconds / max(cfg.steps, 1)), "init": runner.init_info,
                   "final_rel_l2": history[-1]["rel_l2"], "max_rel_l2": max(h["rel_l2"] for h in history),
                   "final_floor": history[-1]["floor_rel_l2"], "settings": config}
            write_json(file, row)
            rows[method] = row
        if "pinn" in methods:
            file = out / "pinn.json"
            saved = json.loads(file.read_text()) if file.exists() else {}
            if _same_settings(saved.get("settings"), config):
                rows["pinn"] = saved
            else:
                if references is None:
                    ref_run = TengRun(base, device=device)
                    ref_run.prepare_reference()
                    references = ref_run.references
                budget = config["pinn_seconds"]
                if budget == "match":
                    budget = rows["teng-heun"]["seconds"] if "teng-heun" in rows else 60.0
                pinn = PinnRun(base, points=config["pinn_points"], ic_points=config["pinn_ic_points"],
                               ic_weight=config["pinn_ic_weight"], lr=config["pinn_lr"], device=device)
                info = pinn.train(seconds=float(budget))
                history = pinn.errors(references, base.eval_points)
                row = {"method": "pinn", "history": history, **info, "final_rel_l2": history[-1]["rel_l2"],
                       "max_rel_l2": max(h["rel_l2"] for h in history), "budget_seconds": float(budget),
                       "settings": config}
                write_json(file, row)
                rows["pinn"] = row
        ordered = [rows[m] for m in methods if m in rows]
        results = {"equation": equation, "coefficient": base.diffusion, "rows": ordered, "init": init_info,
                   "parameters": _parameters(base), "steps": base.steps, "seconds": time.perf_counter() - tic}
        results["plots"] = _plot(out, equation, ordered)
        return results

    return run


def _parameters(cfg) -> int:
    from sciml.teng.model import FlatParams, PeriodicNet

    return FlatParams(PeriodicNet(cfg.net)).total


def _plot(out: Path, equation: str, rows: list[dict[str, Any]]) -> list[str]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from sciml.io import atomic_path

    fig = Figure(figsize=(6.0, 4.0), layout="constrained")
    ax = fig.subplots()
    for k, r in enumerate(rows):
        h = r["history"]
        line, = ax.semilogy([p["t"] for p in h], [max(p["rel_l2"], 1e-17) for p in h], "o-", ms=2.5,
                            label=r["method"])
        if "floor_rel_l2" in h[-1]:
            ax.semilogy([p["t"] for p in h[1:]], [max(p["floor_rel_l2"], 1e-17) for p in h[1:]], "--",
                        color=line.get_color(), lw=1, label=f"{r['method']} time floor")
    ax.set_xlabel("t")
    ax.set_ylabel("relative L2 against the reference")
    ax.set_title(f"{equation}", fontsize=9)
    ax.legend(fontsize=7)
    name = f"teng-{equation}-error.png"
    with atomic_path(out / name) as tmp:
        FigureCanvasAgg(fig).print_png(str(tmp))
    return [name]


def report(results: dict[str, Any]) -> str:
    c, eq = results["config"], results["equation"]
    rhs = {"heat": "u_t = D Lap u", "allen-cahn": "u_t = D Lap u + u - u^3",
           "burgers": "u_t = -u (u_x + u_y) + D Lap u"}[eq]
    init = results["init"]
    adam = f" after {c['init_adam_steps']} Adam steps" if c["init_adam_steps"] else ""
    lines = [f"# teng-{eq}: TENG-Euler and TENG-Heun against TDVP and a PINN", "", f"{PAPER}.", "",
             f"{rhs} on [0, 2 pi)^2 (periodic), D = {results['coefficient']:g}, u0 = {c['amplitude']:g} "
             f"exp(-{c.get('sharpness', 1.0):g} (1 + cos 2x)) sin y (ours; the paper's initial condition is given "
             f"only as data), t in [0, {c['t_final']:g}], "
             f"dt = {c['dt']:g} ({results['steps']} steps). Network: periodic cosine embedding, tanh, width {c['width']}, "
             f"depth {c['depth']} ({results['parameters']} parameters), float64. Collocation: a {c['points']}^2 grid"
             f"{' shifted randomly every step' if c['resample'] else ''}; per iteration a random subset of "
             f"{c['params_first']} (first) / {c['params_rest']} parameters; {c['iterations'] + 2} least-squares iterations "
             f"per Euler step, {2 * c['iterations'] + 2} per Heun step; ridge {c['damping']} x max column norm^2. "
             f"Errors on a {c['eval_points']}^2 grid against the "
             f"{'exact Fourier solution' if eq == 'heat' else 'pseudo-spectral reference (integrating-factor RK4)'}.",
             "", f"Initial fit of u0 (shared by every method): the network starts {init.get('adam_rel_l2', float('nan')):.3g} "
             f"from u0 (relative L2{adam}), "
             f"a homotopy of {c['init_steps']} small steps brings it to {init.get('homotopy_rel_l2', float('nan')):.3g}, "
             f"{c['init_iterations']} Levenberg-Marquardt iterations to {init.get('rel_l2', float('nan')):.3g} on the "
             f"collocation grid ({init.get('seconds', 0):.0f} s). That fit is the error every method starts from.", "",
             "| method | rel. L2 at T | max over the run | time floor at T | wall time s | s/step |",
             "|---|---|---|---|---|---|"]
    for r in results["rows"]:
        floor = f"{r['final_floor']:.3g}" if "final_floor" in r else "-"
        per = f"{r['seconds_per_step']:.3g}" if "seconds_per_step" in r else f"({r['steps']} Adam steps)"
        lines.append(f"| {r['method']} | {r['final_rel_l2']:.3g} | {r['max_rel_l2']:.3g} | {floor} | {r['seconds']:.0f} | "
                     f"{per} |")
    by = {r["method"]: r for r in results["rows"]}
    lines += ["", "The paper (T = 4, dt = 0.005, width 40; the authors' code runs 256^2 points by default and notes 512^2 "
              "for the paper): TENG-Heun reaches a relative L2 of "
              f"{PAPER_NUMBERS['claim_rel_l2']}; for heat the time discretisation alone limits TENG-Euler to about "
              f"{PAPER_NUMBERS['heat_floor_euler']:g} and TENG-Heun to about {PAPER_NUMBERS['heat_floor_heun']:g}."]
    if "pinn" in by and "teng-heun" in by:
        lines.append(f"At TENG-Heun's wall time ({by['pinn']['budget_seconds']:.0f} s), the PINN's error at T is "
                     f"{by['pinn']['final_rel_l2'] / by['teng-heun']['final_rel_l2']:.3g}x TENG-Heun's "
                     f"(max over the run {by['pinn']['max_rel_l2'] / by['teng-heun']['max_rel_l2']:.3g}x)"
                     + (f" and {by['pinn']['final_rel_l2'] / by['teng-euler']['final_rel_l2']:.3g}x TENG-Euler's "
                        f"(which took {by['teng-euler']['seconds']:.0f} s)" if "teng-euler" in by else "") + ".")
    if c["t_final"] != PAPER_NUMBERS["t_final"]:
        lines.append(f"This run stops at T = {c['t_final']:g}, not the paper's {PAPER_NUMBERS['t_final']:g}.")
    lines += [""] + [f"![{p}]({p})" for p in results["plots"]]
    lines += ["", f"Run time {results['seconds']:.0f} s.", ""]
    return "\n".join(lines)


def _experiment(equation: str) -> Experiment:
    return Experiment(
        name=f"teng-{equation}", paper=PAPER,
        claim="TENG-Heun, repeated least-squares projections of each time step's target onto the network, tracks the "
              "solution to relative L2 near its time-discretisation floor, orders of magnitude below a PINN and TDVP",
        reference=PAPER_NUMBERS, run=make_run(equation), report=report)


HEAT = _experiment("heat")
ALLEN_CAHN = _experiment("allen-cahn")
BURGERS = _experiment("burgers")
