"""Choosing the SOR relaxation factor ``omega`` across a sequence of linear systems by online learning.

After Khodak, Chow, Balcan and Talwalkar, "Learning to Relax: Setting Solver Parameters Across a
Sequence of Linear System Instances", arXiv 2310.02246 (ICLR 2024). Systems ``A_t x = b_t`` arrive one
at a time; before solving each, a learner picks ``omega_t`` from a grid of arms and afterwards sees
only the number of iterations the solver needed. Two learners:

* :func:`tune_omega`: the Tsallis-INF bandit (:class:`TsallisINF`) over the grid. Its total cost
  approaches that of the best *fixed* ``omega`` in hindsight (regret ``O(sqrt(K T))`` in normalised
  cost for ``K`` arms and ``T`` systems).
* :func:`tune_omega_unimodal`: Thompson sampling restricted to the empirical leader and its two
  neighbours on the ordered grid (:class:`UnimodalThompson`), which uses the shape of the problem:
  the expected cost is unimodal in ``omega``, so it never spends a system on far-away arms. No
  worst-case guarantee, but within 10% of the best fixed ``omega`` after 1000 systems on our
  sequences where Tsallis-INF is at 1.2-1.4x.
* :func:`tune_omega_contextual`: a contextual bandit that also sees a scalar feature per system (the
  diagonal shift ``c`` of ``A = L + c I``), regresses cost on Chebyshev polynomials of the feature per
  arm and picks by inverse-gap weighting; it can approach the *instance-optimal* ``omega``.

The cost of a choice is counted by :class:`IterationCost`: iterations of SOR (:func:`sciml.linalg.sor`)
or of SSOR-preconditioned CG (:func:`sciml.linalg.pcg` with :class:`sciml.linalg.SSOR`), capped at
``maxiter``. The bandit sees iteration counts divided by their running mean (as in the authors' code);
the contextual learner sees ``cost / maxiter`` in ``[0, 1]``. :func:`shifted_laplacian_sequence` makes the
paper's test sequences, 2D Laplacian plus ``c I`` with random ``c``; :func:`as_systems` wraps any list of
``(A, b)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np
import scipy.linalg
import scipy.sparse as sp
import torch

from sciml._errors import ConfigError, DataError

__all__ = ["DEFAULT_OMEGAS", "METHODS", "LinearSystem", "as_systems", "shifted_laplacian_sequence", "IterationCost",
           "TsallisINF", "UnimodalThompson", "RelaxResult", "tune_omega", "tune_omega_unimodal",
           "tune_omega_contextual"]

DEFAULT_OMEGAS = np.linspace(1.0, 1.95, 20)  # the paper's 20 arms
METHODS = ("sor", "ssor-pcg")
DENSE_LIMIT = 1024  # largest n for which IterationCost.all_arms runs SOR for all arms at once on dense inverses


@dataclass(frozen=True)
class LinearSystem:
    """One instance ``A x = b`` of a sequence, with an optional scalar feature (the context).

    Shapes: ``A (n, n)`` scipy CSR float64, ``b (n,)`` float64, ``feature`` a float or ``None``.
    """

    A: sp.csr_matrix
    b: np.ndarray
    feature: float | None = None


def _system(A: Any, b: Any, feature: Any, index: int | None) -> LinearSystem:
    """Validate one system; ``index`` names it in error messages."""
    from sciml.linalg.precond import _scipy_csr

    where = "" if index is None else f"system {index}: "
    try:
        csr = _scipy_csr(A)
    except DataError as exc:
        raise DataError(f"{where}{exc}") from None
    rhs = torch.as_tensor(b).detach().cpu().numpy() if isinstance(b, torch.Tensor) else np.asarray(b)
    if rhs.dtype.kind not in "fiu":
        raise DataError(f"{where}b must be real numbers, got dtype {rhs.dtype}")
    rhs = rhs.astype(np.float64)
    if rhs.shape != (csr.shape[0],):
        raise DataError(f"{where}A has shape {csr.shape} but b has shape {rhs.shape}")
    if not np.all(np.isfinite(rhs)):
        raise DataError(f"{where}b contains NaN or Inf")
    if feature is not None:
        feature = float(feature)
        if not math.isfinite(feature):
            raise DataError(f"{where}the feature must be finite, got {feature}")
    return LinearSystem(csr, rhs, feature)


def as_systems(systems: Iterable[Any], features: Sequence[float] | None = None) -> list[LinearSystem]:
    """Validate a sequence of systems: each entry a :class:`LinearSystem` or an ``(A, b)`` pair.

    Parameters
    ----------
    systems : iterable of :class:`LinearSystem` or ``(A, b)`` with ``A`` a square scipy sparse, dense
        array or torch matrix ``(n, n)`` and ``b (n,)``; ``n`` may differ between systems
    features : optional scalar feature per system (overrides the entries' own)

    Returns
    -------
    list of :class:`LinearSystem` with ``A`` as float64 CSR and ``b`` as a float64 array.
    """
    entries = list(systems)
    if not entries:
        raise DataError("the sequence of systems is empty; give at least one (A, b)")
    if features is not None and len(features) != len(entries):
        raise DataError(f"got {len(features)} features for {len(entries)} systems")
    out = []
    for i, entry in enumerate(entries):
        if isinstance(entry, LinearSystem):
            A, b, feature = entry.A, entry.b, entry.feature
        elif isinstance(entry, (tuple, list)) and len(entry) == 2:
            (A, b), feature = entry, None
        else:
            raise DataError(f"system {i}: expected a LinearSystem or an (A, b) pair, got {type(entry).__name__}")
        out.append(_system(A, b, features[i] if features is not None else feature, i))
    return out


def shifted_laplacian_sequence(m: int, n_systems: int, *, shift_range: tuple[float, float] = (0.0, 1.0),
                               distribution: str = "uniform", beta: tuple[float, float] = (0.5, 1.5),
                               seed: int = 0) -> list[LinearSystem]:
    """The paper's test sequence: ``A_t = L + c_t I`` with ``L`` the 5-point ``-Laplacian`` on an ``m x m`` grid.

    ``c_t = u_t * d`` with ``d = 4 (m + 1)^2`` the diagonal of ``L`` (the middle of its spectrum:
    ``lambda_min + lambda_max = 2 d``), so the shift is measured in the Laplacian's own scale and the
    sequence looks alike on every grid. ``u_t`` are i.i.d. on ``shift_range = (low, high)``:
    ``distribution="uniform"`` draws ``u ~ U[low, high]``; ``"log-uniform"`` draws ``log u`` uniformly
    (``low > 0``), which spreads the instance-optimal ``omega`` evenly over its range; ``"beta"`` draws
    ``u = low + (high - low) B`` with ``B ~ Beta(*beta)``. ``b_t ~ N(0, I)``. The feature of each system
    is ``c_t``. ``low`` may be negative as long as every ``A_t`` stays positive definite:
    ``low > -lambda_min / d = cos(pi / (m + 1)) - 1``.

    The sequence of Khodak et al.'s experiments (their released scripts: ``delsq(numgrid('S', 12))``
    plus ``c I``, ``c = -0.15 + 0.6 Beta(0.5, 1.5)``, diagonal 4) is ``m = 10``,
    ``shift_range=(-0.0375, 0.1125)``, ``distribution="beta"``, ``beta=(0.5, 1.5)`` (their "high
    variance" case; ``(2, 6)`` is their "low variance" one): near-singular systems, best ``omega`` about
    1.75.

    Young's theory applies (``A_t`` is consistently ordered), so the instance-optimal SOR factor is
    ``2 / (1 + sqrt(1 - rho_t^2))`` with Jacobi radius ``rho_t = (d - lambda_min) / (d + c_t)``: about
    ``2 / (1 + sin(pi / (m + 1)))`` at ``c = 0``, falling towards 1 as ``c`` grows (1.05 at ``c = d``).

    Shapes: each ``A (m^2, m^2)``, ``b (m^2,)``. Draws from ``numpy.random.default_rng(seed)``.
    """
    from sciml.gallery import poisson2d

    if int(m) != m or m < 2:
        raise ConfigError(f"m must be an integer >= 2, got {m}")
    if int(n_systems) != n_systems or n_systems < 1:
        raise ConfigError(f"n_systems must be a positive integer, got {n_systems}")
    distributions = ("uniform", "log-uniform", "beta")
    if distribution not in distributions:
        raise ConfigError(f"unknown distribution {distribution!r}; choose one of {', '.join(distributions)}")
    low, high = (float(v) for v in shift_range)
    floor = math.cos(math.pi / (m + 1)) - 1.0  # -lambda_min / d
    if not floor < low <= high or (distribution == "log-uniform" and low <= 0):
        raise ConfigError(f"shift_range must be (low, high) with {floor:.4g} < low <= high (the lower bound keeps "
                          f"L + c I positive definite on this grid; low > 0 for log-uniform), got {tuple(shift_range)}")
    a, b = (float(v) for v in beta)
    if not (a > 0 and b > 0):
        raise ConfigError(f"beta must be two positive shape parameters, got {tuple(beta)}")
    laplacian = poisson2d(int(m)).astype(np.float64).tocsr()
    diagonal = 4.0 * (m + 1) ** 2
    rng = np.random.default_rng(seed)
    if distribution == "uniform":
        units = rng.uniform(low, high, size=int(n_systems))
    elif distribution == "log-uniform":
        units = np.exp(rng.uniform(math.log(low), math.log(high), size=int(n_systems)))
    else:
        units = low + (high - low) * rng.beta(a, b, size=int(n_systems))
    identity = sp.identity(m * m, format="csr")
    return [LinearSystem((laplacian + u * diagonal * identity).tocsr(), rng.standard_normal(m * m), float(u * diagonal))
            for u in units]


def _check_omegas(omegas: Any) -> np.ndarray:
    grid = np.asarray(omegas, dtype=np.float64).reshape(-1) if np.ndim(omegas) <= 1 else None
    if grid is None:
        raise ConfigError(f"omegas must be a 1-D grid of relaxation factors, got shape {np.shape(omegas)}")
    if grid.size == 0:
        raise ConfigError("the omega grid is empty; give at least one relaxation factor in (0, 2)")
    bad = grid[~((grid > 0) & (grid < 2))]
    if bad.size:
        raise ConfigError(f"every omega must lie in (0, 2) for SOR/SSOR to converge; got {bad[0]}")
    return grid


class IterationCost:
    """Cost oracle: the iterations one solver needs for ``A x = b`` at relaxation ``omega``, capped at ``maxiter``.

    ``method="sor"``: SOR sweeps, :func:`sciml.linalg.sor` with ``symmetric=False``.
    ``method="ssor-pcg"``: CG iterations, :func:`sciml.linalg.pcg` preconditioned by ``SSOR(A, omega=omega)``.
    Both stop when ``||b - A x||_2 <= rtol ||b||_2`` from ``x0 = 0``; a solve that has not converged after
    ``maxiter`` iterations (or breaks down) costs ``maxiter``. No state is kept between calls, so equal
    inputs give equal costs.

    Parameters
    ----------
    method : ``"sor"`` or ``"ssor-pcg"``
    rtol : relative tolerance, ``> 0``
    maxiter : the cap, ``>= 1``; :meth:`loss` divides by it

    Shapes: ``A (n, n)``, ``b (n,)``; :meth:`all_arms` returns ``(K,)`` for ``K`` omegas.
    """

    def __init__(self, method: str = "sor", *, rtol: float = 1e-8, maxiter: int = 1000):
        if method not in METHODS:
            raise ConfigError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
        if not rtol > 0:
            raise ConfigError(f"rtol must be positive, got {rtol}")
        if int(maxiter) != maxiter or maxiter < 1:
            raise ConfigError(f"maxiter must be a positive integer, got {maxiter}")
        self.method = method
        self.rtol = float(rtol)
        self.maxiter = int(maxiter)

    def __repr__(self) -> str:
        return f"IterationCost(method={self.method!r}, rtol={self.rtol:g}, maxiter={self.maxiter})"

    def loss(self, cost: int) -> float:
        """The cost normalised to ``[0, 1]``: ``cost / maxiter``."""
        return float(cost) / self.maxiter

    def __call__(self, A: Any, b: Any, omega: float) -> int:
        """Iterations to converge at ``omega`` (``maxiter`` if the solve does not converge)."""
        from sciml.linalg import SSOR, pcg, sor

        _check_omegas([omega])
        system = _system(A, b, None, None)
        rhs = torch.from_numpy(system.b)
        if self.method == "sor":
            result = sor(system.A, rhs, omega=float(omega), symmetric=False, rtol=self.rtol, maxiter=self.maxiter)
        else:
            result = pcg(system.A, rhs, SSOR(system.A, omega=float(omega)), rtol=self.rtol, maxiter=self.maxiter)
        return int(result.iterations) if bool(result.converged) else self.maxiter

    def all_arms(self, A: Any, b: Any, omegas: Any) -> np.ndarray:
        """The cost of every omega on one system, ``(K,)`` int64 (for evaluation: it solves ``K`` times).

        For SOR with ``n <= 1024`` all arms iterate together on dense inverses of ``D / omega + L``, many
        times faster than ``K`` calls for small systems; the iterates equal :func:`~sciml.linalg.sor`'s up
        to rounding, so a count can differ by one only when a residual lands within rounding of the
        threshold. Otherwise this loops over :meth:`__call__`.
        """
        grid = _check_omegas(omegas)
        system = _system(A, b, None, None)
        if self.method == "sor" and system.A.shape[0] <= DENSE_LIMIT:
            return _sor_iterations_all_arms(system.A, system.b, grid, self.rtol, self.maxiter)
        return np.array([self(system.A, system.b, w) for w in grid], dtype=np.int64)


def _sor_iterations_all_arms(A: sp.csr_matrix, b: np.ndarray, omegas: np.ndarray, rtol: float,
                             maxiter: int) -> np.ndarray:
    """SOR ``x <- x + (D/omega + L)^-1 (b - A x)`` from ``x = 0`` for all omegas at once; iterations to
    ``||b - A x|| <= rtol ||b||``, ``maxiter`` when not reached. Shapes: ``A (n, n)``, ``b (n,)``, ``omegas (K,)``."""
    dense = A.toarray()
    n = dense.shape[0]
    strict_lower, diagonal = np.tril(dense, -1), np.diag(dense)
    if np.any(diagonal == 0):
        raise DataError(f"A has a zero diagonal entry at row {int(np.flatnonzero(diagonal == 0)[0])}; SOR needs a "
                        f"non-zero diagonal")
    identity = np.eye(n)
    inverses = np.stack([scipy.linalg.solve_triangular(strict_lower + np.diag(diagonal / w), identity, lower=True)
                         for w in omegas])
    threshold = rtol * np.linalg.norm(b)
    costs = np.full(len(omegas), maxiter, dtype=np.int64)
    if np.linalg.norm(b) <= threshold:
        return np.zeros(len(omegas), dtype=np.int64)
    active = np.arange(len(omegas))  # arms still iterating; the arrays below hold only their rows
    X = np.zeros((len(omegas), n))
    R = np.tile(b, (len(omegas), 1))
    for iteration in range(1, maxiter + 1):
        X += np.matmul(inverses, R[:, :, None])[:, :, 0]
        R = b - X @ dense.T
        residual = np.linalg.norm(R, axis=1)
        converged = residual <= threshold
        stopped = converged | ~np.isfinite(residual)
        if stopped.any():
            costs[active[converged]] = iteration
            keep = ~stopped
            active, inverses, X, R = active[keep], inverses[keep], X[keep], R[keep]
            if active.size == 0:
                break
    return costs


ESTIMATORS = ("importance-weighted", "reduced-variance")
SCALES = ("unit", "running-mean")


class _AlternatingRounds:
    """``select()`` then ``update(arm, ...)`` of that arm, strictly alternating: ``select`` sets ``_pending``
    to the arm it returns, ``update`` clears it once the report is accepted."""

    _pending: int | None = None

    def _check_select(self) -> None:
        if self._pending is not None:
            raise ConfigError(f"select() called twice; report the cost of arm {self._pending} with update() first")

    def _check_update(self, arm: int) -> None:
        if self._pending is None or self._pending != arm:
            expected = "call select() first" if self._pending is None else f"select() returned {self._pending}"
            raise ConfigError(f"update(arm={arm}) does not follow a select() of that arm; {expected}")


class TsallisINF(_AlternatingRounds):
    """The Tsallis-INF bandit with ``alpha = 1/2`` (Zimmert and Seldin, JMLR 2021).

    Follow-the-regularised-leader on cumulative loss estimates ``L_hat`` with the 1/2-Tsallis entropy.
    In round ``t`` the arm is drawn from ``w_i = 4 / (eta_t (L_hat_i / s_t - x))^2``,
    ``eta_t = learning_rate / sqrt(t)``, where the normaliser ``x < min L_hat / s_t`` making ``sum w = 1``
    is found by Newton's method (monotone from ``x = min L_hat / s_t - 2 / eta_t``, since ``sum w`` is
    convex and increasing in ``x``), and ``s_t`` is the loss scale:

    * ``scale="unit"``: ``s_t = 1``; losses must lie in ``[0, 1]`` (Zimmert and Seldin's setting).
    * ``scale="running-mean"``: ``s_t`` is the mean of the losses observed so far (1 before the first),
      recomputed every round and applied to the whole cumulative estimate, so the learner is invariant
      to the units of the loss (iterations need no cap) and a good arm's loss is about 1. This is how
      the authors' released code of Khodak et al. (2024) normalises iteration counts. Losses may be any
      non-negative number.

    After playing arm ``a`` with probability ``w_a`` and loss ``l``, the estimates grow by

    * ``estimator="importance-weighted"``: ``l / w_a`` for arm ``a`` only;
    * ``estimator="reduced-variance"``: Zimmert and Seldin's estimator ``(l - B_i) 1[i = a] / w_i + B_i``
      for every arm ``i``, with ``B_i = B 1[w_i >= eta_t^2]``: the baseline ``B`` is 1/2 for
      ``scale="unit"`` and the running mean of the losses before this one for ``"running-mean"``
      (the loss is centred). An arm played with small probability gets no baseline, so a rare lucky
      loss below ``B`` cannot throw it to the lead.

    The default ``learning_rate = 2`` (``eta_t = 2 / sqrt(t)``) is the rate of Zimmert and Seldin's
    analysis for importance-weighted estimators: pseudo-regret ``O(sqrt(K T))`` against any loss sequence
    and ``O(sum_i log(T) / gap_i)`` for stochastic losses with gaps, with no knowledge of which case
    holds. The regret is in loss units, so in the original units it scales with ``s_t`` (or the cap).

    Parameters
    ----------
    n_arms : number of arms ``K >= 1``
    rng : ``numpy.random.Generator``, a seed, or ``None`` (fresh entropy)
    learning_rate : the constant in ``eta_t``
    estimator : ``"importance-weighted"`` or ``"reduced-variance"``
    scale : ``"unit"`` or ``"running-mean"``
    """

    def __init__(self, n_arms: int, *, rng: np.random.Generator | int | None = None, learning_rate: float = 2.0,
                 estimator: str = "importance-weighted", scale: str = "unit"):
        if int(n_arms) != n_arms or n_arms < 1:
            raise ConfigError(f"n_arms must be a positive integer, got {n_arms}")
        if not learning_rate > 0:
            raise ConfigError(f"learning_rate must be positive, got {learning_rate}")
        if estimator not in ESTIMATORS:
            raise ConfigError(f"unknown estimator {estimator!r}; choose one of {', '.join(ESTIMATORS)}")
        if scale not in SCALES:
            raise ConfigError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
        self.n_arms = int(n_arms)
        self.learning_rate = float(learning_rate)
        self.estimator = estimator
        self.scale = scale
        self.rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        self.loss_estimates = np.zeros(self.n_arms)  # cumulative loss estimates L_hat, in the losses' own units
        self.loss_sum = 0.0  # sum of the observed losses, for the running-mean scale and baseline
        self.rounds = 0  # completed select/update pairs
        self._pending: int | None = None
        self._drawn_from: np.ndarray | None = None  # the distribution the pending arm was drawn from

    def __repr__(self) -> str:
        return (f"TsallisINF(n_arms={self.n_arms}, learning_rate={self.learning_rate:g}, estimator={self.estimator!r}, "
                f"scale={self.scale!r}, rounds={self.rounds})")

    def _eta(self) -> float:
        return self.learning_rate / math.sqrt(self.rounds + 1)

    def _scale(self) -> float:
        """``s_t``: 1, or the mean observed loss (1 while it is undefined or zero)."""
        if self.scale == "unit" or self.rounds == 0 or self.loss_sum <= 0:
            return 1.0
        return self.loss_sum / self.rounds

    def probabilities(self) -> np.ndarray:
        """The distribution ``(K,)`` that the next :meth:`select` draws from."""
        eta = self._eta()
        scaled = self.loss_estimates / self._scale()
        gaps = scaled - scaled.min()
        x = -2.0 / eta  # here the leading arm alone has weight 1, so sum(w) >= 1
        for _ in range(100):
            weights = 4.0 / (eta * (gaps - x)) ** 2
            excess = weights.sum() - 1.0
            if excess <= 1e-12:
                break
            x -= excess / (eta * np.sum(weights ** 1.5))
        return weights / weights.sum()

    def select(self) -> int:
        """Draw an arm for the next round; :meth:`update` must report its loss before the next select."""
        self._check_select()
        p = self.probabilities()
        arm = int(self.rng.choice(self.n_arms, p=p))
        self._pending, self._drawn_from = arm, p
        return arm

    def update(self, arm: int, loss: float) -> None:
        """Report the loss of the arm the last :meth:`select` returned: in ``[0, 1]`` for ``scale="unit"``,
        any non-negative number for ``scale="running-mean"``."""
        self._check_update(arm)
        loss = float(loss)
        if self.scale == "unit" and not 0.0 <= loss <= 1.0:
            raise DataError(f"losses must lie in [0, 1] (normalise the cost by its cap, or use scale='running-mean'), "
                            f"got {loss}")
        if not (math.isfinite(loss) and loss >= 0.0):
            raise DataError(f"losses must be non-negative and finite, got {loss}")
        p = self._drawn_from
        if self.estimator == "importance-weighted":
            self.loss_estimates[arm] += loss / p[arm]
        else:
            baseline = 0.5 if self.scale == "unit" else (self.loss_sum / self.rounds if self.rounds else loss)
            estimate = np.where(p >= self._eta() ** 2, baseline, 0.0)
            estimate[arm] += (loss - estimate[arm]) / p[arm]
            self.loss_estimates += estimate
        self._pending = None
        self.loss_sum += loss
        self.rounds += 1


class UnimodalThompson(_AlternatingRounds):
    """Thompson sampling on the neighbourhood of the empirical leader of an ordered grid of arms.

    For costs whose mean is unimodal along the grid (the SOR iteration count in ``omega``), a learner
    need only compare the empirically best arm with its neighbours: if a neighbour is better the
    leader moves there, and arms far from the optimum are never played once the leader has passed
    them. This is Unimodal Thompson Sampling (Paladino, Trovo, Restelli and Gatti, AAAI 2017) on the
    line graph of the arms, without its forced play of the leader every few rounds, with a Gaussian
    model of unknown mean and variance per arm:

    * the leader ``l`` is the played arm of lowest mean observed cost (lowest index on ties);
    * among ``l - radius, ..., l + radius`` (inside the grid, in that order), an arm played fewer than
      twice gets the sample ``-inf`` (it is tried first); otherwise it gets
      ``theta_a = mean_a + sqrt(var_a / n_a) * t_(n_a - 1)``, a draw from the Student-t posterior of its
      mean under the reference prior (``var_a`` the sample variance, ``n_a`` its plays);
    * the arm with the smallest sample is played (the first in that order on ties); before any
      play, the arm ``start``.

    ``discount < 1`` multiplies every arm's play count and sums by ``discount`` each round
    (discounted Thompson sampling after Garivier and Moulines, 2011), so the statistics forget old
    systems; a sequence whose best ``omega`` changes partway needs it.

    Costs are raw iteration counts (any non-negative numbers; ``min_variance`` is in their units).

    It has no worst-case (adversarial) regret bound, unlike :class:`TsallisINF`, and it relies on
    the ordering of the arms. Measured on our sequences (see ``docs/learned-preconditioners.md``):
    1.02-1.06x the best fixed ``omega`` after 1000 systems where Tsallis-INF is at 1.2-1.4x; on a
    sequence that switches from uniform shifts to the paper's near-singular ones halfway, 1.5x
    without discounting and 1.13x with ``discount=0.995`` (Tsallis-INF 1.25x; start arm 16 there).

    Parameters
    ----------
    n_arms : number of arms ``K >= 1``, ordered (``omega`` increasing)
    rng : ``numpy.random.Generator``, a seed, or ``None``
    start : the first arm played; default the last (largest ``omega``): above a system's optimal
        ``omega`` the SOR convergence rate is ``omega - 1`` whatever the system (Young's theory for
        consistently ordered matrices), so there the cost barely varies from system to system,
        while below it costs are large and heavy-tailed; walking down from the top finds the
        optimum without paying for the bottom of the grid
    radius : how many neighbours on each side of the leader are compared, ``>= 1``
    discount : forgetting factor in ``(0.5, 1]``; 1 keeps every observation (below 1/2 the discounted
        play counts could never reach the 2 an arm needs before it is sampled)
    min_variance : floor of the sample variance, in squared cost units. The default 1/12 is the
        variance of rounding to an integer: iteration counts are integers, and two equal counts would
        otherwise give a posterior of zero width. It only matters when an arm's costs are (nearly)
        all equal; a neighbour whose first costs were equal and unluckily high is still rarely retried.
    """

    def __init__(self, n_arms: int, *, rng: np.random.Generator | int | None = None, start: int | None = None,
                 radius: int = 1, discount: float = 1.0, min_variance: float = 1.0 / 12.0):
        if int(n_arms) != n_arms or n_arms < 1:
            raise ConfigError(f"n_arms must be a positive integer, got {n_arms}")
        start = int(n_arms) - 1 if start is None else start
        if int(start) != start or not 0 <= start < n_arms:
            raise ConfigError(f"start must be an arm index in [0, {int(n_arms) - 1}], got {start}")
        if int(radius) != radius or radius < 1:
            raise ConfigError(f"radius must be a positive integer, got {radius}")
        if not 0.5 < discount <= 1:
            raise ConfigError(f"discount must lie in (0.5, 1], got {discount}: the discounted play count of an "
                              f"arm tends to at most 1 / (1 - discount), and an arm needs 2 before it is sampled")
        if not (math.isfinite(min_variance) and min_variance >= 0):
            raise ConfigError(f"min_variance must be a non-negative number, got {min_variance}")
        self.n_arms, self.start, self.radius, self.discount = int(n_arms), int(start), int(radius), float(discount)
        self.min_variance = float(min_variance)
        self.rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        self.plays = np.zeros(self.n_arms)  # (discounted) number of observations per arm
        self.sums = np.zeros(self.n_arms)  # (discounted) sum of costs
        self.squares = np.zeros(self.n_arms)  # (discounted) sum of squared costs
        self.rounds = 0
        self._pending: int | None = None

    def __repr__(self) -> str:
        return (f"UnimodalThompson(n_arms={self.n_arms}, start={self.start}, radius={self.radius}, "
                f"discount={self.discount:g}, min_variance={self.min_variance:g}, rounds={self.rounds})")

    def means(self) -> np.ndarray:
        """Mean observed cost per arm ``(K,)``; ``inf`` for arms never played."""
        means = np.full(self.n_arms, np.inf)
        seen = self.plays > 0
        means[seen] = self.sums[seen] / self.plays[seen]
        return means

    @property
    def leader(self) -> int:
        """The arm with the lowest mean observed cost (``start`` before any play)."""
        return self.start if self.rounds == 0 else int(np.argmin(self.means()))

    def select(self) -> int:
        """Draw the arm for the next round; :meth:`update` must report its cost before the next select."""
        self._check_select()
        arm = self.start
        if self.rounds:
            leader, means = self.leader, self.means()
            best = math.inf
            for a in range(max(leader - self.radius, 0), min(leader + self.radius, self.n_arms - 1) + 1):
                n = self.plays[a]
                if n < 2:
                    sample = -math.inf
                else:
                    variance = max((self.squares[a] - n * means[a] ** 2) / (n - 1), self.min_variance)
                    sample = means[a] + math.sqrt(variance / n) * self.rng.standard_t(n - 1)
                if sample < best:
                    arm, best = a, sample
        self._pending = arm
        return arm

    def update(self, arm: int, cost: float) -> None:
        """Report the cost (any non-negative number) of the arm the last :meth:`select` returned."""
        self._check_update(arm)
        cost = float(cost)
        if not (math.isfinite(cost) and cost >= 0.0):
            raise DataError(f"costs must be non-negative and finite, got {cost}")
        if self.discount < 1.0:
            for statistic in (self.plays, self.sums, self.squares):
                statistic *= self.discount
        self.plays[arm] += 1.0
        self.sums[arm] += cost
        self.squares[arm] += cost * cost
        self._pending = None
        self.rounds += 1


@dataclass(frozen=True)
class RelaxResult:
    """The record of tuning ``omega`` over a sequence of ``T`` systems with ``K`` arms.

    Attributes
    ----------
    omegas : the arms ``(K,)``
    arms : index of the chosen arm per system ``(T,)``
    costs : iterations spent per system ``(T,)`` (what the learner saw, times ``maxiter``)
    arm_costs : cost of every arm on every system ``(T, K)``, or ``None`` without ``evaluate_all``;
        computed for evaluation only, never shown to the learner
    features : the scalar feature per system ``(T,)`` (NaN where none), as seen by contextual learners
    method, rtol, maxiter : the cost oracle's settings

    The baselines below need ``arm_costs``: the best fixed ``omega`` in hindsight (lowest column sum)
    and the instance-optimal choice (row minima).
    """

    omegas: np.ndarray
    arms: np.ndarray
    costs: np.ndarray
    arm_costs: np.ndarray | None
    features: np.ndarray
    method: str
    rtol: float
    maxiter: int

    @property
    def chosen_omegas(self) -> np.ndarray:
        """``omega`` used on each system ``(T,)``."""
        return self.omegas[self.arms]

    @property
    def total_cost(self) -> int:
        """Iterations the learner spent over the whole sequence."""
        return int(self.costs.sum())

    def _table(self) -> np.ndarray:
        if self.arm_costs is None:
            raise ConfigError("this result has no per-arm costs; run with evaluate_all=True for the baselines")
        return self.arm_costs

    @property
    def fixed_costs(self) -> np.ndarray:
        """Total cost of always playing each arm ``(K,)``."""
        return self._table().sum(axis=0)

    @property
    def best_fixed_arm(self) -> int:
        return int(np.argmin(self.fixed_costs))

    @property
    def best_fixed_omega(self) -> float:
        return float(self.omegas[self.best_fixed_arm])

    @property
    def best_fixed_cost(self) -> int:
        """Total cost of the best fixed ``omega`` in hindsight."""
        return int(self.fixed_costs.min())

    @property
    def worst_fixed_cost(self) -> int:
        return int(self.fixed_costs.max())

    @property
    def instance_optimal_cost(self) -> int:
        """Total cost when each system gets its own best arm."""
        return int(self._table().min(axis=1).sum())

    @property
    def instance_optimal_omegas(self) -> np.ndarray:
        """The best arm's ``omega`` per system ``(T,)`` (the lowest on ties)."""
        return self.omegas[np.argmin(self._table(), axis=1)]

    @property
    def regret_vs_best_fixed(self) -> np.ndarray:
        """Cumulative regret against the best fixed ``omega`` in hindsight, in iterations ``(T,)``."""
        return np.cumsum(self.costs - self._table()[:, self.best_fixed_arm])

    @property
    def regret_vs_instance_optimal(self) -> np.ndarray:
        """Cumulative regret against the instance-optimal choice, in iterations ``(T,)``."""
        return np.cumsum(self.costs - self._table().min(axis=1))

    def summary(self) -> str:
        line = f"{len(self.costs)} systems, {self.method}: learner {self.total_cost} iterations"
        if self.arm_costs is None:
            return line
        return (f"{line}; best fixed omega {self.best_fixed_omega:.3f}: {self.best_fixed_cost}; instance-optimal: "
                f"{self.instance_optimal_cost}; worst fixed: {self.worst_fixed_cost}")


def _run(systems, omegas, oracle: IterationCost, evaluate_all, choose, learn, features,
         arm_costs=None) -> RelaxResult:
    """The loop shared by the tuners: ``choose(t) -> arm``, solve with ``oracle`` (or look the cost up in
    ``arm_costs``), ``learn(t, arm, cost)`` with the cost in iterations."""
    arms = np.zeros(len(systems), dtype=np.int64)
    costs = np.zeros(len(systems), dtype=np.int64)
    table = arm_costs if arm_costs is not None else (
        np.zeros((len(systems), len(omegas)), dtype=np.int64) if evaluate_all else None)
    for t, system in enumerate(systems):
        arm = choose(t)
        if arm_costs is not None:
            cost = int(table[t, arm])
        elif table is not None:
            # the learner's cost is read from the same row the baselines use, so regret compares like with like
            table[t] = oracle.all_arms(system.A, system.b, omegas)
            cost = int(table[t, arm])
        else:
            cost = oracle(system.A, system.b, omegas[arm])
        learn(t, arm, cost)
        arms[t], costs[t] = arm, cost
    return RelaxResult(omegas=omegas, arms=arms, costs=costs, arm_costs=table, features=features,
                       method=oracle.method, rtol=oracle.rtol, maxiter=oracle.maxiter)


def _check_arm_costs(arm_costs: Any, n_systems: int, n_arms: int, maxiter: int) -> np.ndarray | None:
    """Validate a precomputed ``(T, K)`` table of iteration counts (``None`` passes through)."""
    if arm_costs is None:
        return None
    table = np.asarray(arm_costs)
    if table.shape != (n_systems, n_arms):
        raise DataError(f"arm_costs must have shape (systems, arms) = {(n_systems, n_arms)}, got {table.shape}")
    if table.dtype.kind not in "iu" or table.min() < 0 or table.max() > maxiter:
        raise DataError(f"arm_costs must hold iteration counts, integers in [0, maxiter={maxiter}]")
    return table.astype(np.int64)


def _features(systems: list[LinearSystem]) -> np.ndarray:
    return np.array([np.nan if s.feature is None else s.feature for s in systems], dtype=np.float64)


def _setup(systems: Iterable[Any], omegas: Any, method: str, rtol: float, maxiter: int,
           arm_costs: Any = None) -> tuple[list[LinearSystem], np.ndarray, IterationCost, np.ndarray | None]:
    """What every tuner checks before any work: the systems, the omega grid, the cost oracle's settings
    and an optional precomputed ``(T, K)`` cost table."""
    systems = as_systems(systems)
    grid = _check_omegas(omegas)
    oracle = IterationCost(method, rtol=rtol, maxiter=maxiter)
    return systems, grid, oracle, _check_arm_costs(arm_costs, len(systems), len(grid), oracle.maxiter)


def tune_omega(systems: Iterable[Any], *, omegas: Any = DEFAULT_OMEGAS, method: str = "sor", rtol: float = 1e-8,
               maxiter: int = 1000, seed: int = 0, learning_rate: float = 2.0,
               estimator: str = "reduced-variance", scale: str = "running-mean", evaluate_all: bool = True,
               arm_costs: Any = None) -> RelaxResult:
    """Pick ``omega`` for each system in turn with :class:`TsallisINF`, seeing only iteration counts.

    By default the learner sees raw iteration counts on the running-mean scale with Zimmert and
    Seldin's reduced-variance estimator (see :class:`TsallisINF`): no hindsight knowledge enters, and
    the cap ``maxiter`` does not set the learning speed. ``scale="unit"`` with
    ``estimator="importance-weighted"`` is the plain Tsallis-INF on ``cost / maxiter``.

    Parameters
    ----------
    systems : sequence of :class:`LinearSystem` or ``(A, b)`` pairs (see :func:`as_systems`)
    omegas : the arms, a 1-D grid in ``(0, 2)``; default ``linspace(1, 1.95, 20)`` as in the paper
    method : ``"sor"`` (SOR sweeps) or ``"ssor-pcg"`` (CG iterations with the SSOR preconditioner)
    rtol, maxiter : stop at ``||b - A x|| <= rtol ||b||``; ``maxiter`` caps the cost (and, for
        ``scale="unit"``, normalises the loss to ``cost / maxiter``)
    seed : seeds the bandit's ``numpy.random.Generator``
    learning_rate, estimator, scale : see :class:`TsallisINF`; ``learning_rate = 2`` was chosen among
        1 to 16 on 8x8 shifted-Laplacian sequences (seeds 200-204 and 300-304), not on the
        experiment's sequences
    evaluate_all : also solve with every arm on every system (:meth:`IterationCost.all_arms`), for the
        baselines and regret curves of :class:`RelaxResult`: ``K`` times the work, and the learner's
        cost is then read from the same row (it still sees only its own arm's cost)
    arm_costs : optional ``(T, K)`` iteration counts of every arm on every system, e.g. a previous
        result's ``arm_costs`` (same systems, omegas, method, rtol and maxiter): the learner's costs are
        looked up instead of solved, to replay one sequence with several seeds

    Returns
    -------
    RelaxResult
    """
    systems, grid, oracle, table = _setup(systems, omegas, method, rtol, maxiter, arm_costs)
    bandit = TsallisINF(len(grid), rng=np.random.default_rng(seed), learning_rate=learning_rate,
                        estimator=estimator, scale=scale)
    loss = oracle.loss if scale == "unit" else float
    return _run(systems, grid, oracle, evaluate_all, lambda t: bandit.select(),
                lambda t, arm, cost: bandit.update(arm, loss(cost)), _features(systems), table)


def tune_omega_unimodal(systems: Iterable[Any], *, omegas: Any = DEFAULT_OMEGAS, method: str = "sor",
                        rtol: float = 1e-8, maxiter: int = 1000, seed: int = 0, start: int | None = None,
                        radius: int = 1, discount: float = 1.0, min_variance: float = 1.0 / 12.0,
                        evaluate_all: bool = True, arm_costs: Any = None) -> RelaxResult:
    """Pick ``omega`` for each system in turn with :class:`UnimodalThompson`, seeing only iteration counts.

    Parameters
    ----------
    systems, omegas, method, rtol, maxiter, evaluate_all, arm_costs : as for :func:`tune_omega`;
        ``omegas`` must be increasing (the learner compares neighbours on the grid)
    seed : seeds the learner's ``numpy.random.Generator``
    start, radius, discount, min_variance : see :class:`UnimodalThompson` (default: start at the
        largest ``omega``, compare the leader with one neighbour on each side, keep every
        observation). The start is chosen by Young's theory, not by score: on 30 other sequences
        (uniform, log-uniform and the paper's shifts; 10x10 grids with sequence seeds 100-104, 8x8 and
        12x12 with seeds 100-102; a side study before ``min_variance`` was added) starting at arm 16
        (``omega`` 1.8) did a little better (worst sequence 1.043x against 1.057x the best fixed
        ``omega``), but that encodes where those sequences' optimum lies; starting below the optimum
        (arm 10) gave up to 2.4x on the paper's sequences.

    Returns
    -------
    RelaxResult
    """
    systems, grid, oracle, table = _setup(systems, omegas, method, rtol, maxiter, arm_costs)
    if grid.size > 1 and not np.all(np.diff(grid) > 0):
        raise ConfigError("omegas must be strictly increasing for the unimodal learner (it compares neighbours)")
    learner = UnimodalThompson(len(grid), rng=np.random.default_rng(seed), start=start, radius=radius,
                               discount=discount, min_variance=min_variance)
    return _run(systems, grid, oracle, evaluate_all, lambda t: learner.select(),
                lambda t, arm, cost: learner.update(arm, cost), _features(systems), table)


class _ChebyshevRegressionBandit:
    """Per-arm ridge regression of loss on Chebyshev polynomials of a feature in ``[-1, 1]``, with
    inverse-gap-weighted exploration (SquareCB, Foster and Rakhlin 2020)."""

    def __init__(self, n_arms: int, degree: int, exploration: float, ridge: float, rng: np.random.Generator):
        self.n_arms, self.degree, self.exploration, self.rng = n_arms, degree, exploration, rng
        # the constant term is barely penalised, so an arm seen once predicts its observed loss everywhere
        penalty = np.full(degree + 1, ridge)
        penalty[0] = 1e-9
        self.gram = np.tile(np.diag(penalty), (n_arms, 1, 1))
        self.moments = np.zeros((n_arms, degree + 1))
        self.rounds = 0

    def basis(self, z: float) -> np.ndarray:
        return np.polynomial.chebyshev.chebvander(np.clip([z], -1.0, 1.0), self.degree)[0]

    def predict(self, z: float) -> np.ndarray:
        """Predicted loss of every arm ``(K,)``; arms never played predict 0, so each is tried early."""
        coefficients = np.linalg.solve(self.gram, self.moments[:, :, None])[:, :, 0]
        return coefficients @ self.basis(z)

    def select(self, z: float) -> int:
        predicted = self.predict(z)
        best = int(np.argmin(predicted))
        gamma = self.exploration * math.sqrt(self.n_arms * (self.rounds + 1))
        p = 1.0 / (self.n_arms + gamma * (predicted - predicted[best]))
        p[best] = 0.0
        p[best] = 1.0 - p.sum()
        return int(self.rng.choice(self.n_arms, p=p))

    def update(self, arm: int, z: float, loss: float) -> None:
        phi = self.basis(z)
        self.gram[arm] += np.outer(phi, phi)
        self.moments[arm] += loss * phi
        self.rounds += 1


def tune_omega_contextual(systems: Iterable[Any], *, omegas: Any = DEFAULT_OMEGAS, method: str = "sor",
                          rtol: float = 1e-8, maxiter: int = 1000, seed: int = 0, degree: int = 3,
                          exploration: float = 100.0, ridge: float = 1e-2,
                          feature_range: tuple[float, float] | None = None,
                          evaluate_all: bool = True) -> RelaxResult:
    """Pick ``omega`` per system from its scalar feature (e.g. the diagonal shift ``c``) by Chebyshev regression.

    Each arm keeps a ridge regression of its loss ``cost / maxiter`` on ``T_0(z), ..., T_degree(z)``,
    the Chebyshev polynomials of the feature mapped linearly from ``feature_range`` to ``z in [-1, 1]``
    (only the non-constant coefficients are penalised, by ``ridge``). Before each solve the arm with the
    lowest predicted loss is the greedy choice; any other arm ``a`` is drawn with probability
    ``1 / (K + gamma_t (pred_a - pred_best))``, ``gamma_t = exploration * sqrt(K t)`` (inverse-gap
    weighting), the rest of the mass going to the greedy arm. An arm never played predicts loss 0, so
    every arm is tried once early on.

    This follows the paper's ChebCB (Chebyshev regression inside the SquareCB reduction) in spirit; it
    differs in that the regression is batch ridge least squares refitted every round, not an online
    regression oracle with its own guarantee, and ``gamma_t`` is a tuned schedule rather than the one
    from the regret analysis (``exploration = 100`` did best of 10, 30, 100 on 8x8 shifted-Laplacian
    sequences of 300-1500 systems; it is a heuristic, not a derived constant).

    Parameters
    ----------
    systems : as for :func:`tune_omega`; every system needs a ``feature``
    degree : polynomial degree ``>= 0``
    exploration : scale of ``gamma_t``; larger explores less
    ridge : penalty on the non-constant Chebyshev coefficients, ``>= 0``
    feature_range : ``(low, high)`` mapped to ``[-1, 1]``; default the range of the sequence's
        features (known in advance in the paper's setting; values outside are clipped)
    other parameters : as for :func:`tune_omega`

    Returns
    -------
    RelaxResult, with ``features`` the raw features.
    """
    systems, grid, oracle, _ = _setup(systems, omegas, method, rtol, maxiter)
    missing = [i for i, s in enumerate(systems) if s.feature is None]
    if missing:
        raise DataError(f"contextual tuning needs a feature for every system; system {missing[0]} has none "
                        f"(give features= to as_systems)")
    if int(degree) != degree or degree < 0:
        raise ConfigError(f"degree must be a non-negative integer, got {degree}")
    if not exploration > 0 or not ridge >= 0:
        raise ConfigError(f"exploration must be positive and ridge non-negative, got {exploration} and {ridge}")
    features = _features(systems)
    low, high = (features.min(), features.max()) if feature_range is None else map(float, feature_range)
    if not high >= low:
        raise ConfigError(f"feature_range must be (low, high) with low <= high, got ({low}, {high})")
    scaled = 2.0 * (features - low) / (high - low) - 1.0 if high > low else np.zeros_like(features)
    learner = _ChebyshevRegressionBandit(len(grid), int(degree), float(exploration), float(ridge),
                                         np.random.default_rng(seed))
    return _run(systems, grid, oracle, evaluate_all, lambda t: learner.select(scaled[t]),
                lambda t, arm, cost: learner.update(arm, scaled[t], cost / maxiter), features)
