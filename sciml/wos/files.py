"""``sciml wos``: walk-on-spheres from files: a domain, boundary and source expressions, points in, estimates out.

* domain: a mesh file meshio reads (2-D ``line`` loops or the boundary edges of a 2-D triangle mesh; a closed
  3-D ``triangle`` surface), a ``.json``/``.yaml`` file holding a domain mapping, or the mapping itself as
  JSON text: ``{"type": "disk", "center": [0, 0], "radius": 1}``, ``{"type": "ball", ...}``,
  ``{"type": "box", "lower": [..], "upper": [..]}``, ``{"type": "polygon", "vertices": [[..], ..]}``,
  ``{"type": "star", "c1": 0.2, "c2": 0.1, "n": 1000}``;
* ``g`` and ``f``: expressions in ``x, y`` (and ``z`` in 3-D), ``Lap u = f``;
* points: ``.npy`` or text (``.csv``/``.txt``, comma or blank separated) of shape ``(n, dim)``;
* out: ``.npz`` (points, mean, stderr, variance, unfinished, and the run's settings) or ``.csv``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sciml._errors import ConfigError, DataError
from sciml.io import atomic_path
from sciml.wos.boundary import Boundary, as_boundary, boundary_from_mesh, describe
from sciml.wos.estimator import WosEstimate, walk_on_spheres

__all__ = ["load_domain", "load_points", "field_from_expression", "solve_files", "write_estimate"]

VARIABLES = {2: ("x", "y"), 3: ("x", "y", "z")}


def load_domain(spec: str | Path) -> Boundary:
    """A boundary from a mesh file, a JSON/YAML domain file, or JSON text (see the module's docstring)."""
    text = str(spec).strip()
    if text.startswith("{"):
        try:
            return as_boundary(json.loads(text))
        except json.JSONDecodeError as exc:
            raise ConfigError(f"--domain {text!r} is not valid JSON: {exc.msg}") from exc
    path = Path(text)
    if not path.exists():
        raise DataError(f"{path}: no such domain file")
    if path.suffix.lower() in (".json", ".yaml", ".yml"):
        import yaml

        try:
            spec_dict = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            raise DataError(f"{path}: not valid YAML/JSON ({exc})") from exc
        return as_boundary(spec_dict)
    return boundary_from_mesh(path)


def load_points(path: str | Path, dim: int) -> np.ndarray:
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such points file")
    try:
        if path.suffix.lower() == ".npy":
            pts = np.load(path, allow_pickle=False)
        else:
            pts = np.loadtxt(path, delimiter="," if path.suffix.lower() == ".csv" else None, ndmin=2)
    except (ValueError, OSError) as exc:
        raise DataError(f"{path}: cannot read points ({exc})") from exc
    pts = np.asarray(pts, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != dim:
        raise DataError(f"{path}: points must have shape (n, {dim}) for this {dim}-D domain, got {pts.shape}")
    return pts


def field_from_expression(text: str, dim: int, what: str):
    """A torch field ``(m, dim) -> (m,)`` from an expression in x, y (, z), evaluated by numpy on the CPU."""
    from sciml.data.points import compile_expression

    names = VARIABLES[dim]
    fn = compile_expression(text, names)

    def field(x: torch.Tensor) -> torch.Tensor:
        cols = x.detach().cpu().double().numpy()
        values = fn(**{n: cols[:, i] for i, n in enumerate(names)})
        return torch.as_tensor(np.array(values), dtype=x.dtype, device=x.device)

    field.__doc__ = f"{what}: {text}"
    return field


def write_estimate(path: str | Path, estimate: WosEstimate, settings: dict[str, Any]) -> None:
    path = Path(path)
    cols = {"mean": estimate.mean, "stderr": estimate.stderr, "variance": estimate.variance,
            "unfinished": estimate.unfinished}
    arrays = {k: v.detach().cpu().numpy() for k, v in cols.items()}
    points = estimate.points.detach().cpu().double().numpy()
    with atomic_path(path) as tmp:
        if path.suffix.lower() == ".npz":
            with open(tmp, "wb") as fh:
                np.savez(fh, points=points, **arrays, settings=json.dumps(settings))
        else:
            names = VARIABLES[points.shape[1]]
            table = np.column_stack([points] + [arrays[k] for k in cols])
            np.savetxt(tmp, table, delimiter=",", header=",".join([*names, *cols]), comments="", fmt="%.17g")


def solve_files(domain, boundary: str, points, out, *, source: str | None = None, walks: int = 1000,
                eps: float = 1e-3, max_steps: int = 10_000, seed: int = 0, device: str = "cpu",
                dtype: str = "float64", batch: int = 1 << 20) -> dict[str, Any]:
    """Read, estimate, write ``out``; returns the run's summary (the CLI prints it)."""
    out = Path(out)
    if out.suffix.lower() not in (".npz", ".csv"):
        raise ConfigError(f"--out must end in .npz or .csv, got {out}")
    if dtype not in ("float64", "float32"):
        raise ConfigError(f"--dtype must be float64 or float32, got {dtype!r}")
    b = load_domain(domain)
    g = field_from_expression(boundary, b.dim, "boundary data g")
    f = field_from_expression(source, b.dim, "source f") if source else None
    pts = load_points(points, b.dim)
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {device}: CUDA is not available here")
    estimate = walk_on_spheres(b, pts, g, f, walks=walks, eps=eps, max_steps=max_steps, seed=seed, batch=batch,
                               device=device, dtype=getattr(torch, dtype), progress=True)
    settings = {"domain": str(domain), "boundary_expression": boundary, "source_expression": source, "walks": walks,
                "eps": eps, "max_steps": max_steps, "seed": seed, "device": str(device), "dtype": dtype,
                "boundary": describe(b)}
    write_estimate(out, estimate, settings)
    return {**estimate.summary(), "out": str(out), **{k: settings[k] for k in ("device", "dtype")},
            "boundary": describe(b)}
