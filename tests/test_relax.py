"""Tuning the SOR relaxation factor across a sequence of systems (Khodak et al., arXiv 2310.02246)."""

import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from sciml import ConfigError, DataError
from sciml.gallery import poisson2d
from sciml.learned import (IterationCost, TsallisINF, UnimodalThompson, as_systems, shifted_laplacian_sequence,
                           tune_omega, tune_omega_contextual, tune_omega_unimodal)
from sciml.linalg import SSOR, pcg, sor

OMEGAS = np.linspace(1.0, 1.95, 20)
# 8x8 grid, rel. residual 1e-6, cost capped at 60 sweeps (a good arm needs 10-25): small enough to
# evaluate every arm on every system in about a second
M, RTOL, CAP, T = 8, 1e-6, 60, 400


@pytest.fixture(scope="module")
def uniform_shifts():
    return shifted_laplacian_sequence(M, T, shift_range=(0.0, 1.0), seed=0)


@pytest.fixture(scope="module")
def log_uniform_shifts():
    return shifted_laplacian_sequence(M, T, shift_range=(1e-3, 1.0), distribution="log-uniform", seed=0)


# ----------------------------------------------------------------------------------------- Tsallis-INF

def test_tsallis_probabilities_start_uniform_and_stay_normalised():
    bandit = TsallisINF(7, rng=0)
    np.testing.assert_allclose(bandit.probabilities(), np.full(7, 1 / 7), rtol=1e-12)
    rng = np.random.default_rng(1)
    for _ in range(300):
        arm = bandit.select()
        bandit.update(arm, float(rng.uniform()))
        p = bandit.probabilities()
        assert abs(p.sum() - 1.0) < 1e-12 and np.all(p > 0)
    # widely spread loss estimates: the Newton normalisation still lands on the simplex
    bandit.loss_estimates[:] = [0.0, 1e-3, 5.0, 1e3, 1e6, 1e9, 0.0]
    p = bandit.probabilities()
    assert abs(p.sum() - 1.0) < 1e-12 and p[0] == pytest.approx(p[6]) and p[0] > p[1] > p[2] > p[3] > p[4] > p[5]


def test_tsallis_concentrates_on_the_best_arm_of_a_stochastic_bandit():
    means = np.array([0.6, 0.6, 0.3, 0.6, 0.7])  # arm 2 is best by a gap of 0.3
    rng = np.random.default_rng(0)
    bandit = TsallisINF(len(means), rng=np.random.default_rng(1))
    pulls = []
    for _ in range(2000):
        arm = bandit.select()
        bandit.update(arm, float(rng.uniform() < means[arm]))
        pulls.append(arm)
    assert bandit.probabilities()[2] > 0.9
    assert np.mean(np.array(pulls[1000:]) == 2) > 0.8


def test_tsallis_select_and_update_must_alternate():
    bandit = TsallisINF(3, rng=0)
    with pytest.raises(ConfigError, match="select"):
        bandit.update(0, 0.5)
    arm = bandit.select()
    with pytest.raises(ConfigError, match="select\\(\\) called twice"):
        bandit.select()
    with pytest.raises(ConfigError, match=f"select\\(\\) returned {arm}"):
        bandit.update((arm + 1) % 3, 0.5)
    with pytest.raises(DataError, match="\\[0, 1\\]"):
        bandit.update(arm, 1.5)


def test_running_mean_scale_is_unit_free():
    """Costs in any unit give the same choices: the estimates are divided by the mean observed cost."""
    for estimator in ("importance-weighted", "reduced-variance"):
        a = TsallisINF(5, rng=3, estimator=estimator, scale="running-mean")
        b = TsallisINF(5, rng=3, estimator=estimator, scale="running-mean")
        costs = np.random.default_rng(0).integers(5, 200, size=(200, 5))
        for t in range(200):
            arm = a.select()
            assert b.select() == arm
            a.update(arm, float(costs[t, arm]))
            b.update(arm, 1000.0 * costs[t, arm])
        np.testing.assert_allclose(a.probabilities(), b.probabilities(), rtol=1e-9)


def test_reduced_variance_estimate_by_hand():
    """Zimmert and Seldin: every arm with w_i >= eta_t^2 gets the baseline B, the played arm adds
    (l - B_a) / w_a; B is the mean loss before this round (the loss itself in round 1)."""
    gated_off = TsallisINF(4, rng=0, estimator="reduced-variance", scale="running-mean", learning_rate=2.0)
    arm = gated_off.select()  # w = 1/4 < eta_1^2 = 4: no baseline anywhere
    gated_off.update(arm, 10.0)
    np.testing.assert_allclose(gated_off.loss_estimates, np.eye(4)[arm] * 10.0 / 0.25)

    bandit = TsallisINF(4, rng=0, estimator="reduced-variance", scale="running-mean", learning_rate=0.2)
    arm = bandit.select()  # w = 1/4 >= eta_1^2 = 0.04: every arm gets B = 10, the played one 0 on top
    bandit.update(arm, 10.0)
    np.testing.assert_allclose(bandit.loss_estimates, np.full(4, 10.0))
    arm = bandit.select()  # still uniform; eta_2^2 = 0.02; B = 10, the mean of the losses so far
    bandit.update(arm, 30.0)
    np.testing.assert_allclose(bandit.loss_estimates, np.full(4, 20.0) + np.eye(4)[arm] * (30.0 - 10.0) / 0.25)
    # the scale is the mean observed loss, 20: the played arm's estimate 100 reads as 5, the others as 1
    p = bandit.probabilities()
    assert p[arm] < p[(arm + 1) % 4] and abs(p.sum() - 1) < 1e-12


def test_reduced_variance_on_a_running_mean_concentrates_on_the_best_arm():
    """Losses in iterations (not in [0, 1]), heavy noise: the best arm still takes over."""
    means = np.array([60.0, 60.0, 30.0, 60.0, 120.0])
    rng = np.random.default_rng(0)
    bandit = TsallisINF(len(means), rng=1, estimator="reduced-variance", scale="running-mean")
    pulls = []
    for _ in range(2000):
        arm = bandit.select()
        bandit.update(arm, float(rng.exponential(means[arm])))
        pulls.append(arm)
    assert bandit.probabilities()[2] > 0.9
    assert np.mean(np.array(pulls[1000:]) == 2) > 0.8


def test_tsallis_settings_and_losses_are_checked():
    with pytest.raises(ConfigError, match="unknown estimator 'rv'; choose one of importance-weighted, reduced-var"):
        TsallisINF(3, estimator="rv")
    with pytest.raises(ConfigError, match="unknown scale 'max'; choose one of unit, running-mean"):
        TsallisINF(3, scale="max")
    bandit = TsallisINF(3, rng=0, scale="running-mean")
    arm = bandit.select()
    with pytest.raises(DataError, match="non-negative and finite, got -1.0"):
        bandit.update(arm, -1.0)
    with pytest.raises(DataError, match="non-negative and finite, got nan"):
        bandit.update(arm, float("nan"))
    bandit.update(arm, 250.0)  # any size is fine on this scale


# ------------------------------------------------------------------------------------------ cost oracle

@pytest.mark.parametrize("omega", [1.0, 1.35, 1.9])
def test_oracle_counts_the_iterations_of_sor_and_ssor_pcg(omega):
    system = shifted_laplacian_sequence(M, 1, shift_range=(0.05, 0.05), seed=3)[0]
    b = torch.from_numpy(system.b)
    sor_cost = IterationCost("sor", rtol=RTOL, maxiter=500)
    assert sor_cost(system.A, system.b, omega) == sor(system.A, b, omega=omega, symmetric=False, rtol=RTOL).iterations
    pcg_cost = IterationCost("ssor-pcg", rtol=1e-8, maxiter=500)
    assert pcg_cost(system.A, system.b, omega) == pcg(system.A, b, SSOR(system.A, omega=omega), rtol=1e-8).iterations
    # deterministic: the same question gets the same answer
    assert sor_cost(system.A, system.b, omega) == sor_cost(system.A, system.b, omega)


def test_all_arms_at_once_equals_one_sor_solve_per_arm():
    system = shifted_laplacian_sequence(M, 1, shift_range=(0.0, 0.3), seed=5)[0]
    oracle = IterationCost("sor", rtol=RTOL, maxiter=CAP)
    looped = [oracle(system.A, system.b, w) for w in OMEGAS]
    np.testing.assert_array_equal(oracle.all_arms(system.A, system.b, OMEGAS), looped)
    assert max(looped) == CAP  # the slowest arms hit the cap and cost exactly the cap


@pytest.mark.parametrize("shift", [0.0, 0.01, 0.05, 0.2, 0.5])
def test_best_arm_matches_youngs_optimal_omega(shift):
    """Independent reference: for the consistently ordered L + cI, Young's theory gives
    omega* = 2 / (1 + sqrt(1 - rho^2)), rho = cos(pi h) d / (d + c) the Jacobi spectral radius."""
    d = 4.0 * (M + 1) ** 2
    A = poisson2d(M) + shift * d * sp.identity(M * M)
    b = np.random.default_rng(0).standard_normal(M * M)
    costs = IterationCost("sor", rtol=1e-8, maxiter=400).all_arms(A, b, OMEGAS)
    rho = math.cos(math.pi / (M + 1)) / (1 + shift)
    young = 2 / (1 + math.sqrt(1 - rho ** 2))
    assert costs[np.argmin(abs(OMEGAS - young))] <= 1.1 * costs.min() + 1


def test_the_papers_sequence_is_positive_definite_and_near_singular():
    """The authors' scripts: delsq(numgrid('S', 12)) + c I, c = -0.15 + 0.6 Beta(0.5, 1.5), diagonal 4.
    Independent check: eigenvalues of the scaled Laplacian are d (1 - (cos(pi i h) + cos(pi j h)) / 2)."""
    m = 10
    d = 4.0 * (m + 1) ** 2
    systems = shifted_laplacian_sequence(m, 200, shift_range=(-0.15 / 4, 0.45 / 4), distribution="beta",
                                         beta=(0.5, 1.5), seed=0)
    shifts = np.array([s.feature for s in systems]) / d * 4  # back to the paper's c at diagonal 4
    assert shifts.min() >= -0.15 and shifts.max() <= 0.45 and np.median(shifts) < 0.0  # Beta(0.5, 1.5) piles at 0
    lam_min = d * (1 - math.cos(math.pi / (m + 1)))
    worst = min(systems, key=lambda s: s.feature)
    assert np.linalg.eigvalsh(worst.A.toarray())[0] == pytest.approx(lam_min + worst.feature, rel=1e-9)
    assert 0 < lam_min + worst.feature < 0.1 * lam_min


# ------------------------------------------------------------------------------------------ the tuners

@pytest.fixture(scope="module")
def uniform_table(uniform_shifts):
    return tune_omega(uniform_shifts, omegas=OMEGAS, rtol=RTOL, maxiter=CAP, seed=0).arm_costs


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bandit_approaches_the_best_fixed_omega(uniform_shifts, uniform_table, seed):
    """Measured over bandit seeds 0-7 on this sequence: total cost 1.23-1.43x the best fixed omega
    (1.15) after 400 systems (plain Tsallis-INF on cost / maxiter: 1.37-1.58x), against 1.96x for an arm
    drawn uniformly and 3.75x for the worst arm."""
    result = tune_omega(uniform_shifts, omegas=OMEGAS, rtol=RTOL, maxiter=CAP, seed=seed,
                        arm_costs=uniform_table if seed else None)
    assert result.arm_costs.shape == (T, len(OMEGAS))
    np.testing.assert_array_equal(result.arm_costs, uniform_table)
    assert result.total_cost <= 1.5 * result.best_fixed_cost
    assert result.total_cost <= 0.9 * result.fixed_costs.mean()
    assert result.total_cost <= 0.5 * result.worst_fixed_cost
    assert result.instance_optimal_cost <= result.best_fixed_cost
    regret = result.regret_vs_best_fixed
    assert regret[-1] == result.total_cost - result.best_fixed_cost
    assert regret[-1] - regret[T // 2 - 1] < regret[T // 2 - 1]  # it learns: less regret in the second half
    np.testing.assert_array_equal(result.costs, result.arm_costs[np.arange(T), result.arms])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_running_mean_scale_and_reduced_variance_beat_plain_tsallis_inf(uniform_shifts, uniform_table, seed):
    """Same sequence, same seed: the default learner (costs over their running mean, reduced-variance
    estimates) spends fewer iterations than the importance-weighted one on cost / maxiter (measured
    8 of 8 seeds, by 0.08-0.15x the best fixed total)."""
    kwargs = dict(omegas=OMEGAS, rtol=RTOL, maxiter=CAP, seed=seed, arm_costs=uniform_table)
    default = tune_omega(uniform_shifts, **kwargs)
    plain = tune_omega(uniform_shifts, estimator="importance-weighted", scale="unit", **kwargs)
    assert default.total_cost < plain.total_cost - 0.04 * default.best_fixed_cost


def test_unimodal_thompson_walks_down_from_the_top_and_settles_on_the_best_arm():
    """Gaussian costs with a unimodal mean (minimum at arm 6 of 10): from the top arm the leader walks down
    through neighbours only, never reaches the arms far below the best, and ends on the best."""
    means = np.array([30.0, 26, 22, 18, 15, 13, 12, 14, 20, 40])
    rng = np.random.default_rng(0)
    bandit = UnimodalThompson(len(means), rng=1)
    assert bandit.leader == 9 and bandit.select() == 9  # the start: the last arm
    bandit.update(9, 40.0)
    played = [9]
    for _ in range(600):
        arm = bandit.select()
        bandit.update(arm, max(means[arm] + rng.normal(0.0, 2.0), 0.0))
        played.append(arm)
    counts = np.bincount(played, minlength=len(means))
    assert bandit.leader == 6 and counts[6] > 0.8 * len(played)
    assert counts[:4].sum() == 0  # arms far below the best are never played (arm 4 only if arm 5 leads a while)
    assert counts[4:6].sum() < 0.05 * len(played)
    assert bandit.rounds == 601 and np.isinf(bandit.means()[:4]).all()


def test_unimodal_thompson_samples_by_hand_and_checks_its_calls():
    """With two plays of each neighbour the draw is mean + sqrt(var / n) t_(n-1): replay the same
    generator by hand. Arms played fewer than twice are tried first."""
    bandit = UnimodalThompson(3, rng=5, start=1)
    for arm, cost in ((1, 10.0), (1, 12.0), (0, 20.0), (2, 9.0)):
        bandit._pending = arm
        bandit.update(arm, cost)
    assert bandit.leader == 2 and bandit.select() == 2  # arm 2 has one play: tried before sampling
    bandit.update(2, 13.0)  # arm 2: mean 11, var 8 (n = 2); arm 1: mean 11, var 2 (n = 2)
    assert bandit.leader == 1  # ties go to the lower index
    reference = np.random.default_rng(5)  # the bandit's generator has not been used yet
    draws = {0: -math.inf}  # arm 0 has one play
    draws[1] = 11.0 + math.sqrt(2.0 / 2) * reference.standard_t(1)
    draws[2] = 11.0 + math.sqrt(8.0 / 2) * reference.standard_t(1)
    assert bandit.select() == min(draws, key=draws.get)
    with pytest.raises(ConfigError, match=r"select\(\) called twice"):
        bandit.select()
    with pytest.raises(ConfigError, match="does not follow a select"):
        bandit.update(2 if bandit._pending != 2 else 1, 1.0)
    with pytest.raises(DataError, match="non-negative and finite"):
        bandit.update(bandit._pending, float("nan"))
    for kwargs, match in (({"start": 3}, "start must be an arm index in \\[0, 2\\]"), ({"radius": 0}, "radius"),
                          ({"discount": 0.5}, "discount must lie in \\(0.5, 1\\]"),
                          ({"min_variance": -1.0}, "min_variance")):
        with pytest.raises(ConfigError, match=match):
            UnimodalThompson(3, **kwargs)


def test_equal_integer_costs_do_not_collapse_the_posterior():
    """Three arms each seen twice at exactly 10 iterations (the leader is arm 0 on the tie, its window arms
    0 and 1): with the default variance floor (the 1/12 of integer rounding) both are drawn; with no
    floor the posterior is a point and the tie always goes to the first."""
    def choices(min_variance):
        bandit = UnimodalThompson(3, rng=0, start=1, min_variance=min_variance)
        for arm in (1, 1, 0, 0, 2, 2):
            bandit.select()
            bandit._pending = arm  # feed chosen arms directly
            bandit.update(arm, 10.0)
        picks = []
        for _ in range(60):
            picks.append(bandit.select())
            bandit._pending = None  # draw again without reporting
        return set(picks)
    assert choices(1.0 / 12.0) == {0, 1} and choices(0.0) == {0}


def test_discounting_forgets_old_costs_so_the_leader_follows_a_moved_optimum():
    """Arm 1 is best for 300 rounds, then arm 3. Undiscounted, the old costs hold the leader back (it
    reached arm 3 after 90-124 rounds over seeds 0-4); with discount 0.98 after 12-21 rounds, and the
    second half costs less. The statistics weigh round t - k by discount^k (checked by hand)."""
    def run(discount):
        rng = np.random.default_rng(0)
        bandit = UnimodalThompson(5, rng=0, start=2, discount=discount)
        late_cost, moved = 0.0, None
        for t in range(600):
            means = [20.0, 10.0, 15.0, 20.0, 30.0] if t < 300 else [30.0, 30.0, 15.0, 10.0, 20.0]
            arm = bandit.select()
            cost = means[arm] + rng.normal(0.0, 1.0)
            bandit.update(arm, cost)
            late_cost += cost if t >= 300 else 0.0
            moved = t - 300 if moved is None and t >= 300 and bandit.leader == 3 else moved
        return late_cost, moved
    (forgetting, moved_fast), (remembering, moved_slow) = run(0.98), run(1.0)
    assert moved_fast < 40 < moved_slow and forgetting < 0.8 * remembering
    bandit = UnimodalThompson(1, rng=0, discount=0.75)
    for cost in (8.0, 4.0, 2.0):
        bandit.update(bandit.select(), cost)
    assert bandit.plays[0] == pytest.approx(0.75 ** 2 + 0.75 + 1)
    assert bandit.sums[0] == pytest.approx(8 * 0.75 ** 2 + 4 * 0.75 + 2)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_unimodal_learner_is_close_to_the_best_fixed_omega(uniform_shifts, uniform_table, seed):
    """Same 8x8 sequence as the Tsallis-INF test (400 systems; Tsallis-INF 1.23-1.43x the best fixed omega):
    measured over seeds 0-7 the unimodal learner is at 1.06-1.11x, below Tsallis-INF on every seed. (The
    issue's 10% over 1000 systems is measured by the relax-sor-sequence experiment.)"""
    kwargs = dict(omegas=OMEGAS, rtol=RTOL, maxiter=CAP, seed=seed, arm_costs=uniform_table)
    result = tune_omega_unimodal(uniform_shifts, **kwargs)
    np.testing.assert_array_equal(result.costs, uniform_table[np.arange(T), result.arms])
    assert result.total_cost <= 1.15 * result.best_fixed_cost
    assert result.total_cost < tune_omega(uniform_shifts, **kwargs).total_cost
    solved = tune_omega_unimodal(uniform_shifts[:30], omegas=OMEGAS, rtol=RTOL, maxiter=CAP, seed=seed,
                                 evaluate_all=False)
    np.testing.assert_array_equal(solved.arms, result.arms[:30])  # replaying the table equals solving
    with pytest.raises(ConfigError, match="strictly increasing"):
        tune_omega_unimodal(uniform_shifts[:2], omegas=OMEGAS[::-1], maxiter=CAP)


def test_replaying_a_cost_table_equals_solving(uniform_shifts, uniform_table):
    solved = tune_omega(uniform_shifts[:50], omegas=OMEGAS, rtol=RTOL, maxiter=CAP, seed=3)
    replayed = tune_omega(uniform_shifts[:50], omegas=OMEGAS, rtol=RTOL, maxiter=CAP, seed=3,
                          arm_costs=uniform_table[:50], evaluate_all=False)
    np.testing.assert_array_equal(solved.arm_costs, uniform_table[:50])
    np.testing.assert_array_equal(replayed.arms, solved.arms)
    np.testing.assert_array_equal(replayed.costs, solved.costs)
    with pytest.raises(DataError, match="arm_costs must have shape \\(systems, arms\\) = \\(50, 20\\)"):
        tune_omega(uniform_shifts[:50], omegas=OMEGAS, maxiter=CAP, arm_costs=uniform_table[:49])
    with pytest.raises(DataError, match="integers in \\[0, maxiter=60\\]"):
        tune_omega(uniform_shifts[:50], omegas=OMEGAS, maxiter=CAP, arm_costs=uniform_table[:50] * 2)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_contextual_tuner_beats_the_best_fixed_omega(log_uniform_shifts, seed):
    """With c log-uniform over three decades the best omega runs from 1.0 to 1.5 and the instance-optimal
    choice costs 0.80x the best fixed omega; measured over seeds 0-7 the contextual tuner costs 0.90-0.96x."""
    result = tune_omega_contextual(log_uniform_shifts, omegas=OMEGAS, rtol=RTOL, maxiter=CAP, seed=seed)
    assert np.ptp(result.instance_optimal_omegas) >= 0.4
    assert result.total_cost <= result.best_fixed_cost
    assert result.instance_optimal_cost <= result.total_cost
    np.testing.assert_array_equal(result.features, [s.feature for s in log_uniform_shifts])


def test_ssor_pcg_costs_and_a_generic_sequence():
    d = 4.0 * (M + 1) ** 2
    rng = np.random.default_rng(0)
    pairs = [(poisson2d(M) + c * sp.identity(M * M), rng.standard_normal(M * M)) for c in (0.0, 0.1 * d, d)]
    result = tune_omega(pairs, omegas=[1.0, 1.5, 1.9], method="ssor-pcg", rtol=1e-8, maxiter=100, seed=0)
    for t, (A, b) in enumerate(pairs):
        for k, w in enumerate([1.0, 1.5, 1.9]):
            assert result.arm_costs[t, k] == pcg(A, torch.from_numpy(b), SSOR(A, omega=w), rtol=1e-8).iterations
    quick = tune_omega(pairs, omegas=[1.0, 1.5, 1.9], method="ssor-pcg", rtol=1e-8, maxiter=100, seed=0,
                       evaluate_all=False)
    np.testing.assert_array_equal(quick.costs, result.costs)  # same seed, same choices, same costs
    assert np.all(np.isnan(quick.features))
    with pytest.raises(ConfigError, match="evaluate_all=True"):
        quick.best_fixed_cost


# ------------------------------------------------------------------------------------------- bad input

def test_bad_input_is_refused_with_a_clear_message():
    A, b = poisson2d(4), np.ones(16)
    with pytest.raises(ConfigError, match="omega grid is empty"):
        tune_omega([(A, b)], omegas=[])
    with pytest.raises(ConfigError, match="\\(0, 2\\).*2.5"):
        tune_omega([(A, b)], omegas=[1.0, 2.5])
    with pytest.raises(ConfigError, match="\\(0, 2\\)"):
        IterationCost("sor")(A, b, 0.0)
    with pytest.raises(DataError, match="system 1: A must be square, got shape \\(16, 15\\)"):
        tune_omega([(A, b), (sp.random(16, 15, density=0.3, format="csr"), b)])
    with pytest.raises(DataError, match="A has shape \\(16, 16\\) but b has shape \\(15,\\)"):
        IterationCost("sor")(A, np.ones(15), 1.2)
    with pytest.raises(ConfigError, match="unknown method 'jacobi'; choose one of sor, ssor-pcg"):
        tune_omega([(A, b)], method="jacobi")
    with pytest.raises(DataError, match="empty"):
        tune_omega([])
    with pytest.raises(DataError, match="needs a feature.*system 0"):
        tune_omega_contextual([(A, b)])
    with pytest.raises(DataError, match="2 features for 1 systems"):
        as_systems([(A, b)], features=[0.0, 1.0])
    with pytest.raises(ConfigError, match="log-uniform"):
        shifted_laplacian_sequence(4, 3, shift_range=(0.0, 1.0), distribution="log-uniform")
    with pytest.raises(ConfigError, match="positive definite"):
        shifted_laplacian_sequence(10, 3, shift_range=(-0.05, 0.1), distribution="beta")  # -lambda_min / d = -0.0405
    with pytest.raises(ConfigError, match="beta must be two positive"):
        shifted_laplacian_sequence(10, 3, shift_range=(0.0, 0.1), distribution="beta", beta=(0.0, 1.0))
