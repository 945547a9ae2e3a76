"""``fno-darcy``: FNO-2d on Darcy flow, zero-shot super-resolution, speed against the solver.

Li et al., "Fourier Neural Operator for Parametric Partial Differential Equations", arXiv 2010.08895,
section 5.2: ``a -> u`` for ``-div(a grad u) = 1`` on the unit square, ``a`` a thresholded Gaussian
random field; 1000 training and 100 test samples subsampled from a 421x421 finite-difference solve;
FNO-2d with 12 modes and width 32 reaches relative L2 .0108 at s = 85 (table 4).

Every dataset of one scale is subsampled from the same fine grid, so the test sets at different
resolutions hold the same problems (same seed: the same coefficients) and the error of one model
across them measures zero-shot super-resolution alone.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from sciml.experiments import Experiment, experiment_data

__all__ = ["EXPERIMENT", "PAPER"]

PAPER = {"85": 0.0108, "141": 0.0109, "211": 0.0109, "421": 0.0098}

SUPER_RESOLUTION_GOAL = 1.5


def _dataset(out: Path, split: str, res: int, size: dict[str, Any]) -> Path:
    refine, rest = divmod(size["fine"] - 1, res - 1)
    if rest:
        raise ValueError(f"resolution {res} does not subsample the fine grid {size['fine']}")
    n, seed = (size["n_train"], 0) if split == "train" else (size["n_test"], 1)
    return experiment_data(out, f"darcy_{split}_s{res}_fine{size['fine']}", "darcy", n=n, res=res, seed=seed,
                           params={"refine": refine})


def run(out: Path, size: dict[str, Any], device: str) -> dict[str, Any]:
    import torch

    from sciml.data import PairDataset
    from sciml.data.pdes import darcy
    from sciml.experiments import _fno_common as common
    from sciml.runs import load_model

    tic = time.perf_counter()
    tests = {res: _dataset(out, "test", res, size) for res in size["test_res"]}
    trains = {res: _dataset(out, "train", res, size) for res in size["train_res"]}
    data_seconds = time.perf_counter() - tic

    models = common.train_each_resolution(out, trains, tests, size, device)
    coarse, fine = size["super_resolution"]
    base, super_resolution = common.super_resolution(models, coarse, fine, SUPER_RESOLUTION_GOAL)

    model, _ = load_model(base["run_dir"], which="model")
    figures = [common.plot_training_curve(base["epochs"], out / "training_curve.png", label=f"s={coarse}"),
               common.plot_predictions_2d(model, [(f"s={r}", PairDataset(tests[r])) for r in (coarse, fine)],
                                          out / "predictions.png")]

    speed_data = PairDataset(tests[size["speed_res"]])
    n_speed = min(len(speed_data), size["speed_samples"])
    x, _ = speed_data._read(list(range(n_speed)))
    coefficients = x[:, 0].double().numpy()
    refine = (size["fine"] - 1) // (size["speed_res"] - 1)
    fine_coefficients = np.stack([darcy.sample_coefficient(1, i, size["fine"], darcy.check_params(size["speed_res"],
                                                           {"refine": refine})) for i in range(min(n_speed, 5))])
    speed_model = next((m for m in models if m["train_resolution"] == size["speed_res"]), base)
    model, _ = load_model(speed_model["run_dir"], which="model")
    fd = "5-point finite differences, sparse LU (scipy, one thread)"
    speed = common.speed_comparison(
        model, x, [(f"{fd} at {size['speed_res']}x{size['speed_res']}", lambda: darcy.solve(coefficients, 1.0),
                    n_speed),
                   (f"{fd} at {size['fine']}x{size['fine']}, the grid the data were solved on",
                    lambda: darcy.solve(fine_coefficients, 1.0), len(fine_coefficients))],
        resolution=[size["speed_res"]] * 2)
    return {"sizes": {k: list(v) if isinstance(v, tuple) else v for k, v in size.items()},
            "data": {"train": {str(k): str(v) for k, v in trains.items()},
                     "test": {str(k): str(v) for k, v in tests.items()}, "seconds": data_seconds},
            "models": models, "super_resolution": super_resolution, "speed": speed, "figures": figures,
            "threads": torch.get_num_threads()}


def _padding_text(model: dict[str, Any]) -> str:
    if model.get("padding_mode", "zeros") == "smooth":
        return ("smooth padding: the mirror image of the field tapered to zero at the periodic seam, the padded period "
                "the same on every test grid, which keeps the network one operator across resolutions; "
                "see sciml/operators/_padding.py")
    return "zero padding, neuraloperator's"


def report(r: dict[str, Any]) -> str:
    from sciml.experiments._fno_common import report_results

    s = r["sizes"]
    m, t = s["model"], s["train"]
    schedule = (f"cosine from lr {t['lr']}" if t["scheduler"] == "cosine"
                else f"lr {t['lr']} halved every {t.get('step_size')} epochs")
    lines = [f"# fno-darcy ({r['scale']} scale)", "", f"Paper: {r['paper']}.", "", f"Claim: {r['claim']}", "",
             "## Setting", "",
             f"Darcy flow -div(a grad u) = 1, u = 0 on the boundary, a = 12/3 thresholded GRF. Reference solve by sciml's "
             f"second-order finite differences on a {s['fine']}x{s['fine']} grid (the paper: 421x421), subsampled to "
             f"s = {', '.join(str(v) for v in sorted(set(s['train_res'] + s['test_res'])))}. "
             f"{s['n_train']} training samples (seed 0), {s['n_test']} test samples (seed 1, the same coefficients at "
             f"every test resolution). Data generated or reused in {r['data']['seconds']:.0f} s.", "",
             f"FNO-2d: {m['modes']} Fourier modes per direction (paper's count), width {m['width']}, {m['n_layers']} "
             f"Fourier layers, domain padding {m['padding']:.4g} of the domain at each end of every axis (the domain is not "
             f"periodic; {_padding_text(m)}); AdamW, "
             f"weight decay {t['weight_decay']}, batch {t['batch_size']}, {t['epochs']} epochs ({schedule}); loss: "
             "relative L2. The paper trains 500 epochs. Errors are those of the model after the last epoch "
             "(the test set was not used to pick a model).", ""]
    lines += report_results(r, name="fno-darcy", predictions_caption="coefficient, truth, prediction, error at the training resolution and the finer grid")
    return "\n".join(lines)


EXPERIMENT = Experiment(
    name="fno-darcy",
    paper="Li, Kovachki, Azizzadenesheli, Liu, Bhattacharya, Stuart, Anandkumar: Fourier Neural Operator for "
          "Parametric Partial Differential Equations, arXiv 2010.08895",
    claim="FNO-2d learns the Darcy coefficient-to-solution map to about 1% relative L2 at every resolution, "
          "evaluates at finer grids than it was trained on (zero-shot super-resolution), and is orders of "
          "magnitude faster than the numerical solver",
    reference={"rel_l2": PAPER, "source": "table 4 (Darcy, FNO), 1000 training samples, 500 epochs"},
    run=run,
    report=report,
)
