"""Random Markov decision processes and their optimal state values: the convergent graph solver's MDP benchmark
(arXiv 2106.01680).

An MDP of ``S`` states (20-49) and ``A`` actions (5-9): action ``a`` in state ``s`` earns ``r(s, a) ~ U(-1, 1)``
and moves to one of ``branching`` (3) random next states with Dirichlet(1) probabilities. The optimal
values solve Bellman's equation ``V(s) = max_a [r(s, a) + discount sum_s' P(s' | s, a) V(s')]``
(discount 0.9), found by value iteration to ``1e-12``; the optimal policy is the maximising action.

As a graph (:func:`graph_arrays`): nodes are states; every transition ``(s, a, s')`` is an edge
``s' -> s`` (the value flows back from the next state) with features ``[P(s' | s, a), r(s, a),
a / (A - 1)]``; parallel edges of different actions are merged into one edge whose features are the
action-mean of those three and the largest probability, so the graph has no repeated edges. A transition
back to ``s`` itself would be a self loop; it enters through the node features instead:
``[mean_a r(s, a), max_a r(s, a), min_a r(s, a), A / 9, mean_a P(s | s, a), max_a P(s | s, a)]``.
Target: ``V(s)``.

Storage layout (``graphs``, padded)
-----------------------------------
For ``sciml data generate mdp-value --res R``: MDPs of ``min_states .. R`` states (default
``min_states = round(0.4 R)``: ``--res 49`` gives the 20-49 states of ``cgs-mdp-value``) and
``min_actions .. max_actions`` actions (5-9); sample ``i`` of seed ``s`` drawn from
``numpy.random.default_rng([s, i])`` alone.

- ``x (N, R, 6)``, ``edge_attr (N, max_edges, 4)``, ``y (N, R, 1)`` (the optimal values) float32
- ``edge_index (N, max_edges, 2)`` int32 (``source, target``, ``-1`` padding), ``policy (N, R)`` int32 (the
  optimal action, ``-1`` padding), ``num_nodes``, ``num_edges``, ``num_actions (N,)`` int32
- ``reward (N, R, max_actions)`` float64 and ``transitions (N, R, max_actions, branching, 2)`` float64
  (next state, probability): the MDP itself, so that a policy can be scored (:func:`mdp_of`)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np

from sciml._errors import ConfigError, DataError
from sciml.data.pdes._common import merge_params, padded_block

__all__ = ["MDP", "random_mdp", "value_iteration", "graph_arrays", "greedy_policy", "mdp_of", "DEFAULTS", "GENERATOR",
           "check_params", "fields", "coords", "generate", "NODE_FEATURES", "EDGE_FEATURES"]

GENERATOR = "sciml.data.pdes.mdp_value 1"
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


def graph_arrays(mdp: MDP) -> dict[str, np.ndarray]:
    """The MDP as graph arrays: ``x (S, 6)``, ``edge_index (2, E)``, ``edge_attr (E, 4)``, ``y (S,)`` the optimal
    values, ``policy (S,)`` the optimal actions."""
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
    return {"x": x, "edge_index": edge_index, "edge_attr": np.concatenate([merged, largest[:, None]], axis=1), "y": v,
            "policy": policy}


def greedy_policy(mdp: MDP, values: np.ndarray) -> np.ndarray:
    """The action maximising ``r + discount P values`` in every state."""
    return (mdp.r + mdp.discount * mdp.P @ values).argmax(axis=1)



# -- sciml data generate mdp-value --------------------------------------------------------------------
DEFAULTS: dict[str, Any] = {"min_states": None, "min_actions": 5, "max_actions": 9, "branching": 3, "discount": 0.9,
                            "max_edges": None}
"""Generator parameters.

min_states: the fewest states (None: ``round(0.4 res)``, at least 2); min_actions, max_actions: the action
count range (5-9, the authors'); branching: next states per action (3); discount (0.9); max_edges: padding of
the edges (None: ``branching * max_actions * res``, the most there can be).
"""


def _integer(value: Any, name: str, low: int, high: int | None = None) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low or (high is not None and
                                                                                             value > high):
        span = f"from {low} to {high}" if high is not None else f">= {low}"
        raise ConfigError(f"{name} must be an integer {span}, got {value!r}")
    return int(value)


def check_params(res: int, params: dict[str, Any]) -> dict[str, Any]:
    """Merge ``params`` over :data:`DEFAULTS`, refusing unknown or invalid values before any file is written."""
    merged = merge_params("mdp-value", params, DEFAULTS)
    res = _integer(res, "res (the most states per MDP)", 2, 100_000)
    low = merged["min_states"]
    merged["min_states"] = _integer(max(2, int(round(0.4 * res))) if low is None else low, "min_states", 2, res)
    merged["min_actions"] = _integer(merged["min_actions"], "min_actions", 1)
    merged["max_actions"] = _integer(merged["max_actions"], "max_actions", merged["min_actions"])
    merged["branching"] = _integer(merged["branching"], "branching", 1, merged["min_states"])
    d = merged["discount"]
    if not isinstance(d, (int, float)) or isinstance(d, bool) or not 0 <= d <= 0.995:
        raise ConfigError(f"discount must lie in [0, 0.995] (value iteration to 1e-12 needs about "
                          f"28 / (1 - discount) sweeps), got {d!r}")
    merged["discount"] = float(d)
    most = merged["branching"] * merged["max_actions"] * res
    merged["max_edges"] = _integer(most if merged["max_edges"] is None else merged["max_edges"], "max_edges", 1)
    return merged


def fields(res: int, params: dict[str, Any]) -> dict[str, tuple[tuple[int, ...], str]]:
    """Per-sample fields of an mdp-value store (``params`` from :func:`check_params`)."""
    edges, actions, k = params["max_edges"], params["max_actions"], params["branching"]
    return {"x": ((res, NODE_FEATURES), "float32"), "edge_index": ((edges, 2), "int32"),
            "edge_attr": ((edges, EDGE_FEATURES), "float32"), "y": ((res, 1), "float32"),
            "policy": ((res,), "int32"), "num_nodes": ((), "int32"), "num_edges": ((), "int32"),
            "num_actions": ((), "int32"), "reward": ((res, actions), "float64"),
            "transitions": ((res, actions, k, 2), "float64")}


def coords(res: int, params: dict[str, Any]) -> dict[str, np.ndarray]:
    """No entries without a sample axis."""
    return {}


def mdp_of(reward: np.ndarray, transitions: np.ndarray, states: int, actions: int, discount: float) -> MDP:
    """The MDP of one stored sample (its ``reward`` and ``transitions`` rows, padding cut by ``states``, ``actions``)."""
    P = np.zeros((states, actions, states))
    nxt = transitions[:states, :actions, :, 0].astype(np.int64)
    prob = transitions[:states, :actions, :, 1]
    s, a = np.meshgrid(np.arange(states), np.arange(actions), indexing="ij")
    for j in range(transitions.shape[2]):
        P[s, a, nxt[..., j]] += prob[..., j]
    return MDP(P, np.array(reward[:states, :actions], dtype=np.float64), float(discount))


def generate(n: int, res: int, *, seed: int, params: dict[str, Any], start: int = 0,
             block: int = 64) -> Iterator[dict[str, np.ndarray]]:
    """Yield blocks of samples ``start .. n-1`` in the layout of the module docstring."""
    params = check_params(res, params)
    k = params["branching"]
    for first in range(start, n, block):
        last = min(n, first + block)
        out = padded_block(fields(res, params), last - first, ("edge_index", "policy"))
        for i, index in enumerate(range(first, last)):
            rng = np.random.default_rng([int(seed), int(index)])
            states = int(rng.integers(params["min_states"], res + 1))
            actions = int(rng.integers(params["min_actions"], params["max_actions"] + 1))
            mdp = random_mdp(states, actions, rng, branching=k, discount=params["discount"])
            g = graph_arrays(mdp)
            e = g["edge_index"].shape[1]
            if e > params["max_edges"]:
                raise DataError(f"sample {index} has {e} edges, more than max_edges={params['max_edges']}; set it larger "
                                f"(with --force: the field shapes change)")
            out["x"][i, :states], out["y"][i, :states, 0], out["policy"][i, :states] = g["x"], g["y"], g["policy"]
            out["edge_index"][i, :e], out["edge_attr"][i, :e] = g["edge_index"].T, g["edge_attr"]
            out["num_nodes"][i], out["num_edges"][i], out["num_actions"][i] = states, e, actions
            out["reward"][i, :states, :actions] = mdp.r
            for s in range(states):
                for a in range(actions):
                    nxt = np.nonzero(mdp.P[s, a])[0]
                    out["transitions"][i, s, a, :len(nxt), 0] = nxt
                    out["transitions"][i, s, a, :len(nxt), 1] = mdp.P[s, a, nxt]
        yield out
