import json

import numpy as np
import scipy.io
import scipy.sparse as sp

from sciml.cli import main
from sciml.gallery import poisson2d


def test_solve_reports_json_for_mtx_and_npz(tmp_path, capsys):
    A = poisson2d(16)
    scipy.io.mmwrite(tmp_path / "a.mtx", A)
    sp.save_npz(tmp_path / "a.npz", A)
    b = np.random.default_rng(0).standard_normal(256)
    np.save(tmp_path / "b.npy", b)
    for args in (["a.mtx", "--precond", "ic0"], ["a.npz", "--rhs", "b.npy", "--precond", "amg"]):
        assert main(["solve", str(tmp_path / args[0]), *[str(tmp_path / a) if a.endswith(".npy") else a
                                                        for a in args[1:]], "--json"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert {"iterations", "converged", "relative_residual", "setup_seconds", "solve_seconds"} <= set(report)
        assert report["converged"] and report["relative_residual"] < 1e-7


def test_solve_refuses_bad_systems(tmp_path, capsys):
    A = poisson2d(6).tolil()
    A[0, 1] = 3.0
    scipy.io.mmwrite(tmp_path / "nonsym.mtx", A.tocsr())
    scipy.io.mmwrite(tmp_path / "rect.mtx", sp.random(4, 5, density=0.5, format="csr", random_state=0))
    nan = poisson2d(6).astype(float)
    nan.data[3] = np.nan
    sp.save_npz(tmp_path / "nan.npz", nan)
    sp.save_npz(tmp_path / "ok.npz", poisson2d(6))
    np.save(tmp_path / "short.npy", np.ones(5))
    cases = [(["nonsym.mtx"], "is not symmetric"), (["rect.mtx"], "needs a square matrix"),
             (["nan.npz"], "contains NaN or Inf"), (["ok.npz", "--rhs", "short.npy"], "has shape \\(5,\\) but the matrix has 36 rows"),
             (["ok.npz", "--precond", "ic1"], "unknown preconditioner 'ic1'"), (["missing.mtx"], "does not exist")]
    import re

    for args, pattern in cases:
        full = [str(tmp_path / a) if a.endswith((".mtx", ".npz", ".npy")) else a for a in args]
        assert main(["solve", *full]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and re.search(pattern, err[0]), err


def test_solve_exits_one_when_not_converged(tmp_path, capsys):
    sp.save_npz(tmp_path / "a.npz", poisson2d(16))
    assert main(["solve", str(tmp_path / "a.npz"), "--maxiter", "3"]) == 1
    assert "max_iterations after 3 iterations" in capsys.readouterr().out
