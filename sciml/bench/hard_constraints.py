"""``sciml bench hard-constraints``: seconds per PI-HC training step against PI-HC-MoE at equal PDE points.

Per expert count ``K`` (1 is PI-HC): one training step of :class:`~sciml.pinn.hard_constraints.HardConstrainedFNO`
(FNO forward, the float64 Levenberg-Marquardt solve, the loss, the implicit backward) on a random batch, best
of the timed steps after a warm-up, with the solve's iterations, and the forward solve and the implicit
backward timed alone on the same basis. Ratios: PI-HC's step time over each MoE's. Threads: whatever
``sciml --threads`` set (stated in the JSON).
"""

from __future__ import annotations

import time
from typing import Any

import torch

SETTINGS = {
    False: {"nx": 256, "nt": 51, "batch": 4, "points": 4096, "n_basis": 16, "width": 32, "modes": 8, "n_layers": 4,
            "experts": [1, 2, 4, 8], "repeats": 3},
    True: {"nx": 16, "nt": 9, "batch": 2, "points": 32, "n_basis": 4, "width": 6, "modes": 3, "n_layers": 1,
           "experts": [1, 2, 4], "repeats": 1},
}


def run(*, quick: bool = False, workdir=None, device: str | None = None) -> dict[str, Any]:
    from sciml.bench import best_time
    from sciml.pinn.hard_constraints import (HardConstrainedFNO, HardConstraintConfig, SolveInfo,
                                             constrained_coefficients, solve_coefficients)

    s = SETTINGS[quick]
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    tic = time.perf_counter()
    u0 = 0.2 * torch.rand(s["batch"], s["nx"], generator=torch.Generator().manual_seed(0)).to(device)
    rows = []
    for k in s["experts"]:
        torch.manual_seed(0)
        cfg = HardConstraintConfig(mode="hc" if k == 1 else "moe", experts=max(k, 1), nx=s["nx"], nt=s["nt"],
                                   points=s["points"], n_basis=s["n_basis"], width=s["width"], modes=s["modes"],
                                   n_layers=s["n_layers"])
        model = HardConstrainedFNO(cfg).to(device)

        def step():
            u, experts = model.fields(u0, generator=torch.Generator().manual_seed(1))
            loss = model.physics_loss(u, u0, experts)[0]
            model.zero_grad(set_to_none=True)
            loss.backward()
            return model.last_info.iterations

        seconds, iterations = best_time(step, s["repeats"], device, warmup=True)
        # the solve and the implicit backward alone, on the same basis
        con = model.constraint
        with torch.no_grad():
            basis = model.basis(u0)
        idx, init = con.contexts(u0, cfg.n_experts, cfg.points, torch.Generator().manual_seed(1))
        lifted = con.gather_rows(*con.lift(basis), idx)
        B, K = lifted.shape[:2]
        flat = lifted.reshape(B * K, *lifted.shape[2:]).contiguous()
        ctx = (init.reshape(B * K, -1),)
        solve_s = best_time(lambda: solve_coefficients(con.pointwise, flat, ctx, model.options), s["repeats"], device)[0]

        def forward_backward():
            b = flat.clone().requires_grad_(True)
            w = constrained_coefficients(con.pointwise, b, ctx, model.options, SolveInfo())
            w.sum().backward()

        fb_s = best_time(forward_backward, s["repeats"], device)[0]
        rows.append({"experts": k, "points_per_expert": s["points"] // k, "seconds_per_step": seconds,
                     "solver_iterations": iterations, "solve_seconds": solve_s,
                     "implicit_backward_seconds": max(fb_s - solve_s, 0.0)})
    base = rows[0]["seconds_per_step"]
    for r in rows:
        r["hc_over_this"] = base / r["seconds_per_step"]
    summary = {f"hc_over_moe_k{r['experts']}": round(r["hc_over_this"], 3) for r in rows[1:]}
    return {"device": device, "torch_threads": torch.get_num_threads(), "settings": s, "rows": rows, "summary": summary,
            "seconds": time.perf_counter() - tic,
            "notes": "experts = 1 is PI-HC; equal PDE points in all rows (points / experts per expert); "
                     "hc_over_this: PI-HC's seconds per step over this row's (above 1: faster than PI-HC); "
                     "implicit_backward_seconds: forward solve + IFT backward minus the forward solve"}
