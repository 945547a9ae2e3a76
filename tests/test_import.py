import numpy as np
import pytest
import torch

from sciml import DataError
from sciml.data import PairDataset, import_file


def test_pt_import_adds_channel_axis_and_converts_bool(tmp_path):
    x = torch.rand(5, 8, 8) > 0.5
    y = torch.randn(5, 8, 8)
    torch.save({"x": x, "y": y}, tmp_path / "d.pt")
    import_file(tmp_path / "d.pt", tmp_path / "d.h5")
    data = PairDataset(tmp_path / "d.h5")
    assert (data.in_channels, data.out_channels, data.spatial, len(data)) == (1, 1, (8, 8), 5)
    xi, yi = data[4]
    torch.testing.assert_close(xi[0], x[4].float())
    torch.testing.assert_close(yi[0], y[4])


def test_channel_first_and_npz_and_one_dimensional(tmp_path):
    np.savez(tmp_path / "c.npz", x=np.ones((3, 2, 4, 4)), y=np.zeros((3, 1, 4, 4)))
    import_file(tmp_path / "c.npz", tmp_path / "c.h5")
    assert PairDataset(tmp_path / "c.h5").in_channels == 2
    torch.save({"x": torch.randn(3, 16), "y": torch.randn(3, 16)}, tmp_path / "b.pt")
    import_file(tmp_path / "b.pt", tmp_path / "b.h5")
    assert PairDataset(tmp_path / "b.h5").spatial == (16,)


def test_bad_files_give_one_clear_error_and_write_nothing(tmp_path):
    torch.save({"a": torch.zeros(2, 4, 4), "u": torch.zeros(2, 4, 4)}, tmp_path / "keys.pt")
    with pytest.raises(DataError, match="has no 'x' or 'y' entry; it has 'a', 'u'"):
        import_file(tmp_path / "keys.pt", tmp_path / "o.h5")
    y = torch.zeros(2, 4, 4)
    y[1, 0, 0] = float("nan")
    torch.save({"x": torch.zeros(2, 4, 4), "y": y}, tmp_path / "nan.pt")
    with pytest.raises(DataError, match="'y' sample 1 contains NaN"):
        import_file(tmp_path / "nan.pt", tmp_path / "o.h5")
    torch.save({"x": torch.zeros(2, 4, 4), "y": torch.zeros(3, 4, 4)}, tmp_path / "n.pt")
    with pytest.raises(DataError, match="x has 2 samples but y has 3"):
        import_file(tmp_path / "n.pt", tmp_path / "o.h5")
    torch.save({"x": torch.zeros(2, 4, 4), "y": torch.zeros(2, 5, 5)}, tmp_path / "g.pt")
    with pytest.raises(DataError, match="x grid"):
        import_file(tmp_path / "g.pt", tmp_path / "o.h5")
    (tmp_path / "junk.pt").write_bytes(b"\x00junk")
    with pytest.raises(DataError, match="cannot be read as a weights-only torch file"):
        import_file(tmp_path / "junk.pt", tmp_path / "o.h5")
    (tmp_path / "data.txt").write_bytes(b"MATLAB")
    with pytest.raises(DataError, match="supported formats are .pt, .npz, .mat"):
        import_file(tmp_path / "data.txt", tmp_path / "o.h5")
    (tmp_path / "junk.mat").write_bytes(b"MATLAB 5.0 junk")
    with pytest.raises(DataError, match="cannot be read as a MATLAB"):
        import_file(tmp_path / "junk.mat", tmp_path / "o.h5")
    with pytest.raises(DataError, match="cannot infer 1 to 3 spatial dimensions"):
        import_file(tmp_path / "g.pt", tmp_path / "o.h5", spatial_dims=9)
    assert not (tmp_path / "o.h5").exists()


def test_fno_paper_mat_files_v5_and_v73(tmp_path):
    import h5py
    import scipy.io

    coeff = np.random.default_rng(0).random((3, 5, 5))
    sol = np.random.default_rng(1).random((3, 5, 5))
    scipy.io.savemat(tmp_path / "darcy.mat", {"coeff": coeff, "sol": sol})
    import_file(tmp_path / "darcy.mat", tmp_path / "d5.h5")
    x, y = PairDataset(tmp_path / "d5.h5")[2]
    np.testing.assert_allclose(x[0].numpy(), coeff[2], rtol=1e-6)
    np.testing.assert_allclose(y[0].numpy(), sol[2], rtol=1e-6)
    with h5py.File(tmp_path / "burgers.mat", "w") as f:  # v7.3: HDF5 with MATLAB's reversed axes
        f["a"] = coeff[:, :, 0].T
        f["u"] = sol[:, :, 0].T
    import_file(tmp_path / "burgers.mat", tmp_path / "b.h5")
    data = PairDataset(tmp_path / "b.h5")
    assert data.spatial == (5,) and len(data) == 3
    np.testing.assert_allclose(data[1][1][0].numpy(), sol[1, :, 0], rtol=1e-6)
    scipy.io.savemat(tmp_path / "keys.mat", {"w": coeff})
    with pytest.raises(DataError, match="has none of the keys x / a / coeff"):
        import_file(tmp_path / "keys.mat", tmp_path / "k.h5")


def test_neuraloperator_pt_layout_matches_its_own_loader(tmp_path):
    # neuraloperator's datasets save {"x", "y"} as (N, s, s) with the single channel squeezed out
    # and load them through PTDataset; our import must give the same samples. (PTDataset's own
    # subsampling counts ndim - 2 spatial axes on these squeezed tensors and so thins only the
    # first axis; ours thins every spatial axis.)
    from neuralop.data.datasets.pt_dataset import PTDataset

    gen = torch.Generator().manual_seed(0)
    for split in ("train", "test"):
        torch.save({"x": torch.rand(4, 16, 16, generator=gen), "y": torch.randn(4, 16, 16, generator=gen)},
                   tmp_path / f"darcy_{split}_16.pt")
    theirs = PTDataset(tmp_path, "darcy", n_train=4, n_tests=[4], batch_size=2, test_batch_sizes=[2],
                       train_resolution=16, test_resolutions=[16], encode_output=False)
    import_file(tmp_path / "darcy_train_16.pt", tmp_path / "d.h5")
    import_file(tmp_path / "darcy_train_16.pt", tmp_path / "d2.h5", subsample=2)
    ours, thinned = PairDataset(tmp_path / "d.h5"), PairDataset(tmp_path / "d2.h5")
    assert (ours.spatial, ours.in_channels, thinned.spatial) == ((16, 16), 1, (8, 8))
    for i in range(4):
        torch.testing.assert_close(ours[i][0], theirs.train_db[i]["x"], rtol=0, atol=0)
        torch.testing.assert_close(ours[i][1], theirs.train_db[i]["y"], rtol=0, atol=0)
        torch.testing.assert_close(thinned[i][1], theirs.train_db[i]["y"][:, ::2, ::2], rtol=0, atol=0)


def _ns_arrays(n=3, s=8, steps=5):
    rng = np.random.default_rng(2)
    return rng.standard_normal((n, s, s)), rng.standard_normal((n, s, s, steps)), 0.5 * np.arange(1, steps + 1)[None]


def test_navier_stokes_mat_becomes_a_trajectory_store_v5_and_v73(tmp_path):
    import h5py
    import scipy.io

    from sciml.data import open_store

    a, u, t = _ns_arrays()
    scipy.io.savemat(tmp_path / "ns5.mat", {"a": a, "u": u, "t": t})
    with h5py.File(tmp_path / "ns73.mat", "w") as f:  # v7.3: MATLAB writes the axes reversed
        f["a"], f["u"], f["t"] = a.T, u.T, t.T
    for name in ("ns5", "ns73"):
        import_file(tmp_path / f"{name}.mat", tmp_path / f"{name}.h5")  # detected: u is a with time appended
        with open_store(tmp_path / f"{name}.h5") as store:
            tensor = store.read("tensor")
            assert tensor.shape == (3, 5, 8, 8) and store.attrs["params"]["layout"] == "trajectory"
            np.testing.assert_allclose(tensor[2, 3], u[2, :, :, 3], rtol=1e-6)
            np.testing.assert_allclose(store.read("t-coordinate"), t[0])
            np.testing.assert_allclose(store.read("x-coordinate"), np.arange(8) / 8)
    import_file(tmp_path / "ns5.mat", tmp_path / "p.h5", prepend_initial=True, subsample=2, pde="navier-stokes")
    with open_store(tmp_path / "p.h5") as store:
        tensor = store.read("tensor")
        assert tensor.shape == (3, 6, 4, 4) and store.attrs["pde"] == "navier-stokes"
        np.testing.assert_allclose(tensor[1, 0], a[1, ::2, ::2], rtol=1e-6)
        np.testing.assert_allclose(tensor[1, 5], u[1, ::2, ::2, 4], rtol=1e-6)
        np.testing.assert_allclose(store.read("t-coordinate"), [0.0, 0.5, 1.0, 1.5, 2.0, 2.5])
        np.testing.assert_allclose(store.read("y-coordinate"), [0.0, 0.25, 0.5, 0.75])
    scipy.io.savemat(tmp_path / "u_only.mat", {"u": u})  # no t: frame numbers, recorded as such
    import_file(tmp_path / "u_only.mat", tmp_path / "u.h5", layout="trajectory")
    with open_store(tmp_path / "u.h5") as store:
        np.testing.assert_allclose(store.read("t-coordinate"), [1, 2, 3, 4, 5])
        assert store.attrs["params"]["t_from_file"] is False


def test_burgers_mat_with_subsampling(tmp_path):
    import scipy.io

    rng = np.random.default_rng(3)
    a, u = rng.standard_normal((4, 64)), rng.standard_normal((4, 64))
    scipy.io.savemat(tmp_path / "burgers.mat", {"a": a, "u": u})
    import_file(tmp_path / "burgers.mat", tmp_path / "b.h5", subsample=8)
    data = PairDataset(tmp_path / "b.h5")
    assert data.spatial == (8,) and len(data) == 4
    x, y = data[3]
    np.testing.assert_allclose(x[0].numpy(), a[3, ::8], rtol=1e-6)
    np.testing.assert_allclose(y[0].numpy(), u[3, ::8], rtol=1e-6)
    from sciml.data import open_store

    with open_store(tmp_path / "b.h5") as store:
        np.testing.assert_allclose(store.read("x-coordinate"), np.linspace(0, 1, 64)[::8])


def test_bad_trajectory_and_option_input(tmp_path):
    import scipy.io

    from sciml import ConfigError

    a, u, t = _ns_arrays()
    scipy.io.savemat(tmp_path / "w.mat", {"a": a, "w": u})
    with pytest.raises(DataError, match="has no 'u' entry for the trajectory layout .* it has 'a', 'w'"):
        import_file(tmp_path / "w.mat", tmp_path / "o.h5", layout="trajectory")
    scipy.io.savemat(tmp_path / "n.mat", {"a": a[:2], "u": u, "t": t})
    with pytest.raises(DataError, match="x has 2 samples but y has 3"):  # not detected as a trajectory
        import_file(tmp_path / "n.mat", tmp_path / "o.h5")
    scipy.io.savemat(tmp_path / "g.mat", {"a": a[:, :4, :4], "u": u})
    with pytest.raises(DataError, match="x grid .* differs .* time last\\? pass layout='trajectory'"):
        import_file(tmp_path / "g.mat", tmp_path / "o.h5")
    with pytest.raises(DataError, match=r"'a' \(the initial state\) has shape \(2, 8, 8\) but 'u' \(3, 8, 8, 5\)"):
        import_file(tmp_path / "n.mat", tmp_path / "o.h5", layout="trajectory")
    scipy.io.savemat(tmp_path / "t.mat", {"a": a, "u": u, "t": t[:, :4]})
    with pytest.raises(DataError, match="'t' has 4 values but 'u' has 5 time steps"):
        import_file(tmp_path / "t.mat", tmp_path / "o.h5")
    bad = u.copy()
    bad[1, 2, 3, 4] = np.nan
    scipy.io.savemat(tmp_path / "nan.mat", {"a": a, "u": bad})
    with pytest.raises(DataError, match="'u' sample 1 contains NaN"):
        import_file(tmp_path / "nan.mat", tmp_path / "o.h5")
    scipy.io.savemat(tmp_path / "ns.mat", {"u": u})
    with pytest.raises(DataError, match="no 'a' entry \\(the initial state\\) to prepend"):
        import_file(tmp_path / "ns.mat", tmp_path / "o.h5", layout="trajectory", prepend_initial=True)
    with pytest.raises(DataError, match="with 2 spatial dimension\\(s\\), not 1"):
        import_file(tmp_path / "ns.mat", tmp_path / "o.h5", layout="trajectory", spatial_dims=1)
    with pytest.raises(DataError, match="a trajectory file holding only 'u' needs layout='trajectory'"):
        import_file(tmp_path / "ns.mat", tmp_path / "o.h5")
    with pytest.raises(ConfigError, match="unknown layout 'series'; choose one of pair, trajectory"):
        import_file(tmp_path / "ns.mat", tmp_path / "o.h5", layout="series")
    with pytest.raises(ConfigError, match="subsample must be a positive integer, got 0"):
        import_file(tmp_path / "ns.mat", tmp_path / "o.h5", subsample=0)
    scipy.io.savemat(tmp_path / "pair.mat", {"a": a, "u": a})
    with pytest.raises(ConfigError, match="prepend_initial applies to the trajectory layout only"):
        import_file(tmp_path / "pair.mat", tmp_path / "o.h5", prepend_initial=True)
    assert not (tmp_path / "o.h5").exists()
