"""Random Markov decision processes and their optimal state values: the convergent graph solver's MDP benchmark.

An MDP of ``S`` states (20-49) and ``A`` actions (5-9): action ``a`` in state ``s`` earns ``r(s, a) ~ U(-1, 1)``
and moves to one of ``branching`` (3) random next states with Dirichlet(1) probabilities. The optimal
values solve Bellman's equation ``V(s) = max_a [r(s, a) + discount sum_s' P(s' | s, a) V(s')]``
(discount 0.9), found by value iteration to ``1e-12``; the optimal policy is the maximising action.

As a graph (:func:`graph_sample`): nodes are states; every transition ``(s, a, s')`` is an edge
``s' -> s`` (the value flows back from the next state) with features ``[P(s' | s, a), r(s, a),
a / (A - 1)]``; parallel edges of different actions are merged into one edge whose features are the
action-mean of those three and the largest probability, so the graph has no repeated edges. A transition
back to ``s`` itself would be a self loop; it enters through the node features instead:
``[mean_a r(s, a), max_a r(s, a), min_a r(s, a), A / 9, mean_a P(s | s, a), max_a P(s | s, a)]``.
Target: ``V(s)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sciml._errors import ConfigError, DataError

__all__ = ["MDP", "random_mdp", "value_iteration", "graph_sample", "greedy_policy", "sample_graphs", "NODE_FEATURES",
           "EDGE_FEATURES"]

NODE_FEATURES = 6
EDGE_FEATURES = 4


@dataclass
class MDP:
    """``P (S, A, S)`` transition probabilities, ``r (S, A)`` rewards, ``discount``."""

    P: np.ndarray
    r: np.ndarray
    discount: float


def random_mdp(states: int, actions: int, rng: np.random.Generator, *, branching: int = 3,
               discount: float = 0.9) -> MDP:
    """A random sparse MDP (see the module docstring)."""
    if states < 2 or actions < 1 or not 1 <= branching <= states:
        raise ConfigError(f"an MDP needs >= 2 states, >= 1 action and 1 <= branching <= states; got {states}, "
                          f"{actions}, {branching}")
    if not 0 <= discount < 1:
        raise ConfigError(f"the discount must lie in [0, 1), got {discount}")
    P = np.zeros((states, actions, states))
    for s in range(states):
        for a in range(actions):
            nxt = rng.choice(states, size=branching, replace=False)
            P[s, a, nxt] = rng.dirichlet(np.ones(branching))
    return MDP(P, rng.uniform(-1.0, 1.0, (states, actions)), discount)


def value_iteration(mdp: MDP, tol: float = 1e-12, max_iter: int = 100_000) -> tuple[np.ndarray, np.ndarray]:
    """Optimal values ``(S,)`` and the greedy policy ``(S,)`` by value iteration."""
    v = np.zeros(mdp.r.shape[0])
    for _ in range(max_iter):
        q = mdp.r + mdp.discount * mdp.P @ v
        new = q.max(axis=1)
        if np.abs(new - v).max() <= tol:
            return new, q.argmax(axis=1)
        v = new
    raise DataError(f"value iteration did not reach {tol} in {max_iter} sweeps")


def graph_sample(mdp: MDP):
    """The MDP as a torch_geometric ``Data``: ``y (S, 1)`` the optimal values, ``policy (S,)``."""
    import torch
    from torch_geometric.data import Data

    v, policy = value_iteration(mdp)
    states, actions, _ = mdp.P.shape
    s, a, nxt = np.nonzero(mdp.P)
    keep = s != nxt  # a self transition would be a loop: it enters through the node features
    s, a, nxt = s[keep], a[keep], nxt[keep]
    p = mdp.P[s, a, nxt]
    feats = np.stack([p, mdp.r[s, a], a / max(actions - 1, 1)], axis=1)
    pair = nxt * states + s
    unique, inverse = np.unique(pair, return_inverse=True)
    merged = np.zeros((len(unique), 3))
    np.add.at(merged, inverse, feats)
    merged /= np.bincount(inverse)[:, None]
    largest = np.zeros(len(unique))
    np.maximum.at(largest, inverse, p)
    edge_index = np.stack([unique // states, unique % states])
    stay = mdp.P[np.arange(states), :, np.arange(states)]  # (S, A): P(s | s, a)
    x = np.stack([mdp.r.mean(axis=1), mdp.r.max(axis=1), mdp.r.min(axis=1), np.full(states, actions / 9.0),
                  stay.mean(axis=1), stay.max(axis=1)], axis=1)
    return Data(x=torch.tensor(x, dtype=torch.float32), edge_index=torch.tensor(edge_index, dtype=torch.long),
                edge_attr=torch.tensor(np.concatenate([merged, largest[:, None]], axis=1), dtype=torch.float32),
                y=torch.tensor(v, dtype=torch.float32)[:, None], policy=torch.tensor(policy), num_nodes=states)


def greedy_policy(mdp: MDP, values: np.ndarray) -> np.ndarray:
    """The action maximising ``r + discount P values`` in every state."""
    return (mdp.r + mdp.discount * mdp.P @ values).argmax(axis=1)


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
