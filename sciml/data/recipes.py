"""Dataset recipes: one YAML file per benchmark dataset (``datasets/NAME.yaml``), run by
``sciml data generate --recipe FILE --out DIR``.

A recipe names the PDE generator, its parameters, the stored resolution and, per split, the
sample count and seed (a split may also change the resolution and parameters, for test sets at
other resolutions)::

    name: darcy-fno-85
    paper: Li et al., Fourier Neural Operator for Parametric PDEs, arXiv 2010.08895, section 5.2
    description: Darcy flow a -> u, 421x421 finite-difference solve subsampled to 85x85
    pde: darcy
    res: 85
    params: {refine: 5}
    splits:
      train: {n: 1000, seed: 0}
      test: {n: 100, seed: 1}

Each split is written to ``DIR/SPLIT.h5`` through :func:`sciml.data.generate_dataset`
(atomic, resumable), so the files carry the recipe's PDE, parameters and seed as provenance.
"""

from __future__ import annotations

import math
import os

import numpy as np
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from sciml._errors import ConfigError

__all__ = ["Recipe", "Split", "load_recipe", "generate_recipe", "recipe_files", "split_bytes"]

_KEYS = ("name", "paper", "description", "pde", "res", "params", "splits")
_SPLIT_KEYS = ("n", "seed", "res", "params")


@dataclass(frozen=True)
class Split:
    """One file of a recipe: ``n`` samples with ``seed`` at ``res`` with ``params``."""

    name: str
    n: int
    seed: int
    res: int
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Recipe:
    """A benchmark dataset: the generator ``pde`` and its splits (see the module docstring)."""

    name: str
    paper: str
    description: str
    pde: str
    splits: tuple[Split, ...]
    path: str = ""

    def split(self, name: str) -> Split:
        for s in self.splits:
            if s.name == name:
                return s
        raise ConfigError(f"recipe {self.name!r} has no split {name!r}; its splits: "
                          f"{', '.join(s.name for s in self.splits)}")


def _positive_int(value: Any, where: str, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{where} must be an integer >= {minimum}, got {value!r}")
    return value


def load_recipe(path: str | os.PathLike) -> Recipe:
    """Read and check a recipe; every generator parameter is checked by the generator before any work."""
    from sciml.config import load_yaml
    from sciml.data.pdes import resolve_pde

    path = Path(path)
    data = load_yaml(path)
    unknown = [k for k in data if k not in _KEYS]
    if unknown:
        raise ConfigError(f"{path}: unknown key{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
                          f"a recipe has {', '.join(_KEYS)}")
    for key in ("name", "pde", "res", "splits"):
        if key not in data:
            raise ConfigError(f"{path} has no {key!r}; a recipe needs name, pde, res and splits")
    module = resolve_pde(str(data["pde"]))
    base_params = data.get("params") or {}
    if not isinstance(base_params, dict):
        raise ConfigError(f"{path}: params must be a mapping, got {base_params!r}")
    if not isinstance(data["splits"], dict) or not data["splits"]:
        raise ConfigError(f"{path}: splits must map split names to {{n, seed}}, got {data['splits']!r}")
    splits = []
    for name, entry in data["splits"].items():
        where = f"{path}: splits.{name}"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where} must be a mapping with n and seed, got {entry!r}")
        bad = [k for k in entry if k not in _SPLIT_KEYS]
        if bad:
            raise ConfigError(f"{where}: unknown key {', '.join(bad)}; a split has {', '.join(_SPLIT_KEYS)}")
        if not str(name).replace("-", "").replace("_", "").isalnum():
            raise ConfigError(f"{where}: a split name is a file name; use letters, digits, - and _")
        res = _positive_int(entry.get("res", data["res"]), f"{where}.res")
        params = {**base_params, **(entry.get("params") or {})}
        module.check_params(res, dict(params))  # unknown or invalid parameters: refused now
        if "seed" not in entry:
            raise ConfigError(f"{where} has no seed; every split names its own (two splits with one seed, "
                              f"resolution and parameters hold the same samples)")
        split = Split(name=str(name), n=_positive_int(entry.get("n"), f"{where}.n"),
                      seed=_positive_int(entry["seed"], f"{where}.seed", minimum=0), res=res, params=params)
        twin = next((s for s in splits if (s.seed, s.res, s.params) == (split.seed, split.res, split.params)), None)
        if twin is not None:
            raise ConfigError(f"{where} has the seed, resolution and parameters of split {twin.name!r}: the two "
                              f"would hold the same samples; give it another seed")
        splits.append(split)
    return Recipe(name=str(data["name"]), paper=str(data.get("paper", "")),
                  description=str(data.get("description", "")), pde=str(data["pde"]), splits=tuple(splits),
                  path=str(path))


def recipe_files() -> list[Path]:
    """The shipped recipes, ``datasets/*.yaml``, sorted by name."""
    from sciml._layout import layout_dir

    return sorted(layout_dir("datasets").glob("*.yaml"))


def split_bytes(recipe: Recipe, split: Split) -> int:
    """Bytes of the split's sample fields (what the file holds, before HDF5 overhead)."""
    from sciml.data.pdes import resolve_pde

    module = resolve_pde(recipe.pde)
    params = module.check_params(split.res, dict(split.params))
    total = 0
    for shape, dtype in module.fields(split.res, params).values():
        total += math.prod(shape) * np.dtype(dtype).itemsize
    return total * split.n


def generate_recipe(recipe: Recipe, out_dir: str | os.PathLike, *, splits: list[str] | None = None,
                    n_cap: int | None = None, resume: bool = False, force: bool = False, device: str | None = None,
                    overrides: dict[str, Any] | None = None,
                    on_split: Callable[[Split], Callable[[int, int], None] | None] | None = None) -> list[Path]:
    """Generate the splits of ``recipe`` into ``out_dir/SPLIT.h5``; returns the paths written.

    Parameters
    ----------
    splits : split names to generate (default all)
    n_cap : at most this many samples per split (a quick look at a large recipe)
    overrides : generator parameters laid over the recipe's (``--set``); recorded in the files
    on_split : called with each split before it is generated; may return an ``on_block`` callback
    """
    from sciml.data.generate import generate_dataset

    chosen = [recipe.split(name) for name in splits] if splits else list(recipe.splits)
    if n_cap is not None:
        _positive_int(n_cap, "--n")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"--out {out_dir} is a file; with --recipe it names a directory for the split files")
    paths = [out_dir / f"{s.name}.h5" for s in chosen]
    if not force and not resume:  # refuse before generating anything
        for path in paths:
            for existing in (path, Path(str(path) + ".partial")):
                if existing.exists():
                    raise ConfigError(f"{existing} already exists; pass --resume to continue it or --force to "
                                      f"replace it")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for split, path in zip(chosen, paths):
        on_block = on_split(split) if on_split is not None else None
        n = split.n if n_cap is None else min(split.n, n_cap)
        partial = Path(str(path) + ".partial")
        if resume and path.exists() and not partial.exists():
            written.append(path)  # finished by an earlier run
            continue
        written.append(generate_dataset(recipe.pde, path, n=n, res=split.res, seed=split.seed,
                                        params={**split.params, **(overrides or {})},
                                        resume=resume and partial.exists(), force=force, device=device,
                                        on_block=on_block))
    return written
