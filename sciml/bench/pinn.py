"""The pinn suite: derivative throughput and SDGD scaling.

1. **Laplacian throughput.** For a tanh MLP (3 hidden layers of 128) at ``N`` points in dimension
   ``d``: the Laplacian as sciml computes it (:func:`sciml.pinn.derivatives.laplacian`: for an
   ``nn.Sequential`` MLP the layer-by-layer jet; ``sciml_torch_func``: the generic forward-over-forward
   path it takes for any other pointwise function) beside the two usual baselines, in one run: the per-axis
   double-backward loop of ``torch.autograd.grad`` (what most PINN codes write) and the trace of the
   full Hessian (``torch.func.hessian`` vmapped over points). Each is timed as a value only and as a
   training step (the value, the mean square, the backward pass to the parameters), best of several
   repeats; ratios are baseline time / sciml time (above 1: sciml is faster). The three Laplacians
   are compared (largest difference relative to the largest value), so a fast wrong one shows.
2. **SDGD scaling.** Seconds per training step and peak memory of the SDGD estimators and of the
   full-Laplacian PINN at equal point batch, over ``d``, each configuration in a fresh process
   (:func:`sciml.pinn.sdgd.measure_in_subprocess`; CPU memory: the process's peak resident set, CUDA:
   the peak allocation). Ratios: full / SDGD per-step time; growth exponents of time and memory in ``d``
   (the slope of log time against log d between the smallest and the largest ``d``).

Device: CUDA when available, else the CPU; threads as set by ``sciml --threads`` (each SDGD process
uses the same count).
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable

import torch

__all__ = ["run", "SETTINGS"]

SETTINGS = {
    False: {"dims": [2, 10, 100], "points": 1000, "repeats": 5, "hessian_max_dim": 100,
            "sdgd_dims": [100, 1000, 10000, 100000], "sdgd_full_max_dim": 1000, "sdgd_detached_max_dim": 10000, "sdgd_steps": 5, "sdgd_timeout": 900,
            "sdgd_estimators": ["independent", "same", "full-detached"],
            "sdgd_model": {"dim_batch": 100, "points": 100, "width": 128, "depth": 3}},
    True: {"dims": [2, 10], "points": 64, "repeats": 2, "hessian_max_dim": 10,
           "sdgd_dims": [12, 48], "sdgd_full_max_dim": 48, "sdgd_detached_max_dim": 48, "sdgd_steps": 2, "sdgd_timeout": 300,
           "sdgd_estimators": ["independent"],
           "sdgd_model": {"dim_batch": 8, "points": 16, "width": 16, "depth": 2}},
}


def _mlp(dim: int, width: int = 128, hidden: int = 3, *, device, dtype=torch.float32) -> torch.nn.Module:
    layers: list[torch.nn.Module] = [torch.nn.Linear(dim, width), torch.nn.Tanh()]
    for _ in range(hidden - 1):
        layers += [torch.nn.Linear(width, width), torch.nn.Tanh()]
    layers.append(torch.nn.Linear(width, 1))
    torch.manual_seed(0)
    return torch.nn.Sequential(*layers).to(device=device, dtype=dtype)


def _lap_sciml(net, x):
    from sciml.pinn.derivatives import laplacian

    return laplacian(net, x)[:, 0]


def _lap_torch_func(net, x):
    from sciml.pinn.derivatives import laplacian

    return laplacian(lambda y: net(y), x)[:, 0]  # a closure: the generic jvp-over-jvp path


def _lap_autograd(net, x):
    x = x.detach().requires_grad_(True)
    u = net(x)
    (g,) = torch.autograd.grad(u.sum(), x, create_graph=True)
    lap = torch.zeros(len(x), dtype=x.dtype, device=x.device)
    for i in range(x.shape[1]):
        (gi,) = torch.autograd.grad(g[:, i].sum(), x, create_graph=True)
        lap = lap + gi[:, i]
    return lap


def _lap_hessian(net, x):
    from torch.func import functional_call, hessian, vmap

    params = dict(net.named_parameters())

    def point(p, xi):
        return functional_call(net, p, (xi[None],))[0, 0]

    h = vmap(hessian(point, argnums=1), in_dims=(None, 0))(params, x)
    return torch.diagonal(h, dim1=-2, dim2=-1).sum(-1)


METHODS: dict[str, Callable] = {"sciml": _lap_sciml, "sciml_torch_func": _lap_torch_func,
                                 "autograd_loop": _lap_autograd, "hessian_trace": _lap_hessian}


def _sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def _best(fn: Callable[[], Any], repeats: int, device) -> float:
    from sciml.bench import best_time

    return best_time(fn, repeats, device, warmup=True)[0]


def _throughput(dim: int, s: dict[str, Any], device) -> dict[str, Any]:
    net = _mlp(dim, device=device)
    x = torch.rand(s["points"], dim, generator=torch.Generator().manual_seed(dim), dtype=torch.float32).to(device)
    row: dict[str, Any] = {"dim": dim, "points": s["points"], "methods": {}}
    values = {}
    for name, lap in METHODS.items():
        if name == "hessian_trace" and dim > s["hessian_max_dim"]:
            row["methods"][name] = {"error": f"not run: d > hessian_max_dim = {s['hessian_max_dim']}"}
            continue

        def value():
            # the autograd loop needs a graph to differentiate twice; the torch.func ones do not
            with torch.no_grad() if name != "autograd_loop" else torch.enable_grad():
                return lap(net, x)

        def train_step():
            net.zero_grad(set_to_none=True)
            loss = lap(net, x).pow(2).mean()
            loss.backward()

        values[name] = lap(net, x).detach()
        t_value, t_step = _best(value, s["repeats"], device), _best(train_step, s["repeats"], device)
        row["methods"][name] = {"value_seconds": t_value, "train_step_seconds": t_step,
                                "points_per_second_train": s["points"] / t_step}
    ref = values["sciml"]
    scale = float(ref.abs().max()) or 1.0
    for name, v in values.items():
        row["methods"][name]["max_rel_difference_to_sciml"] = float((v - ref).abs().max()) / scale
    ours = row["methods"]["sciml"]
    row["speedup"] = {name: {"value": m["value_seconds"] / ours["value_seconds"],
                             "train_step": m["train_step_seconds"] / ours["train_step_seconds"]}
                      for name, m in row["methods"].items() if name != "sciml" and "value_seconds" in m}
    return row


def _sdgd(s: dict[str, Any], device: str) -> dict[str, Any]:
    from sciml.pinn.sdgd import SdgdConfig, measure_in_subprocess

    threads = torch.get_num_threads()
    rows = []
    for d in s["sdgd_dims"]:
        base = {**s["sdgd_model"], "dim": d, "dim_batch": min(d, s["sdgd_model"]["dim_batch"])}
        row: dict[str, Any] = {"dim": d, "dim_batch": base["dim_batch"], "points": base["points"], "estimators": {}}
        for estimator in s["sdgd_estimators"] + ["full"]:
            if estimator == "full" and d > s["sdgd_full_max_dim"]:
                row["estimators"][estimator] = {"error": f"not run: d > full_max_dim = {s['sdgd_full_max_dim']}"}
                continue
            if estimator == "full-detached" and d > s["sdgd_detached_max_dim"]:
                row["estimators"][estimator] = {"error": f"not run: d > detached_max_dim = {s['sdgd_detached_max_dim']} "
                                                         "(all d second derivatives per step, without a graph)"}
                continue
            config = SdgdConfig(**base, estimator=estimator)
            row["estimators"][estimator] = measure_in_subprocess(config, s["sdgd_steps"], device=device,
                                                                 threads=threads, timeout=s["sdgd_timeout"])
        full, ours = row["estimators"].get("full", {}), row["estimators"]["independent"]
        if "seconds_per_step" in full and "seconds_per_step" in ours:
            row["full_over_independent_time"] = full["seconds_per_step"] / ours["seconds_per_step"]
            row["full_over_independent_memory"] = full["peak_bytes"] / ours["peak_bytes"]
        rows.append(row)
    growth = {}
    for estimator in s["sdgd_estimators"] + ["full"]:
        pts = [(r["dim"], r["estimators"][estimator]) for r in rows if "seconds_per_step" in r["estimators"][estimator]]
        if len(pts) >= 2:
            (d0, a), (d1, b) = pts[0], pts[-1]
            k = math.log(d1 / d0)
            growth[estimator] = {"dims": [d0, d1], "time_exponent": math.log(b["seconds_per_step"] / a["seconds_per_step"]) / k,
                                 "memory_exponent": math.log(b["peak_bytes"] / a["peak_bytes"]) / k}
    return {"rows": rows, "growth_in_d": growth}


def run(*, quick: bool = False, workdir=None, device: str | None = None) -> dict[str, Any]:
    s = SETTINGS[quick]
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    tic = time.perf_counter()
    laplacian = [_throughput(d, s, device) for d in s["dims"]]
    sdgd = _sdgd(s, device)
    return {"device": device, "settings": s, "laplacian": laplacian, "sdgd": sdgd,
            "seconds": time.perf_counter() - tic,
            "notes": "laplacian: float32 MLP 3 x 128 tanh; speedup = baseline seconds / sciml seconds (best of "
                     "repeats); sdgd: 3 x 128 tanh ansatz, 100 points, |I| = min(d, 100), fresh process per row"}
