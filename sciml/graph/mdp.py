"""Random MDPs as torch_geometric graphs: the convergent graph solver's MDP benchmark.

The MDPs, value iteration and the graph arrays are :mod:`sciml.data.pdes.mdp_value`'s (the ``mdp-value``
generator of ``sciml data generate``); :func:`graph_sample` wraps one MDP as a ``Data`` with ``y (S, 1)`` the
optimal values and ``policy (S,)``.
"""

from __future__ import annotations

import numpy as np

from sciml.data.pdes.mdp_value import (EDGE_FEATURES, MDP, NODE_FEATURES, greedy_policy, random_mdp,
                                       value_iteration)
from sciml.data.pdes.mdp_value import graph_arrays

__all__ = ["MDP", "random_mdp", "value_iteration", "graph_sample", "greedy_policy", "sample_graphs", "NODE_FEATURES",
           "EDGE_FEATURES"]


def graph_sample(mdp: MDP):
    """The MDP as a torch_geometric ``Data``: ``y (S, 1)`` the optimal values, ``policy (S,)``."""
    import torch
    from torch_geometric.data import Data

    g = graph_arrays(mdp)
    return Data(x=torch.tensor(g["x"], dtype=torch.float32), edge_index=torch.tensor(g["edge_index"], dtype=torch.long),
                edge_attr=torch.tensor(g["edge_attr"], dtype=torch.float32),
                y=torch.tensor(g["y"], dtype=torch.float32)[:, None], policy=torch.tensor(g["policy"]),
                num_nodes=len(g["y"]))


def sample_graphs(count: int, states: tuple[int, int], actions: tuple[int, int], seed: int) -> tuple[list, list]:
    """``count`` random MDPs and their graphs, from ``seed`` alone (state and action counts uniform in their
    ranges): ``(graphs, mdps)``."""
    rng = np.random.default_rng(seed)
    graphs, mdps = [], []
    for _ in range(count):
        mdp = random_mdp(int(rng.integers(states[0], states[1] + 1)), int(rng.integers(actions[0], actions[1] + 1)),
                         rng)
        mdps.append(mdp)
        graphs.append(graph_sample(mdp))
    return graphs, mdps
