import json

import h5py
import torch

from sciml.cli import main


def _error_line(result):
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    return lines


def test_python_dash_m_is_the_sciml_command(cli):
    result = cli("--version")
    assert result.returncode == 0 and result.stdout.startswith("sciml ")


def test_generate_info_train_eval_json(cli, tmp_path, darcy_files, capsys):
    out = tmp_path / "d.h5"
    assert main(["data", "generate", "darcy", "--out", str(out), "--n", "3", "--res", "9", "--set", "refine=2"]) == 0
    capsys.readouterr()
    assert main(["data", "info", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["n_samples"] == 3 and info["fields"]["input"]["shape"] == [3, 1, 9, 9]
    run = tmp_path / "run"
    assert main(["train", "fno", "--data", str(darcy_files["train"]), "--val", str(darcy_files["test"]), "--out",
                 str(run), "--set", "epochs=1", "--set", "batch_size=8", "--set", "lr=1e-3", "--set", "modes=2",
                 "--set", "width=4"]) == 0
    capsys.readouterr()
    assert main(["eval", str(run), "--data", str(darcy_files["test_fine"]), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert {"rel_l2", "nrmse", "n_samples", "resolution"} <= set(result)
    assert result["resolution"] == [31, 31] and result["n_samples"] == 6


def test_bad_input_gives_one_sentence_and_exit_status_two(cli, tmp_path, darcy_files):
    corrupt = tmp_path / "corrupt.h5"
    corrupt.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 64)
    cases = [
        (["data", "info", str(corrupt)], "is not a readable HDF5 file"),
        (["train", "fno", "--data", str(darcy_files["train"]), "--out", str(tmp_path / "r"), "--set", "epoch=1"],
         "unknown --set key 'epoch'"),
        (["data", "generate", "darcy", "--out", str(tmp_path / "x.h5"), "--n", "2", "--res", "9", "--set", "refine=0"],
         "refine must be a positive integer"),
        (["data", "generate", "laplace", "--out", str(tmp_path / "x.h5"), "--n", "2", "--res", "9"],
         "unknown PDE 'laplace'; choose one of darcy, burgers, navier-stokes"),
        (["eval", str(tmp_path / "nothing"), "--data", str(darcy_files["test"])], "holds no trained model"),
        (["train", "fno", "--data", str(darcy_files["train"]), "--out", str(tmp_path / "r"), "--config",
          str(tmp_path / "missing.yaml")], "config file .*missing.yaml does not exist"),
    ]
    (tmp_path / "nothing").mkdir()
    import re

    for args, pattern in cases:
        result = cli(*args)
        lines = _error_line(result)
        assert result.returncode == 2, (args, result.stderr)
        assert len(lines) == 1 and lines[0].startswith("sciml: error: ") and re.search(pattern, lines[0]), lines
    assert not (tmp_path / "r").exists() and not (tmp_path / "x.h5").exists()


def test_existing_run_is_left_untouched(cli, tmp_path, darcy_files):
    run = tmp_path / "run"
    args = ["train", "fno", "--data", str(darcy_files["train"]), "--out", str(run), "--set", "epochs=1",
            "--set", "modes=2", "--set", "width=4"]
    assert cli(*args).returncode == 0
    snapshot = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    result = cli(*args)
    assert result.returncode == 2 and "already holds a run" in result.stderr
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == snapshot


def test_import_refuses_file_without_x_and_y(cli, tmp_path):
    torch.save({"coeff": torch.zeros(2, 4, 4)}, tmp_path / "a.pt")
    result = cli("data", "import", str(tmp_path / "a.pt"), "--out", str(tmp_path / "a.h5"))
    assert result.returncode == 2 and "has no 'x' or 'y' entry" in result.stderr
    assert not (tmp_path / "a.h5").exists()


def test_incomplete_dataset_is_refused_by_info(tmp_path, darcy_files, capsys):
    path = tmp_path / "c.h5"
    path.write_bytes(darcy_files["test"].read_bytes())
    with h5py.File(path, "r+") as f:
        f.attrs["complete"] = False
    assert main(["data", "info", str(path)]) == 2
    assert "is incomplete" in capsys.readouterr().err


def test_outputs_are_not_overwritten_and_os_errors_are_one_line(tmp_path, darcy_files, capsys):
    keep = tmp_path / "keep.png"
    keep.write_bytes(b"mine")
    assert main(["data", "plot", str(darcy_files["test"]), "--out", str(keep)]) == 2
    assert "already exists; pass --force" in capsys.readouterr().err and keep.read_bytes() == b"mine"
    afile = tmp_path / "afile"
    afile.write_text("not a directory")
    assert main(["data", "generate", "darcy", "--out", str(afile / "x.h5"), "--n", "1", "--res", "5"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("sciml: error:")
    assert afile.read_text() == "not a directory"


def test_malformed_sample_fields_attribute_is_a_clear_error(tmp_path, darcy_files, capsys):
    path = tmp_path / "m.h5"
    path.write_bytes(darcy_files["test"].read_bytes())
    with h5py.File(path, "r+") as f:
        f.attrs["sample_fields"] = '["input", "missing"]'
    assert main(["data", "info", str(path)]) == 2
    assert "lists per-sample field missing in 'sample_fields' but has no such dataset" in capsys.readouterr().err
