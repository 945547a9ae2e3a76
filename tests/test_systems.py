"""Families of SPD linear systems (diffusion 2D/3D, anisotropic, Poisson and heat on meshes) and P1 assembly."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from sciml import ConfigError, DataError
from sciml.data import generate_dataset
from sciml.data.mesh import generate_domain, mesh_arrays
from sciml.data.pdes import diffusion_systems, mesh_systems, resolve_pde
from sciml.data.pdes.diffusion_systems import load_systems
from sciml.data.pdes.poisson_mesh import l2_error
from sciml.data.store import StoreWriter, open_store
from sciml.gallery.fem import poisson_disk
from sciml.gallery.matrices import poisson2d, poisson3d
from sciml.linalg.assemble import diffusion_3d, p1_load, p1_mass, p1_stiffness

MESH_SHAPES = ["disk", "L", "square-with-hole", "star"]

FAMILIES = {
    "diffusion-2d": ("diffusion-systems", 6, {"contrast": 100.0}),
    "diffusion-3d": ("diffusion-systems", 4, {"dim": 3, "contrast": 100.0}),
    "anisotropic": ("anisotropic-systems", 6, {"eps": 1e-3, "contrast": 10.0}),
    "poisson-mesh": ("poisson-mesh-systems", 6, {"shapes": MESH_SHAPES, "contrast": 10.0}),
    "heat-mesh": ("heat-mesh-systems", 6, {"shapes": MESH_SHAPES, "dt": 0.05, "source": 1.0}),
}


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """Four systems of every family, written through the generator registry."""
    root = tmp_path_factory.mktemp("families")
    return {key: generate_dataset(pde, root / f"{key}.h5", n=4, res=res, seed=0, params=params)
            for key, (pde, res, params) in FAMILIES.items()}


@pytest.mark.parametrize("family", list(FAMILIES))
def test_every_family_stores_spd_systems_with_their_solutions(stores, family):
    data = load_systems(stores[family])
    assert len(data) == 4
    sizes = set()
    for i in range(4):
        A = data.matrix(i)
        assert A.indices.dtype == np.int32 and A.has_sorted_indices
        assert abs(A - A.T).max() == 0.0  # exactly symmetric
        assert np.linalg.eigvalsh(A.toarray()).min() > 0  # positive definite
        b, x = data.rhs(i), data.solution(i)
        assert b.shape == x.shape == (A.shape[0],)
        assert np.linalg.norm(A @ x - b) <= 1e-10 * np.linalg.norm(b)
        sizes.add(A.shape[0])
        # the item (padded for the mesh families) holds the same system
        item = data[i]
        rows, nonzeros = int(item["num_rows"]), int(item["num_nonzeros"])
        assert (rows, nonzeros) == (A.shape[0], A.nnz)
        np.testing.assert_array_equal(item["values"][:nonzeros].numpy(), A.data)
    if family.endswith("mesh"):
        assert not data.shared_pattern and len(sizes) > 1  # shapes and sizes vary per sample
        with open_store(stores[family]) as store:
            shapes = {MESH_SHAPES[k] for k in store.read("shape_index")}
            # every unknown is an interior node of the stored mesh
            nodes, dofs = int(store.read("num_nodes", 0)), store.read("dofs", 0)[:int(store.read("num_rows", 0))]
            assert dofs.min() >= 0 and dofs.max() < nodes and np.all(np.diff(dofs) > 0)
        assert len(shapes) > 1
    else:
        assert data.shared_pattern and len(sizes) == 1


def test_three_dimensional_diffusion_is_the_kronecker_sum_laplacian_at_contrast_one(tmp_path):
    path = generate_dataset("diffusion-systems", tmp_path / "flat.h5", n=2, res=5, seed=0,
                            params={"dim": 3, "contrast": 1.0})
    data = load_systems(path)
    assert (data.n, data.nnz) == (125, 7 * 125 - 6 * 25)
    np.testing.assert_allclose(data.matrix(1).toarray(), poisson3d(5).toarray(), rtol=1e-14, atol=0)
    # with contrast: the 7-point operator of the sample's coefficient, whose range is the contrast
    params = diffusion_systems.check_params(5, {"dim": 3, "contrast": 50.0})
    a = diffusion_systems.sample_coefficient(7, 1, 5, params)
    assert a.shape == (7, 7, 7) and a.max() / a.min() == pytest.approx(50.0)
    A, _ = diffusion_systems.sample_system(7, 1, 5, params)
    assert abs(A - diffusion_3d(a, 1 / 6)).max() == 0.0


def test_anisotropic_reduces_to_isotropic_at_eps_one_and_to_the_anisotropic_5_point_stencil_on_axes():
    family = resolve_pde("anisotropic-systems")
    m, h = 7, 1 / 8
    params = family.check_params(m, {"eps": 1.0})  # theta random
    thetas = set()
    for i in range(3):
        system = family.sample_system(0, i, m, params)
        thetas.add(system.extra["theta"])
        # P1 on this triangulation with K = I is h^2 times the 5-point Laplacian
        np.testing.assert_allclose(system.matrix.toarray(), h * h * poisson2d(m).toarray(), rtol=0, atol=1e-13)
    assert len(thetas) == 3
    T = sp.diags([-np.ones(m - 1), 2 * np.ones(m), -np.ones(m - 1)], [-1, 0, 1])
    eye = sp.identity(m)
    for theta, weights in ((0.0, (1.0, 0.1)), (math.pi / 2, (0.1, 1.0))):
        A = family.sample_system(0, 0, m, family.check_params(m, {"eps": 0.1, "theta": theta})).matrix
        expected = weights[0] * sp.kron(T, eye) + weights[1] * sp.kron(eye, T)  # x is the slow axis
        np.testing.assert_allclose(A.toarray(), expected.toarray(), rtol=0, atol=1e-13)


def test_p1_assembly_equals_scikit_fem():
    import skfem
    from skfem.helpers import dot, grad

    points, cells = mesh_arrays(generate_domain("disk", h=0.25))
    basis = skfem.Basis(skfem.MeshTri(points.T.copy(), cells.T.copy()), skfem.ElementTriP1())
    tensor = np.array([[2.0, 0.7], [0.7, 1.0]])
    stiffness = skfem.BilinearForm(lambda u, v, w: dot(grad(u), np.einsum("ij,j...->i...", tensor, grad(v))))
    mass = skfem.BilinearForm(lambda u, v, w: u * v)
    np.testing.assert_allclose(p1_stiffness(points, cells, np.broadcast_to(tensor, (len(cells), 2, 2))).toarray(),
                               stiffness.assemble(basis).toarray(), rtol=0, atol=1e-13)
    np.testing.assert_allclose(p1_mass(points, cells).toarray(), mass.assemble(basis).toarray(), rtol=0, atol=1e-15)
    scale = np.linspace(1.0, 3.0, len(cells))
    np.testing.assert_allclose(p1_stiffness(points, cells, scale).toarray(),
                               (p1_stiffness(points, cells, scale[:, None, None] * np.eye(2))).toarray(), atol=1e-13)
    with pytest.raises(ValueError, match="coefficient must be a number"):
        p1_stiffness(points, cells, np.ones(3))


def test_p1_poisson_on_a_gmsh_disk_converges_at_second_order():
    problem = poisson_disk()  # u = 1 - r^2, f = 4 on the unit disk
    sizes, errors = [0.2, 0.1, 0.05], []
    for h in sizes:
        points, cells = mesh_arrays(generate_domain(problem.shape, h=h, **problem.shape_params))
        interior = mesh_systems.interior_nodes(len(points), cells)
        A = mesh_systems.restrict(p1_stiffness(points, cells), interior)
        b = p1_load(points, cells, problem.source(points[:, 0], points[:, 1]))[interior]
        u = np.zeros(len(points))
        u[interior] = diffusion_systems.direct_solve(A, b)
        errors.append(l2_error((points, cells), u, problem.solution))
    slope = np.polyfit(np.log(sizes), np.log(errors), 1)[0]
    assert 1.8 < slope < 2.3, (errors, slope)


def test_generation_is_deterministic_per_seed_and_resumable():
    cases = [(diffusion_systems, 4, {"dim": 3}), (resolve_pde("anisotropic-systems"), 5, {}),
             (resolve_pde("heat-mesh-systems"), 5, {"shapes": MESH_SHAPES})]
    for module, res, raw in cases:
        params = module.check_params(res, raw)
        whole = list(module.generate(3, res, seed=2, params=params, block=2))
        resumed = list(module.generate(3, res, seed=2, params=params, start=2))
        for name in resumed[0]:
            np.testing.assert_array_equal(np.concatenate([b[name] for b in whole])[2:], resumed[0][name])
        other = next(module.generate(1, res, seed=3, params=params))
        assert not np.array_equal(other["rhs"][0], whole[0]["rhs"][0])


def test_bad_parameters_are_refused_before_any_work(tmp_path):
    out = tmp_path / "never.h5"
    bad = [("diffusion-systems", 8, {"dim": 4}, "dim must be one of 2, 3, got 4"),
           ("anisotropic-systems", 8, {"eps": -1.0}, "eps must be positive, got -1.0"),
           ("anisotropic-systems", 8, {"theta": "up"}, "theta must be an angle in radians or 'random', got 'up'"),
           ("anisotropic-systems", 8, {"rhs": "load"}, "unknown rhs 'load'; choose one of normal, ones"),
           ("anisotropic-systems", 1, {}, "res .* from 2 to 4096, got 1"),
           ("poisson-mesh-systems", 8, {"shapes": ["disk", "blob"]}, "unknown shape 'blob' in shapes"),
           ("poisson-mesh-systems", 8, {"contrast": 0.5}, "contrast .* at least 1, got 0.5"),
           ("poisson-mesh-systems", 3, {}, r"res must be an integer from 4 to 1024 \(mesh size h = 1/res\), got 3"),
           ("heat-mesh-systems", 8, {"dt": 0.0}, "dt must be positive, got 0.0"),
           ("heat-mesh-systems", 8, {"rhs": "ones"}, "unknown heat-mesh-systems parameter rhs; valid: shapes"),
           ("heat-mesh-systems", 8, {"max_nodes": 2}, "max_nodes must be None .* or an integer >= 3, got 2")]
    for pde, res, params, message in bad:
        with pytest.raises(ConfigError, match=message):
            generate_dataset(pde, out, n=2, res=res, params=params)
        assert not out.exists() and not out.with_name(out.name + ".partial").exists()
    with pytest.raises(DataError, match=r"sample 0 \(disk\) has .* nodes .* more than max_nodes=20 .*; set them larger"):
        generate_dataset("poisson-mesh-systems", out, n=1, res=8, params={"shapes": ["disk"], "max_nodes": 20})


def test_padded_stores_with_inconsistent_counts_are_refused(stores, tmp_path):
    family = resolve_pde("poisson-mesh-systems")
    with open_store(stores["poisson-mesh"]) as store:
        params = store.attrs["params"]
        arrays = {name: store.read(name) for name in store.fields}
    fields = family.fields(6, params)

    def write(name, changed):
        path = tmp_path / name
        with StoreWriter(path, n_samples=4, fields=fields, pde=family.name, params=params, generator="test",
                         seed=0, coords=family.coords(6, params)) as writer:
            writer.write({**arrays, **changed})
        return path

    too_many = arrays["num_rows"].copy()
    too_many[2] = fields["rhs"][0][0] + 1
    with pytest.raises(DataError, match="sample 2 claims .* rows .* outside the padded sizes"):
        load_systems(write("rows.h5", {"num_rows": too_many}))
    short = arrays["num_nonzeros"].copy()
    short[0] -= 1
    with pytest.raises(DataError, match="sample 0's crow ends at .* but num_nonzeros is"):
        load_systems(write("nnz.h5", {"num_nonzeros": short}))
    with pytest.raises(DataError, match="sample 0's solution does not solve its system"):
        load_systems(write("swapped.h5", {"rhs": arrays["solution"], "solution": arrays["rhs"]}))
