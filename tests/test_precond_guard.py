"""The guard of learned preconditioners: it falls back where the learned one is clearly worse or not
SPD, keeps it where it is better, can be switched off, and sciml solve reports what it did; bad
--fallback input exits 2 before any work."""

from __future__ import annotations

import json
import logging
import re

import time

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import torch

from sciml import ConfigError
from sciml.cli import main
from sciml.config import to_dict
from sciml.gallery import diffusion2d_grf
from sciml.io import save_checkpoint
from sciml.learned import GuardResult, LearnedPreconditioner, NeuralPCG, NeuralPCGConfig, guard
from sciml.learned.safety import FALLBACKS
from sciml.linalg import IC0, Jacobi, Preconditioner, pcg, preconditioner

pytestmark = pytest.mark.usefixtures("one_thread")


def untrained() -> NeuralPCG:
    """An untrained network: exactly SSOR(omega = 1) (see sciml.learned.neural_pcg)."""
    torch.manual_seed(0)
    return NeuralPCG(NeuralPCGConfig(hidden=8, layers=1))


def deliberately_bad() -> NeuralPCG:
    """A network whose diagonal head adds 5 to every pivot: L ~ 6 D^1/2 with A's off-diagonal, near a scaled Jacobi."""
    model = untrained()
    with torch.no_grad():
        model.diagonal_head[-1].bias.fill_(5.0)
    return model


@pytest.fixture
def warnings_logged():
    """Records of the ``sciml.learned`` logger (the ``sciml`` logger does not propagate once the CLI has set it up)."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append
    logger = logging.getLogger("sciml.learned")
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)


def iterations(A, M, seed: int = 7) -> int:
    b = torch.from_numpy(np.random.default_rng(seed).standard_normal(A.shape[0]))
    return int(pcg(A, b, M, rtol=1e-8).iterations)


@pytest.fixture(scope="module")
def matrix() -> sp.csr_matrix:
    return diffusion2d_grf(16, contrast=1e3, seed=3)


def test_a_clearly_worse_learned_preconditioner_is_replaced_by_the_fallback(matrix, warnings_logged):
    bad = LearnedPreconditioner(deliberately_bad(), matrix)
    ic0 = IC0(matrix)
    assert iterations(matrix, bad) > 2 * iterations(matrix, ic0)  # the premise: clearly worse
    result = guard(bad, matrix)
    assert result.decision == "fallback" and result.used == "ic0" and isinstance(result.preconditioner, IC0)
    assert result.learned_estimate.predicted_iterations > result.fallback_estimate.predicted_iterations
    assert "using ic0" in result.reason
    assert [r.getMessage() for r in warnings_logged] == [f"{result.reason} (fallback none skips this check)"]
    # the fallback handed back is IC(0) of this matrix: the same iterations
    assert iterations(matrix, result.preconditioner) == iterations(matrix, ic0)
    assert result.seconds >= result.fallback_setup_seconds + result.learned_estimate.seconds > 0


def test_a_better_learned_preconditioner_is_kept(matrix, warnings_logged):
    ssor = LearnedPreconditioner(untrained(), matrix)
    assert 2 * iterations(matrix, ssor) < iterations(matrix, Jacobi(matrix))  # the premise: clearly better
    result = guard(ssor, matrix, fallback="jacobi")
    assert result.decision == "learned" and result.preconditioner is ssor and "keeping the learned" in result.reason
    assert warnings_logged == []


class Exact(Preconditioner):
    """``M = A`` by a sparse LU: CG converges in one step."""

    name = "exact"

    def __init__(self, A):
        super().__init__(A.shape[0], "cpu", torch.float64)
        self.lu = spla.splu(sp.csc_matrix(A))

    def _apply(self, R):
        return torch.from_numpy(np.stack([self.lu.solve(r) for r in R.numpy()]))


class Indefinite(Preconditioner):
    """``M^-1 = diag(+1, -1, +1, ...)``: symmetric, not positive definite."""

    name = "indefinite"

    def __init__(self, n):
        super().__init__(n, "cpu", torch.float64)
        self.signs = torch.from_numpy(np.where(np.arange(n) % 2 == 0, 1.0, -1.0))

    def _apply(self, R):
        return R * self.signs


def test_any_preconditioner_can_be_guarded_and_a_non_spd_one_falls_back(matrix):
    kept = guard(Exact(matrix), matrix, fallback="amg-rs")
    assert kept.decision == "learned" and kept.learned_estimate.predicted_iterations <= 2
    dropped = guard(Indefinite(matrix.shape[0]), matrix)
    assert dropped.decision == "fallback" and "not symmetric positive definite" in dropped.reason
    assert not dropped.learned_estimate.spd and dropped.as_dict()["learned"]["predicted_iterations"] is None


class SlowExact(Exact):
    """The exact preconditioner at 0.2 s an application: the fewest iterations, the most time."""

    name = "slow-exact"

    def _apply(self, R):
        time.sleep(0.2)
        return super()._apply(R)


def test_time_criterion_weighs_iterations_by_the_measured_cost_per_step(matrix):
    # one or two slow steps against some tens of Jacobi steps of well under a millisecond each: the
    # iteration criterion keeps the slow one, the time criterion does not
    by_iterations = guard(SlowExact(matrix), matrix, fallback="jacobi", criterion="iterations")
    by_time = guard(SlowExact(matrix), matrix, fallback="jacobi", criterion="time")
    assert by_iterations.decision == "learned" and by_time.decision == "fallback"
    assert by_time.learned_estimate.predicted_seconds > 10 * by_time.fallback_estimate.predicted_seconds
    assert "ms of PCG" in by_time.reason


def test_fallback_none_skips_the_check(matrix):
    M = LearnedPreconditioner(deliberately_bad(), matrix)
    result = guard(M, matrix, fallback="none")
    assert result.decision == "unchecked" and result.preconditioner is M
    assert result.learned_estimate is None and result.fallback_estimate is None and result.seconds == 0.0


def test_bad_guard_settings_are_refused(matrix):
    M = Jacobi(matrix)
    with pytest.raises(ConfigError, match="unknown fallback 'ic1'; choose one of jacobi, ssor, ic0, amg, amg-sa, "
                                          "amg-rs, or none"):
        guard(M, matrix, fallback="ic1")
    with pytest.raises(ConfigError, match="unknown criterion 'speed'; choose one of iterations, time"):
        guard(M, matrix, criterion="speed")
    with pytest.raises(ConfigError, match="steps must be a positive integer"):
        guard(M, matrix, steps=0)


def test_the_guard_leaves_the_learned_preconditioner_and_scipy_cg_alone(matrix):
    M = LearnedPreconditioner(untrained(), matrix)
    r = torch.from_numpy(np.random.default_rng(0).standard_normal(matrix.shape[0]))
    before = M.apply(r).clone()
    result = guard(M, matrix)
    assert torch.equal(M.apply(r), before)
    b = np.random.default_rng(1).standard_normal(matrix.shape[0])
    for chosen in (M, result.preconditioner):  # whatever the guard hands back works in scipy's CG as before
        x, info = spla.cg(matrix, b, rtol=1e-10, atol=0.0, M=chosen.as_linear_operator(), maxiter=2000)
        assert info == 0 and np.linalg.norm(b - matrix @ x) <= 1e-9 * np.linalg.norm(b)
    count = [0]
    spla.cg(matrix, b, rtol=1e-8, atol=0.0, M=M.as_linear_operator(), maxiter=2000,
            callback=lambda xk: count.__setitem__(0, count[0] + 1))
    assert abs(count[0] - int(pcg(matrix, torch.from_numpy(b), M, rtol=1e-8).iterations)) <= 1


# -- through sciml solve ---------------------------------------------------------------------------------
def save_run(model: NeuralPCG, directory) -> str:
    """A run directory holding ``model`` as a model file in the trainer's format (best.pt)."""
    directory.mkdir()
    save_checkpoint(directory / "best.pt", {"format": "sciml-model", "model_name": "neural-pcg",
                                            "model_config": to_dict(model.config), "model": model.state_dict()})
    return str(directory)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, matrix):
    root = tmp_path_factory.mktemp("guard")
    sp.save_npz(root / "A.npz", matrix)
    return {"root": root, "matrix": str(root / "A.npz"), "bad": save_run(deliberately_bad(), root / "bad"),
            "ssor": save_run(untrained(), root / "ssor")}


def solve_json(capsys, *args: str) -> dict:
    assert main(["--quiet", "solve", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_sciml_solve_reports_the_guard_and_uses_what_it_chose(runs, matrix, capsys):
    report = solve_json(capsys, runs["matrix"], "--precond", runs["bad"])
    g = report["guard"]
    assert {"fallback", "decision", "used", "reason", "criterion", "learned", "fallback_estimate",
            "fallback_setup_seconds", "seconds"} <= set(g)
    assert (g["fallback"], g["decision"], g["used"]) == ("ic0", "fallback", "ic0")
    for estimate in (g["learned"], g["fallback_estimate"]):
        # at least 16 steps, and at least 15% of the predicted iterations unless the probe converged
        assert estimate["steps"] >= 16 and estimate["rtol"] == 1e-8 and estimate["predicted_iterations"] > 0
        assert estimate["steps"] >= 0.15 * estimate["predicted_iterations"] or estimate["status"] == "converged"
        assert 0 < estimate["lambda_min"] <= estimate["lambda_max"]
    assert g["learned"]["predicted_iterations"] > g["fallback_estimate"]["predicted_iterations"]
    assert report["setup_seconds"] >= g["seconds"] > 0  # the check is set-up time
    ones = np.ones(matrix.shape[0])
    assert report["iterations"] == int(pcg(matrix, torch.from_numpy(ones), IC0(matrix), rtol=1e-8).iterations)
    assert report["converged"] and report["relative_residual"] <= 1e-8

    kept = solve_json(capsys, runs["matrix"], "--precond", runs["ssor"], "--fallback", "jacobi", "--rtol", "1e-6")
    assert kept["guard"]["decision"] == "learned" and kept["guard"]["fallback_estimate"]["rtol"] == 1e-6

    unchecked = solve_json(capsys, runs["matrix"], "--precond", runs["bad"], "--fallback", "none")
    assert unchecked["guard"]["decision"] == "unchecked" and unchecked["guard"]["learned"] is None
    bad = LearnedPreconditioner(deliberately_bad(), matrix)
    assert unchecked["iterations"] == int(pcg(matrix, torch.from_numpy(ones), bad, rtol=1e-8).iterations)


def test_sciml_solve_says_when_it_falls_back(runs, cli):
    done = cli("--threads", "1", "solve", runs["matrix"], "--precond", runs["bad"])  # a process: the real stderr
    assert done.returncode == 0, done.stderr
    assert "guard: fallback (used ic0)" in done.stdout
    assert re.search(r"WARNING the learned preconditioner is predicted to need \d+ CG iterations on this matrix, "
                     r"ic0 \d+ CG iterations \(from probes of \d+ and \d+ PCG steps\); using ic0",
                     done.stderr), done.stderr


def snapshot(root) -> dict:
    return {str(p): (p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(root.rglob("*"))}


@pytest.mark.parametrize("args, message", [
    (["--precond", "{bad}", "--fallback", "ic1"],
     "unknown fallback 'ic1'; choose one of " + ", ".join(FALLBACKS[:-1]) + ", or none \\(no check\\)"),
    (["--precond", "ic0", "--fallback", "jacobi"],
     "--fallback applies to a learned preconditioner \\(--precond RUN_DIR\\); 'ic0' is not a run directory"),
])
def test_bad_fallback_input_exits_2_and_touches_nothing(runs, capsys, args, message):
    before = snapshot(runs["root"])
    args = [a.format(bad=runs["bad"]) for a in args]
    assert main(["solve", runs["matrix"], *args]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and re.search(message, err[0]), err
    assert captured.out == ""
    assert snapshot(runs["root"]) == before


def test_guard_result_is_a_frozen_record(matrix):
    result = guard(Jacobi(matrix), matrix, fallback="none")
    assert isinstance(result, GuardResult)
    with pytest.raises(AttributeError):
        result.decision = "learned"
    json.dumps(guard(Jacobi(matrix), matrix).as_dict(), allow_nan=False)
    assert preconditioner("ic0", matrix).name == "ic0"
