"""``sciml bench graph``: MP-PDE training throughput against the released code's structure written naively,
rollout time against our WENO5 solver, and the convergent graph solver's backward memory against unrolling.

Measured, in one run, on the same model weights and the same batch (E1 sizes: nx = 100, K = 25, hidden
128, 6 layers, batch 16, pushforward with one unrolled call):

- ``ours``: :class:`sciml.graph.mppde.MPPDEMethod` steps (the graph built once per grid, batched by offsets);
- ``naive``: the released code's structure, per step: one torch_geometric ``Data`` per sample built in
  Python (node features concatenated sample by sample, the radius graph from that sample's distance
  matrix, the PDE parameters copied node by node), ``Batch.from_data_list``, then ``propagate`` with the
  message concatenated per edge as the released layer writes it, on the same weights. Ours applies the
  message's first layer per node (:class:`sciml.graph.mppde._Layer`), so the ratio is the cost of the
  structure and of the per-edge concatenation together; ``same_output_max_abs_difference`` checks that both
  compute the same function.

Each timed step is forward, backward and an AdamW update. Rollout: 128 trajectories of frames 50 .. 249
batched, against the WENO5 solve of the same trajectories on 100 and 200 cells (batched).

CGS backward memory: one forward and backward pass of the fixed point of ``H = gamma A H + b`` (5000 nodes on a
ring, 8 neighbours each, 16 heads, float64) run for exactly 10, 100 and 1000 Picard iterations, by the implicit
backward (:class:`sciml.graph.cgs.FixedPoint`) and by autograd through the unrolled iterations, each in a
fresh process (peak resident set above the set-up's; CUDA: ``max_memory_allocated``). Threads: whatever
``sciml --threads`` set (stated in the JSON).
"""

from __future__ import annotations

import time
from typing import Any

from dataclasses import dataclass

import numpy as np
import torch

SETTINGS = {
    False: {"nx": 100, "nt": 250, "window": 25, "hidden": 128, "layers": 6, "batch": 16, "steps": 6,
            "rollout_samples": 128, "params": ("alpha", "beta", "gamma")},
    True: {"nx": 20, "nt": 16, "window": 4, "hidden": 16, "layers": 2, "batch": 4, "steps": 2,
           "rollout_samples": 4, "params": ("alpha", "beta", "gamma")},
}
CGS_SETTINGS = {False: {"nodes": 5000, "heads": 16, "iterations": (10, 100, 1000)},
                True: {"nodes": 2000, "heads": 2, "iterations": (10, 100)}}


@dataclass(frozen=True)
class BackwardCase:
    """One CGS backward-memory measurement: graph size, heads, Picard iterations, implicit or unrolled."""

    nodes: int = 5000
    heads: int = 16
    iterations: int = 10
    implicit: bool = True


def backward_memory(case: BackwardCase, steps: int = 1, *, device: str = "cpu") -> dict[str, Any]:
    """Peak memory and time of one forward + backward through the fixed point (run in a fresh process by
    :func:`sciml.runtime.measure_in_subprocess`)."""
    from sciml.graph.cgs import fixed_point, unrolled_fixed_point
    from sciml.runtime import peak_rss

    dev = torch.device(device)
    g = torch.Generator().manual_seed(0)
    # a ring joining each node to its 4 neighbours on either side, built by index arithmetic: a distance
    # matrix here would set the memory high-water mark above everything the solve allocates
    target = torch.arange(case.nodes).repeat_interleave(8)
    shifts = torch.tensor([-4, -3, -2, -1, 1, 2, 3, 4]).repeat(case.nodes)
    edges = torch.stack([(target + shifts) % case.nodes, target]).to(dev)
    values = (torch.rand(edges.shape[1], case.heads, dtype=torch.float64, generator=g) / 8).to(dev).requires_grad_()
    b = torch.randn(case.nodes, case.heads, dtype=torch.float64, generator=g).to(dev).requires_grad_()
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
        torch.cuda.reset_peak_memory_stats(dev)
        base = torch.cuda.memory_allocated(dev)
    else:
        base = peak_rss()
    tic = time.perf_counter()
    stats: dict[str, Any] = {}
    if case.implicit:  # tol 0: every iteration runs, unless the iterate stops changing in floating point
        h = fixed_point(values, b, edges, 0.5, tol=1e-300, max_iter=case.iterations, stats=stats)
    else:
        h = unrolled_fixed_point(values, b, edges, 0.5, case.iterations)
        stats = {"iterations": case.iterations, "backward_iterations": case.iterations}
    (h ** 2).sum().backward()
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
        peak = torch.cuda.max_memory_allocated(dev) - base
    else:
        peak = peak_rss() - base
    return {"seconds": time.perf_counter() - tic, "peak_bytes_above_setup": float(peak),
            "iterations_run": stats.get("iterations"), "backward_iterations_run": stats.get("backward_iterations"),
            "memory": "cuda max_memory_allocated" if dev.type == "cuda" else "process peak RSS (VmHWM)"}


def _naive_graph(window: torch.Tensor, x: torch.Tensor, t: torch.Tensor, params: dict[str, torch.Tensor],
                 radius: float, period: float):
    """One ``Data`` per sample, built as the released code builds its graphs, then batched (distances from the
    float64 positions ``x``; features in float32)."""
    from torch_geometric.data import Batch, Data

    graphs = []
    for b in range(window.shape[0]):
        u = torch.Tensor()
        for k in range(window.shape[2]):  # node by node, as the released code concatenates
            u = torch.cat((u, window[b, :, k][None]))
        d = (x[None, :] - x[:, None]).abs()
        d = torch.minimum(d, period - d)
        target, source = torch.nonzero((d <= radius) & (d > 0), as_tuple=True)
        edge_index = torch.stack([source, target])
        dx = torch.remainder(x[target] - x[source] + 0.5 * period, period) - 0.5 * period
        variables = torch.Tensor()
        for _ in range(window.shape[2]):  # the parameters copied node by node
            row = torch.cat([t[b:b + 1]] + [params[name][b:b + 1] for name in params])
            variables = torch.cat((variables, row[None]))
        graphs.append(Data(u=u, pos=x.float(), v=variables, edge_index=edge_index, dx=(dx[:, None] / period).float(),
                           num_nodes=window.shape[2]))
    return Batch.from_data_list(graphs)


def _official_layers(model):
    """The model's layers as the released code writes them: a ``MessagePassing`` whose ``message`` concatenates
    ``[h_i, h_j, u_i - u_j, dx, v_i]`` per edge, sharing our layers' weights."""
    from torch_geometric.nn import MessagePassing

    class Official(MessagePassing):
        def __init__(self, layer):
            super().__init__(aggr="mean", node_dim=0)
            self.layer = [layer]  # shared weights, not a submodule

        def forward(self, h, u, v, edge_index, dx, batch, n_graphs):
            layer = self.layer[0]
            h = self.propagate(edge_index, h=h, u=u, v=v, dx=dx)
            return layer.norm(h, batch, batch_size=n_graphs)

        def message(self, h_i, h_j, u_i, u_j, dx, v_i):
            return self.layer[0].message_concatenated(h_i, h_j, u_i, u_j, dx, v_i)

        def update(self, aggregated, h, v):
            return h + self.layer[0].update_net(torch.cat([h, aggregated, v], dim=-1))

    return [Official(layer) for layer in model.layers]


def run(*, quick: bool = False, workdir=None, device: str | None = None) -> dict[str, Any]:
    from sciml.bench import best_time
    from sciml.data.pdes import combined
    from sciml.graph.mppde import MPPDE, MPPDEConfig, MPPDEMethod, rollout

    s = SETTINGS[quick]
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    tic = time.perf_counter()
    L, T = 16.0, 4.0
    x = (torch.arange(s["nx"], dtype=torch.float64) + 0.5) * (L / s["nx"])
    times = torch.linspace(0.0, T, s["nt"], dtype=torch.float64)
    params = {"alpha": [0.0, 3.0], "beta": [0.0, 0.4], "gamma": [0.0, 1.0]}
    check = combined.check_params(s["nx"], {"family": "E3", "T": T, "nt": s["nt"], "fine": s["nx"]})
    draws = [combined.sample_parameters(0, i, check) for i in range(s["rollout_samples"])]
    forcing = torch.from_numpy(np.stack([d["forcing"] for d in draws]))
    coefficients = {k: torch.tensor([d[k] for d in draws], dtype=torch.float64) for k in params}
    torch.manual_seed(0)
    config = MPPDEConfig(time_window=s["window"], hidden=s["hidden"], layers=s["layers"], neighbors=3,
                         variables=tuple(params), variable_scales=tuple(v[1] for v in params.values()),
                         pde="combined", periodic=True, length=L, dt=float(times[1]), t_max=T, n_times=s["nt"])
    model = MPPDE(config).to(device)
    method = MPPDEMethod(model)
    method.set_epoch(1)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    u = torch.randn(s["batch"], s["nt"], s["nx"]) * 0.5
    batch = {"u": u.to(device), "x": x[None].expand(s["batch"], -1).to(device),
             "t": times[None].expand(s["batch"], -1).to(device),
             "params": {k: coefficients[k][:s["batch"]].to(device) for k in params}}

    def ours():
        loss = method.step(batch)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    radius = 3 * float(x[1] - x[0]) * (1 + 1e-6)
    window = s["window"]
    official = _official_layers(model)

    def forward_official(graph):
        return model.forward_nodes(graph.u, graph.pos, graph.v, graph.edge_index, graph.dx, graph.batch, s["batch"],
                                   layers=official)

    def naive():
        import random

        unrolled = random.randint(0, 1)
        last = s["nt"] - window - window * unrolled
        starts = [random.randint(window, last) for _ in range(s["batch"])]
        inputs = torch.stack([u[b, st - window:st] for b, st in enumerate(starts)])
        p = {k: coefficients[k][:s["batch"]].float() for k in params}
        graph = _naive_graph(inputs, x, times.float()[starts], p, radius, L).to(device)
        if unrolled:  # the pushforward call, without gradient as in the released code
            with torch.no_grad():
                out = forward_official(graph)
                starts = [st + window for st in starts]
                nxt = out.reshape(s["batch"], s["nx"], window).transpose(1, 2).cpu()
                graph = _naive_graph(nxt, x, times.float()[starts], p, radius, L).to(device)
        out = forward_official(graph)
        target = torch.stack([u[b, st:st + window] for b, st in enumerate(starts)]).transpose(1, 2).reshape(-1, window)
        loss = torch.sqrt(((out - target.to(device)) ** 2).sum() / s["batch"])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    t_ours, _ = best_time(ours, s["steps"], device, warmup=True)
    t_naive, _ = best_time(naive, s["steps"], device, warmup=True)
    # the same graph, both ways (the naive one is batched from per-sample graphs)
    probe = u[:2, :window]
    graph = _naive_graph(probe, x, times.float()[[window, window]],
                         {k: coefficients[k][:2].float() for k in params}, radius, L).to(device)
    with torch.no_grad():
        a = model(probe.to(device), x, times[[window, window]].to(device),
                  torch.stack([coefficients[k][:2] for k in params], 1).to(device))
        b = model.forward_nodes(graph.u, graph.pos, graph.v, graph.edge_index, graph.dx, graph.batch, 2,
                                layers=official)
    same = float((a.transpose(1, 2).reshape(-1, window) - b).abs().max())

    # rollout time: frames 2K .. nt - 1 of rollout_samples trajectories, against WENO5 on nx and 2 nx cells
    start = 2 * window
    initial = torch.randn(s["rollout_samples"], window, s["nx"], device=device) * 0.5
    variables = torch.stack([coefficients[k] for k in params], 1).to(device, torch.float32)
    with torch.no_grad():
        t_roll, _ = best_time(lambda: rollout(model.eval(), initial, x, float(times[start]), s["nt"] - start,
                                              variables), 2, device, warmup=True)
    weno = {}
    burgers = torch.full((s["rollout_samples"],), 0.5, dtype=torch.float64)  # E1: alpha = 0.5, beta = gamma = 0
    for cells in (s["nx"], 2 * s["nx"]):
        u0 = combined.forcing_average(forcing, cells, 0.0, L)
        seconds, _ = best_time(lambda: combined.solve(u0, times, burgers, 0 * burgers, 0 * burgers, forcing, L), 1)
        weno[str(cells)] = seconds / s["rollout_samples"]
    from sciml.runtime import measure_in_subprocess

    cs = CGS_SETTINGS[quick]
    backward = []
    for iterations in cs["iterations"]:
        row = {"iterations": iterations}
        for implicit in (True, False):
            case = BackwardCase(nodes=cs["nodes"], heads=cs["heads"], iterations=iterations, implicit=implicit)
            row["implicit" if implicit else "unrolled"] = measure_in_subprocess(
                "sciml.bench.graph:BackwardCase:backward_memory", case, 1, device=device,
                threads=torch.get_num_threads())
        backward.append(row)
    return {"device": device, "torch_threads": torch.get_num_threads(), "settings": s,
            "cgs_backward": {"settings": cs, "rows": backward},
            "training_step": {"ours_s": t_ours, "naive_s": t_naive, "naive_over_ours": t_naive / t_ours,
                              "samples_per_s_ours": s["batch"] / t_ours, "samples_per_s_naive": s["batch"] / t_naive,
                              "same_output_max_abs_difference": same},
            "rollout": {"mppde_s_per_trajectory": t_roll / s["rollout_samples"],
                        "weno5_s_per_trajectory": weno, "weno5_family": "E1 (Burgers)",
                        "frames": s["nt"] - start},
            "parameters": sum(p.numel() for p in model.parameters()), "seconds": time.perf_counter() - tic,
            "notes": "training step: forward, backward and AdamW on the same model and batch, best of the timed steps "
                     "after one warm-up; naive: per-sample Data built in Python loops as the released code does, "
                     "Batch.from_data_list, the same layers; rollout: MP-PDE from frame 2K to the end, batched, "
                     "random weights (time does not depend on them); WENO5: the whole trajectory from t = 0 on "
                     "nx and 2 nx cells, E1 (Burgers) coefficients; E3's dispersion makes WENO5 about 80x slower (docs/benchmarks.md)"}
