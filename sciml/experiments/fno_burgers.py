"""``fno-burgers``: FNO-1d on viscous Burgers, ``u(., 0) -> u(., 1)``, at several resolutions.

Li et al., "Fourier Neural Operator for Parametric Partial Differential Equations", arXiv 2010.08895,
section 5.1: ``u_t + (u^2/2)_x = nu u_xx`` on the periodic unit interval, nu = 0.1, initial
conditions from a GRF, reference solution on 8192 points subsampled to s = 256 ... 8192; 1000
training and 100 test samples; FNO-1d with 16 modes and width 64 reaches relative L2 .0160 at
s = 1024 (table 1; later code without batch norm about .0025).

The trajectory stores (``tensor (N, 2, s)``: t = 0 and t = 1) come from sciml's Burgers generator
(pseudo-spectral, ETDRK4) through :func:`~sciml.experiments.experiment_data`; each is turned into an
input/output pair store (``input (N, 1, s)`` = u(0), ``output (N, 1, s)`` = u(1)) that keeps the
PDE name, parameters and seed of its source.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from sciml.experiments import Experiment, experiment_data

__all__ = ["EXPERIMENT", "PAPER", "trajectory_pairs"]

PAPER = {"256": 0.0149, "512": 0.0158, "1024": 0.0160, "2048": 0.0146, "4096": 0.0142, "8192": 0.0139}


def trajectory_pairs(source: Path, target: Path, *, block: int = 256) -> Path:
    """Write the pair store ``target``: ``input`` = the first and ``output`` = the last time of ``source``.

    Shapes
    ------
    source ``tensor (N, nt, s)`` -> target ``input (N, 1, s)``, ``output (N, 1, s)``.
    """
    from sciml._errors import DataError
    from sciml.data.store import StoreWriter, open_store

    with open_store(source, required=("tensor",)) as store:
        shape = store.fields["tensor"][0]
        if len(shape) != 3:
            raise DataError(f"{source}: expected a 1D trajectory store tensor (N, nt, s), got {shape}")
        n, res = shape[0], shape[2]
        attrs = store.attrs
        params = dict(attrs["params"])
        coords = {"x-coordinate": store.read("x-coordinate")}
        fields = {"input": ((1, res), "float32"), "output": ((1, res), "float32")}
        with StoreWriter(target, n_samples=n, fields=fields, pde=attrs["pde"], params=params,
                         generator=f"{attrs['generator']}; pairs u(t=0) -> u(t=T)", seed=int(attrs["seed"]),
                         coords=coords, force=True) as writer:
            for first in range(0, n, block):
                u = store.read("tensor", slice(first, min(n, first + block)))
                writer.write({"input": u[:, :1].astype(np.float32), "output": u[:, -1:].astype(np.float32)})
    return target


def _dataset(out: Path, split: str, res: int, size: dict[str, Any]) -> Path:
    n, seed = (size["n_train"], 0) if split == "train" else (size["n_test"], 1)
    name = f"burgers_{split}_s{res}_fine{size['fine']}"
    trajectories = experiment_data(out, name, "burgers", n=n, res=res, seed=seed,
                                   params={"fine": size["fine"], "nt": 2})
    return trajectory_pairs(trajectories, out / "pairs" / f"{name}_pairs.h5")


def run(out: Path, size: dict[str, Any], device: str) -> dict[str, Any]:
    import torch

    from sciml.data import PairDataset
    from sciml.data.pdes import burgers
    from sciml.data.store import open_store
    from sciml.experiments import _fno_common as common
    from sciml.runs import load_model

    tic = time.perf_counter()
    tests = {res: _dataset(out, "test", res, size) for res in size["test_res"]}
    trains = {res: _dataset(out, "train", res, size) for res in size["train_res"]}
    data_seconds = time.perf_counter() - tic

    models = common.train_each_resolution(out, trains, tests, size, device)
    coarse, fine = size["super_resolution"]
    base, super_resolution = common.super_resolution(models, coarse, fine, None)

    model, _ = load_model(base["run_dir"], which="model")
    figures = [common.plot_training_curve(base["epochs"], out / "training_curve.png", label=f"s={coarse}"),
               common.plot_predictions_1d(model, [(str(r), PairDataset(tests[r])) for r in (coarse, fine)],
                                          out / "predictions.png")]

    speed_data = PairDataset(tests[size["speed_res"]])
    x, _ = speed_data._read(list(range(min(len(speed_data), size["speed_samples"]))))
    with open_store(tests[size["speed_res"]]) as store:
        params = store.attrs["params"]
    u0 = x[:, 0].double()
    speed_model = next((m for m in models if m["train_resolution"] == size["speed_res"]), base)
    model, _ = load_model(speed_model["run_dir"], which="model")
    speed = common.speed_comparison(
        model, x, [(f"pseudo-spectral ETDRK4 at s = {size['speed_res']}, dt = {params['dt']:.3g}, the batch solved "
                    "together", lambda: burgers.solve(u0, params["nu"], [0.0, params["T"]], dt=params["dt"]), len(u0))],
        resolution=[size["speed_res"]])
    return {"sizes": {k: list(v) if isinstance(v, tuple) else v for k, v in size.items()},
            "data": {"train": {str(k): str(v) for k, v in trains.items()},
                     "test": {str(k): str(v) for k, v in tests.items()}, "seconds": data_seconds,
                     "nu": params["nu"]},
            "models": models, "super_resolution": super_resolution, "speed": speed, "figures": figures,
            "threads": torch.get_num_threads()}


def report(r: dict[str, Any]) -> str:
    from sciml.experiments._fno_common import report_results

    s = r["sizes"]
    m, t = s["model"], s["train"]
    schedule = (f"cosine from lr {t['lr']}" if t["scheduler"] == "cosine"
                else f"lr {t['lr']} halved every {t.get('step_size')} epochs")
    lines = [f"# fno-burgers ({r['scale']} scale)", "", f"Paper: {r['paper']}.", "", f"Claim: {r['claim']}", "",
             "## Setting", "",
             f"Viscous Burgers u_t + (u^2/2)_x = nu u_xx, nu = {r['data']['nu']}, periodic unit interval, map "
             f"u(., 0) -> u(., 1). Reference solve by sciml's pseudo-spectral ETDRK4 solver on {s['fine']} points "
             f"(the paper: 8192), subsampled to s = "
             f"{', '.join(str(v) for v in sorted(set(s['train_res'] + s['test_res'])))}. {s['n_train']} training "
             f"samples (seed 0), {s['n_test']} test samples (seed 1, the same initial conditions at every test "
             f"resolution). Data generated or reused in {r['data']['seconds']:.0f} s.", "",
             f"FNO-1d: {m['modes']} Fourier modes, width {m['width']}, {m['n_layers']} Fourier layers, no batch norm; "
             f"AdamW, weight decay {t['weight_decay']}, batch {t['batch_size']}, {t['epochs']} epochs ({schedule}); "
             "loss: relative L2. The paper trains 500 epochs. Errors are those of the model after the last epoch "
             "(the test set was not used to pick a model).", ""]
    lines += report_results(r, name="fno-burgers", predictions_caption="truth u(1) solid and FNO dashed (top), u(0) (bottom), at the training resolution and twice as fine")
    return "\n".join(lines)


EXPERIMENT = Experiment(
    name="fno-burgers",
    paper="Li, Kovachki, Azizzadenesheli, Liu, Bhattacharya, Stuart, Anandkumar: Fourier Neural Operator for "
          "Parametric Partial Differential Equations, arXiv 2010.08895",
    claim="FNO-1d learns the Burgers map u(., 0) -> u(., 1) (nu = 0.1) to about 1.5% relative L2 at every "
          "resolution from 256 to 8192 points, with an error that does not grow with the resolution",
    reference={"rel_l2": PAPER, "source": "table 1 (Burgers, FNO), 1000 training samples, 500 epochs; "
                                          "later code without batch norm reaches about .0025 at s=1024"},
    run=run,
    report=report,
)
