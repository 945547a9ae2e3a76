"""``sciml train wos-no``: WoS-NO (and its ``pino`` / ``fem`` baselines) on poisson-star stores.

The store (``sciml data generate poisson-star``) holds each instance's mesh, its 13 parameters (star, source,
boundary function) and its finite-element solution ``u``. Each training step takes ``batch_size`` instances;
for ``method=wos`` every visit of an instance adds ``walks`` fresh walk-on-spheres walks per interior vertex to
that instance's running mean, the target (no solution data); the running means travel in ``checkpoint.pt``, so
a resumed run continues them. ``sciml eval`` compares the prediction with ``u`` at every vertex.

The learning rate follows the trainer's schedule per epoch (:class:`sciml.train.TrainConfig`, AdamW);
``WosNoConfig.lr`` / ``weight_decay`` are the experiment's (:mod:`sciml.experiments.wosno`) and are not read
here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from sciml._errors import ConfigError, DataError
from sciml.data.datasets import StoreDataset
from sciml.train.inference import Inference, SampleBatch
from sciml.train.spec import ModelSpec
from sciml.wos.wosno import (Instance, RunningTargets, WosNoConfig, build_gino, instance_from_arrays, latent_grid,
                             mesh_boundary, method_loss, relative_l2)

__all__ = ["WosNoOperator", "PoissonStarDataset", "InstanceBatch", "WosNoMethod", "WosNoInference", "metrics",
           "SPEC", "PAPER", "model_payload"]

PAPER = ("Viswanath, Nam, Deng, Berner, Anandkumar, Bera, Operator learning using weak supervision from "
         "walk-on-spheres, arXiv:2603.01193")
STAR_FIELDS = ("points", "cells", "num_nodes", "num_cells", "params")


class WosNoOperator(nn.Module):
    """neuraloperator's GINO on one instance's points: ``forward(points (n, 2), features (n, 3), queries=None)
    -> (n,)`` (or ``(q,)`` at ``queries (q, 2)``); ``features`` = g at the closest boundary point, the distance
    to the boundary, f (:func:`sciml.wos.wosno.instance_from_arrays`)."""

    def __init__(self, config: WosNoConfig):
        super().__init__()
        self.config = config
        self.gino = build_gino(config)
        self.register_buffer("latent", latent_grid(config), persistent=False)

    def forward(self, points: torch.Tensor, features: torch.Tensor, queries: torch.Tensor | None = None):
        out = self.gino(input_geom=points, latent_queries=self.latent,
                        output_queries=points if queries is None else queries, x=features[None])
        return out.reshape(-1)

    def weights(self) -> dict[str, torch.Tensor]:
        """The state dict without neuraloperator's pickled ``_metadata`` (weights-only loadable)."""
        return {k: v for k, v in self.state_dict().items() if isinstance(v, torch.Tensor)}

    def instance(self, inst: Instance, queries: torch.Tensor | None = None) -> torch.Tensor:
        p = next(self.parameters())
        return self(inst.points.to(p.device, p.dtype), inst.features.to(p.device, p.dtype), queries)


class InstanceBatch:
    """A list of :class:`~sciml.wos.wosno.Instance` that the trainer moves as one (they stay on the CPU; the
    model moves each instance's tensors when it reads them)."""

    def __init__(self, instances: list[Instance]):
        self.instances = list(instances)
        self.num_graphs = len(self.instances)

    def to(self, device):
        return self

    def __iter__(self):
        return iter(self.instances)

    def __len__(self):
        return self.num_graphs


class PoissonStarDataset(StoreDataset):
    """The instances of a poisson-star store (:mod:`sciml.data.pdes.poisson_star`), built once per process and
    kept (their boundary's distance grid is needed at every ``wos`` step). A store without ``u`` gives
    instances whose ``fem`` is NaN and ``has_target`` false.

    Raises
    ------
    DataError
        For a store of another layout, a defective mesh or non-finite values (file and sample named).
    """

    def __init__(self, path: str | os.PathLike):
        from sciml.data.store import open_store

        self.path = Path(path)
        with open_store(self.path) as store:
            missing = [name for name in STAR_FIELDS if name not in store.fields]
            if missing:
                raise DataError(f"{self.path} is not a poisson-star store (sciml data generate poisson-star): it "
                                f"lacks {', '.join(missing)}")
            self.n_samples = store.n_samples
            self.has_target = "u" in store.fields
            self.max_nodes = int(store.fields["points"][0][1])
            self.attrs = store.attrs
        self.pde = str(self.attrs.get("pde", ""))
        self._cache: dict[int, Instance] = {}
        super().__init__()

    def instance(self, index: int) -> Instance:
        from sciml.data.mesh import check_mesh
        from sciml.data.pdes.poisson_star import unpack

        index = int(index)
        if not 0 <= index < self.n_samples:
            raise IndexError(f"sample index {index} is out of range for {self.path} with {self.n_samples} samples")
        if index in self._cache:
            return self._cache[index]
        store = self._handle()
        n, m = int(store.read("num_nodes", index)), int(store.read("num_cells", index))
        points = np.asarray(store.read("points", index)[:n], dtype=np.float64)
        cells = np.asarray(store.read("cells", index)[:m], dtype=np.int64)
        where = f"{self.path}: sample {index}"
        try:
            check_mesh((points, cells))
            params = unpack(store.read("params", index))
        except DataError as exc:
            raise DataError(f"{where} does not hold a valid instance: {exc}") from None
        fem = None
        if self.has_target:
            fem = np.asarray(store.read("u", index)[:n], dtype=np.float64)
            if not np.all(np.isfinite(fem)):
                raise DataError(f"{where}: the solution u holds non-finite values")
        inst = instance_from_arrays(index, params, points, cells, fem)
        self._cache[index] = inst
        return inst

    def __getitem__(self, index: int) -> Instance:
        return self.instance(index)

    @staticmethod
    def collate(items: list[Instance]) -> InstanceBatch:
        return InstanceBatch(items)

    def __getstate__(self):
        state = super().__getstate__()
        state["_cache"] = {}
        return state


class WosNoMethod:
    """One step: the mean over the batch's instances of ``config.method``'s loss (:func:`method_loss`);
    validation: the relative L2 against ``u`` per instance. ``state_dict`` holds the running walk-on-spheres
    means (saved in ``checkpoint.pt``)."""

    metric = "rel_l2"

    def __init__(self, model: WosNoOperator):
        self.model = model
        self.config: WosNoConfig = model.config
        self.running = RunningTargets(self.config)

    def _device(self) -> torch.device:
        return next(self.model.parameters()).device

    def step(self, batch: InstanceBatch) -> dict[str, torch.Tensor]:
        if self.config.method == "wos" and torch.distributed.is_available() and torch.distributed.is_initialized() \
                and torch.distributed.get_world_size() > 1:
            raise ConfigError("the wos method keeps each instance's running walk-on-spheres mean in one process; "
                              "train it without torchrun (or use method=fem / pino)")
        device = self._device()
        losses = [method_loss(self.config, inst, self.model.instance, self.running, device) for inst in batch]
        return {"loss": torch.stack(losses).mean()}

    @torch.no_grad()
    def evaluate(self, batch: InstanceBatch) -> dict[str, torch.Tensor]:
        total = torch.zeros((), dtype=torch.float64)
        for inst in batch:
            if not bool(torch.isfinite(inst.fem).all()):
                raise DataError(f"validation instance {inst.index} has no solution u to compare with")
            total += relative_l2(self.model.instance(inst).double().cpu(), inst.fem)
        return {"rel_l2": total}

    def state_dict(self) -> dict[str, Any]:
        return self.running.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.running.load_state_dict(state)


def complete_config(config: WosNoConfig, data: PoissonStarDataset | None) -> WosNoConfig:
    """Checks against the training store: it exists, holds ``u`` for ``method=fem``, and every instance lies
    inside the latent grid (``latent_box``)."""
    if data is None:
        raise ConfigError("wos-no trains on a poisson-star store: pass --data TRAIN.h5 "
                          "(sciml data generate poisson-star --out TRAIN.h5 ...)")
    if config.method == "fem" and not data.has_target:
        raise DataError(f"{data.path} has no solution u, which method=fem trains on (wos and pino do not need it)")
    store = data._handle()
    reach = 0.0
    for index in range(data.n_samples):
        n = int(store.read("num_nodes", index))
        reach = max(reach, float(np.abs(np.asarray(store.read("points", index)[:n])).max()))
    if reach > config.latent_box:
        raise ConfigError(f"{data.path} has points up to {reach:.3g} from the origin, outside the latent grid "
                          f"[-{config.latent_box:g}, {config.latent_box:g}]^2; --set latent_box={reach * 1.05:.3g}")
    return config


@torch.no_grad()
def metrics(model: WosNoOperator, data: PoissonStarDataset, device: Any = "cpu") -> dict[str, Any]:
    """``sciml eval``'s own figures of a wos-no run: the relative L2 against ``u`` per instance (mean, median,
    largest) over every vertex."""
    if not data.has_target:
        return {}
    model = model.to(device).eval()
    errors = [float(relative_l2(model.instance(inst).double().cpu(), inst.fem))
              for inst in (data.instance(i) for i in range(len(data)))]
    return {"rel_l2_mean": float(np.mean(errors)), "rel_l2_median": float(np.median(errors)),
            "rel_l2_max": float(np.max(errors)), "n_samples": len(errors)}


def _closest_boundary_values(points: np.ndarray, cells: np.ndarray, g: np.ndarray, on_boundary: np.ndarray,
                             closest: np.ndarray) -> np.ndarray:
    """``g`` at each closest boundary point, linear along the boundary edge it lies on (from the vertex values)."""
    edges = np.sort(np.concatenate([cells[:, [0, 1]], cells[:, [1, 2]], cells[:, [2, 0]]]), axis=1)
    uniq, counts = np.unique(edges, axis=0, return_counts=True)
    boundary_edges = uniq[counts == 1]
    a, b = points[boundary_edges[:, 0]], points[boundary_edges[:, 1]]
    ab = b - a
    out = np.empty(len(points))
    for start in range(0, len(points), 2048):
        c = closest[start:start + 2048]
        t = np.clip(((c[:, None, :] - a[None]) * ab[None]).sum(-1) / (ab * ab).sum(-1)[None], 0.0, 1.0)
        gap = ((a[None] + t[..., None] * ab[None] - c[:, None, :]) ** 2).sum(-1)
        k = gap.argmin(axis=1)
        tk = t[np.arange(len(c)), k]
        out[start:start + 2048] = (1 - tk) * g[boundary_edges[k, 0]] + tk * g[boundary_edges[k, 1]]
    out[on_boundary] = g[on_boundary]
    return out


class WosNoInference(Inference):
    """``wos-no``: the solution at the vertices of each instance of a poisson-star store."""

    layouts = ("mesh",)
    reference = "u"
    natural_input = ("points (n, 2), cells (m, 3), f (n,) the source at the vertices, g (n,) the boundary values "
                     "at the vertices (read on the boundary vertices) -> u (n,) at the vertices, Lap u = f, u = g "
                     "on the boundary")

    def open(self, path: str | os.PathLike, model: nn.Module, metadata: dict[str, Any]) -> Any:
        return PoissonStarDataset(path)

    def has_reference(self, data: Any) -> bool:
        return data.has_target

    def prediction_fields(self, model: nn.Module, data: Any) -> dict[str, tuple[tuple[int, ...], str]]:
        return {"prediction": ((data.max_nodes,), "float32")}

    @torch.no_grad()
    def predict_samples(self, model: nn.Module, data: Any, indices: list[int], device: torch.device) -> SampleBatch:
        model = model.to(device).eval()
        pred = np.zeros((len(indices), data.max_nodes))
        target = np.zeros_like(pred)
        mask = np.zeros(pred.shape, dtype=bool)
        for k, index in enumerate(indices):
            inst = data.instance(index)
            n = len(inst.points)
            pred[k, :n] = model.instance(inst).double().cpu().numpy()
            if data.has_target:
                target[k, :n] = inst.fem.numpy()
            mask[k, :n] = True
        return SampleBatch(list(indices), pred, target if data.has_target else None, mask=mask)

    @torch.no_grad()
    def predict(self, model: nn.Module, points: Any, cells: Any, f: Any, g: Any) -> torch.Tensor:
        from sciml.data.mesh import check_mesh

        points = np.asarray(points, dtype=np.float64)
        cells = np.asarray(cells, dtype=np.int64)
        if points.ndim != 2 or points.shape[1] != 2 or cells.ndim != 2 or cells.shape[1] != 3:
            raise ConfigError(f"points must be (n, 2) and cells (m, 3) triangles, got {points.shape} and {cells.shape}")
        check_mesh((points, cells))
        values = {}
        for name, v in (("f", f), ("g", g)):
            v = np.asarray(v, dtype=np.float64).reshape(-1)
            if v.shape != (len(points),):
                raise ConfigError(f"{name} must hold one value per vertex ({len(points)}), got shape {v.shape}")
            if not np.all(np.isfinite(v)):
                raise ConfigError(f"{name} holds non-finite values")
            values[name] = v
        reach = float(np.abs(points).max())
        box = model.config.latent_box
        if reach > box:
            raise ConfigError(f"the mesh reaches {reach:.3g} from the origin, outside the model's latent grid "
                              f"[-{box:g}, {box:g}]^2")
        _, on_boundary, dist, closest = mesh_boundary(points, cells)
        g_closest = _closest_boundary_values(points, cells, values["g"], on_boundary, closest)
        features = torch.as_tensor(np.stack([g_closest, dist, values["f"]], axis=1))
        p = next(model.parameters())
        return model(torch.as_tensor(points).to(p.device, p.dtype), features.to(p.device, p.dtype)).cpu()

    def natural_example(self, model: nn.Module, data: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
        inst = data.instance(0)
        return (inst.points.double().numpy(), inst.cells, inst.f.double().numpy(), inst.g.double().numpy()), {}

    def export(self, data: Any, batch: SampleBatch, directory: str | os.PathLike) -> list[str]:
        from sciml.train.inference import export_node_fields

        def mesh_of(index):
            inst = data.instance(index)
            return inst.points.double().numpy(), [("triangle", np.asarray(inst.cells))]

        return export_node_fields(batch, directory, mesh_of)


def model_payload(trainer: Any, result: dict[str, Any] | None = None) -> dict[str, Any]:
    """A :class:`~sciml.wos.wosno.WosNoTrainer`'s operator as a sciml model file's payload (``sciml.load`` reads
    it back as a ``wos-no`` model): what ``sciml reproduce wos-no-poisson2d`` saves as ``METHOD.pt``."""
    from sciml._version import __version__
    from sciml.config import to_dict

    weights = {f"gino.{k}": v.detach().cpu() for k, v in trainer.model.state_dict().items()
               if isinstance(v, torch.Tensor)}
    numbers = {k: float(v) for k, v in (result or {}).items()
               if k in ("rel_l2", "rel_l2_median", "rel_l2_max") and v is not None}
    return {"format": "sciml-model", "sciml_version": __version__, "model_name": "wos-no",
            "model_config": to_dict(trainer.config), "model": weights, "epoch": int(trainer.epochs),
            "metrics": numbers}


def _dataset(path: str | os.PathLike) -> PoissonStarDataset:
    return PoissonStarDataset(path)


def _prepare(model: WosNoOperator, data: Any) -> None:
    """Nothing depends on the data beyond :func:`complete_config`'s checks (the loss is scale-free)."""


SPEC = ModelSpec(
    name="wos-no", config_cls=WosNoConfig, build=WosNoOperator, method=WosNoMethod, dataset=_dataset,
    complete_config=complete_config, prepare=_prepare, evaluate=metrics, paper=PAPER,
    summary="GINO for Lap u = f, u = g on star domains trained on walk-on-spheres estimates (method=wos; pino and "
            "fem baselines) from poisson-star stores",
    inference=WosNoInference(),
    example={"pde": "poisson-star", "res": 3, "n": 3, "params": {},
             "overrides": {"epochs": 2, "batch_size": 1, "latent_res": 8, "modes": 2, "hidden": 4, "layers": 1,
                           "embed": 4, "in_kernel": "[8]", "out_kernel": "[8]", "walks": 4, "radius": 0.5}},
    train_defaults={"epochs": 15, "batch_size": 1, "lr": 1e-3, "weight_decay": 1e-6, "scheduler": "cosine"})
