"""`sciml train wos-no` on poisson-star stores: the generator, the dataset's instances, the running means
across a resume, the natural prediction's boundary features, the experiment's model files, bad input."""

import numpy as np
import pytest
import torch

pytest.importorskip("gmsh")
pytest.importorskip("skfem")
pytest.importorskip("neuralop")

import sciml  # noqa: E402
from sciml import ConfigError, DataError  # noqa: E402
from sciml.cli import main  # noqa: E402
from sciml.data.pdes import poisson_star  # noqa: E402
from sciml.wos.spec import PoissonStarDataset, _closest_boundary_values  # noqa: E402
from sciml.wos.wosno import WosNoConfig, make_instance  # noqa: E402

TINY = ["--set", "latent_res=8", "--set", "modes=2", "--set", "hidden=4", "--set", "layers=1", "--set", "embed=4",
        "--set", "in_kernel=[8]", "--set", "out_kernel=[8]", "--set", "walks=4", "--set", "radius=0.5"]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("star") / "star.h5"
    assert main(["--quiet", "data", "generate", "poisson-star", "--out", str(path), "--n", "3", "--res", "4",
                 "--seed", "11"]) == 0
    return path


def test_the_store_holds_the_experiments_instances(store):
    data = PoissonStarDataset(store)
    assert len(data) == 3 and data.has_target
    for index in range(3):
        inst = data.instance(index)
        assert np.array_equal(poisson_star.pack(inst.params), poisson_star.pack(poisson_star.sample_params(11, index)))
        ref = make_instance(11, index, WosNoConfig(mesh_h=0.25))  # the experiment's path, same mesh size
        assert torch.equal(inst.points, ref.points) and torch.equal(inst.on_boundary, ref.on_boundary)
        assert torch.allclose(inst.features, ref.features) and torch.allclose(inst.fem, ref.fem, atol=1e-6)


def test_boundary_values_at_closest_points_are_linear_along_boundary_edges():
    from sciml.data.mesh import generate_domain, mesh_arrays
    from sciml.wos.boundary import boundary_from_mesh

    points, cells = mesh_arrays(generate_domain("star", h=0.2, c1=0.1, c2=-0.1, center=(0.0, 0.0), radius=1.0))
    on = poisson_star.boundary_vertices(cells, len(points))
    linear = lambda p: 2 * p[:, 0] - p[:, 1] + 1  # noqa: E731  exact under linear interpolation along an edge
    import meshio

    _, closest = boundary_from_mesh(meshio.Mesh(points, [("triangle", cells)])).distance_and_closest(
        torch.from_numpy(points))
    closest = closest.numpy()
    closest[on] = points[on]
    got = _closest_boundary_values(points, cells, linear(points), on, closest)
    assert np.abs(got - linear(closest)).max() < 1e-10


def _train(store, out, epochs, extra=()):
    args = ["--quiet", "train", "wos-no", "--data", str(store), "--out", str(out), "--set", f"epochs={epochs}",
            *TINY, *extra]
    assert main(args) == 0


def test_a_resumed_run_continues_the_running_means(store, tmp_path):
    flat = ["--set", "scheduler=none"]  # 2 epochs then 1 more: the same learning rates as 3 in one go
    _train(store, tmp_path / "whole", 3, flat)
    _train(store, tmp_path / "part", 2, flat)
    assert main(["--quiet", "train", "wos-no", "--data", str(store), "--out", str(tmp_path / "part"), "--resume",
                 "--set", "epochs=3", *TINY, *flat]) == 0
    a = torch.load(tmp_path / "whole" / "checkpoint.pt", weights_only=True)
    b = torch.load(tmp_path / "part" / "checkpoint.pt", weights_only=True)
    assert set(a["method_state"]["walk_counts"].values()) == {12}  # 3 visits x 4 walks
    assert a["method_state"]["walk_counts"] == b["method_state"]["walk_counts"]
    for key, value in a["method_state"]["targets"].items():
        assert torch.equal(value, b["method_state"]["targets"][key])
    for key, value in a["model"].items():
        assert torch.allclose(value, b["model"][key], atol=1e-6), key


def test_the_natural_prediction_reads_the_mesh_and_its_vertex_values(store, tmp_path):
    _train(store, tmp_path / "run", 1, ["--set", "method=fem"])
    model = sciml.load(tmp_path / "run")
    inst = PoissonStarDataset(store).instance(0)
    natural = model.predict(inst.points.double().numpy(), inst.cells, inst.f.numpy(), inst.g.numpy())
    with torch.no_grad():
        direct = model.module.instance(inst)
    # the only difference: g at an interior point's closest boundary point, linear along the edge vs exact
    assert natural.shape == direct.shape and float((natural - direct).norm() / direct.norm()) < 0.05
    with pytest.raises(ConfigError, match="f must hold one value per vertex"):
        model.predict(inst.points.numpy(), inst.cells, inst.f.numpy()[:-1], inst.g.numpy())
    with pytest.raises(ConfigError, match="outside the model's latent grid"):
        model.predict(3 * inst.points.numpy(), inst.cells, inst.f.numpy(), inst.g.numpy())


def test_the_experiments_model_files_load_as_wos_no_models(tmp_path):
    from sciml.wos.spec import model_payload
    from sciml.wos.wosno import WosNoTrainer

    config = WosNoConfig(mesh_h=0.3, latent_res=8, modes=2, hidden=4, layers=1, embed=4, in_kernel=(8,),
                         out_kernel=(8,), walks=2, radius=0.5)
    inst = make_instance(0, 0, config)
    trainer = WosNoTrainer(config, [inst], epochs=1)
    trainer.step(inst)
    torch.save(model_payload(trainer, {"rel_l2": 0.5}), tmp_path / "wos.pt")
    model = sciml.load(tmp_path / "wos.pt")
    with torch.no_grad():
        assert torch.allclose(model.module.instance(inst), trainer.forward(inst), atol=1e-6)
    assert model.metadata["metrics"] == {"rel_l2": 0.5}


def test_bad_input_is_refused_with_one_sentence(store, tmp_path, capsys):
    mesh = tmp_path / "mesh.h5"
    assert main(["--quiet", "data", "generate", "poisson-mesh", "--out", str(mesh), "--n", "1", "--res", "4",
                 "--set", "shapes=[square]", "--set", "order=1"]) == 0
    with pytest.raises(DataError, match="not a poisson-star store"):
        PoissonStarDataset(mesh)
    capsys.readouterr()
    assert main(["train", "wos-no", "--data", str(store), "--out", str(tmp_path / "r"), "--set", "latent_box=1.0", "--set", "c_max=0.0",
                 *TINY]) == 2
    assert "outside the latent grid" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="c_max must be a number"):
        poisson_star.check_params(4, {"c_max": 0.7})
    with pytest.raises(ConfigError, match="unknown poisson-star parameter"):
        poisson_star.check_params(4, {"cmax": 0.1})
    with pytest.raises(DataError, match="13 finite numbers"):
        poisson_star.unpack([0.0] * 12)
