"""The model kinds of :mod:`sciml.graph` as :class:`~sciml.train.ModelSpec` entries of :mod:`sciml.registry`:
``mp-pde`` (trajectories of 1-D PDEs), ``gnn-bvp`` (boundary-value problems on meshes) and ``cgs`` (node
values of graphs: pore-network pressures ...)."""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
import torch
from torch import nn

from sciml._errors import ConfigError, DataError
from sciml.graph import mppde
from sciml.operators.inference import RolloutInference
from sciml.train.inference import Inference, SampleBatch
from sciml.train.spec import ModelSpec

__all__ = ["MPPDE_SPEC", "MPPDEInference", "GNN_BVP_SPEC", "MeshInference", "CGS_SPEC", "GraphInference"]


class MPPDEInference(RolloutInference):
    """``mp-pde``: the frames from ``start`` (``eval_start``, default ``2 K``) on, rolled out from the ``K``
    true frames before them, with the store's grid, times and per-sample parameters."""

    natural_input = ("initial (batch, K, n), x (n,), t0 (time of the first predicted frame), variables "
                     "{name: (batch,)} -> (batch, steps, n)")

    def open(self, path: str | os.PathLike, model: nn.Module, metadata: dict[str, Any]) -> Any:
        data = mppde.MPPDEDataset(path)
        mppde.check_data(model.config, data, what="evaluated on")
        return data

    def _window(self, model: nn.Module) -> tuple[int, int]:
        c = model.config
        return c.start - c.time_window, c.start

    def prediction_attrs(self, model: nn.Module, data: Any) -> dict[str, Any]:
        start = model.config.start
        return {"predicted_frames": json.dumps([start, data.n_times]),
                "prediction_note": f"frames {start}..{data.n_times - 1} rolled out from the {model.config.time_window} "
                                   f"true frames before them; the other frames are copies of the input"}

    @torch.no_grad()
    def predict_samples(self, model: nn.Module, data: Any, indices: list[int], device: torch.device) -> SampleBatch:
        first, start = self._window(model)
        trajectories = data.read(indices)[:, :, 0]  # (B, nt, n)
        pred = trajectories.clone()
        model = model.to(device)
        dtype = next(model.parameters()).dtype
        u = trajectories.to(device, dtype)
        variables = mppde.variables_of(model.config, data.parameters(indices), len(indices), u)
        pred[:, start:] = mppde.rollout(model, u[:, first:start], torch.from_numpy(data.x), float(data.times[start]),
                                        data.n_times - start, variables).to("cpu", pred.dtype)
        mask = np.zeros(trajectories.shape, dtype=bool)
        mask[:, start:] = True
        return SampleBatch(indices, pred.double().numpy(), trajectories.double().numpy(), mask=mask)

    @torch.no_grad()
    def predict(self, model: nn.Module, initial: Any, x: Any, t0: Any, variables: dict[str, Any] | None = None,
                steps: int | None = None) -> torch.Tensor:
        c = model.config
        parameter = next(model.parameters())
        initial = torch.as_tensor(initial)
        if initial.ndim != 3 or initial.shape[1] != c.time_window:
            raise ConfigError(f"initial must be (batch, {c.time_window}, n), got shape {tuple(initial.shape)}")
        initial = initial.to(parameter.device, parameter.dtype)
        given = {name: torch.as_tensor(v, dtype=torch.float64).reshape(-1).expand(initial.shape[0])
                 for name, v in (variables or {}).items()}
        unknown = sorted(set(given) - set(c.variables))
        if unknown:
            raise ConfigError(f"the model takes no parameter {', '.join(unknown)}; it takes "
                              f"{', '.join(c.variables) or 'none'}")
        if steps is None:
            steps = c.n_times - c.start if c.n_times > c.start else c.time_window
        v = mppde.variables_of(c, given, initial.shape[0], initial)
        return mppde.rollout(model, initial, torch.as_tensor(x, dtype=torch.float64), t0, int(steps), v)

    def natural_example(self, model: nn.Module, data: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
        first, start = self._window(model)
        params = {name: v for name, v in data.parameters([0]).items() if name in model.config.variables}
        return ((data.read([0])[:, first:start, 0], data.x, float(data.times[start])),
                {"variables": params, "steps": model.config.time_window})


def _dataset(path: str | os.PathLike) -> mppde.MPPDEDataset:
    return mppde.MPPDEDataset(path)


def _prepare(model: nn.Module, data: Any) -> None:
    """Nothing to fit before training (MP-PDE normalises inside the network; CGS and the BVP operator need none)."""


MPPDE_SPEC = ModelSpec(
    name="mp-pde", config_cls=mppde.MPPDEConfig, build=mppde.MPPDE, method=mppde.MPPDEMethod, dataset=_dataset,
    complete_config=mppde.complete_config, prepare=_prepare, evaluate=mppde.metrics, paper=mppde.PAPER,
    summary="message passing neural PDE solver on 1-D grids, K frames per call (temporal bundling), pushforward "
            "training; combined equation E1-E3, wave",
    inference=MPPDEInference(),
    example={"pde": "combined", "res": 20, "n": 4, "params": {"nt": 12, "fine": 40, "family": "E3", "T": 0.2},
             "overrides": {"epochs": 2, "batch_size": 2, "time_window": 3, "hidden": 12, "layers": 2,
                           "unrolling": 1}})


# -- gnn-bvp -----------------------------------------------------------------------------------------
class MeshInference(Inference):
    """``gnn-bvp``: the potential at the vertices of each mesh of a poisson-mesh store."""

    layouts = ("mesh",)
    reference = "u"
    natural_input = ("points (n, 2), cells (m, 3), rho (n,), eps (m,) or a number -> u (n,) at the vertices, "
                     "u = 0 on the boundary of the mesh")

    def open(self, path: str | os.PathLike, model: nn.Module, metadata: dict[str, Any]) -> Any:
        from sciml.graph.bvp import MeshGraphDataset

        return MeshGraphDataset(path)

    def has_reference(self, data: Any) -> bool:
        return data.has_target

    def prediction_fields(self, model: nn.Module, data: Any) -> dict[str, tuple[tuple[int, ...], str]]:
        return {"prediction": ((data.max_nodes,), "float32")}

    @torch.no_grad()
    def predict_samples(self, model: nn.Module, data: Any, indices: list[int], device: torch.device) -> SampleBatch:
        model = model.to(device)
        pred = np.zeros((len(indices), data.max_nodes))
        target = np.zeros_like(pred)
        mask = np.zeros(pred.shape, dtype=bool)
        for k, index in enumerate(indices):
            g = data.graph(index)
            u = model(g.features.to(device), g.edge_index.to(device), g.edge_attr[:, -1].to(device))[:, 0]
            n = g.num_nodes
            pred[k, :n] = u.double().cpu().numpy()
            target[k, :n] = g.y[:, 0].double().numpy()
            mask[k, :n] = True
        return SampleBatch(indices, pred, target if data.has_target else None, mask=mask)

    @torch.no_grad()
    def predict(self, model: nn.Module, points: Any, cells: Any, rho: Any, eps: Any = 1.0) -> torch.Tensor:
        from sciml.graph.bvp import mesh_graph

        points = np.asarray(points, dtype=np.float64)
        cells = np.asarray(cells, dtype=np.int64)
        if points.ndim != 2 or points.shape[1] != 2 or cells.ndim != 2 or cells.shape[1] != 3:
            raise ConfigError(f"points must be (n, 2) and cells (m, 3) triangles, got {points.shape} and {cells.shape}")
        rho = np.asarray(rho, dtype=np.float64).reshape(-1)
        if rho.shape != (len(points),):
            raise ConfigError(f"rho must hold one value per vertex ({len(points)}), got {rho.shape}")
        eps = np.array(np.broadcast_to(np.asarray(eps, dtype=np.float64), (len(cells),)))
        graph = mesh_graph(points, cells, rho, eps)
        parameter = next(model.parameters())
        features = graph.features.to(parameter.device, parameter.dtype)
        lengths = graph.edge_attr[:, -1].to(parameter.device, parameter.dtype)
        return model(features, graph.edge_index.to(parameter.device), lengths)[:, 0]

    def natural_example(self, model: nn.Module, data: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
        g = data.graph(0)
        return (g.pos.numpy(), g.face.T.numpy(), g.x[:, 0].numpy()), {"eps": g.cell_eps.numpy()}

    def export(self, data: Any, batch: SampleBatch, directory: str | os.PathLike) -> list[str]:
        from sciml.train.inference import export_node_fields

        def mesh_of(index):
            g = data.graph(index)
            return g.pos.double().numpy(), [("triangle", g.face.T.numpy())]

        return export_node_fields(batch, directory, mesh_of)


def _mesh_dataset(path: str | os.PathLike):
    from sciml.graph.bvp import MeshGraphDataset

    return MeshGraphDataset(path)


def _bvp_spec() -> ModelSpec:
    from sciml.graph import bvp

    return ModelSpec(
        name="gnn-bvp", config_cls=bvp.BVPConfig, build=bvp.ChebBVP, method=bvp.BVPMethod, dataset=_mesh_dataset,
        complete_config=bvp.complete_config, prepare=_prepare, evaluate=bvp.metrics, paper=bvp.PAPER,
        summary="ChebConv solution operator of -div(eps grad u) = rho, u = 0 on the boundary, on FEM meshes of any "
                "shape (poisson-mesh stores)",
        inference=MeshInference(),
        example={"pde": "poisson-mesh", "res": 6, "n": 4, "params": {"order": 1, "shapes": "[square]"},
                 "overrides": {"epochs": 2, "batch_size": 2, "hidden": 8, "layers": 1, "K": 2}})


GNN_BVP_SPEC = _bvp_spec()


# -- cgs ---------------------------------------------------------------------------------------------
class GraphInference(Inference):
    """``cgs``: the node values ``y`` of each graph of a graph store, one fixed-point solve per graph."""

    layouts = ("graphs",)
    reference = "y"
    natural_input = "x (N, node_features), edge_index (2, E), edge_attr (E, edge_features) or None -> (N, C)"

    def open(self, path: str | os.PathLike, model: nn.Module, metadata: dict[str, Any]) -> Any:
        from sciml.graph.cgs import GraphStoreDataset, check_store

        data = GraphStoreDataset(path)
        check_store(model.config, data)
        return data

    def has_reference(self, data: Any) -> bool:
        return data.has_target

    def prediction_fields(self, model: nn.Module, data: Any) -> dict[str, tuple[tuple[int, ...], str]]:
        return {"prediction": ((data.max_nodes, int(model.config.out_features)), "float32")}

    @torch.no_grad()
    def predict_samples(self, model: nn.Module, data: Any, indices: list[int], device: torch.device) -> SampleBatch:
        model = model.to(device)
        c = int(model.config.out_features)
        pred = np.zeros((len(indices), data.max_nodes, c))
        target = np.zeros_like(pred)
        mask = np.zeros(pred.shape, dtype=bool)
        for k, index in enumerate(indices):
            g = data.graph(index)
            n = g.num_nodes
            pred[k, :n] = self.predict(model, g.x, g.edge_index, getattr(g, "edge_attr", None)).double().cpu().numpy()
            target[k, :n] = g.y.double().numpy()
            mask[k, :n] = True
        return SampleBatch(indices, pred, target if data.has_target else None, mask=mask, channel_axis=1)

    @torch.no_grad()
    def predict(self, model: nn.Module, x: Any, edge_index: Any, edge_attr: Any = None) -> torch.Tensor:
        x, edge_index = torch.as_tensor(x), torch.as_tensor(edge_index)
        if edge_index.ndim != 2 or edge_index.shape[0] != 2 or edge_index.dtype.is_floating_point:
            raise DataError(f"edge_index must be a (2, E) integer array, got shape {tuple(edge_index.shape)} "
                            f"({edge_index.dtype})")
        parameter = next(model.parameters())
        x = x.to(parameter.device, parameter.dtype)
        if edge_attr is not None:
            edge_attr = torch.as_tensor(edge_attr).to(parameter.device, parameter.dtype)
        return model(x, edge_index.to(parameter.device, torch.long), edge_attr)

    def natural_example(self, model: nn.Module, data: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
        g = data.graph(0)
        return (g.x.numpy(), g.edge_index.numpy()), {"edge_attr": getattr(g, "edge_attr", None)}

    def export(self, data: Any, batch: SampleBatch, directory: str | os.PathLike) -> list[str]:
        """One ``.vtu`` per graph: its nodes at ``pos``, its edges as lines (each once), a node field per channel."""
        from sciml.train.inference import export_node_fields

        refusal = self.export_refusal(data)
        if refusal:
            raise DataError(refusal)

        def mesh_of(index):
            g = data.graph(index)
            return g.pos.numpy(), [("line", np.unique(np.sort(g.edge_index.numpy().T, axis=1), axis=0))]

        return export_node_fields(batch, directory, mesh_of)

    def export_refusal(self, data: Any) -> str | None:
        if not data.has_pos:
            return f"{data.path} has no node positions (pos) to place a VTK export of its graphs on"
        return None


def _graph_dataset(path: str | os.PathLike):
    from sciml.graph.cgs import GraphStoreDataset

    return GraphStoreDataset(path)


def _cgs_spec() -> ModelSpec:
    from sciml.graph import cgs

    return ModelSpec(
        name="cgs", config_cls=cgs.CGSConfig, build=cgs.CGS, method=cgs.CGSMethod, dataset=_graph_dataset,
        complete_config=cgs.complete_config, prepare=_prepare, evaluate=cgs.metrics,
        paper="Park, Choo, Park: Convergent Graph Solvers, arXiv 2106.01680",
        summary="convergent graph solver: node values as the decoded fixed point of a learned contracting linear map, "
                "implicit backward; graph stores (pore-network pressures)",
        inference=GraphInference(),
        example={"pde": "pore-network", "res": 16, "n": 4, "params": {},
                 "overrides": {"epochs": 2, "batch_size": 2, "hidden": 8, "heads": 2, "encoder_layers": 1}})


CGS_SPEC = _cgs_spec()
