"""The inference side of the learned linear solvers (:class:`sciml.train.inference.Inference`): on a
store of linear systems, the prediction is each system's solution, reached by CG with the learned
preconditioner (``neural-pcg``) or by deep conjugate directions (``dcdm``), with its iteration count."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from sciml._errors import ConfigError, DataError
from sciml.train.inference import Inference, SampleBatch

__all__ = ["SystemsInference", "RTOL"]

RTOL = 1e-8  # the solves of `sciml predict` / `sciml eval` stop at ||b - A x|| <= RTOL ||b||


class SystemsInference(Inference):
    """``neural-pcg`` and ``dcdm`` on stores of linear systems (``diffusion-systems`` and the mesh families).

    ``predict(A)`` (neural-pcg) returns the :class:`~sciml.learned.LearnedPreconditioner` for ``A``;
    ``predict(A, b)`` (dcdm) solves ``A x = b`` and returns the :class:`~sciml.linalg.SolveResult`.
    """

    layouts = ("systems",)
    reference = "solution"

    def __init__(self, kind: str):
        if kind not in ("neural-pcg", "dcdm"):
            raise ValueError(f"unknown learned solver kind {kind!r}")
        self.kind = kind
        self.natural_input = ("A (scipy sparse SPD, n x n) -> the preconditioner M (M.apply(r), "
                              "M.as_linear_operator())" if kind == "neural-pcg" else
                              "A (scipy sparse SPD, n x n), b (n,) -> SolveResult (x, converged, iterations, ...), "
                              f"||b - A x|| <= rtol ||b|| (default {RTOL:g})")

    def open(self, path: str | os.PathLike, model: nn.Module, metadata: dict[str, Any]) -> Any:
        from sciml.data.pdes.diffusion_systems import load_systems

        data = load_systems(path, require_solution=False)
        if self.kind == "dcdm":
            grid = getattr(data, "attrs", {}).get("params", {})
            if not data.shared_pattern or grid.get("dim", 2) != model.config.n_dims:
                raise DataError(f"{path} does not hold {model.config.n_dims}D grid systems on one shared pattern; "
                                f"a dcdm model solves those only (diffusion-systems)")
        return data

    def has_reference(self, data: Any) -> bool:
        return data.has_solution

    def prediction_fields(self, model: nn.Module, data: Any) -> dict[str, tuple[tuple[int, ...], str]]:
        return {"prediction": ((data.n,), "float64"), "iterations": ((), "int32")}

    def prediction_attrs(self, model: nn.Module, data: Any) -> dict[str, Any]:
        how = "CG with the learned preconditioner" if self.kind == "neural-pcg" else "deep conjugate directions"
        return {"prediction_note": f"solutions by {how}, ||b - A x|| <= {RTOL:g} ||b||; iterations per system"}

    def _solve(self, model: nn.Module, A: Any, b: np.ndarray, device: torch.device) -> Any:
        if self.kind == "dcdm":
            from sciml.learned.dcdm import DCDMSolver

            return DCDMSolver(model, rtol=RTOL).solve(A, torch.from_numpy(b))
        from sciml.learned.neural_pcg import LearnedPreconditioner
        from sciml.linalg import pcg

        M = LearnedPreconditioner(model, A, device=device)
        return pcg(A, torch.from_numpy(b).to(device), M, rtol=RTOL)

    def predict_samples(self, model: nn.Module, data: Any, indices: list[int], device: torch.device) -> SampleBatch:
        pred = np.zeros((len(indices), data.n))
        target = np.zeros((len(indices), data.n)) if data.has_solution else None
        mask = np.zeros((len(indices), data.n), dtype=bool)
        iterations = np.zeros(len(indices), dtype=np.int32)
        for k, index in enumerate(indices):
            A, b = data.matrix(index), data.rhs(index)
            result = self._solve(model, A, b, device)
            n = len(b)
            pred[k, :n] = result.x.double().cpu().numpy()
            mask[k, :n] = True
            iterations[k] = int(result.iterations)
            if target is not None:
                target[k, :n] = data.solution(index)
        return SampleBatch(indices, pred, target, mask=mask, extra={"iterations": iterations})

    def predict(self, model: nn.Module, A: Any, b: Any = None, *, rtol: float = RTOL) -> Any:
        device = next(model.parameters()).device
        if self.kind == "neural-pcg":
            if b is not None:
                raise ConfigError("a neural-pcg model predicts a preconditioner for A: predict(A); solve with "
                                  "sciml.linalg.pcg(A, b, M) or scipy's cg(A, b, M=M.as_linear_operator())")
            from sciml.learned.neural_pcg import LearnedPreconditioner

            return LearnedPreconditioner(model, A, device=device)
        if b is None:
            raise ConfigError("a dcdm model solves A x = b: predict(A, b)")
        from sciml.learned.dcdm import DCDMSolver

        return DCDMSolver(model, rtol=rtol).solve(A, torch.as_tensor(np.asarray(b, dtype=np.float64)))

    def natural_example(self, model: nn.Module, data: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
        A = data.matrix(0)
        return ((A,) if self.kind == "neural-pcg" else (A, data.rhs(0))), {}

    def export(self, data: Any, batch: SampleBatch, directory: str | os.PathLike) -> list[str]:
        from sciml.data.export import grid_cells, sample_file_name, write_fields
        from sciml.data.store import open_store

        written = []
        with open_store(data.path) as store:
            on_mesh = {"points", "cells", "dofs"} <= set(store.fields)
            params = store.attrs.get("params", {})
            for k, index in enumerate(batch.indices):
                n = int(data.num_rows[index])
                values = {"prediction": batch.prediction[k, :n]}
                if batch.target is not None:
                    values["reference"] = batch.target[k, :n]
                    values["error"] = batch.prediction[k, :n] - batch.target[k, :n]
                if on_mesh:
                    nodes = int(store.read("num_nodes", index))
                    points = store.read("points", index)[:nodes]
                    cells = store.read("cells", index)[:int(store.read("num_cells", index))]
                    dofs = store.read("dofs", index)[:n]
                    fields = {}
                    for name, v in values.items():  # boundary (eliminated) nodes: 0, the Dirichlet value
                        full = np.zeros(nodes)
                        full[dofs] = v
                        fields[name] = full
                    cell_blocks = [("triangle", cells)]
                else:
                    dim = int(params.get("dim", 2))
                    m = round(n ** (1.0 / dim))
                    if m ** dim != n:
                        raise DataError(f"{data.path}: {n} unknowns are not an m^{dim} grid; no export")
                    axes = [np.arange(1, m + 1) / (m + 1)] * dim  # interior nodes of the unit square/cube
                    points, cell_blocks = grid_cells(axes)
                    fields = values
                path = Path(directory) / sample_file_name(index, ".vtu")
                write_fields(path, points, cell_blocks, fields)
                written.append(str(path))
        return written
