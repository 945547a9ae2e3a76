"""The point-set layout of the store, for pointwise models (PINNs, TENG, walk-on-spheres, SDGD) and
their references.

Per-sample fields:

- ``points (N, P, dim)`` float64: coordinates in space or space-time; their names are the root
  attribute ``coordinate_names`` (JSON list, e.g. ``["x", "y"]`` or ``["x", "t"]``);
- ``target (N, P, C)`` float64, optional: the reference values at the points;
- ``input (N, P, C_in)`` float64, optional: per-point inputs (a coefficient field at the points);
- ``params (N, K)`` float64, optional: per-sample PDE parameters, named by ``param_names``;
- ``num_points (N,)`` int32, optional: the points actually used when samples have different counts
  (the rest of the ``P`` rows is padding, zeros).

Root attribute ``layout = "points"``. Made from an expression (:func:`points_from_expression`) or from
any grid, trajectory or mesh store (:func:`points_from_store`): ``sciml data points``.
"""

from __future__ import annotations

import ast
import json
import math
import os
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from sciml._errors import ConfigError, DataError
from sciml.data.store import StoreWriter, open_store

__all__ = ["PointSet", "read_point_set", "write_point_set", "points_from_expression", "points_from_store",
           "compile_expression", "point_bounds", "points_outside_domain", "check_point_store", "COORDINATE_NAMES"]

COORDINATE_NAMES = ("x", "y", "z")
_FUNCTIONS = {name: getattr(np, name) for name in ("sin", "cos", "tan", "exp", "log", "sqrt", "abs", "tanh",
                                                   "sinh", "cosh", "arctan", "arcsin", "arccos", "arctan2",
                                                   "minimum", "maximum", "sign", "floor", "ceil", "heaviside",
                                                   "where")}
_CONSTANTS = {"pi": math.pi, "e": math.e}
_NODES = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Call, ast.Name, ast.Load, ast.Constant, ast.Add, ast.Sub,
          ast.Mult, ast.Div, ast.Pow, ast.Mod, ast.USub, ast.UAdd, ast.Compare, ast.Lt, ast.LtE, ast.Gt, ast.GtE)


def compile_expression(text: str, variables: tuple[str, ...]) -> Callable[..., np.ndarray]:
    """A numpy function of ``variables`` from an arithmetic expression such as ``"sin(pi*x)*exp(-t)"``.

    Only numbers, the variables, ``pi``, ``e``, arithmetic, single comparisons (``x < 0.5``, elementwise)
    and the numpy functions sin, cos, tan, exp, log, sqrt, abs, tanh, ..., ``where(c, a, b)`` are
    allowed: the expression is data, never code to run.
    """
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise ConfigError(f"expression {text!r} is not valid: {exc.msg}") from exc
    allowed = set(variables) | set(_FUNCTIONS) | set(_CONSTANTS)
    for node in ast.walk(tree):
        if not isinstance(node, _NODES):
            raise ConfigError(f"expression {text!r} uses {type(node).__name__}; only arithmetic on "
                              f"{', '.join(variables)}, numbers and functions like sin, exp, sqrt is allowed")
        if isinstance(node, ast.Name) and node.id not in allowed:
            raise ConfigError(f"expression {text!r} uses the unknown name {node.id!r}; variables: "
                              f"{', '.join(variables)}; functions: {', '.join(_FUNCTIONS)}; constants: pi, e")
        if isinstance(node, ast.Call) and not (isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS):
            raise ConfigError(f"expression {text!r} calls something that is not one of {', '.join(_FUNCTIONS)}")
        if isinstance(node, ast.Compare) and len(node.ops) > 1:
            raise ConfigError(f"expression {text!r} chains comparisons; write (a < x) * (x < b) or where(...)")
        if isinstance(node, ast.Constant) and not isinstance(node.value, (int, float)):
            raise ConfigError(f"expression {text!r} holds the non-numeric constant {node.value!r}")
    code = compile(tree, "<expression>", "eval")

    def evaluate(**values: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            result = eval(code, {"__builtins__": {}}, {**_FUNCTIONS, **_CONSTANTS, **values})  # noqa: S307 (checked AST)
        return np.broadcast_to(np.asarray(result, dtype=np.float64), next(iter(values.values())).shape)

    return evaluate


class PointSet:
    """An open point-set store: sizes, names and lazy reads.

    Attributes
    ----------
    path, n_samples, n_points (``P``), dim, coordinate_names, channels (``C`` of ``target``, 0 if none),
    has_target, param_names, attrs

    Shapes
    ------
    :meth:`read` ``-> points (B, P, dim)``, ``target (B, P, C) or None``, ``counts (B,)``.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        with open_store(self.path) as store:
            check_point_store(store)
            self.attrs = store.attrs
            shape = store.fields["points"][0]
            self.n_samples, self.n_points, self.dim = int(shape[0]), int(shape[1]), int(shape[2])
            self.coordinate_names = json.loads(store.attrs["coordinate_names"])
            self.has_target = "target" in store.fields
            self.channels = int(store.fields["target"][0][2]) if self.has_target else 0
            self.param_names = json.loads(store.attrs.get("param_names", "[]"))
            self.padded = "num_points" in store.fields

    def read(self, indices: list[int]) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        with open_store(self.path) as store:
            points = store.read("points", indices)
            target = store.read("target", indices) if self.has_target else None
            counts = (store.read("num_points", indices).astype(np.int64) if self.padded
                      else np.full(len(indices), self.n_points, dtype=np.int64))
        return points, target, counts

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper corner ``(dim,)`` of the box holding every point (padding excluded)."""
        lower, upper = np.full(self.dim, np.inf), np.full(self.dim, -np.inf)
        for start in range(0, self.n_samples, 256):
            points, _, counts = self.read(list(range(start, min(self.n_samples, start + 256))))
            lo, hi = point_bounds(points, counts)
            lower, upper = np.minimum(lower, lo), np.maximum(upper, hi)
        return lower, upper

    def __len__(self) -> int:
        return self.n_samples


def check_point_store(store: Any) -> None:
    """Refuse a store that claims the point-set layout but breaks it, with one sentence."""
    where = store.path
    if "points" not in store.fields:
        raise DataError(f"{where} is a point-set store without a 'points' field")
    shape = store.fields["points"][0]
    if len(shape) != 3:
        raise DataError(f"{where}: 'points' has shape {tuple(shape)}, expected (N, P, dim)")
    try:
        names = json.loads(store.attrs.get("coordinate_names", "null"))
    except (TypeError, ValueError) as exc:
        raise DataError(f"{where}: root attribute 'coordinate_names' is not valid JSON") from exc
    if not isinstance(names, list) or len(names) != shape[2] or not all(isinstance(n, str) for n in names):
        raise DataError(f"{where}: 'coordinate_names' must list {shape[2]} names (one per column of 'points'), "
                        f"got {names!r}")
    for name in ("target", "input"):
        if name in store.fields:
            other = store.fields[name][0]
            if len(other) != 3 or tuple(other[:2]) != tuple(shape[:2]):
                raise DataError(f"{where}: '{name}' has shape {tuple(other)}, expected (N, P, C) with N, P = "
                                f"{tuple(shape[:2])} as 'points'")
    if "num_points" in store.fields:
        counts = store.read("num_points")
        if counts.min() < 1 or counts.max() > shape[1]:
            raise DataError(f"{where}: 'num_points' must lie in [1, {shape[1]}], found [{counts.min()}, {counts.max()}]")


def read_point_set(path: str | os.PathLike) -> PointSet:
    """Open a point-set store (validated: :func:`check_point_store`)."""
    with open_store(path) as store:
        if store.attrs.get("layout") != "points":
            from sciml.data.layouts import require_layout

            require_layout(store, ("points",), "a point-set reader")
    return PointSet(path)


def point_bounds(points: np.ndarray, counts: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper corner ``(dim,)`` of the box holding ``points (N, P, dim)`` (padding excluded)."""
    if counts is None:
        flat = points.reshape(-1, points.shape[-1])
    else:
        flat = np.concatenate([p[:c] for p, c in zip(points, counts)])
    return flat.min(axis=0), flat.max(axis=0)


def points_outside_domain(points: np.ndarray, counts: np.ndarray, domain: dict[str, Any] | None,
                          *, tolerance: float = 1e-9) -> int:
    """How many of ``points (B, P, dim)`` (``counts`` used per sample) lie outside the training box
    ``domain = {"lower": [...], "upper": [...]}`` (0 when the model records none)."""
    if not domain:
        return 0
    lower, upper = np.asarray(domain["lower"]), np.asarray(domain["upper"])
    span = np.maximum(upper - lower, 1.0) * tolerance
    outside = 0
    for p, c in zip(points, counts):
        q = p[:c]
        outside += int(np.any((q < lower - span) | (q > upper + span), axis=1).sum())
    return outside


def write_point_set(out: str | os.PathLike, blocks: Iterator[dict[str, np.ndarray]], *, n: int, n_points: int,
                    dim: int, channels: int, coordinate_names: list[str], pde: str, params: dict[str, Any],
                    generator: str, seed: int, input_channels: int = 0, padded: bool = False,
                    param_names: list[str] | None = None, force: bool = False,
                    on_block: Callable[[int, int], None] | None = None) -> Path:
    """Write a point-set store from blocks of ``{points, target?, input?, params?, num_points?}``."""
    fields: dict[str, tuple[tuple[int, ...], str]] = {"points": ((n_points, dim), "float64")}
    if channels:
        fields["target"] = ((n_points, channels), "float64")
    if input_channels:
        fields["input"] = ((n_points, input_channels), "float64")
    if param_names:
        fields["params"] = ((len(param_names),), "float64")
    if padded:
        fields["num_points"] = ((), "int32")
    attrs = {"layout": "points", "coordinate_names": json.dumps(list(coordinate_names))}
    if param_names:
        attrs["param_names"] = json.dumps(list(param_names))
    from sciml.data.store import partial_path

    ours = force or not partial_path(out).exists()  # a partial file that was there before is not ours to remove
    try:
        with StoreWriter(out, n_samples=n, fields=fields, pde=pde, params=params, generator=generator, seed=seed,
                         attrs=attrs, force=force) as writer:
            for block in blocks:
                writer.write(block)
                if on_block is not None:
                    on_block(writer.n_written, n)
    except BaseException:
        if ours:  # cheap to make again: leave no partial file (point sets have no --resume)
            partial_path(out).unlink(missing_ok=True)
        raise
    return Path(out)


def _parse_box(text: str) -> list[tuple[float, float]]:
    """``"0:1,0:2"`` -> ``[(0, 1), (0, 2)]``."""
    box = []
    for part in text.split(","):
        try:
            lo, hi = (float(v) for v in part.split(":"))
        except ValueError as exc:
            raise ConfigError(f"--box {text!r}: write one lo:hi per axis, comma-separated (e.g. 0:1,0:1)") from exc
        if not lo < hi:
            raise ConfigError(f"--box {text!r}: each axis needs lo < hi, got {lo}:{hi}")
        box.append((lo, hi))
    return box


def points_from_expression(out: str | os.PathLike, expression: str, *, box: str, n: int, n_points: int,
                           time: str | None = None, seed: int = 0, force: bool = False) -> Path:
    """``n`` samples of ``n_points`` uniformly random points in ``box`` (and ``time``), target = ``expression``.

    ``box`` is ``"lo:hi,lo:hi"`` (one range per space axis, named x, y, z); ``time`` a range ``"lo:hi"``
    adds the coordinate ``t``. Each sample draws its points from its own stream ``default_rng([seed, i])``.
    """
    space = _parse_box(box)
    if len(space) > 3:
        raise ConfigError(f"--box has {len(space)} axes; at most 3 (x, y, z)")
    ranges = list(space) + (_parse_box(time) if time else [])
    names = list(COORDINATE_NAMES[:len(space)]) + (["t"] if time else [])
    if len(ranges) != len(names):
        raise ConfigError(f"--time {time!r} must be one range lo:hi")
    function = compile_expression(expression, tuple(names))
    for value, flag in ((n, "--n"), (n_points, "--points")):
        if not isinstance(value, int) or value < 1:
            raise ConfigError(f"{flag} must be a positive integer, got {value!r}")
    lo = np.array([r[0] for r in ranges])
    hi = np.array([r[1] for r in ranges])
    probe = function(**{name: np.array([0.5 * (a + b)]) for name, a, b in zip(names, lo, hi)})
    if probe.shape != (1,):
        raise ConfigError(f"expression {expression!r} must give one value per point")

    def blocks() -> Iterator[dict[str, np.ndarray]]:
        for start in range(0, n, 64):
            stop = min(n, start + 64)
            pts = np.stack([lo + (hi - lo) * np.random.default_rng([seed, i]).random((n_points, len(names)))
                            for i in range(start, stop)])
            values = function(**{name: pts[..., k] for k, name in enumerate(names)})
            if not np.all(np.isfinite(values)):
                raise DataError(f"expression {expression!r} is not finite at some points of the box")
            yield {"points": pts, "target": values[..., None]}

    return write_point_set(out, blocks(), n=n, n_points=n_points, dim=len(names), channels=1, coordinate_names=names,
                           pde="expression", params={"expression": expression, "box": box, "time": time},
                           generator="sciml.data.points expression 1", seed=seed, force=force)


def points_from_store(source: str | os.PathLike, out: str | os.PathLike, *, field: str | None = None,
                      force: bool = False, on_block: Callable[[int, int], None] | None = None) -> Path:
    """The point-set form of a grid-pair, trajectory or mesh store.

    - pairs: the grid nodes (``x-coordinate`` ... or ``linspace(0, 1)`` per axis); ``target`` = ``output``
      (or ``field``), ``input`` = ``input`` at the nodes;
    - trajectory: space-time points ``(x ..., t)`` of every frame; ``target`` = ``tensor``;
    - mesh: each sample's mesh nodes (padded to the largest, ``num_points``); ``target`` = the node field
      ``u`` (or ``field``), ``input`` = ``rho`` when present.
    """
    from sciml.data.layouts import detect_layout

    source = Path(source)
    with open_store(source) as store:
        layout = detect_layout(store)
        n = store.n_samples
        attrs, coords = store.attrs, {name: store.read(name) for name in store.coords if name != "cell_type"}
        fields = dict(store.fields)
    common = {"pde": attrs["pde"], "params": {**attrs["params"], "points_from": str(source)},
              "generator": f"sciml.data.points from {layout} 1 ({attrs['generator']})", "seed": int(attrs["seed"]),
              "force": force, "on_block": on_block}
    if layout == "pairs":
        target_name = field or "output"
        if target_name not in fields:
            raise DataError(f"{source} has no field {target_name!r} to use as the target; it has {', '.join(fields)}")
        spatial = tuple(fields["input"][0][2:])
        names = list(COORDINATE_NAMES[:len(spatial)])
        axes = [coords.get(f"{name}-coordinate", np.linspace(0.0, 1.0, size)) for name, size in zip(names, spatial)]
        grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, len(spatial))
        c_out, c_in = fields[target_name][0][1], fields["input"][0][1]

        def blocks() -> Iterator[dict[str, np.ndarray]]:
            with open_store(source) as s:
                for start in range(0, n, 64):
                    stop = min(n, start + 64)
                    y = s.read(target_name, slice(start, stop)).reshape(stop - start, c_out, -1)
                    x = s.read("input", slice(start, stop)).reshape(stop - start, c_in, -1)
                    yield {"points": np.broadcast_to(grid, (stop - start, *grid.shape)),
                           "target": np.moveaxis(y, 1, 2).astype(np.float64),
                           "input": np.moveaxis(x, 1, 2).astype(np.float64)}

        return write_point_set(out, blocks(), n=n, n_points=len(grid), dim=len(spatial), channels=c_out,
                               input_channels=c_in, coordinate_names=names, **common)
    if layout == "trajectory":
        import torch

        from sciml.data.trajectories import TrajectoryDataset

        data = TrajectoryDataset(source, field=field or "tensor", dtype=torch.float64)
        names = list(COORDINATE_NAMES[:len(data.spatial)]) + ["t"]
        axes = [coords.get(f"{name}-coordinate", np.linspace(0.0, 1.0, size)) for name, size in
                zip(names, data.spatial)]
        times = data.times if data.times is not None else np.arange(data.n_times, dtype=np.float64)
        grid = np.stack(np.meshgrid(times, *axes, indexing="ij"), axis=-1).reshape(-1, len(names))
        grid = np.concatenate([grid[:, 1:], grid[:, :1]], axis=1)  # (x ..., t), time-major order

        def blocks() -> Iterator[dict[str, np.ndarray]]:
            for start in range(0, n, 16):
                stop = min(n, start + 16)
                u = data.read(list(range(start, stop))).numpy()  # (B, nt, C, *spatial)
                u = np.moveaxis(u, 2, -1).reshape(stop - start, -1, data.channels)
                yield {"points": np.broadcast_to(grid, (stop - start, *grid.shape)), "target": u}

        return write_point_set(out, blocks(), n=n, n_points=len(grid), dim=len(names), channels=data.channels,
                               coordinate_names=names, **common)
    if layout == "mesh":
        target_name = field or "u"
        if target_name not in fields or fields[target_name][0][1:] != fields["points"][0][1:2]:
            raise DataError(f"{source} has no node field {target_name!r} (one value per mesh node) to use as the "
                            f"target; its fields: {', '.join(fields)}")
        max_nodes, dim = fields["points"][0][1], fields["points"][0][2]
        with_input = "rho" in fields and fields["rho"][0][1:] == (max_nodes,)

        def blocks() -> Iterator[dict[str, np.ndarray]]:
            with open_store(source) as s:
                for start in range(0, n, 64):
                    stop = min(n, start + 64)
                    counts = s.read("num_nodes", slice(start, stop)).astype(np.int32)
                    pts = s.read("points", slice(start, stop)).astype(np.float64)
                    u = s.read(target_name, slice(start, stop)).astype(np.float64)
                    mask = np.arange(max_nodes)[None, :] < counts[:, None]
                    block = {"points": np.where(mask[..., None], pts, 0.0),
                             "target": np.where(mask, u, 0.0)[..., None], "num_points": counts}
                    if with_input:
                        block["input"] = np.where(mask, s.read("rho", slice(start, stop)), 0.0)[..., None]
                    yield block

        return write_point_set(out, blocks(), n=n, n_points=max_nodes, dim=dim, channels=1,
                               input_channels=1 if with_input else 0, padded=True,
                               coordinate_names=list(COORDINATE_NAMES[:dim]), **common)
    raise DataError(f"{source} is not a grid-pair, trajectory or mesh store (fields {', '.join(fields)}); "
                    f"sciml data points converts those")
