"""A learned preconditioner side by side with classical ones on held-out systems.

Shared by ``sciml bench precond`` and the ``neural-pcg-*`` experiments. Every held-out system
``A x = b`` is solved by :func:`sciml.linalg.pcg` to ``||b - A x|| <= rtol ||b||`` with each
preconditioner of :data:`METHODS`; per system and method the comparison records

* iterations, the convergence flag and the true relative residual ``||b - A x|| / ||b||``;
* set-up seconds (building the preconditioner: for the learned one, network inference plus the
  triangular-solve set-up; for AMG, pyamg's hierarchy), solve seconds and their sum, the time to
  solution;
* the residual history, each relative residual with the wall-clock time since set-up began at
  which it was known (stamped when PCG hands that residual to the preconditioner), so that
  convergence can be plotted against iterations and against time.

Before timing, the first system is solved once with every method and that solve is discarded
(first calls pay for imports, lazily built kernels and allocations). The learned preconditioner's
network keeps the index maps of the last sparsity pattern it saw, so systems that share one
pattern (a grid family, one simulation's many solves) reuse them; IC(0) redoes its symbolic
phase for every matrix.

Families of systems (:data:`FAMILIES`) name a generator of :mod:`sciml.data.pdes` with its
parameters and how the unknowns grow with the resolution, so that test sets with 2x and 4x the
training unknowns can be asked for.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import scipy.sparse as sp
import torch

from sciml._errors import ConfigError, DataError

__all__ = ["METHODS", "GUARDED", "LABELS", "MethodSolve", "Family", "FAMILIES", "available_families", "family_status",
           "solve_once", "compare_systems", "summarize", "ratios", "growth", "compare_sizes", "where_amg_wins",
           "convergence_plot", "markdown_table", "load_test_systems"]

METHODS = ("none", "jacobi", "ic0", "amg-rs", "amg-sa", "learned")
# "guarded": the learned factor checked against IC(0) before use (sciml.learned.guard); not in the default set
GUARDED = "guarded"
LABELS = {"none": "none", "jacobi": "Jacobi", "ic0": "IC(0)", "amg-rs": "AMG-RS", "amg-sa": "AMG-SA",
          "learned": "learned L L^T", GUARDED: "learned + guard"}


@dataclass(frozen=True)
class MethodSolve:
    """One preconditioned CG solve of one system.

    Attributes
    ----------
    method : a name of :data:`METHODS`
    n : unknowns
    iterations, converged, status : from the :class:`~sciml.linalg.SolveResult`
    setup_s, solve_s : seconds to build the preconditioner and to run PCG
    true_relative_residual : ``||b - A x|| / ||b||`` recomputed from the returned ``x`` with scipy
    relative_residuals : ``(iterations + 1,)`` the recursive residual norms over ``||b||``, initial one first
    elapsed_s : ``(iterations + 1,)`` seconds since set-up began at which each of those residuals was known
    guard : for ``"guarded"``, the guard's report (:meth:`sciml.learned.GuardResult.as_dict`); its check is set-up time
    """

    method: str
    n: int
    iterations: int
    converged: bool
    status: str
    setup_s: float
    solve_s: float
    true_relative_residual: float
    relative_residuals: np.ndarray = field(repr=False)
    elapsed_s: np.ndarray = field(repr=False)
    guard: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def total_s(self) -> float:
        """Time to solution: set-up plus solve."""
        return self.setup_s + self.solve_s

    def as_dict(self, *, history: bool = False) -> dict[str, Any]:
        """JSON-ready numbers; with ``history`` the residual history and its time stamps too."""
        out = {"method": self.method, "n": self.n, "iterations": self.iterations, "converged": self.converged,
               "status": self.status, "setup_s": self.setup_s, "solve_s": self.solve_s, "total_s": self.total_s,
               "true_relative_residual": self.true_relative_residual}
        if self.guard is not None:
            out["guard"] = self.guard
        if history:
            out["relative_residuals"] = self.relative_residuals.tolist()
            out["elapsed_s"] = self.elapsed_s.tolist()
        return out


@dataclass(frozen=True)
class Family:
    """A family of SPD systems made by a generator of :mod:`sciml.data.pdes`.

    Attributes
    ----------
    label : short name used in reports (``diffusion2d``)
    pde : generator name (``diffusion-systems``)
    params : generator parameters
    dim : the unknowns grow like ``res ** dim``
    description : one line for reports
    loss : the neural-pcg training loss suited to the family (``"condition"`` on the mesh families,
        where the solution and Frobenius losses leave the factor at 1.1-1.2x IC(0)'s iterations)
    full_train : training settings that replace the full-scale benchmark's for this family
    full_model : network settings (``hidden``, ``layers``) that replace the full-scale benchmark's
    """

    label: str
    pde: str
    params: dict[str, Any]
    dim: int
    description: str
    loss: str = "solution"
    full_train: dict[str, Any] = field(default_factory=dict)
    full_model: dict[str, Any] = field(default_factory=dict)

    def res_for(self, base_res: int, factor: float) -> int:
        """The resolution giving about ``factor`` times the unknowns of ``base_res``."""
        return int(round(base_res * factor ** (1.0 / self.dim)))


FAMILIES: dict[str, Family] = {f.label: f for f in (
    Family("diffusion2d", "diffusion-systems", {"contrast": 1e3}, 2,
           "2D diffusion, 5-point stencil, GRF log-coefficient of contrast 1e3"),
    Family("diffusion3d", "diffusion-systems", {"contrast": 1e3, "dim": 3}, 3,
           "3D diffusion, 7-point stencil, GRF log-coefficient of contrast 1e3"),
    Family("anisotropic2d", "anisotropic-systems", {"eps": 1e-2, "theta": "random"}, 2,
           "2D anisotropic diffusion (P1 FEM, eps 1e-2, random angle per system)", full_model={"layers": 2}),
    Family("poisson-mesh", "poisson-mesh-systems", {"contrast": 1e2}, 2,
           "FEM Poisson on unstructured gmsh meshes of varied shapes, GRF coefficient of contrast 1e2",
           loss="condition", full_train={"epochs": 30, "lr": 3e-3}),
    Family("heat-mesh", "heat-mesh-systems", {"contrast": 1e2}, 2,
           "one implicit heat step (M + dt K, dt 1e-2) on unstructured gmsh meshes, contrast 1e2",
           loss="condition", full_train={"epochs": 30, "lr": 3e-3}),
)}


def family_status(family: Family, res: int) -> str | None:
    """``None`` when ``family``'s generator is registered and takes its parameters at ``res``, else why not."""
    from sciml.data.pdes import PDES

    if family.pde not in PDES:
        return f"generator {family.pde!r} is not registered in sciml.data.pdes"
    try:
        PDES[family.pde].check_params(res, dict(family.params))
    except ConfigError as exc:
        return f"generator {family.pde!r} refuses {family.params}: {exc}"
    return None


def available_families(res: int, labels: Iterable[str] | None = None) -> tuple[list[Family], dict[str, str]]:
    """The families of ``labels`` (default all of :data:`FAMILIES`) that can be generated now, and why the others cannot."""
    chosen, skipped = [], {}
    for label in (FAMILIES if labels is None else labels):
        if label not in FAMILIES:
            raise ConfigError(f"unknown system family {label!r}; choose one of {', '.join(FAMILIES)}")
        reason = family_status(FAMILIES[label], res)
        if reason is None:
            chosen.append(FAMILIES[label])
        else:
            skipped[label] = reason
    return chosen, skipped


def _check_method(method: str) -> None:
    if method not in METHODS + (GUARDED,):
        raise ConfigError(f"unknown method {method!r}; choose one of {', '.join(METHODS + (GUARDED,))}")


def _build(method: str, A: sp.csr_matrix, model: Any, device: torch.device) -> tuple[Any, dict[str, Any] | None]:
    """The preconditioner of ``method`` for ``A``, and the guard's report for ``"guarded"``."""
    from sciml.linalg import preconditioner

    if method in ("learned", GUARDED):
        from sciml.learned.neural_pcg import LearnedPreconditioner

        M = LearnedPreconditioner(model, A, device=device)
        if method == GUARDED:
            from sciml.learned.safety import guard

            checked = guard(M, A)
            return checked.preconditioner, checked.as_dict()
        return M, None
    return preconditioner(method, A, device=device), None


def solve_once(method: str, A: sp.spmatrix, b: np.ndarray, *, model: Any = None, rtol: float = 1e-8,
               maxiter: int | None = None, device: str | torch.device = "cpu") -> MethodSolve:
    """Build preconditioner ``method`` for ``A`` and solve ``A x = b`` by PCG, timing both.

    Parameters
    ----------
    method : one of :data:`METHODS` or ``"guarded"`` (the learned factor after :func:`sciml.learned.guard` with
        its defaults, the check counted in set-up); ``"learned"`` and ``"guarded"`` need ``model`` (a trained
        :class:`~sciml.learned.NeuralPCG`)
    A : SPD scipy sparse matrix ``(n, n)``
    b : right-hand side ``(n,)``
    rtol : stop when ``||b - A x|| <= rtol ||b||``
    maxiter : PCG iteration limit (default ``10 n``)
    device : where PCG and the preconditioner run (float64)

    Shapes: ``A (n, n)``, ``b (n,)``.
    """
    from sciml.linalg import from_scipy, pcg

    _check_method(method)
    if method in ("learned", GUARDED) and model is None:
        raise ConfigError(f"method {method!r} needs the trained network (model=...)")
    if not sp.issparse(A):
        raise DataError(f"A must be a scipy sparse matrix, got {type(A).__name__}")
    A = sp.csr_matrix(A, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if A.shape[0] != A.shape[1] or b.shape != (A.shape[0],):
        raise DataError(f"A has shape {A.shape} but b has shape {b.shape}; expected a square A and b ({A.shape[0]},)")
    device = torch.device(device)
    synchronize = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    A_t = from_scipy(A, device=device)
    b_t = torch.from_numpy(b).to(device)
    synchronize()
    tic = time.perf_counter()
    M, guard_report = _build(method, A, model, device)
    synchronize()
    setup = time.perf_counter() - tic
    stamps: list[float] = []

    def apply(R: torch.Tensor) -> torch.Tensor:
        # PCG hands residual k to the preconditioner right after computing it: stamp that moment
        synchronize()
        stamps.append(time.perf_counter())
        return M.apply(R)

    start = time.perf_counter()
    result = pcg(A_t, b_t, apply, rtol=rtol, maxiter=maxiter)
    synchronize()
    end = time.perf_counter()
    iterations = int(result.iterations)
    x = result.x.detach().cpu().numpy()
    b_norm = float(np.linalg.norm(b)) or 1.0
    times = np.asarray(stamps[:iterations] + [end]) - start + setup
    return MethodSolve(method=method, n=A.shape[0], iterations=iterations, converged=bool(result.converged),
                       status=result.status.name, setup_s=setup, solve_s=end - start,
                       true_relative_residual=float(np.linalg.norm(b - A @ x)) / b_norm,
                       relative_residuals=result.residual_norms.detach().cpu().numpy() / b_norm, elapsed_s=times,
                       guard=guard_report)


def compare_systems(systems: Sequence[tuple[sp.spmatrix, np.ndarray]], *, model: Any = None,
                    methods: Sequence[str] = METHODS, rtol: float = 1e-8, device: str | torch.device = "cpu",
                    warmup: bool = True) -> dict[str, list[MethodSolve]]:
    """Solve every system with every method; returns ``{method: [MethodSolve per system]}``.

    With ``warmup`` the first system is solved once by every method beforehand, untimed. The methods
    take turns on each system.
    """
    for method in methods:
        _check_method(method)
    if not systems:
        raise DataError("no systems to compare on")
    if ("learned" in methods or GUARDED in methods) and model is None:
        raise ConfigError("methods 'learned' and 'guarded' need the trained network (model=...)")
    if warmup:
        A, b = systems[0]
        for method in methods:
            solve_once(method, A, b, model=model, rtol=rtol, device=device)
    solves: dict[str, list[MethodSolve]] = {method: [] for method in methods}
    for A, b in systems:  # system by system, so that a stretch of machine load hits every method alike
        for method in methods:
            solves[method].append(solve_once(method, A, b, model=model, rtol=rtol, device=device))
    return solves


def summarize(solves: dict[str, list[MethodSolve]]) -> list[dict[str, Any]]:
    """One row per method: mean iterations, median set-up/solve/total seconds, convergence over all systems."""
    rows = []
    for method, runs in solves.items():
        rows.append({"method": method, "systems": len(runs), "mean_n": float(np.mean([r.n for r in runs])),
                     "mean_iterations": float(np.mean([r.iterations for r in runs])),
                     "max_iterations": int(max(r.iterations for r in runs)),
                     "median_setup_s": float(np.median([r.setup_s for r in runs])),
                     "median_solve_s": float(np.median([r.solve_s for r in runs])),
                     "median_total_s": float(np.median([r.total_s for r in runs])),
                     "all_converged": all(r.converged for r in runs),
                     "max_true_relative_residual": float(max(r.true_relative_residual for r in runs))})
    return rows


def ratios(table: list[dict[str, Any]]) -> dict[str, float]:
    """Learned over IC(0) (iterations, time to solution) and learned over AMG-RS (time), from a :func:`summarize` table.

    A ratio below 1 means the learned preconditioner needs fewer iterations or less time.
    Ratios whose methods are missing from the table are left out.
    """
    row = {r["method"]: r for r in table}
    out: dict[str, float] = {}
    if "learned" in row and "ic0" in row:
        out["learned_over_ic0_iterations"] = row["learned"]["mean_iterations"] / row["ic0"]["mean_iterations"]
        out["learned_over_ic0_time"] = row["learned"]["median_total_s"] / row["ic0"]["median_total_s"]
    if "learned" in row and "amg-rs" in row:
        out["learned_over_amg_rs_time"] = row["learned"]["median_total_s"] / row["amg-rs"]["median_total_s"]
    return out


def growth(tables: Sequence[list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """How iterations grow with the unknowns, per method, over tables at increasing sizes.

    Returns ``{method: {"mean_n": [...], "iterations": [...], "relative_to_first": [...], "exponent": p}}``
    with ``p`` the least-squares slope of ``log(iterations)`` against ``log(n)`` (``iterations ~ n^p``;
    unpreconditioned CG on a 2D Laplacian has ``p = 1/2``).
    """
    out: dict[str, dict[str, Any]] = {}
    methods = [r["method"] for r in tables[0]]
    for method in methods:
        rows = [next(r for r in table if r["method"] == method) for table in tables]
        n = np.array([r["mean_n"] for r in rows])
        its = np.array([max(r["mean_iterations"], 1e-12) for r in rows])
        slope = float(np.polyfit(np.log(n), np.log(its), 1)[0]) if len(rows) > 1 and np.ptp(n) > 0 else math.nan
        out[method] = {"mean_n": n.tolist(), "iterations": its.tolist(), "relative_to_first": (its / its[0]).tolist(),
                       "exponent": slope}
    return out


def compare_sizes(model: Any, tests: dict[int, str | Path], *, rtol: float = 1e-8, device: str | torch.device = "cpu",
                  methods: Sequence[str] = METHODS, histories_of: Sequence[int] = ()) -> dict[str, Any]:
    """Compare on held-out test sets of several sizes: ``tests`` maps the unknowns factor (1, 2, 4) to a store.

    Returns ``{"sizes": [{"factor", "mean_n", "table", "ratios"}], "growth": ..., "histories": {factor: {method:
    history of the first system}}}``, with histories only for the factors in ``histories_of``.
    """
    sizes, histories = [], {}
    for factor in sorted(tests):
        solves = compare_systems(load_test_systems(tests[factor]), model=model, methods=methods, rtol=rtol,
                                 device=device)
        table = summarize(solves)
        sizes.append({"factor": factor, "mean_n": table[0]["mean_n"], "table": table, "ratios": ratios(table)})
        if factor in histories_of:
            histories[str(factor)] = {m: runs[0].as_dict(history=True) for m, runs in solves.items()}
    return {"sizes": sizes, "growth": growth([s["table"] for s in sizes]), "histories": histories}


def where_amg_wins(sizes: Sequence[dict[str, Any]]) -> str:
    """A plain sentence, from :func:`compare_sizes` results, on where AMG beats the learned preconditioner."""
    faster, fewer, learned_beats_ic0 = [], [], []
    for size in sizes:
        row = {r["method"]: r for r in size["table"]}
        if "learned" not in row:
            continue
        amg = [row[m] for m in ("amg-rs", "amg-sa") if m in row]
        tag = f"{size['factor']}x"
        best_time = min(amg, key=lambda r: r["median_total_s"], default=None)
        if best_time is not None and best_time["median_total_s"] < row["learned"]["median_total_s"]:
            faster.append(f"{tag} ({LABELS[best_time['method']]} {1e3 * best_time['median_total_s']:.1f} ms vs "
                          f"{1e3 * row['learned']['median_total_s']:.1f} ms)")
        best_its = min(amg, key=lambda r: r["mean_iterations"], default=None)
        if best_its is not None and best_its["mean_iterations"] < row["learned"]["mean_iterations"]:
            fewer.append(f"{tag} ({best_its['mean_iterations']:.1f} vs {row['learned']['mean_iterations']:.1f})")
        if "ic0" in row and row["learned"]["mean_iterations"] < row["ic0"]["mean_iterations"]:
            learned_beats_ic0.append(tag)
    parts = []
    parts.append("AMG is faster to solution than the learned preconditioner at " + ", ".join(faster) + "."
                 if faster else "AMG is not faster to solution than the learned preconditioner at any tested size.")
    parts.append("AMG needs fewer iterations at " + ", ".join(fewer) + "." if fewer
                 else "AMG does not need fewer iterations at any tested size.")
    parts.append("The learned factor needs fewer iterations than IC(0) at " + ", ".join(learned_beats_ic0) + "."
                 if learned_beats_ic0 else "The learned factor does not need fewer iterations than IC(0) at any tested size.")
    return " ".join(parts)


def convergence_plot(histories: dict[str, MethodSolve | dict[str, Any]], path: str | Path, *, title: str,
                     rtol: float | None = None) -> Path:
    """Relative residual against iteration (left) and against wall-clock time including set-up (right).

    ``histories`` maps a method to its :class:`MethodSolve` (or its ``as_dict(history=True)``); writes a PNG.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from sciml.io import atomic_path

    fig = Figure(figsize=(11, 4.2), layout="constrained")
    by_iteration, by_time = fig.subplots(1, 2)
    for method, h in histories.items():
        h = h.as_dict(history=True) if isinstance(h, MethodSolve) else h
        relative = np.asarray(h["relative_residuals"])
        elapsed = np.asarray(h["elapsed_s"])
        label = f"{LABELS.get(method, method)} ({h['iterations']} it)"
        by_iteration.semilogy(np.arange(len(relative)), relative, label=label)
        # the time axis starts when set-up starts: the first point sits at the end of set-up
        by_time.semilogy(1e3 * elapsed, relative, label=label)
    for ax in (by_iteration, by_time):
        if rtol is not None:
            ax.axhline(rtol, color="k", lw=0.6, ls=":")
        ax.set_ylabel("||r_k|| / ||b||")
        ax.grid(True, which="major", alpha=0.3)
    by_iteration.set_xlabel("iteration")
    by_iteration.set_xscale("symlog", linthresh=10)
    by_iteration.set_xlim(left=0)
    by_time.set_xlabel("wall-clock ms since set-up began (set-up included)")
    by_time.set_xscale("log")
    by_iteration.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    path = Path(path)
    with atomic_path(path) as tmp:
        FigureCanvasAgg(fig).print_png(str(tmp))
    return path


def markdown_table(table: list[dict[str, Any]]) -> list[str]:
    """Markdown lines of a :func:`summarize` table (times in milliseconds, medians over systems)."""
    lines = ["| method | mean iterations | set-up ms | solve ms | total ms | all converged | max true rel. residual |",
             "|---|---|---|---|---|---|---|"]
    for r in table:
        lines.append(f"| {LABELS.get(r['method'], r['method'])} | {r['mean_iterations']:.1f} | "
                     f"{1e3 * r['median_setup_s']:.2f} | {1e3 * r['median_solve_s']:.2f} | "
                     f"{1e3 * r['median_total_s']:.2f} | {'yes' if r['all_converged'] else 'NO'} | "
                     f"{r['max_true_relative_residual']:.1e} |")
    return lines


def load_test_systems(path: str | Path, limit: int | None = None) -> list[tuple[sp.csr_matrix, np.ndarray]]:
    """``(A, b)`` pairs of a systems store (any family opened by ``load_systems``), the first ``limit`` of them."""
    from sciml.data.pdes.diffusion_systems import load_systems

    data = load_systems(path)
    count = len(data) if limit is None else min(limit, len(data))
    return [(data.matrix(i), np.asarray(data.rhs(i), dtype=np.float64)) for i in range(count)]
