from sciml.cli import main
from sciml.data import generate_dataset

PNG = b"\x89PNG\r\n\x1a\n"


def test_plot_draws_each_kind_of_dataset(tmp_path, darcy_files):
    generate_dataset("heat", tmp_path / "heat.h5", n=1, res=64)
    generate_dataset("navier-stokes", tmp_path / "ns.h5", n=1, res=16, params={"fine": 32, "T": 1.0})
    generate_dataset("poisson-mesh", tmp_path / "pm.h5", n=1, res=8, params={"shapes": ["disk"]})
    for name, data in [("darcy", darcy_files["train"]), ("heat", tmp_path / "heat.h5"), ("ns", tmp_path / "ns.h5"),
                       ("pm", tmp_path / "pm.h5")]:
        out = tmp_path / f"{name}.png"
        assert main(["--quiet", "data", "plot", str(data), "--out", str(out)]) == 0
        assert out.read_bytes()[:8] == PNG


def test_plot_refuses_a_bad_index(darcy_files, tmp_path, capsys):
    assert main(["data", "plot", str(darcy_files["test"]), "--out", str(tmp_path / "x.png"), "--index", "99"]) == 2
    assert "index 99 is out of range" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()
