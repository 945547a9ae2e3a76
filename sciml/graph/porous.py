"""Random pore networks as torch_geometric graphs: the convergent graph solver's flow benchmark.

The networks, their pressure and their graph arrays are :mod:`sciml.data.pdes.pore_network`'s (the
``pore-network`` generator of ``sciml data generate``); :func:`graph_sample` wraps one network as a ``Data``
with node features ``[x / size, y / size, z / size, inlet, outlet, prescribed p / dp]``, edge features (both
directions) ``[throat diameter / s, length / s, log(g / median g) / 4]`` and target ``p / dp``.
"""

from __future__ import annotations

import numpy as np

from sciml._errors import ConfigError
from sciml.data.pdes.pore_network import (EDGE_FEATURES, NODE_FEATURES, PoreNetwork, graph_arrays, pore_network,
                                          solve_pressure)

__all__ = ["PoreNetwork", "pore_network", "solve_pressure", "graph_sample", "sample_graphs", "NODE_FEATURES",
           "EDGE_FEATURES"]


def graph_sample(net: PoreNetwork, dp: float = 1e5):
    """The network as a torch_geometric ``Data`` with its normalised pressure as ``y (n, 1)``."""
    import torch
    from torch_geometric.data import Data

    g = graph_arrays(net, dp)
    return Data(x=torch.tensor(g["x"], dtype=torch.float32), edge_index=torch.tensor(g["edge_index"], dtype=torch.long),
                edge_attr=torch.tensor(g["edge_attr"], dtype=torch.float32),
                y=torch.tensor(g["y"], dtype=torch.float32)[:, None], num_nodes=len(g["y"]))


def sample_graphs(count: int, pores: tuple[int, int], seed: int) -> list:
    """``count`` networks with a pore count uniform in ``[pores[0], pores[1]]``, from ``seed`` alone."""
    rng = np.random.default_rng(seed)
    low, high = pores
    if not 8 <= low <= high:
        raise ConfigError(f"pores must be a range [low, high] with 8 <= low <= high, got {pores}")
    return [graph_sample(pore_network(int(rng.integers(low, high + 1)), rng)) for _ in range(count)]
