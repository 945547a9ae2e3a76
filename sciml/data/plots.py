"""Figures of dataset samples: what ``sciml data plot`` draws.

Chooses the picture from the fields: input/output pairs as images side by side; 1D
trajectories (``tensor (Nt, Nx)``) as a space-time image plus a few snapshots; 2D trajectories
(``tensor (Nt, Nx, Ny)``) as snapshots; mesh samples (poisson-mesh) as the source and solution
on the triangulation.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from sciml._errors import DataError
from sciml.data.store import Store, open_store
from sciml.io import atomic_path

__all__ = ["plot_sample"]


def _coord(store: Store, name: str, size: int) -> np.ndarray:
    if name in store.coords:
        values = np.asarray(store._file[name][()], dtype=np.float64).reshape(-1)
        if len(values) == size:
            return values
    return np.linspace(0.0, 1.0, size)


def plot_sample(path: str | os.PathLike, out: str | os.PathLike, *, index: int = 0) -> Path:
    """Draw sample ``index`` of the dataset ``path`` into the PNG file ``out``; returns ``out``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    out = Path(out)
    with open_store(path) as store:
        if not 0 <= index < store.n_samples:
            raise DataError(f"{path} has {store.n_samples} samples; index {index} is out of range")
        title = f"{store.attrs['pde']} sample {index} ({Path(path).name})"
        fields = store.fields
        if {"points", "cells", "u"} <= set(fields):
            fig = Figure(figsize=(10, 4.2), layout="constrained")
            axes = fig.subplots(1, 2)
            count = int(store.read("num_nodes", index))
            cells_n = int(store.read("num_cells", index))
            points = store.read("points", index)[:count]
            cells = store.read("cells", index)[:cells_n]
            for ax, name in zip(axes, ("rho", "u")):
                values = store.read(name, index)[:count]
                im = ax.tripcolor(points[:, 0], points[:, 1], cells, values, shading="gouraud", cmap="viridis")
                ax.triplot(points[:, 0], points[:, 1], cells, lw=0.15, color="k", alpha=0.3)
                ax.set_aspect("equal")
                ax.set_title(name)
                fig.colorbar(im, ax=ax, shrink=0.8)
        elif {"input", "output"} <= set(fields):
            x, y = store.read("input", index), store.read("output", index)
            if x.ndim != 3:
                raise DataError(f"plotting supports 2D input/output fields; {path} has input {x.shape[1:]}")
            fig = Figure(figsize=(9, 4), layout="constrained")
            axes = fig.subplots(1, 2)
            for ax, values, name in zip(axes, (x[0], y[0]), ("input", "output")):
                im = ax.imshow(values.T, origin="lower", extent=(0, 1, 0, 1), cmap="viridis")
                ax.set_title(name)
                fig.colorbar(im, ax=ax, shrink=0.8)
        elif "tensor" in fields:
            u = store.read("tensor", index)
            t = _coord(store, "t-coordinate", u.shape[0])
            if u.ndim == 2:
                xs = _coord(store, "x-coordinate", u.shape[1])
                fig = Figure(figsize=(11, 4), layout="constrained")
                left, right = fig.subplots(1, 2)
                im = left.pcolormesh(xs, t, u, shading="nearest", cmap="RdBu_r")
                left.set_xlabel("x")
                left.set_ylabel("t")
                fig.colorbar(im, ax=left, shrink=0.8)
                for k in np.linspace(0, u.shape[0] - 1, 4).astype(int):
                    right.plot(xs, u[k], label=f"t = {t[k]:.3g}")
                right.set_xlabel("x")
                right.legend(fontsize=8)
            elif u.ndim == 3:
                picks = np.linspace(0, u.shape[0] - 1, min(4, u.shape[0])).astype(int)
                fig = Figure(figsize=(3.3 * len(picks), 3.2), layout="constrained")
                axes = np.atleast_1d(fig.subplots(1, len(picks)))
                vmax = float(np.abs(u[picks]).max())
                for ax, k in zip(axes, picks):
                    im = ax.imshow(u[k].T, origin="lower", extent=(0, 1, 0, 1), cmap="RdBu_r", vmin=-vmax, vmax=vmax)
                    ax.set_title(f"t = {t[k]:.3g}")
                fig.colorbar(im, ax=list(axes), shrink=0.8)
            else:
                raise DataError(f"plotting supports 1D and 2D trajectories; {path} has tensor {u.shape}")
        else:
            raise DataError(f"{path} has no field sciml knows how to plot (fields: {', '.join(fields)})")
        fig.suptitle(title, fontsize=10)
    with atomic_path(out) as tmp:
        FigureCanvasAgg(fig).print_png(str(tmp))
    return out
