"""METALIC: the nine interface terms, the families' exact solutions, the gpytorch bandit on a reward with a
known best arm, bad input, and the experiment at smoke scale."""

import math

import numpy as np
import pytest
import torch

from sciml import ConfigError
from sciml.pinn import metalic as M


def test_arms_and_terms_round_trip_and_unknown_terms_are_refused():
    arms = M.all_arms()
    assert arms.shape == (512, 9) and len({tuple(a.tolist()) for a in arms}) == 512
    arm = M.arm_from_terms(["flux", "continuity"])
    assert M.terms_from_arm(arm) == ("continuity", "flux")
    with pytest.raises(ConfigError, match=r"unknown interface term 'jump'; choose from continuity, average"):
        M.arm_from_terms(["continuity", "jump"])
    with pytest.raises(ConfigError, match="9 bits"):
        M.terms_from_arm([1, 0])
    with pytest.raises(ConfigError, match="unknown METALIC family"):
        M.resolve_family("kdv")


def _one_term(name):
    return M.arm_from_terms([name])


@pytest.mark.parametrize("family", ["poisson", "burgers"])
def test_interface_terms_vanish_for_equal_networks_except_the_residual_ones(family):
    fam = M.FAMILIES[family]
    torch.manual_seed(0)
    model = M.XPinn(fam, M.XPinnConfig(width=8, depth=2))
    pts = M._points(fam, fam.low, M.XPinnConfig(interface_points=21, collocation_points=20, boundary_points=8), 0)
    values = {t: float(M._interface_loss(model, pts.interface, fam.low, _one_term(t))) for t in M.INTERFACE_TERMS}
    assert all(v > 0 for v in values.values()), values  # two different random networks: every term is live
    model.nets[1].load_state_dict(model.nets[0].state_dict())
    same = {t: float(M._interface_loss(model, pts.interface, fam.low, _one_term(t))) for t in M.INTERFACE_TERMS}
    for t, v in same.items():
        if t in ("residual", "gradient_residual"):
            assert v > 0, t
        else:
            assert v < 1e-12, (t, v)
    # the selected terms add up
    both = float(M._interface_loss(model, pts.interface, fam.low, M.arm_from_terms(["residual", "gradient_residual"])))
    assert abs(both - same["residual"] - same["gradient_residual"]) < 1e-5 * both


def test_exact_solutions_satisfy_their_pdes():
    z = torch.rand(200, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    # Poisson: the manufactured u, differentiated by autograd, has residual 0
    k = 7.0
    zp = z.clone().requires_grad_(True)
    u = torch.sin(math.pi * zp[:, :1]) * M._phi(zp[:, 1:], k, M._TORCH)
    d = M._derivatives(u, zp)
    assert float(M._poisson_residual(u, d, zp, k).abs().max()) < 1e-9
    np.testing.assert_allclose(M._poisson_reference(z.numpy(), k), u.detach().numpy(), atol=1e-12)
    # reaction and advection by central differences of the numpy references
    h = 1e-5
    for ref, res, p in ((M._reaction_reference, M._reaction_residual, 5.0),
                        (M._advection_reference, M._advection_residual, 3.0)):
        zz = np.stack([2 * np.pi * z[:, 0].numpy(), z[:, 1].numpy()], axis=1)
        ut = (ref(zz + [0, h], p) - ref(zz - [0, h], p)) / (2 * h)
        ux = (ref(zz + [h, 0], p) - ref(zz - [h, 0], p)) / (2 * h)
        r = res(torch.from_numpy(ref(zz, p)), {"t": torch.from_numpy(ut), "x": torch.from_numpy(ux)}, None, p)
        assert float(r.abs().max()) < 1e-5


def test_burgers_reference_keeps_the_boundaries_the_symmetry_and_the_initial_state():
    x = np.linspace(-1, 1, 41)
    for t in (0.0, 0.5, 1.0):
        z = np.stack([x, np.full_like(x, t)], axis=1)
        u = M._burgers_reference(z, 0.02)[:, 0]
        assert abs(u[0]) < 1e-6 and abs(u[-1]) < 1e-6
        np.testing.assert_allclose(u, -u[::-1], atol=1e-6)  # odd in x
        if t == 0.0:
            np.testing.assert_allclose(u, -np.sin(np.pi * x), atol=1e-6)
    # the shock steepens at x = 0: |u_x(0)| grows with t
    z = np.array([[-1e-3, 0.2], [1e-3, 0.2], [-1e-3, 0.9], [1e-3, 0.9]])
    u = M._burgers_reference(z, 0.02)[:, 0]
    assert abs(u[3] - u[2]) > abs(u[1] - u[0])


def test_the_gp_bandit_learns_which_arm_is_best_for_which_parameter():
    bandit = M.Bandit(0.0, 1.0, strategy="ucb", fit_steps=150, seed=0)
    rng = np.random.default_rng(0)
    good_low, good_high = M.arm_from_terms(["continuity"]), M.arm_from_terms(["flux", "average"])
    arms = M.all_arms()
    for _ in range(60):
        p = float(rng.uniform())
        arm = tuple(int(a) for a in arms[int(rng.integers(512))]) if rng.uniform() < 0.6 else \
            (good_low if rng.uniform() < 0.5 else good_high)
        target = good_low if p < 0.5 else good_high
        distance = sum(a != b for a, b in zip(arm, target))
        bandit.add(p, arm, 10 ** (-3 + 0.3 * distance))  # reward 3 - 0.3 * Hamming distance to the best arm
    assert bandit.choose(0.15, explore=False) == good_low
    assert bandit.choose(0.85, explore=False) == good_high
    thompson = M.Bandit(0.0, 1.0, strategy="thompson", fit_steps=20, seed=1, history=list(bandit.history))
    assert len(thompson.choose(0.3)) == 9
    with pytest.raises(ConfigError, match="unknown bandit strategy"):
        M.Bandit(0.0, 1.0, strategy="greedy")


def test_a_diverged_training_is_a_capped_reward_never_nan():
    assert M._reward(float("nan")) == M._reward(float("inf")) == -math.log10(M.MAX_ERROR)
    assert M._reward(1e-2) == pytest.approx(2.0)


def test_an_xpinn_learns_the_advection_solution():
    out = M.train_xpinn("advection", 1.0, M.arm_from_terms(["continuity", "flux"]),
                        M.XPinnConfig(adam_steps=300, lbfgs_steps=150, collocation_points=300), seed=0)
    assert out["rel_l2"] < 0.05 and out["rel_l2"] <= out["rel_l2_adam"]


def test_metalic_runs_at_smoke_scale_and_writes_its_report(tmp_path):
    from sciml.experiments import run_experiment

    results = run_experiment("metalic", tmp_path / "run", scale="smoke")
    assert [f["family"] for f in results["families"]] == ["poisson", "advection", "reaction", "burgers"]
    for f in results["families"]:
        s = f["summary"]
        assert set(s["metalic"]) == {"ucb", "thompson-two-stage"} and s["best_fixed"] in s["fixed"]
        assert s["beats_best_fixed"]["ucb"] == (s["metalic"]["ucb"] < s["fixed"][s["best_fixed"]])
    text = (tmp_path / "run" / "report.md").read_text()
    assert "beats best fixed" in text and (tmp_path / "run" / "metalic.png").exists()
