"""Registered experiments: one per paper result, run by ``sciml reproduce NAME``.

Each experiment records the paper, the claim and the number the authors report (or says that none
was recorded), runs at a ``scale`` (``smoke``: seconds, used in tests; ``small``: minutes on a
CPU; ``paper``: the paper's sizes, for a GPU), and writes ``RUN_DIR/results.json``,
``RUN_DIR/report.md`` and its plots. Every number in a report is computed by the run.
"""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from sciml._errors import ConfigError, SciMLError
from sciml.io import atomic_write_text, write_json

__all__ = ["Experiment", "EXPERIMENTS", "SCALES", "resolve_experiment", "run_experiment"]

SCALES = ("smoke", "small", "paper")


@dataclass(frozen=True)
class Experiment:
    """A registered experiment.

    Attributes
    ----------
    name : registry name
    paper : citation (arXiv id and title)
    claim : what the paper claims and this experiment checks
    reference : the paper's numbers (``{}`` when the paper's table was not available)
    run : ``run(run_dir, scale, device) -> results`` (JSON-ready dict; may write plots into run_dir)
    report : ``report(results) -> markdown``
    """

    name: str
    paper: str
    claim: str
    reference: dict[str, Any]
    run: Callable[[Path, str, str], dict[str, Any]]
    report: Callable[[dict[str, Any]], str]


def _relax() -> Experiment:
    from sciml.experiments import relax_sor

    return relax_sor.EXPERIMENT


_LOADERS: dict[str, Callable[[], Experiment]] = {"relax-sor-sequence": _relax}
EXPERIMENTS = tuple(_LOADERS)


def resolve_experiment(name: str) -> Experiment:
    """The experiment called ``name``; an unknown name lists the choices."""
    if name not in _LOADERS:
        raise ConfigError(f"unknown experiment {name!r}; choose one of {', '.join(EXPERIMENTS)}")
    return _LOADERS[name]()


def run_experiment(name: str, out: str | os.PathLike, *, scale: str = "small", device: str = "cpu",
                   force: bool = False) -> dict[str, Any]:
    """Run experiment ``name`` at ``scale`` into the new directory ``out``; returns the results written."""
    from sciml import __version__

    experiment = resolve_experiment(name)
    if scale not in SCALES:
        raise ConfigError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    out = Path(out)
    if (out / "results.json").exists() and not force:
        raise SciMLError(f"{out} already holds results; pass --force to run again over them")
    out.mkdir(parents=True, exist_ok=True)
    tic = time.perf_counter()
    results = experiment.run(out, scale, device)
    import torch

    results = {"experiment": name, "scale": scale, "paper": experiment.paper, "claim": experiment.claim,
               "reference": experiment.reference, **results, "seconds": time.perf_counter() - tic,
               "sciml_version": __version__, "machine": {"platform": platform.platform(), "torch": torch.__version__,
                                                          "threads": torch.get_num_threads(), "device": device}}
    write_json(out / "results.json", json.loads(json.dumps(results, default=float)))
    atomic_write_text(out / "report.md", experiment.report(results))
    return results
