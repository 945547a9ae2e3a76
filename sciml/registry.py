"""Every model kind and experiment sciml offers, by name, as lazy ``"module:attribute"`` references.

This is the one place where methods are listed. It sits above the method packages and imports
none of them until a name is asked for, so ``sciml train fno`` does not import torch_geometric,
and no package below (``sciml.train``, ``sciml.data``, ``sciml.linalg`` ...) ever imports a method
package. A new method adds its entries here and nowhere else:

* ``MODELS[name]`` names a :class:`sciml.train.ModelSpec` (``sciml train NAME``);
* ``EXPERIMENTS[name]`` names a :class:`sciml.experiments.Experiment` (``sciml reproduce NAME``),
  whose configuration is ``experiments/NAME/config.yaml``.
"""

from __future__ import annotations

import importlib
from typing import Any

from sciml._errors import ConfigError

__all__ = ["MODELS", "EXPERIMENTS", "resolve_model", "resolve_experiment", "model_names", "experiment_names",
           "describe_models", "describe_experiments"]

MODELS: dict[str, str] = {
    "fno": "sciml.operators.specs:FNO_SPEC",
    "fno-rollout": "sciml.operators.specs:ROLLOUT_SPEC",
    "fno-space-time": "sciml.operators.specs:SPACE_TIME_SPEC",
    "neural-pcg": "sciml.learned.neural_pcg:SPEC",
    "dcdm": "sciml.learned.dcdm:SPEC",
    "pinn": "sciml.pinn.pinn:SPEC",
    "lpinn": "sciml.pinn.lpinn:SPEC",
    "sdgd": "sciml.pinn.sdgd:SPEC",
    "mp-pde": "sciml.graph.specs:MPPDE_SPEC",
    "gnn-bvp": "sciml.graph.specs:GNN_BVP_SPEC",
    "cgs": "sciml.graph.specs:CGS_SPEC",
    "pi-hc": "sciml.pinn.hard_constraints:SPEC",
    "wos-no": "sciml.wos.spec:SPEC",
}

EXPERIMENTS: dict[str, str] = {
    "fno-burgers": "sciml.experiments.fno_burgers:EXPERIMENT",
    "fno-darcy": "sciml.experiments.fno_darcy:EXPERIMENT",
    "fno-ns-2d": "sciml.experiments.fno_ns:FNO_NS_2D",
    "fno-ns-3d": "sciml.experiments.fno_ns:FNO_NS_3D",
    "neural-pcg-diffusion2d": "sciml.experiments.neural_pcg:DIFFUSION2D",
    "neural-pcg-heat-mesh": "sciml.experiments.neural_pcg:HEAT_MESH",
    "dcdm-poisson": "sciml.experiments.dcdm_poisson:EXPERIMENT",
    "relax-sor-sequence": "sciml.experiments.relax_sor:EXPERIMENT",
    "lpinn-convection": "sciml.experiments.lpinn:CONVECTION",
    "lpinn-convection-diffusion": "sciml.experiments.lpinn:CONVECTION_DIFFUSION",
    "lpinn-burgers": "sciml.experiments.lpinn:BURGERS",
    "sdgd": "sciml.experiments.sdgd:EXPERIMENT",
    "wos-no-poisson2d": "sciml.experiments.wosno:EXPERIMENT",
    "teng-heat": "sciml.experiments.teng:HEAT",
    "teng-allen-cahn": "sciml.experiments.teng:ALLEN_CAHN",
    "teng-burgers": "sciml.experiments.teng:BURGERS",
    "mppde-e1": "sciml.experiments.mppde:E1",
    "mppde-e2": "sciml.experiments.mppde:E2",
    "mppde-e3": "sciml.experiments.mppde:E3",
    "mppde-wave": "sciml.experiments.mppde:WAVE",
    "cgs-porous-flow": "sciml.experiments.cgs:POROUS",
    "cgs-mdp-value": "sciml.experiments.cgs:MDP_VALUE",
    "gnn-bvp-shapes": "sciml.experiments.gnn_bvp:SHAPES_EXPERIMENT",
    "hc-diffusion-sorption": "sciml.experiments.hard_constraints:HC_DIFFUSION_SORPTION",
    "hc-navier-stokes": "sciml.experiments.hard_constraints:HC_NAVIER_STOKES",
    "metalic": "sciml.experiments.metalic:EXPERIMENT",
}


def model_names() -> tuple[str, ...]:
    return tuple(MODELS)


def experiment_names() -> tuple[str, ...]:
    return tuple(EXPERIMENTS)


def _import(reference: str) -> Any:
    module, _, attribute = reference.partition(":")
    return getattr(importlib.import_module(module), attribute)


def _resolve(table: dict[str, str], what: str, name: str) -> Any:
    if name not in table:
        raise ConfigError(f"unknown {what} {name!r}; choose one of {', '.join(table)}")
    entry = _import(table[name])
    if entry.name != name:
        raise RuntimeError(f"{table[name]} is the {what} {entry.name!r}, not {name!r}")
    return entry


def resolve_model(name: str) -> Any:
    """The :class:`~sciml.train.ModelSpec` called ``name``; an unknown name lists the choices."""
    return _resolve(MODELS, "model", name)


def resolve_experiment(name: str) -> Any:
    """The :class:`~sciml.experiments.Experiment` called ``name``; an unknown name lists the choices."""
    return _resolve(EXPERIMENTS, "experiment", name)


def _arxiv(paper: str) -> str:
    import re

    found = re.search(r"arXiv[: ]\s*(\d{4}\.\d{4,5})", paper)
    return f"arXiv:{found.group(1)}" if found else "-"


def describe_models() -> list[dict[str, str]]:
    """``[{name, arxiv, paper, summary}]`` of every model kind (imports each method package)."""
    rows = []
    for name in MODELS:
        spec = resolve_model(name)
        rows.append({"name": name, "arxiv": _arxiv(spec.paper), "paper": spec.paper, "summary": spec.summary})
    return rows


def describe_experiments() -> list[dict[str, str]]:
    """``[{name, arxiv, paper, claim}]`` of every experiment (imports each experiment module)."""
    rows = []
    for name in EXPERIMENTS:
        experiment = resolve_experiment(name)
        rows.append({"name": name, "arxiv": _arxiv(experiment.paper), "paper": experiment.paper,
                     "claim": experiment.claim})
    return rows
