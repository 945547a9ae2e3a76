"""The layouts a store file can have, recognised from its fields: what a model kind says it reads.

=============  ==================================================================================
``pairs``      ``input (N, C_in, *spatial)`` and (for evaluation) ``output (N, C_out, *spatial)``
``trajectory`` ``tensor (N, nt, *spatial)`` or ``(N, nt, C, *spatial)``, ``t-coordinate``
``systems``    linear systems: ``values``, ``rhs``, ``solution`` on a shared or per-sample CSR pattern
``mesh``       fields on triangle meshes: ``points (N, nodes, 2)``, ``cells (N, cells, 3)`` and node fields
``points``     point sets: ``points (N, P, dim)``, optional ``target (N, P, C)``, ``params (N, K)``
``graphs``     padded graphs: ``x (N, nodes, F)``, ``edge_index (N, edges, 2)``, ``num_nodes``, ``num_edges``,
               optional ``edge_attr (N, edges, F_e)``, ``y (N, nodes, C)``, ``pos (N, nodes, dim)``
=============  ==================================================================================
"""

from __future__ import annotations

from typing import Any

from sciml._errors import DataError

__all__ = ["LAYOUTS", "detect_layout", "describe_layouts", "require_layout"]

LAYOUTS: dict[str, str] = {
    "pairs": "input/output grid pairs (input (N, C_in, *spatial), output (N, C_out, *spatial))",
    "trajectory": "trajectories (tensor (N, nt, *spatial))",
    "systems": "linear systems (values, rhs, solution)",
    "mesh": "fields on meshes (points, cells and node fields)",
    "points": "point sets (points (N, P, dim), target (N, P, C))",
    "graphs": "graphs (x (N, nodes, F), edge_index (N, edges, 2), num_nodes, num_edges, y (N, nodes, C))",
}


def detect_layout(store: Any) -> str | None:
    """The layout of an open store (:func:`sciml.data.open_store`), or ``None`` when it has none of them."""
    fields = set(store.fields)
    coords = set(getattr(store, "coords", ()))
    if store.attrs.get("layout") == "points":
        return "points"
    if {"values", "rhs"} <= fields and ("crow" in fields or "crow" in coords):
        return "systems"
    if {"x", "edge_index", "num_nodes", "num_edges"} <= fields:
        return "graphs"
    if {"points", "cells"} <= fields:
        return "mesh"
    if "input" in fields:
        return "pairs"
    if "tensor" in fields:
        return "trajectory"
    return None


def describe_layouts(names: tuple[str, ...] | list[str]) -> str:
    """The descriptions of the layouts ``names`` (:data:`LAYOUTS`), joined by "or"."""
    return " or ".join(f"{LAYOUTS[name]}" for name in names)


def require_layout(store: Any, readable: tuple[str, ...], who: str) -> str:
    """The layout of ``store`` if ``who`` reads it; otherwise one sentence naming both."""
    found = detect_layout(store)
    if found in readable:
        return found
    what = LAYOUTS.get(found, f"fields {', '.join(store.fields)}") if found else f"fields {', '.join(store.fields)}"
    raise DataError(f"{store.path} holds {what}; {who} reads {describe_layouts(readable)}")
