"""``sciml bench teng``: seconds per TENG time step at ``128^2`` collocation points with the paper's network, and
the parts of a step, beside the ``torch.func`` Jacobian it replaces.

Measured: TENG-Heun and TENG-Euler steps, each with the ridge solved by QR and by the normal equations (heat, width 40, depth 7, 1536 / 1024 parameters per iteration, 12 /
7 least-squares iterations per step) after one warm-up step; per part, the written-out Jacobian of 1024
parameters against ``torch.func.vmap(jacrev)`` on the same points (ratio), one least-squares solve, and the
derivatives of the right-hand side. The issue's anchor, not run here: the authors' code takes about 33 s per
step on a CPU. Threads: whatever ``sciml --threads`` set (stated in the JSON).
"""

from __future__ import annotations

import time
from typing import Any

import torch

SETTINGS = {
    False: {"points": 128, "width": 40, "depth": 7, "params_first": 1536, "params_rest": 1024, "iterations": 5,
            "steps": 3, "func_points": 2048},
    True: {"points": 24, "width": 8, "depth": 3, "params_first": 60, "params_rest": 40, "iterations": 2,
           "steps": 1, "func_points": 64},
}


def run(*, quick: bool = False, workdir=None, device: str | None = None) -> dict[str, Any]:
    from sciml.bench import best_time
    from sciml.teng.equations import grid_points
    from sciml.teng.stepper import Projector, TengConfig, TengRun

    s = SETTINGS[quick]
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    tic = time.perf_counter()
    rows = []
    for integrator, solver in (("heun", "qr"), ("heun", "normal"), ("euler", "qr"), ("euler", "normal")):
        cfg = TengConfig(integrator=integrator, points=s["points"], width=s["width"], depth=s["depth"], solver=solver,
                         params_first=s["params_first"], params_rest=s["params_rest"], iterations=s["iterations"])
        run_ = TengRun(cfg, device=device)
        run_.step()  # warm-up
        per = []
        for _ in range(s["steps"]):
            if device == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            run_.step()
            if device == "cuda":
                torch.cuda.synchronize()
            per.append(time.perf_counter() - t0)
        rows.append({"integrator": integrator, "solver": solver, "points": s["points"] ** 2, "seconds_per_step": min(per),
                     "seconds_per_step_all": per,
                     "lstsq_per_step": (2 * s["iterations"] + 2) if integrator == "heun" else s["iterations"] + 2})
    # the parts, on the last run's network
    p = run_.projector
    x = grid_points(s["points"]).to(device)
    subset = torch.randperm(p.flat.total, generator=torch.Generator().manual_seed(0))[:s["params_rest"]].to(device)
    jac = p.jacobian(x, subset)
    residual = torch.randn(len(x), dtype=torch.float64, device=device)
    xf = x[:s["func_points"]]
    normal = Projector(p.net, normal=True)

    def seconds(fn, repeats):
        return best_time(fn, repeats, device)[0]

    parts = {
        "jacobian_factors_s": seconds(lambda: p.jacobian(x, subset), 3),
        "jacobian_factors_s_at_func_points": seconds(lambda: p.jacobian(xf, subset), 3),
        "jacobian_func_s_at_func_points": seconds(lambda: p.jacobian(xf, subset, method="func"), 2),
        "lstsq_s": seconds(lambda: p.solve(jac, residual), 2),
        "normal_equations_s": seconds(lambda: normal.ridge_solve(jac, residual, 1e-10), 2),
        "derivatives_s": seconds(lambda: p.derivatives(x), 2),
    }
    parts["func_over_factors"] = parts["jacobian_func_s_at_func_points"] / parts["jacobian_factors_s_at_func_points"]
    heun = min(r["seconds_per_step"] for r in rows if r["integrator"] == "heun")
    return {"device": device, "torch_threads": torch.get_num_threads(), "settings": s, "rows": rows, "parts": parts,
            "parameters": p.flat.total, "goal_seconds_per_step": 10.0, "heun_meets_goal": heun <= 10.0,
            "authors_cpu_anchor_seconds_per_step": 33.0, "seconds": time.perf_counter() - tic,
            "notes": "seconds per step: best of the timed steps after one warm-up, random-initialised network; "
                     "func_over_factors: torch.func.vmap(jacrev) Jacobian time / written-out Jacobian time on the "
                     "same func_points points and parameter subset; the 33 s anchor is quoted from the issue, not run"}
