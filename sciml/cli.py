"""The ``sciml`` command. Thin: it parses options, sets runtime options and calls library code.

Bad input (a file, option or configuration sciml cannot use) ends with one sentence on stderr and
exit status 2; a run that fails ends with exit status 1.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Sequence

__all__ = ["main", "build_parser"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one sentence, exit 2
        self.print_usage(sys.stderr)
        self.exit(2, f"sciml: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="sciml", description="Scientific machine learning for PDEs.")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice)")
    parser.add_argument("--quiet", action="store_true", help="only warnings and errors on stderr")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    data = sub.add_parser("data", help="generate, import and inspect datasets")
    data_sub = data.add_subparsers(dest="data_command", parser_class=_Parser)
    gen = data_sub.add_parser("generate", help="generate a dataset with a reference PDE solver")
    gen.add_argument("pde", nargs="?", default=None,
                     help="PDE name: darcy, burgers, navier-stokes, heat, combined, wave, poisson-mesh, ... "
                          "(or --recipe)")
    gen.add_argument("--recipe", type=Path, default=None,
                     help="a dataset recipe (datasets/NAME.yaml): PDE, parameters, resolution, counts and seeds "
                          "of every split; --out is then a directory that receives SPLIT.h5 per split")
    gen.add_argument("--split", action="append", default=None,
                     help="with --recipe: generate this split only (repeatable; default every split)")
    gen.add_argument("--out", required=True, type=Path, help="output HDF5 file (a directory with --recipe)")
    gen.add_argument("--n", type=int, default=None, help="number of samples (with --recipe: caps every split)")
    gen.add_argument("--res", type=int, default=None, help="stored grid resolution")
    gen.add_argument("--seed", type=int, default=None, help="random seed (default 0)")
    gen.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                     help="PDE parameter (repeatable), e.g. refine=5 or nu=1e-3 (see docs/datasets.md)")
    gen.add_argument("--resume", action="store_true", help="continue OUT.partial from its samples")
    gen.add_argument("--force", action="store_true", help="overwrite an existing OUT or OUT.partial")
    gen.add_argument("--device", default=None, help="cpu, cuda or auto, for the torch solvers (burgers, "
                                                     "navier-stokes, heat)")
    imp = data_sub.add_parser("import", help="convert a .pt/.npz file with x/y, or an FNO-paper .mat file (a/u, "
                                             "coeff/sol), into the sciml store")
    imp.add_argument("file", type=Path)
    imp.add_argument("--out", required=True, type=Path)
    imp.add_argument("--spatial-dims", type=int, default=None, help="spatial dimensions (default: inferred)")
    imp.add_argument("--pde", default="imported", help="value of the pde attribute")
    imp.add_argument("--layout", choices=("pair", "trajectory"), default=None,
                     help="pair (input/output) or trajectory (tensor (N, T, *spatial)); default: detected")
    imp.add_argument("--subsample", type=int, default=1, help="keep every k-th point along each spatial axis")
    imp.add_argument("--prepend-initial", action="store_true", help="trajectories: store `a` as the frame at t=0")
    imp.add_argument("--force", action="store_true")
    info = data_sub.add_parser("info", help="summarise and validate a dataset file")
    info.add_argument("file", type=Path)
    info.add_argument("--json", action="store_true", help="print the summary as JSON")
    pts = data_sub.add_parser("points", help="write a point-set store (points, target) from an expression or from "
                                             "a grid, trajectory or mesh dataset")
    pts.add_argument("--out", required=True, type=Path, help="point-set HDF5 file to write")
    pts.add_argument("--from", dest="source", type=Path, default=None, help="a grid-pair, trajectory or mesh store")
    pts.add_argument("--field", default=None, help="with --from: the field to use as the target")
    pts.add_argument("--expr", default=None, help="target expression in x, y, z, t, e.g. 'sin(pi*x)*sin(pi*y)'")
    pts.add_argument("--box", default=None, help="with --expr: lo:hi per space axis, e.g. 0:1,0:1")
    pts.add_argument("--time", default=None, help="with --expr: a time range lo:hi (adds the coordinate t)")
    pts.add_argument("--n", type=int, default=None, help="with --expr: samples")
    pts.add_argument("--points", type=int, default=None, help="with --expr: points per sample (uniform in the box)")
    pts.add_argument("--seed", type=int, default=None, help="with --expr: random seed (default 0)")
    pts.add_argument("--force", action="store_true", help="overwrite an existing --out file")
    plot = data_sub.add_parser("plot", help="draw one sample of a dataset into a PNG file")
    plot.add_argument("file", type=Path)
    plot.add_argument("--out", required=True, type=Path, help="PNG file to write")
    plot.add_argument("--index", type=int, default=0, help="sample index (default 0)")
    plot.add_argument("--force", action="store_true", help="overwrite an existing --out file")

    train = sub.add_parser("train", help="train a model on a dataset")
    train.add_argument("model", nargs="?", default=None, help="model name (sciml train --list shows them)")
    train.add_argument("--list", action="store_true", help="list the model kinds with their papers and exit")
    train.add_argument("--data", type=Path, default=None, help="training dataset (kinds that draw their own points, "
                                                               "such as pinn, take none)")
    train.add_argument("--problem", default=None, help="the problem of a physics-informed kind (same as --set "
                                                       "problem=NAME; an unknown name lists the choices)")
    train.add_argument("--val", type=Path, default=None, help="validation dataset (selects best.pt)")
    train.add_argument("--out", type=Path, default=None, help="run directory (new, empty, or a run with --resume "
                                                              "or --force)")
    train.add_argument("--config", type=Path, default=None, help="YAML configuration")
    train.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="configuration override (repeatable), e.g. epochs=50")
    group = train.add_mutually_exclusive_group()
    group.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    group.add_argument("--force", action="store_true", help="replace the run in --out (or write into a directory "
                                                             "that holds other files; those are kept)")

    ev = sub.add_parser("eval", help="evaluate a trained run on a dataset (any resolution)")
    ev.add_argument("run", type=Path, help="run directory (or model .pt file)")
    ev.add_argument("--data", required=True, type=Path, action="append",
                    help="test dataset; repeat for a zero-shot super-resolution table over several resolutions")
    ev.add_argument("--model", dest="which", default="best", choices=("best", "model"),
                    help="best.pt (default) or model.pt (last epoch)")
    ev.add_argument("--device", default="cpu")
    ev.add_argument("--out", type=Path, default=None,
                    help="metrics JSON (default RUN/eval/<data>.json, replaced on each evaluation)")
    ev.add_argument("--force", action="store_true", help="overwrite an existing --out file")
    ev.add_argument("--json", action="store_true", help="print the metrics as JSON")

    pred = sub.add_parser("predict", help="write a trained model's predictions for every sample of a dataset")
    pred.add_argument("run", type=Path, help="run directory (or model .pt file)")
    pred.add_argument("--data", required=True, type=Path, help="dataset of a layout the model reads")
    pred.add_argument("--out", required=True, type=Path, help="prediction file: the input's layout plus 'prediction'")
    pred.add_argument("--vtk", type=Path, default=None, help="also write one ParaView file per sample (prediction, "
                                                             "reference, error) into this directory")
    pred.add_argument("--model", dest="which", default="best", choices=("best", "model"),
                      help="best.pt (default) or model.pt (last epoch)")
    pred.add_argument("--device", default="cpu")
    pred.add_argument("--batch-size", type=int, default=32, help="samples per forward pass (default 32)")
    pred.add_argument("--force", action="store_true", help="overwrite an existing --out file (and write into a "
                                                           "non-empty --vtk directory)")
    pred.add_argument("--json", action="store_true", help="print the summary as JSON")

    solve = sub.add_parser("solve", help="solve a sparse SPD system by preconditioned CG")
    solve.add_argument("matrix", type=Path, help="matrix file (.mtx or scipy .npz)")
    solve.add_argument("--rhs", type=Path, default=None, help="right-hand side (.npy or .mtx; default ones)")
    solve.add_argument("--precond", default="none", help="none, jacobi, ssor, ic0, amg (= amg-sa), amg-sa, amg-rs, "
                                                          "or a trained run directory")
    solve.add_argument("--fallback", default=None,
                       help="with --precond RUN_DIR (neural-pcg): the classical preconditioner used when the learned "
                            "one is predicted worse on this matrix (default ic0; none skips the check): jacobi, ssor, "
                            "ic0, amg, amg-sa, amg-rs, none")
    solve.add_argument("--rtol", type=float, default=1e-8)
    solve.add_argument("--atol", type=float, default=0.0)
    solve.add_argument("--maxiter", type=int, default=None)
    solve.add_argument("--norm", default="l2", choices=("l2", "max"), help="residual norm of the stopping rule")
    solve.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    solve.add_argument("--dtype", default="float64", choices=("float64", "float32"))
    solve.add_argument("--json", action="store_true", help="print the report as JSON")

    wos = sub.add_parser("wos", help="walk-on-spheres: estimate the solution of Lap u = f, u = g on the boundary, at "
                                     "given points (Monte Carlo, no mesh of the interior)")
    wos.add_argument("--domain", required=True, help="a mesh file meshio reads (closed 2-D loops or 3-D surface), a "
                                                      ".json/.yaml domain file, or JSON text such as "
                                                      "'{\"type\": \"disk\", \"center\": [0, 0], \"radius\": 1}'")
    wos.add_argument("--boundary", required=True, help="boundary data g as an expression in x, y (, z)")
    wos.add_argument("--source", default=None, help="source f of Lap u = f as an expression (default: Laplace, f = 0)")
    wos.add_argument("--points", required=True, type=Path, help="points (n, dim): .npy, .csv or .txt")
    wos.add_argument("--out", required=True, type=Path, help="estimates: .npz or .csv")
    wos.add_argument("--walks", type=int, default=1000, help="walks per point (default 1000)")
    wos.add_argument("--eps", type=float, default=1e-3, help="epsilon shell: a walk ends within eps of the boundary")
    wos.add_argument("--max-steps", type=int, default=10_000, help="walk cap: longer walks are closed and counted")
    wos.add_argument("--seed", type=int, default=0)
    wos.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    wos.add_argument("--dtype", default="float64", choices=("float64", "float32"))
    wos.add_argument("--force", action="store_true", help="overwrite an existing --out file")
    wos.add_argument("--json", action="store_true", help="print the summary as JSON")

    rep = sub.add_parser("reproduce", help="run a registered paper experiment and write its report")
    rep.add_argument("experiment", nargs="?", default=None,
                     help="experiment name (sciml reproduce --list shows them)")
    rep.add_argument("--list", action="store_true", help="list the experiments with their papers and claims and exit")
    rep.add_argument("--scale", default="small", help="smoke, small (default) or paper")
    rep.add_argument("--config", type=Path, default=None,
                     help="YAML laid over experiments/NAME/config.yaml (its layout, or one scale's keys)")
    rep.add_argument("--out", type=Path, default=None, help="run directory")
    rep.add_argument("--device", default="cpu")
    rep.add_argument("--force", action="store_true", help="run again over existing results")
    rep.add_argument("--data-dir", type=Path, default=None,
                     help="generate the datasets here, or reuse matching ones (default: RUN_DIR/data)")

    demo = sub.add_parser("demo", help="Darcy data -> FNO -> report, about three minutes on a CPU")
    demo.add_argument("--out", type=Path, default=Path("runs/demo"))
    demo.add_argument("--epochs", type=int, default=None, help="training epochs (default: the demo's)")
    demo.add_argument("--n-train", type=int, default=None, help="training samples (default: the demo's)")
    demo.add_argument("--n-test", type=int, default=None, help="samples per test set (default: the demo's)")

    bench = sub.add_parser("bench", help="run a benchmark suite and write JSON")
    bench.add_argument("suite", help="suite name: foundation, linalg, data, datasets, fno, precond, precond-ood, pinn, wos, teng, graph, hard-constraints")
    bench.add_argument("--out", required=True, type=Path)
    bench.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run of the suite)")
    bench.add_argument("--force", action="store_true", help="overwrite an existing --out file")
    return parser


def _refuse_existing(path: Path, force: bool) -> None:
    from sciml._errors import SciMLError

    if path.exists() and not force:
        raise SciMLError(f"{path} already exists; pass --force to overwrite it")


def _generate_recipe(args, log: logging.Logger) -> int:
    from sciml._errors import ConfigError
    from sciml.config import parse_overrides
    from sciml.data.recipes import generate_recipe, load_recipe
    from sciml.runtime import progress

    given = [name for name, value in (("PDE", args.pde), ("--res", args.res), ("--seed", args.seed))
             if value is not None]
    if given:
        raise ConfigError(f"{args.recipe} fixes {', '.join(given)}; drop {'them' if len(given) > 1 else 'it'} "
                          f"(or edit a copy of the recipe)")
    recipe = load_recipe(args.recipe)
    bars = []

    def on_split(split):
        n = split.n if args.n is None else min(split.n, args.n)
        bar = progress(total=n, desc=f"{recipe.name} {split.name}", unit="sample")
        bars.append(bar)

        def on_block(done: int, total: int) -> None:
            bar.update(done - bar.n)
            if bar.disable:
                log.info("%s %s: %d/%d samples", recipe.name, split.name, done, total)

        return on_block

    try:
        paths = generate_recipe(recipe, args.out, splits=args.split, n_cap=args.n, resume=args.resume,
                                force=args.force, device=args.device, overrides=parse_overrides(args.overrides),
                                on_split=on_split)
    finally:
        for bar in bars:
            bar.close()
    for path in paths:
        print(f"wrote {path}")
    return 0


def _cmd_data(args, log: logging.Logger) -> int:
    from sciml._errors import ConfigError
    from sciml.config import parse_overrides

    if args.data_command == "generate" and args.recipe is not None:
        return _generate_recipe(args, log)
    if args.data_command == "generate":
        from sciml.data import generate_dataset
        from sciml.runtime import progress

        if args.split:
            raise ConfigError("--split goes with --recipe")
        missing = [name for name, value in (("PDE", args.pde), ("--n", args.n), ("--res", args.res)) if value is None]
        if missing:
            raise ConfigError(f"sciml data generate needs {', '.join(missing)} (or --recipe FILE)")
        args.seed = 0 if args.seed is None else args.seed
        params = parse_overrides(args.overrides)
        bar = progress(total=args.n, desc=f"{args.pde} {args.res}", unit="sample")

        def on_block(done: int, total: int) -> None:
            bar.update(done - bar.n)
            if bar.disable:
                log.info("%s: %d/%d samples", args.out, done, total)

        try:
            path = generate_dataset(args.pde, args.out, n=args.n, res=args.res, seed=args.seed, params=params,
                                    resume=args.resume, force=args.force, device=args.device, on_block=on_block)
        finally:
            bar.close()
        print(f"wrote {path} ({args.n} samples at {args.res})")
        return 0
    if args.data_command == "import":
        from sciml.data import import_file

        path = import_file(args.file, args.out, spatial_dims=args.spatial_dims, pde=args.pde, force=args.force,
                           layout=args.layout, subsample=args.subsample, prepend_initial=args.prepend_initial)
        print(f"wrote {path}")
        return 0
    if args.data_command == "info":
        from sciml.data import open_store, summarize

        with open_store(args.file) as store:
            summary = summarize(store)
        if args.json:
            print(json.dumps(summary, indent=2))
        else:
            print(f"{summary['path']}: pde={summary['pde']} samples={summary['n_samples']} "
                  f"generator={summary['generator']!r} seed={summary['seed']} created={summary['created']}")
            print(f"  layout: {summary['layout'] or 'none of the known ones'}")
            if summary.get("coordinate_names"):
                print(f"  coordinates: {', '.join(summary['coordinate_names'])}; box "
                      f"{' x '.join(f'[{lo:.4g}, {hi:.4g}]' for lo, hi in zip(*summary['bounds']))}")
            print(f"  params: {json.dumps(summary['params'])}")
            for name, s in summary["fields"].items():
                print(f"  {name:14s} {str(tuple(s['shape'])):22s} {s['dtype']:8s} "
                      f"min {s['min']:.4g} max {s['max']:.4g} mean {s['mean']:.4g}")
            for name, shape in summary["coords"].items():
                print(f"  {name:14s} {str(tuple(shape))}")
            print("  valid: complete, attributes present, fields agree on the sample count, all values finite")
        return 0
    if args.data_command == "points":
        from sciml.data.points import points_from_expression, points_from_store

        if (args.source is None) == (args.expr is None):
            raise ConfigError("sciml data points needs --from FILE or --expr EXPRESSION (one of them)")
        if args.source is not None:
            stray = [f for f, v in (("--box", args.box), ("--time", args.time), ("--n", args.n),
                                    ("--points", args.points), ("--seed", args.seed)) if v is not None]
            if stray:
                raise ConfigError(f"{', '.join(stray)} go with --expr, not --from")
            path = points_from_store(args.source, args.out, field=args.field, force=args.force)
        else:
            missing = [f for f, v in (("--box", args.box), ("--n", args.n), ("--points", args.points)) if v is None]
            if missing:
                raise ConfigError(f"--expr needs {', '.join(missing)}")
            if args.field is not None:
                raise ConfigError("--field goes with --from, not --expr")
            path = points_from_expression(args.out, args.expr, box=args.box, time=args.time, n=args.n,
                                          n_points=args.points, seed=args.seed or 0, force=args.force)
        print(f"wrote {path}")
        return 0
    if args.data_command == "plot":
        from sciml.data.plots import plot_sample

        _refuse_existing(args.out, args.force)
        print(f"wrote {plot_sample(args.file, args.out, index=args.index)}")
        return 0
    raise SystemExit(2)


def _cmd_train(args, log: logging.Logger) -> int:
    from sciml.config import parse_overrides
    from sciml.runs import train_model

    if args.list:
        from sciml.registry import describe_models

        _print_listing(describe_models(), "summary")
        return 0
    from sciml.registry import resolve_model

    needs_data = args.model is None or resolve_model(args.model).needs_data
    _require(args, "train", "model", *(("data",) if needs_data else ()), "out")

    overrides = parse_overrides(args.overrides)
    if args.problem is not None:
        if "problem" in overrides and overrides["problem"] != args.problem:
            from sciml._errors import ConfigError

            raise ConfigError(f"--problem {args.problem} and --set problem={overrides['problem']} disagree")
        overrides["problem"] = args.problem
    summary = train_model(args.model, args.data, args.out, val_path=args.val, config_path=args.config,
                          overrides=overrides, resume=args.resume, force=args.force)
    best = summary["best"]
    if summary["world_size"] > 1 and os.environ.get("RANK", "0") != "0":
        return 0
    log.info("trained %s for %d epochs; best %s %.4g at epoch %d; run in %s", args.model, summary["epochs"],
             best.get("metric", "loss"), best["value"], best["epoch"], args.out)
    return 0


def _cmd_eval(args, log: logging.Logger) -> int:
    from sciml.runs import evaluate_resolutions, evaluate_run

    if args.out is not None:
        _refuse_existing(args.out, args.force)
    if len(args.data) > 1:
        result = evaluate_resolutions(args.run, args.data, which=args.which, device=args.device, out=args.out)
        print(json.dumps(result, indent=2) if args.json else result["table"])
        return 0
    data = args.data[0]
    result = evaluate_run(args.run, data, which=args.which, device=args.device, out=args.out)
    if args.json:
        print(json.dumps(result, indent=2))
    elif "table" in result:  # a learned preconditioner against the classical ones
        print(f"{data}: {result['n_systems']} systems of {result['n']} unknowns, rtol {result['rtol']:g}")
        print(f"  {'precond':10s} {'iterations':>10s} {'setup s':>9s} {'solve s':>9s} {'total s':>9s}")
        for row in result["table"]:
            print(f"  {row['precond']:10s} {row['mean_iterations']:10.1f} {row['mean_setup_s']:9.4f} "
                  f"{row['mean_solve_s']:9.4f} {row['mean_total_s']:9.4f}"
                  f"{'' if row['all_converged'] else '  (not all converged)'}")
    elif "fourier_bands" in result:  # a field model on a grid
        def band(key: str) -> str:
            return "-" if result.get(key) is None else f"{result[key]:.3g}"

        print(f"{data} at {'x'.join(map(str, result['resolution']))} ({result['n_samples']} samples): "
              f"rel_l2 {result['rel_l2']:.4g}  nrmse {result['nrmse']:.4g}  rmse {result['rmse']:.4g}  "
              f"max error {result['max_error']:.4g}  "
              f"fourier low/mid/high {band('fourier_low')}/{band('fourier_mid')}/{band('fourier_high')}")
    else:  # rollout metrics, point sets ...: the scalars, then the per-step errors of a rollout
        print(json.dumps({k: v for k, v in result.items() if not isinstance(v, (list, dict))}, indent=2))
        if result.get("per_step_rel_l2"):
            print("  per-step rel_l2: " + " ".join(f"{v:.3g}" for v in result["per_step_rel_l2"]))
    if not args.json and "overall" in result:
        o = result["overall"]
        print(f"  per sample (mean over {result['n_samples']}): rel_l2 {o['rel_l2']:.4g}  nrmse {o['nrmse']:.4g}  "
              f"max error {o['max_error']:.4g} (largest); every sample's figures in {result.get('written_to', '--json')}")
    return 0


def _cmd_predict(args, log: logging.Logger) -> int:
    from sciml.runtime import progress
    from sciml.trained import predict_file

    bar = None

    def on_batch(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = progress(total=total, desc=f"predict {args.data.name}", unit="sample")
        bar.update(done - bar.n)

    try:
        summary = predict_file(args.run, args.data, args.out, which=args.which, device=args.device,
                               batch_size=args.batch_size, vtk=args.vtk, force=args.force, on_batch=on_batch)
    finally:
        if bar is not None:
            bar.close()
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"wrote {summary['written_to']} ({summary['n_samples']} samples, layout {summary['layout']})"
              + (f" and {len(summary['vtk_files'])} files in {args.vtk}" if args.vtk is not None else ""))
    return 0


def _cmd_solve(args, log: logging.Logger) -> int:
    from sciml.linalg.solve import solve_files

    precond = args.precond
    if Path(precond).is_dir():  # a trained learned preconditioner (neural-pcg) or solver (dcdm) run directory
        from sciml.learned.solve import solve_setup

        precond = solve_setup(precond, fallback=args.fallback, rtol=args.rtol)  # checks --fallback before any work
    elif args.fallback is not None:
        from sciml._errors import ConfigError

        raise ConfigError(f"--fallback applies to a learned preconditioner (--precond RUN_DIR); {precond!r} is not a "
                          f"run directory")
    report = solve_files(args.matrix, rhs=args.rhs, precond=precond, rtol=args.rtol, atol=args.atol,
                         maxiter=args.maxiter, device=args.device, dtype=args.dtype, norm=args.norm)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"{args.matrix}: n={report['n']} nnz={report['nnz']} precond={report['precond']} "
              f"device={report['device']}")
        print(f"  {report['status']} after {report['iterations']} iterations, relative residual "
              f"{report['relative_residual']:.3e}")
        print(f"  setup {report['setup_seconds']:.4f} s, solve {report['solve_seconds']:.4f} s "
              f"({1e3 * report['seconds_per_iteration']:.3f} ms/iteration)")
        if "guard" in report:
            guard = report["guard"]
            print(f"  guard: {guard['decision']} (used {guard['used']}): {guard['reason']}"
                  + (f"; the check took {guard['seconds']:.4f} s of the set-up" if guard["seconds"] else ""))
    if report["converged"] and not report["true_residual_meets_tolerance"]:
        print(f"sciml: the iteration converged but the recomputed residual {report['relative_residual']:.3e} is above "
              f"rtol {args.rtol:g}: {args.dtype} cannot reach it (use float64 or a larger --rtol)", file=sys.stderr)
        return 1
    return 0 if report["converged"] else 1


def _print_listing(rows: list[dict[str, str]], text: str) -> None:
    import textwrap

    width = max(len(r["name"]) for r in rows) + 2
    for r in rows:
        print(f"{r['name']:{width}s}{r['arxiv']}")
        print(textwrap.fill(r[text], width=100, initial_indent=" " * width, subsequent_indent=" " * width))


def _require(args, command: str, *names: str) -> None:
    from sciml._errors import ConfigError

    missing = [f"--{n}" if n != "model" and n != "experiment" else n.upper() for n in names
               if getattr(args, n) is None]
    if missing:
        raise ConfigError(f"sciml {command} needs {' and '.join(missing)} (or --list)")


def _cmd_wos(args, log: logging.Logger) -> int:
    from sciml.wos.files import solve_files

    _refuse_existing(args.out, args.force)
    summary = solve_files(args.domain, args.boundary, args.points, args.out, source=args.source, walks=args.walks,
                          eps=args.eps, max_steps=args.max_steps, seed=args.seed, device=args.device, dtype=args.dtype)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"wrote {summary['out']}: {summary['points']} points x {summary['walks']} walks in "
              f"{summary['seconds']:.2f} s ({summary['walks_per_second']:.3g} walks/s, {summary['steps_mean']:.1f} steps "
              f"per walk on average); mean standard error {summary['stderr_mean']:.3g}")
        if summary["unfinished"]:
            print(f"  {summary['unfinished']} walks reached --max-steps {summary['max_steps']} and were closed at the "
                  f"nearest boundary point")
    return 0


def _cmd_reproduce(args, log: logging.Logger) -> int:
    from sciml.experiments import run_experiment

    if args.list:
        from sciml.registry import describe_experiments

        _print_listing(describe_experiments(), "claim")
        return 0
    _require(args, "reproduce", "experiment", "out")
    results = run_experiment(args.experiment, args.out, scale=args.scale, device=args.device, force=args.force,
                             data_dir=args.data_dir, config_file=args.config)
    log.info("%s (%s) finished in %.1f s", args.experiment, args.scale, results["seconds"])
    print(f"report: {Path(args.out) / 'report.md'}")
    return 0


def _cmd_demo(args, log: logging.Logger) -> int:
    from sciml.demo import run_demo

    result = run_demo(args.out, epochs=args.epochs, n_train=args.n_train, n_test=args.n_test)
    for row in result["evaluations"]:
        print(f"resolution {row['resolution'][0]}: rel_l2 {row['rel_l2']:.4f}  nrmse {row['nrmse']:.4f}")
    print(f"report: {Path(args.out) / 'report.md'}")
    return 0


def _cmd_bench(args, log: logging.Logger) -> int:
    from sciml.bench import run_suite

    _refuse_existing(args.out, args.force)
    result = run_suite(args.suite, args.out, quick=args.quick)
    print(json.dumps(result.get("summary", {}), indent=2))
    print(f"wrote {args.out}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from sciml._version import __version__

        print(f"sciml {__version__}")
        return 0
    if args.command is None or (args.command == "data" and args.data_command is None):
        parser.print_help(sys.stderr)
        return 2
    from sciml._errors import SciMLError
    from sciml.runtime import configure_logging, keep_freed_memory, set_threads

    if os.environ.get("SCIML_KEEP_FREED_MEMORY", "1") != "0":
        keep_freed_memory()  # eager torch on the CPU spends up to half its time in page faults otherwise
    log = configure_logging(logging.WARNING if args.quiet else logging.INFO)
    handlers = {"data": _cmd_data, "train": _cmd_train, "eval": _cmd_eval, "predict": _cmd_predict, "solve": _cmd_solve,
                "wos": _cmd_wos, "reproduce": _cmd_reproduce,
                "demo": _cmd_demo,
                "bench": _cmd_bench}
    try:
        set_threads(args.threads)
        return handlers[args.command](args, log)
    except SciMLError as exc:
        print(f"sciml: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sciml: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into head, for example
        sys.stderr.close()
        return 0
    except OSError as exc:  # an output path that cannot be written, a directory where a file was expected ...
        where = f" {exc.filename}" if getattr(exc, "filename", None) else ""
        print(f"sciml: error:{where}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        from sciml.train import TrainingError

        if isinstance(exc, TrainingError):
            print(f"sciml: training failed: {exc}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
