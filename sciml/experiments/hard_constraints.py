"""``hc-diffusion-sorption``: soft constraint, PI-HC and PI-HC-MoE on diffusion-sorption (arXiv 2402.13412).

Data from sciml's reference solver (:mod:`sciml.data.pdes.diffusion_sorption`, PDEBench's equation and
coefficients); only the initial conditions of the training set are used: all three models are trained on
the physics loss alone (initial condition, boundary conditions, PDE residual over the grid), as in the
authors' code. The three share the FNO over ``(t, x)``; PI-HC adds one constrained solve per sample,
PI-HC-MoE ``experts`` solves over equal blocks of space, with the same number of PDE points in all.
Test error: relative L2 over ``(t, x)`` per sample, averaged (the constraint applied at test time with
points drawn from ``eval_seed``). Times: training wall time, and inference seconds per sample (after a
warm-up batch). ``ranks: 2`` also evaluates the MoE model with its experts split over two gloo ranks and
records the largest difference to the one-process prediction.

Training resumes from ``RUN_DIR/MODE/checkpoint.pt`` (model, optimiser, generators, elapsed time).
"""

from __future__ import annotations

import logging
import math
import os
import socket
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sciml.experiments import Experiment

__all__ = ["HC_DIFFUSION_SORPTION", "HC_NAVIER_STOKES", "train_constrained", "evaluate_constrained"]

log = logging.getLogger("sciml.experiments.hard_constraints")

PAPER = ("Chalapathi, Du, Krishnapriyan: Scaling physics-informed hard constraints with mixture-of-experts, "
         "arXiv 2402.13412")
PAPER_TABLE = {"soft": 0.859, "hc": 0.0755, "moe": 0.0360, "moe_experts": 4,
               "train_speedup_moe_vs_hc": [1.6, 3.2], "inference_speedup_moe_vs_hc": [2.0, 3.0]}
LABELS = {"soft": "soft constraint", "hc": "PI-HC", "moe": "PI-HC-MoE"}
PAPER_TABLE_NS = {"soft": 0.181, "hc": 0.118, "moe": 0.083, "moe_experts": 4, "train_speedup_moe_vs_hc_up_to": 12.8}


def _model_config(config: dict[str, Any], mode: str, nx: int, nt: int):
    from sciml.pinn.hard_constraints import HardConstraintConfig

    m = config["model"]
    return HardConstraintConfig(mode=mode, nx=nx, nt=nt, n_basis=m["n_basis"], experts=m["experts"],
                                points=m["points"], width=m["width"], modes=m["modes"], n_layers=m["n_layers"],
                                padding=m["padding"], ridge=m["ridge"], max_iters=m["max_iters"], tol=m["tol"],
                                T=config["data"]["T"], constraint_eps=m.get("constraint_eps", 1e-2),
                                exact_ic=m.get("exact_ic", False))


# what a configuration key the file predates meant then (constraint_eps came with default 0: the PDE's eps)
_PREDATED = {"constraint_eps": 0.0, "exact_ic": False, "warmup_hc_steps": 0}


def _saved_config(saved: dict[str, Any], config_cls) -> dict[str, Any]:
    """The model configuration a file was trained with, its predated keys filled with what they meant then."""
    from dataclasses import fields

    names = {f.name for f in fields(config_cls)}
    return {**{k: v for k, v in _PREDATED.items() if k in names}, **saved["config"]}


def _check_settings(path: Path, saved: dict[str, Any], model, train: dict[str, Any]) -> None:
    """Refuse to resume or reuse ``path`` when it was trained with another model configuration or other training
    settings; nothing is overwritten."""
    from sciml._errors import ConfigError

    mine = asdict(model.config)
    theirs = _saved_config(saved, type(model.config)) if "config" in saved else mine
    differ = sorted(k for k in mine if theirs.get(k) != mine[k])
    if "settings" in saved:
        differ += sorted(f"train.{k}" for k in (set(train) | set(saved["settings"])) - {"log_every", "checkpoint_every"}
                         if saved["settings"].get(k) != train.get(k))
    if differ:
        raise ConfigError(f"{path} was trained with other settings ({', '.join(differ)} differ); choose another "
                          f"--out or remove {path.parent} to train again")


def train_constrained(model, u0, train: dict[str, Any], run_dir: Path, device: str = "cpu") -> dict[str, Any]:
    """Adam on the physics loss (lr halved every ``lr_halve`` steps down to ``lr_floor``, gradient norm
    clipped at ``clip``), resumable from ``run_dir/checkpoint.pt``; writes ``run_dir/model.pt``. A MoE model
    trains its first ``warmup_hc_steps`` steps (default 0) as PI-HC (one expert, the same basis and points)."""
    import torch

    from sciml._errors import SciMLError
    from sciml.io import load_checkpoint, save_checkpoint

    run_dir.mkdir(parents=True, exist_ok=True)
    ckpt, final = run_dir / "checkpoint.pt", run_dir / "model.pt"
    opt = torch.optim.Adam(model.parameters(), lr=train["lr"])
    batches = torch.Generator().manual_seed(train["seed"])
    points = torch.Generator().manual_seed(train["seed"] + 1)
    state = {"step": 0, "seconds": 0.0, "history": [], "solver_iterations": 0}
    if final.exists():
        saved = load_checkpoint(final)
        _check_settings(final, saved, model, train)
        model.load_state_dict(saved["model"])
        return saved["train"]
    if ckpt.exists():
        saved = load_checkpoint(ckpt)
        _check_settings(ckpt, saved, model, train)
        model.load_state_dict(saved["model"])
        opt.load_state_dict(saved["optimizer"])
        batches.set_state(saved["batches"])
        points.set_state(saved["points"])
        state = saved["train"]
        log.info("%s: resuming at step %d", run_dir.name, state["step"])
    torch.manual_seed(train["seed"])
    n, steps = u0.shape[0], train["steps"]
    u0 = u0.to(device)
    tic = time.perf_counter() - state["seconds"]
    for step in range(state["step"], steps):
        lr = max(train["lr"] * 0.5 ** (step // train["lr_halve"]), train["lr_floor"])
        for group in opt.param_groups:
            group["lr"] = lr
        idx = torch.randint(0, n, (min(train["batch_size"], n),), generator=batches)
        batch = u0[idx.to(u0.device)]
        warm = model.config.mode == "moe" and step < train.get("warmup_hc_steps", 0)
        u, experts = model.fields(batch, generator=points, experts=1 if warm else None)
        loss, parts = model.physics_loss(u, batch, experts)
        if not math.isfinite(loss.item()):
            raise SciMLError(f"{run_dir.name}: the loss is {loss.item()} at step {step}; training stopped "
                             f"(the last checkpoint, {ckpt}, is kept)")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), train["clip"])
        opt.step()
        state["solver_iterations"] += model.last_info.iterations
        if step % train["log_every"] == 0 or step == steps - 1:
            state["history"].append({"step": step, "loss": float(loss), **parts})
            log.info("%s: step %d/%d loss %.4g (%s)", run_dir.name, step + 1, steps, float(loss),
                     ", ".join(f"{k} {v:.3g}" for k, v in parts.items()))
        state["step"], state["seconds"] = step + 1, time.perf_counter() - tic
        if state["step"] % train["checkpoint_every"] == 0 and state["step"] < steps:
            save_checkpoint(ckpt, {"model": model.weights(), "optimizer": opt.state_dict(),
                                   "batches": batches.get_state(), "points": points.get_state(), "train": state,
                                   "config": asdict(model.config), "settings": dict(train)})
    state["seconds_per_step"] = state["seconds"] / max(steps, 1)
    state["mean_solver_iterations"] = state["solver_iterations"] / max(steps, 1)
    save_checkpoint(final, {"model": model.weights(), "config": asdict(model.config), "kind": type(model).__name__,
                            "train": state, "settings": dict(train)})
    if ckpt.exists():
        ckpt.unlink()
    return state


def evaluate_constrained(model, u0, truth, eval_seed: int, batch_size: int) -> dict[str, Any]:
    """Mean relative L2 over ``(t, x)`` per sample, predictions, seconds per sample and solver figures."""
    import torch

    model.eval()
    preds, infos = [], []
    gen = torch.Generator().manual_seed(eval_seed)
    with torch.no_grad():
        model(u0[:batch_size], generator=torch.Generator().manual_seed(eval_seed))  # warm-up
        tic = time.perf_counter()
        for first in range(0, u0.shape[0], batch_size):
            preds.append(model(u0[first:first + batch_size], generator=gen))
            infos.append(model.last_info.as_dict())
        seconds = time.perf_counter() - tic
    pred = torch.cat(preds)
    err = ((pred - truth).flatten(1).norm(dim=1) / truth.flatten(1).norm(dim=1)).cpu()
    out = {"rel_l2": float(err.mean()), "rel_l2_per_sample": err.tolist(),
           "inference_seconds_per_sample": seconds / u0.shape[0]}
    if model.config.mode != "soft":
        out["solver"] = {"iterations_max": max(i["iterations"] for i in infos),
                         "condition_max": max(i["condition"] for i in infos),
                         "unconverged": sum(i["unconverged"] for i in infos),
                         "ill_conditioned": sum(i["ill_conditioned"] for i in infos)}
    return {**out, "prediction": pred}


def _load(path: Path, device: str = "cpu"):
    from sciml.io import load_checkpoint
    from sciml.pinn import hard_constraints as hc

    saved = load_checkpoint(path, map_location=device)
    if saved.get("kind") == "HardConstrainedNS":
        model = hc.HardConstrainedNS(hc.NavierStokesHCConfig(**_saved_config(saved, hc.NavierStokesHCConfig)))
    else:
        model = hc.HardConstrainedFNO(hc.HardConstraintConfig(**_saved_config(saved, hc.HardConstraintConfig)))
    model = model.to(device)
    model.load_state_dict(saved["model"])
    return model


def _rank_eval(rank: int, world: int, port: int, model_path: str, u0, truth, eval_seed: int, batch_size: int,
               out: str) -> None:
    import torch
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        result = evaluate_constrained(_load(Path(model_path)), u0, truth, eval_seed, batch_size)
        if rank == 0:
            torch.save(result, out)
    finally:
        dist.destroy_process_group()


def _ranks_check(model_path: Path, u0, truth, reference, eval_seed: int, batch_size: int, world: int,
                 out: Path) -> dict[str, Any]:
    import torch
    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    target = out / "ranks-eval.pt"
    mp.spawn(_rank_eval, args=(world, port, str(model_path), u0, truth, eval_seed, batch_size, str(target)),
             nprocs=world, join=True)
    got = torch.load(target, weights_only=False)
    target.unlink()
    return {"ranks": world, "max_abs_difference": float((got["prediction"] - reference["prediction"]).abs().max()),
            "rel_l2": got["rel_l2"], "rel_l2_one_process": reference["rel_l2"],
            "rel_l2_difference": abs(got["rel_l2"] - reference["rel_l2"]),
            "inference_seconds_per_sample": got["inference_seconds_per_sample"]}


def _compare_modes(out: Path, config: dict[str, Any], device: str, build, initial, test):
    """Train and evaluate each mode of ``config["modes"]`` (``build(mode)`` makes the model) on the initial
    states ``initial`` and the test trajectories ``test``; with ``ranks > 1`` also evaluate the MoE model
    over that many gloo ranks. Returns ``(rows, predictions, ranks_check)``."""
    import torch

    rows, predictions = {}, {}
    for mode in config["modes"]:
        torch.manual_seed(config["train"]["seed"])
        model = build(mode).to(device)
        train = train_constrained(model, initial, config["train"], out / mode, device)
        result = evaluate_constrained(model, test[:, 0].to(device), test.to(device), config["eval_seed"],
                                      config["eval_batch"])
        predictions[mode] = result.pop("prediction").cpu()
        rows[mode] = {**result, "train_seconds": train["seconds"], "steps": train["step"],
                      "seconds_per_step": train["seconds_per_step"],
                      "mean_solver_iterations": train.get("mean_solver_iterations", 0.0),
                      "final_loss": train["history"][-1] if train["history"] else None,
                      "history": train["history"], "parameters": sum(p.numel() for p in model.parameters())}
    ranks = None
    if config.get("ranks", 1) > 1 and "moe" in rows and device == "cpu":
        reference = {"prediction": predictions["moe"], "rel_l2": rows["moe"]["rel_l2"]}
        ranks = _ranks_check(out / "moe" / "model.pt", test[:, 0], test, reference, config["eval_seed"],
                             config["eval_batch"], config["ranks"], out)
    return rows, predictions, ranks


def run(out: Path, config: dict[str, Any], device: str) -> dict[str, Any]:
    import torch

    from sciml.data.store import open_store
    from sciml.experiments import experiment_data
    from sciml.pinn.hard_constraints import HardConstrainedFNO

    d = config["data"]
    params = {"fine": d["fine"], "nt": d["nt"], "T": d["T"], "ic": d["ic"]}
    paths = {split: experiment_data(out, f"diffusion-sorption-{split}-{d['res']}", "diffusion-sorption",
                                    n=d[f"n_{split}"], res=d["res"], seed=d[f"seed_{split}"], params=params,
                                    device="cpu")
             for split in ("train", "test")}
    fields = {}
    for split, path in paths.items():
        with open_store(path) as store:
            fields[split] = torch.from_numpy(store.read("tensor")).float()
    u0_train, test = fields["train"][:, 0], fields["test"]
    nt, nx = test.shape[1:]
    rows, predictions, ranks = _compare_modes(
        out, config, device, lambda mode: HardConstrainedFNO(_model_config(config, mode, nx, nt)), u0_train, test)
    plots = _plot(out, test, predictions, rows, d["T"])
    return {"rows": rows, "ranks_check": ranks, "grid": {"nx": nx, "nt": nt}, "plots": plots}


def _plot(out: Path, test, predictions: dict[str, Any], rows: dict[str, Any], results_T: float) -> list[str]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from sciml.io import atomic_path

    names = []
    modes = list(predictions)
    fig = Figure(figsize=(3.2 * (len(modes) + 1), 5.6), layout="constrained")
    axes = fig.subplots(2, len(modes) + 1, squeeze=False)
    truth = test[0].numpy()
    extent = (0, 1, float(results_T), 0)
    vmax = float(truth.max())
    axes[0, 0].imshow(truth, aspect="auto", extent=extent, vmin=0, vmax=vmax)
    axes[0, 0].set_title("reference solver")
    axes[1, 0].plot(truth[-1], "k", label="reference, t = T")
    for j, mode in enumerate(modes, start=1):
        p = predictions[mode][0].numpy()
        axes[0, j].imshow(p, aspect="auto", extent=extent, vmin=0, vmax=vmax)
        axes[0, j].set_title(f"{LABELS[mode]}: {rows[mode]['rel_l2_per_sample'][0]:.3f}")
        im = axes[1, j].imshow(abs(p - truth), aspect="auto", extent=extent)
        fig.colorbar(im, ax=axes[1, j])
        axes[1, j].set_title("|error|")
        axes[1, 0].plot(p[-1], label=LABELS[mode])
    axes[1, 0].legend(fontsize=7)
    axes[0, 0].set_ylabel("t")
    with atomic_path(out / "hc-fields.png") as tmp:
        FigureCanvasAgg(fig).print_png(str(tmp))
    names.append("hc-fields.png")
    fig = Figure(figsize=(5, 3.4), layout="constrained")
    ax = fig.subplots()
    for mode, row in rows.items():
        if row["history"]:
            ax.semilogy([h["step"] for h in row["history"]], [h["loss"] for h in row["history"]], label=LABELS[mode])
    ax.set_xlabel("step")
    ax.set_ylabel("physics loss")
    ax.legend()
    with atomic_path(out / "hc-loss.png") as tmp:
        FigureCanvasAgg(fig).print_png(str(tmp))
    names.append("hc-loss.png")
    return names


def report(results: dict[str, Any]) -> str:
    c, rows = results["config"], results["rows"]
    m, t, d = c["model"], c["train"], c["data"]
    g = results["grid"]
    lines = ["# hc-diffusion-sorption: soft constraint, PI-HC and PI-HC-MoE", "", f"{PAPER}.", "",
             f"Diffusion-sorption (PDEBench's coefficients) on {g['nx']} cells x {g['nt']} times over T = {d['T']:g}, "
             f"data from sciml's finite-volume solver on {d['fine']} cells (initial values: {d['ic']}"
             + (" in [0, 0.2) per fine cell" if d["ic"] == "uniform" else "") + f"); {d['n_train']} training initial conditions (no solutions used), {d['n_test']} test "
             f"trajectories. FNO over (t, x): {m['n_layers']} Fourier layers, width {m['width']}, {m['modes']} modes; "
             f"PI-HC / MoE: {m['n_basis']} basis functions, {m['points']} PDE points per sample "
             f"(MoE: {m['experts']} experts over space, {m['points'] // m['experts']} each), ridge {m['ridge']:g}, "
             f"Levenberg-Marquardt up to {m['max_iters']} iterations in float64. Training: physics loss only, "
             f"{t['steps']} Adam steps of {t['batch_size']} samples, lr {t['lr']:g} halved every {t['lr_halve']} "
             f"steps (floor {t['lr_floor']:g}), gradient clip {t['clip']:g}"
             + (f"; MoE's first {t['warmup_hc_steps']} steps train the basis as PI-HC (one expert, the same points)"
                if t.get("warmup_hc_steps") else "") + ".", "",
             "| model | test relative L2 | paper | train s | s / step | solver iterations / step | "
             "inference s / sample |", "|---|---|---|---|---|---|---|"]
    for mode, r in rows.items():
        lines.append(f"| {LABELS[mode]} | {r['rel_l2']:.4f} | {PAPER_TABLE[mode]:.4f} | {r['train_seconds']:.0f} | "
                     f"{r['seconds_per_step']:.3f} | {r['mean_solver_iterations']:.1f} | "
                     f"{r['inference_seconds_per_sample']:.4f} |")
    if "hc" in rows and "moe" in rows:
        h, e = rows["hc"], rows["moe"]
        lines += ["", f"PI-HC's time over MoE's at equal points (above 1: MoE faster): training "
                  f"{h['seconds_per_step'] / e['seconds_per_step']:.2f}x per step, inference "
                  f"{h['inference_seconds_per_sample'] / e['inference_seconds_per_sample']:.2f}x "
                  f"(paper: 1.6-3.2x and 2.0-3.0x, on GPUs); error ratio MoE / paper's MoE "
                  f"{e['rel_l2'] / PAPER_TABLE['moe']:.2f}."]
    rc = results.get("ranks_check")
    if rc:
        lines += ["", f"Experts over {rc['ranks']} gloo ranks (evaluation of the trained MoE): largest difference to the "
                  f"one-process prediction {rc['max_abs_difference']:.2e}, test relative L2 {rc['rel_l2']:.6f} against "
                  f"{rc['rel_l2_one_process']:.6f} (difference {rc['rel_l2_difference']:.1e}), "
                  f"{rc['inference_seconds_per_sample']:.4f} s per sample."]
    lines += ["", "The paper (its Table, diffusion-sorption): soft 85.9%, PI-HC 7.55%, PI-HC-MoE (K = 4) 3.60%; "
              "MoE training 1.6-3.2x and inference 2.0-3.0x faster than PI-HC."]
    return _report_tail(lines, results)


def _report_tail(lines: list[str], results: dict[str, Any]) -> str:
    """The figures and the run time under a report's ``lines``."""
    for name in results.get("plots", []):
        lines += ["", f"![{name}]({name})"]
    lines += ["", f"Run time {results['seconds']:.0f} s.", ""]
    return "\n".join(lines)


HC_DIFFUSION_SORPTION = Experiment(
    name="hc-diffusion-sorption", paper=PAPER,
    claim="enforcing diffusion-sorption exactly on sampled points through a differentiable solve cuts the soft "
          "constraint's error by an order of magnitude, and splitting the solve over experts lowers it further "
          "while training faster",
    reference={"diffusion_sorption_rel_l2": PAPER_TABLE}, run=run, report=report)


# ------------------------------------------------------------------------------------------ hc-navier-stokes


def _ns_model_config(config: dict[str, Any], mode: str, n: int, nt: int):
    from sciml.pinn.hard_constraints import NavierStokesHCConfig

    m, d = config["model"], config["data"]
    return NavierStokesHCConfig(mode=mode, n=n, nt=nt, nu=d["nu"], T=d["T"], n_basis=m["n_basis"],
                                experts=m["experts"], points=m["points"], width=m["width"], modes=m["modes"],
                                n_layers=m["n_layers"], padding=m["padding"], ridge=m["ridge"],
                                max_iters=m["max_iters"], tol=m["tol"])


def run_ns(out: Path, config: dict[str, Any], device: str) -> dict[str, Any]:
    import torch

    from sciml.data.store import open_store
    from sciml.experiments import experiment_data
    from sciml.pinn.hard_constraints import HardConstrainedNS

    d = config["data"]
    params = {"nu": d["nu"], "T": d["T"], "record_every": d["T"] / (d["nt"] - 1), "fine": d["fine"]}
    fields = {}
    for split in ("train", "test"):
        path = experiment_data(out, f"navier-stokes-hc-{split}-{d['res']}", "navier-stokes", n=d[f"n_{split}"],
                               res=d["res"], seed=d[f"seed_{split}"], params=params, device=device)
        with open_store(path) as store:
            fields[split] = torch.from_numpy(store.read("tensor")).float()
    w0_train, test = fields["train"][:, 0], fields["test"]
    nt, n = test.shape[1], test.shape[2]
    rows, predictions, ranks = _compare_modes(
        out, config, device, lambda mode: HardConstrainedNS(_ns_model_config(config, mode, n, nt)), w0_train, test)
    return {"rows": rows, "ranks_check": ranks, "grid": {"n": n, "nt": nt}, "plots": _plot_ns(out, test, predictions,
                                                                                                rows)}


def _plot_ns(out: Path, test, predictions: dict[str, Any], rows: dict[str, Any]) -> list[str]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from sciml.io import atomic_path

    modes = list(predictions)
    fig = Figure(figsize=(3.0 * (len(modes) + 1), 5.6), layout="constrained")
    axes = fig.subplots(2, len(modes) + 1, squeeze=False)
    truth = test[0, -1].numpy()
    lim = float(abs(truth).max())
    axes[0, 0].imshow(truth.T, origin="lower", cmap="RdBu_r", vmin=-lim, vmax=lim)
    axes[0, 0].set_title("reference, t = T")
    axes[1, 0].axis("off")
    for j, mode in enumerate(modes, start=1):
        p = predictions[mode][0, -1].numpy()
        axes[0, j].imshow(p.T, origin="lower", cmap="RdBu_r", vmin=-lim, vmax=lim)
        axes[0, j].set_title(f"{LABELS[mode]}: {rows[mode]['rel_l2_per_sample'][0]:.3f}")
        im = axes[1, j].imshow(abs(p - truth).T, origin="lower")
        fig.colorbar(im, ax=axes[1, j])
        axes[1, j].set_title("|error| at t = T")
    with atomic_path(out / "hc-ns-fields.png") as tmp:
        FigureCanvasAgg(fig).print_png(str(tmp))
    return ["hc-ns-fields.png"]


def report_ns(results: dict[str, Any]) -> str:
    c, rows, g = results["config"], results["rows"], results["grid"]
    m, t, d = c["model"], c["train"], c["data"]
    lines = ["# hc-navier-stokes: soft constraint, PI-HC and PI-HC-MoE on 2-D vorticity", "", f"{PAPER}.", "",
             f"Vorticity on the unit torus, nu = {d['nu']:g}, T = {d['T']:g}, the FNO forcing; {g['n']}^2 points x "
             f"{g['nt']} times from sciml's pseudo-spectral solver on {d['fine']}^2; {d['n_train']} training initial "
             f"conditions (no solutions used), {d['n_test']} test trajectories. Ansatz w = w0 + tau sum_i c_i "
             f"(b_i - mean b_i) for all three (the initial condition exact); FNO over (t, x, y): {m['n_layers']} "
             f"layers, width {m['width']}, {m['modes']} modes; {m['n_basis']} basis functions, {m['points']} PDE points "
             f"per sample (MoE: {m['experts']} square blocks, {m['points'] // m['experts']} each), spectral space "
             f"derivatives, second-order differences in time. Training: mean squared PDE residual over the grid, "
             f"{t['steps']} Adam steps of {t['batch_size']} samples, lr {t['lr']:g} halved every {t['lr_halve']}.", "",
             "| model | test relative L2 | paper | train s | s / step | solver iterations / step | "
             "inference s / sample |", "|---|---|---|---|---|---|---|"]
    for mode, r in rows.items():
        lines.append(f"| {LABELS[mode]} | {r['rel_l2']:.4f} | {PAPER_TABLE_NS[mode]:.3f} | {r['train_seconds']:.0f} | "
                     f"{r['seconds_per_step']:.3f} | {r['mean_solver_iterations']:.1f} | "
                     f"{r['inference_seconds_per_sample']:.4f} |")
    if "hc" in rows and "moe" in rows:
        h, e = rows["hc"], rows["moe"]
        lines += ["", f"MoE against PI-HC at equal points: training {h['seconds_per_step'] / e['seconds_per_step']:.2f}x "
                  f"per step (above 1: MoE faster), inference "
                  f"{h['inference_seconds_per_sample'] / e['inference_seconds_per_sample']:.2f}x."]
    rc = results.get("ranks_check")
    if rc:
        lines += ["", f"Experts over {rc['ranks']} gloo ranks: largest difference to the one-process prediction "
                  f"{rc['max_abs_difference']:.2e}, test relative L2 difference {rc['rel_l2_difference']:.1e}."]
    lines += ["", "The paper (64^3, nu = 1e-4, T = 5): soft 18.1%, PI-HC 11.8%, PI-HC-MoE 8.3%; up to 12.8x faster "
              "training than PI-HC."]
    return _report_tail(lines, results)


HC_NAVIER_STOKES = Experiment(
    name="hc-navier-stokes", paper=PAPER,
    claim="on 2-D vorticity at nu = 1e-4 the hard constraint beats the soft one, and experts lower the error further "
          "while training faster than one global constraint",
    reference={"navier_stokes_rel_l2": PAPER_TABLE_NS}, run=run_ns, report=report_ns)
