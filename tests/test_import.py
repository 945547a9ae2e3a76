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
