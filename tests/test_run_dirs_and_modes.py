"""Training and evaluation agree on coarse grids (the FNO's default mode count comes from the training
grid), and `sciml train --out` never writes into a directory of someone else's files unasked."""

from __future__ import annotations

import json

import pytest
import yaml

from sciml.cli import main

SMALL = ["--set", "epochs=1", "--set", "width=4", "--set", "n_layers=1"]


def test_default_modes_follow_the_training_grid_and_eval_takes_the_same_and_finer_grids(darcy_files, tmp_path,
                                                                                          capsys):
    run = tmp_path / "run16"
    assert main(["--quiet", "train", "fno", "--data", str(darcy_files["train"]), "--out", str(run), *SMALL]) == 0
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["model"]["modes"] == 8  # a 16x16 grid resolves 8 of the default 12 modes per direction
    for data, grid in ((darcy_files["test"], [16, 16]), (darcy_files["test_fine"], [31, 31])):
        capsys.readouterr()
        assert main(["--quiet", "eval", str(run), "--data", str(data), "--json"]) == 0
        result = json.loads(capsys.readouterr().out)
        assert result["resolution"] == grid and 0 < result["rel_l2"] < 10


def test_the_default_keeps_twelve_modes_where_the_grid_resolves_them(darcy_files, tmp_path, capsys):
    run = tmp_path / "run31"
    assert main(["--quiet", "train", "fno", "--data", str(darcy_files["test_fine"]), "--out", str(run), *SMALL]) == 0
    assert yaml.safe_load((run / "config.yaml").read_text())["model"]["modes"] == 12
    capsys.readouterr()
    # the coarser grid cannot hold 12 modes: eval refuses it with the sentence train uses
    assert main(["eval", str(run), "--data", str(darcy_files["test"])]) == 2
    err = capsys.readouterr().err
    assert "test16.h5 has grid (16, 16), too coarse for the model: it keeps 12 Fourier modes per direction and " \
           "needs at least 24 points per axis" in err


def test_explicit_modes_the_grid_cannot_resolve_are_refused_at_train_time(darcy_files, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "fno", "--data", str(darcy_files["train"]), "--out", str(run), "--set", "modes=12",
                 *SMALL]) == 2
    err = capsys.readouterr().err
    assert "has grid (16, 16), too coarse for modes=12: it keeps 12 Fourier modes per direction and needs at " \
           "least 24 points per axis; drop --set modes to take 8 from the grid" in err
    assert not run.exists()


def test_a_directory_that_is_not_a_run_is_refused_unless_forced_and_its_files_are_kept(darcy_files, tmp_path,
                                                                                        capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("my notes")
    (out / "config.yaml").write_text("lr: 3\n")  # a user's config: not a run (a run's records sciml_version)
    args = ["train", "fno", "--data", str(darcy_files["train"]), "--out", str(out), "--set", "modes=2", *SMALL]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "is not a sciml run but holds config.yaml, which a run writes; move it away" in err
    assert main([*args, "--force"]) == 2  # --force writes beside a user's files, never over them
    capsys.readouterr()
    assert (out / "config.yaml").read_text() == "lr: 3\n"
    (out / "config.yaml").unlink()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "is not a sciml run and is not empty (notes.txt)" in err and "--force" in err
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    assert main(["--quiet", *args, "--force"]) == 0
    assert (out / "notes.txt").read_text() == "my notes" and (out / "checkpoint.pt").exists()
    # the directory is a run now: --force replaces the run's files and still keeps the rest
    assert main(["--quiet", *args, "--force"]) == 0
    assert (out / "notes.txt").read_text() == "my notes"


def test_an_empty_directory_is_fine_and_a_file_is_refused(darcy_files, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    base = ["train", "fno", "--data", str(darcy_files["train"]), "--set", "modes=2", *SMALL]
    assert main(["--quiet", *base, "--out", str(empty)]) == 0
    file = tmp_path / "f.txt"
    file.write_text("x")
    capsys.readouterr()
    assert main([*base, "--out", str(file), "--force"]) == 2
    assert "is a file, not a directory" in capsys.readouterr().err and file.read_text() == "x"


@pytest.mark.parametrize("args, sentence", [
    (["train"], "sciml train needs MODEL and --data and --out (or --list)"),
    (["train", "fno"], "sciml train needs --data and --out (or --list)"),
    (["reproduce", "fno-darcy"], "sciml reproduce needs --out (or --list)"),
])
def test_missing_arguments_are_named(args, sentence, capsys):
    assert main(args) == 2
    assert sentence in capsys.readouterr().err
