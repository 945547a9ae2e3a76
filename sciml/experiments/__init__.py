"""Registered experiments: one per paper result, run by ``sciml reproduce NAME``.

Each experiment records the paper, the claim and the number the authors report (or says that none
was recorded), runs at a ``scale`` (``smoke``: seconds, used in tests; ``small``: minutes on a
CPU; ``paper``: the paper's sizes, for a GPU), and writes ``RUN_DIR/results.json``,
``RUN_DIR/report.md`` and its plots. Every number in a report is computed by the run.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from sciml._errors import ConfigError, SciMLError
from sciml.io import atomic_write_text, write_json

__all__ = ["Experiment", "SCALES", "run_experiment", "experiment_data", "experiment_config", "default_config",
           "config_path"]

log = logging.getLogger("sciml.experiments")

SCALES = ("smoke", "small", "paper")


@dataclass(frozen=True)
class Experiment:
    """A registered experiment (listed in :mod:`sciml.registry`).

    Attributes
    ----------
    name : registry name; its configuration is ``experiments/NAME/config.yaml``
    paper : citation (authors, title, arXiv id)
    claim : what the paper claims and this experiment checks (one sentence)
    reference : the paper's numbers (``{}`` when the paper's table was not available)
    run : ``run(run_dir, config, device) -> results`` (JSON-ready dict; may write plots into run_dir);
        ``config`` is the scale's section of the configuration (:func:`experiment_config`)
    report : ``report(results) -> markdown``
    """

    name: str
    paper: str
    claim: str
    reference: dict[str, Any]
    run: Callable[[Path, dict[str, Any], str], dict[str, Any]]
    report: Callable[[dict[str, Any]], str]


def config_path(name: str) -> Path:
    """The shipped configuration of experiment ``name``: ``experiments/NAME/config.yaml``."""
    from sciml._layout import layout_dir

    return layout_dir("experiments") / name / "config.yaml"


def default_config(name: str) -> dict[str, dict[str, Any]]:
    """The shipped configuration of experiment ``name``: ``{scale: settings}`` for every scale."""
    import yaml

    path = config_path(name)
    if not path.is_file():
        raise SciMLError(f"experiment {name!r} has no configuration file {path}")
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict) or set(data) != set(SCALES):
        raise SciMLError(f"{path} must hold one section per scale ({', '.join(SCALES)})")
    return data


def _known_keys(sections: list[Any]) -> dict[str, list[Any]]:
    """Per key, the default values at that place in every scale (a key any scale uses is known)."""
    known: dict[str, list[Any]] = {}
    for section in sections:
        if isinstance(section, dict):
            for key, value in section.items():
                known.setdefault(key, []).append(value)
    return known


def _merge(default: Any, given: Any, siblings: list[Any], where: str) -> Any:
    """``given`` laid over ``default``; keys and value kinds must be ones the shipped config uses."""
    from sciml.config import _number

    if isinstance(default, dict) or (default is None and siblings and all(isinstance(s, dict) for s in siblings)):
        if not isinstance(given, dict):
            raise ConfigError(f"{where} must be a mapping, got {given!r}")
        known = _known_keys(siblings)
        merged = dict(default or {})
        for key, value in given.items():
            if key not in known:
                raise ConfigError(f"unknown key {where}.{key}; known keys there: {', '.join(known)}")
            if value is None:  # `key: null` drops the default (contrast, to draw contrast_range instead)
                merged.pop(key, None)
                continue
            merged[key] = _merge(merged.get(key), value, known[key], f"{where}.{key}")
        return merged
    examples = [s for s in siblings if s is not None]
    if not examples or given is None:
        return given
    if all(isinstance(e, bool) for e in examples):
        if not isinstance(given, bool):
            raise ConfigError(f"{where} must be true or false, got {given!r}")
        return given
    if all(isinstance(e, (int, float)) and not isinstance(e, bool) for e in examples):
        value = _number(given)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where} must be a number, got {given!r}")
        return value
    if all(isinstance(e, list) for e in examples) and not isinstance(given, list):
        raise ConfigError(f"{where} must be a list, got {given!r}")
    if all(isinstance(e, str) for e in examples) and not isinstance(given, str):
        raise ConfigError(f"{where} must be a string, got {given!r}")
    return given


def experiment_config(name: str, scale: str, config_file: str | os.PathLike | None = None) -> dict[str, Any]:
    """The settings of experiment ``name`` at ``scale``: the shipped ``config.yaml`` section, with the
    YAML file ``config_file`` laid over it.

    ``config_file`` has the shipped file's layout (sections ``smoke``/``small``/``paper``; the one
    of ``scale`` is used and must be there) or holds one scale's keys alone. Only keys the shipped
    file uses (at any scale) are accepted, with values of the same kind; the rest keep their defaults;
    ``key: null`` drops a default key.
    """
    from sciml.config import load_yaml

    if scale not in SCALES:
        raise ConfigError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    defaults = default_config(name)
    if config_file is None:
        return defaults[scale]
    given = load_yaml(config_file)
    if any(key in SCALES for key in given):
        extra = [key for key in given if key not in SCALES]
        if extra:
            raise ConfigError(f"{config_file} mixes scale sections with other keys ({', '.join(extra)}); "
                              f"put every key under smoke:, small: or paper:")
        if scale not in given:
            raise ConfigError(f"{config_file} has no {scale!r} section (it has {', '.join(given)}); "
                              f"add one or choose --scale {next(iter(given))}")
        given = given[scale] or {}
    return _merge(defaults[scale], given, list(defaults.values()), f"{Path(config_file).name}:{scale}")


_DATA_DIR: contextvars.ContextVar[Path | None] = contextvars.ContextVar("sciml_experiment_data_dir", default=None)


def experiment_data(out: Path, name: str, pde: str, *, n: int, res: int, seed: int,
                    params: dict[str, Any] | None = None, device: str | None = None) -> Path:
    """The dataset ``name`` of an experiment: generated by sciml's reference solver, or reused.

    The file is ``DATA_DIR/name.h5`` where ``DATA_DIR`` is ``run_experiment(data_dir=...)``
    (``sciml reproduce --data-dir``) or ``out/data``. An existing complete file is reused only when
    its PDE, generator, seed, sample count, resolution and parameters are the ones asked for;
    a different file of that name is refused, never overwritten. An interrupted generation
    (``name.h5.partial``) resumes.
    """
    from sciml.data.generate import generate_dataset
    from sciml.data.pdes import resolve_pde
    from sciml.data.store import open_store

    directory = _DATA_DIR.get() or Path(out) / "data"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.h5"
    module = resolve_pde(pde)
    wanted = module.check_params(res, dict(params or {}))
    if path.exists():
        with open_store(path) as store:
            have = {"pde": store.attrs["pde"], "generator": store.attrs["generator"], "seed": int(store.attrs["seed"]),
                    "n_samples": store.n_samples, "fields": {k: list(v[0][1:]) for k, v in store.fields.items()},
                    "params": store.attrs["params"]}
        expect = {"pde": pde, "generator": module.GENERATOR, "seed": seed, "n_samples": n,
                  "fields": {k: list(v[0]) for k, v in module.fields(res, wanted).items()},
                  "params": json.loads(json.dumps(wanted))}
        diff = [key for key in expect if have[key] != expect[key]]
        if diff:
            raise SciMLError(f"{path} exists but differs from the data this experiment needs in "
                             f"{', '.join(diff)}; move it away or choose another --data-dir")
        log.info("reusing %s", path)
        return path
    partial = Path(str(path) + ".partial")
    log.info("generating %s: %d %s samples at resolution %d%s", path, n, pde, res,
             " (resuming)" if partial.exists() else "")
    return generate_dataset(pde, path, n=n, res=res, seed=seed, params=wanted, resume=partial.exists(),
                            device=device)


def run_experiment(name: str, out: str | os.PathLike, *, scale: str = "small", device: str = "cpu",
                   force: bool = False, data_dir: str | os.PathLike | None = None,
                   config_file: str | os.PathLike | None = None) -> dict[str, Any]:
    """Run experiment ``name`` at ``scale`` into the new directory ``out``; returns the results written.

    ``config_file``: a YAML file laid over the experiment's ``config.yaml`` (:func:`experiment_config`).
    ``data_dir``: where the experiment's datasets are generated, or reused when a file with the same
    provenance is already there (default ``out/data``); see :func:`experiment_data`.
    """
    from sciml._version import __version__
    from sciml.registry import resolve_experiment

    experiment = resolve_experiment(name)
    config = experiment_config(name, scale, config_file)  # every check before anything is written
    out = Path(out)
    if (out / "results.json").exists() and not force:
        raise SciMLError(f"{out} already holds results; pass --force to run again over them")
    out.mkdir(parents=True, exist_ok=True)
    tic = time.perf_counter()
    token = _DATA_DIR.set(Path(data_dir) if data_dir is not None else None)
    try:
        results = experiment.run(out, config, device)
    finally:
        _DATA_DIR.reset(token)
    import torch

    results = {"experiment": name, "scale": scale, "paper": experiment.paper, "claim": experiment.claim,
               "reference": experiment.reference, "config": config,
               "config_file": str(Path(config_file).resolve()) if config_file is not None else None,
               **results, "seconds": time.perf_counter() - tic,
               "sciml_version": __version__, "machine": {"platform": platform.platform(), "torch": torch.__version__,
                                                          "threads": torch.get_num_threads(), "device": device}}
    write_json(out / "results.json", json.loads(json.dumps(results, default=float)))
    atomic_write_text(out / "report.md", experiment.report(results))
    return results
