import math

import meshio
import numpy as np
import pytest
import torch

import sciml.data.pdes
from sciml import ConfigError, DataError
from sciml.data import generate_dataset, open_store
from sciml.data.mesh import (SHAPES, check_mesh, generate_domain, mesh_arrays, read_mesh, star_radius, to_graph,
                             write_mesh)
from sciml.data.pdes import poisson_mesh
from sciml.gallery.fem import poisson_disk, poisson_square, unit_square_mesh


pytestmark = pytest.mark.usefixtures("one_thread")  # the fixture lives in conftest.py


def _slope(h, errors):
    return np.polyfit(np.log(h), np.log(errors), 1)[0]


# ------------------------------------------------------------------------------- (a) FEM order


def test_p1_fem_converges_at_second_order_on_the_square():
    problem = poisson_square()
    sizes = [9, 17, 33, 65]
    errors = []
    for n in sizes:
        mesh = unit_square_mesh(n)
        u = poisson_mesh.solve(mesh, problem.source)
        errors.append(poisson_mesh.l2_error(mesh, u, problem.solution))
    slope = _slope([1 / (n - 1) for n in sizes], errors)
    assert abs(slope - 2.0) < 0.3, (slope, errors)
    assert errors[-1] < 1e-3


def test_p1_fem_converges_at_second_order_on_the_gmsh_disk():
    problem = poisson_disk()
    hs = [0.2, 0.1, 0.05, 0.025]
    errors = []
    for h in hs:
        mesh = generate_domain(problem.shape, h=h, **problem.shape_params)
        u = poisson_mesh.solve(mesh, problem.source)
        errors.append(poisson_mesh.l2_error(mesh, u, problem.solution))
    slope = _slope(hs, errors)
    assert abs(slope - 2.0) < 0.3, (slope, errors)


def test_p2_vertex_values_converge_at_least_at_third_order_and_beat_p1():
    problem = poisson_square()
    sizes = [9, 17, 33]
    p1, p2 = [], []
    for n in sizes:
        mesh = unit_square_mesh(n)
        exact = problem.solution(*mesh.points.T)
        for order, errors in ((1, p1), (2, p2)):
            u = poisson_mesh.solve(mesh, problem.source, order=order).numpy()
            errors.append(np.abs(u - exact).max())
    assert _slope([1 / (n - 1) for n in sizes], p2) > 2.7, p2
    assert all(b < a / 10 for a, b in zip(p1, p2))


def test_solve_coefficient_forms_agree_and_tensors_keep_dtype():
    mesh = unit_square_mesh(9)
    points, cells = mesh_arrays(mesh)
    rho = torch.tensor(np.sin(points[:, 0] * 3), dtype=torch.float32)
    constant = poisson_mesh.solve(mesh, rho, 2.0)
    per_cell = poisson_mesh.solve((points, cells), rho, np.full(len(cells), 2.0))
    callable_eps = poisson_mesh.solve(mesh, rho, lambda x, y: 2.0 + 0 * x)
    unit = poisson_mesh.solve(mesh, rho.double())
    assert constant.dtype == torch.float32 and constant.shape == (len(points),)
    torch.testing.assert_close(per_cell, constant)
    torch.testing.assert_close(callable_eps, constant)
    torch.testing.assert_close(unit / 2, constant.double(), rtol=1e-5, atol=1e-7)
    with pytest.raises(DataError, match="eps must be positive"):
        poisson_mesh.solve(mesh, 1.0, -1.0)
    with pytest.raises(DataError, match=r"rho has shape \(5,\)"):
        poisson_mesh.solve(mesh, np.ones(5))
    with pytest.raises(ConfigError, match="unknown FEM order 3"):
        poisson_mesh.solve(mesh, 1.0, order=3)


# --------------------------------------------------------------------- (b) shapes and graphs


def _segments_distance(points, corners):
    corners = np.asarray(corners, dtype=float)
    best = np.full(len(points), np.inf)
    for a, b in zip(corners, np.roll(corners, -1, axis=0)):
        t = np.clip(((points - a) @ (b - a)) / ((b - a) @ (b - a)), 0, 1)
        best = np.minimum(best, np.linalg.norm(points - (a + t[:, None] * (b - a)), axis=1))
    return best


SQUARE = [(0, 0), (1, 0), (1, 1), (0, 1)]
BOUNDARY_DISTANCE = {
    "square": lambda p: _segments_distance(p, SQUARE),
    "disk": lambda p: abs(np.linalg.norm(p, axis=1) - 1),
    "L": lambda p: _segments_distance(p, [(0, 0), (1, 0), (1, .5), (.5, .5), (.5, 1), (0, 1)]),
    "U": lambda p: _segments_distance(p, [(0, 0), (1, 0), (1, 1), (2 / 3, 1), (2 / 3, 1 / 3), (1 / 3, 1 / 3),
                                          (1 / 3, 1), (0, 1)]),
    "square-with-hole": lambda p: np.minimum(_segments_distance(p, SQUARE),
                                             abs(np.linalg.norm(p - 0.5, axis=1) - 0.25)),
    "square-with-square-hole": lambda p: np.minimum(_segments_distance(p, SQUARE), _segments_distance(
        p, [(.3, .3), (.7, .3), (.7, .7), (.3, .7)])),
    "annulus": lambda p: np.minimum(abs(np.linalg.norm(p, axis=1) - 1), abs(np.linalg.norm(p, axis=1) - 0.5)),
    "star": lambda p: abs(np.linalg.norm(p, axis=1) - star_radius(np.arctan2(p[:, 1], p[:, 0]), 0.2, 0.1)),
}
AREA = {"square": 1.0, "disk": math.pi, "L": 0.75, "U": 1 - 2 / 9, "square-with-hole": 1 - math.pi / 16,
        "square-with-square-hole": 0.84, "annulus": 0.75 * math.pi, "star": math.pi * (1 + 0.2**2 / 2 + 0.1**2 / 2)}
POLYGONS = {"square", "L", "U", "square-with-square-hole"}


def test_every_shape_is_tested():
    assert set(BOUNDARY_DISTANCE) == set(SHAPES) == set(AREA)


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_every_shape_meshes_passes_the_checks_and_becomes_a_consistent_graph(shape):
    mesh = generate_domain(shape, h=0.1, seed=3)
    again = generate_domain(shape, h=0.1, seed=3)
    np.testing.assert_array_equal(mesh.points, again.points)
    np.testing.assert_array_equal(mesh.cells[0].data, again.cells[0].data)
    assert check_mesh(mesh) is mesh  # counter-clockwise, nothing to fix
    points, cells = mesh_arrays(mesh)
    assert points.shape[1] == 2 and cells.shape[1] == 3
    a, b = points[cells[:, 1]] - points[cells[:, 0]], points[cells[:, 2]] - points[cells[:, 0]]
    area = 0.5 * (a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]).sum()
    assert area == pytest.approx(AREA[shape], rel=1e-12 if shape in POLYGONS else 2e-2)

    rho = np.linspace(0.0, 1.0, len(points))
    graph = to_graph(mesh, fields={"rho": rho})
    n, e = len(points), graph.edge_index.shape[1]
    assert graph.x.shape == (n, 2) and graph.pos.shape == (n, 2) and graph.edge_attr.shape == (e, 3)
    assert graph.face.shape == (3, len(cells)) and graph.boundary.shape == (n,)
    src, dst = graph.edge_index.numpy()
    assert src.min() >= 0 and max(src.max(), dst.max()) < n and not np.any(src == dst)
    pairs = set(zip(src.tolist(), dst.tolist()))
    assert len(pairs) == e and pairs == set(zip(dst.tolist(), src.tolist()))  # no duplicates, symmetric
    assert e == 2 * (len(cells) + n - 1 + _holes(shape))  # Euler: E = C + N - 1 + holes, both directions
    pos = torch.from_numpy(points)
    torch.testing.assert_close(graph.edge_attr[:, :2].double(), pos[src] - pos[dst], rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(graph.edge_attr[:, 2].double(), (pos[src] - pos[dst]).norm(dim=1), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(graph.x[:, 0].double(), torch.from_numpy(rho), rtol=1e-6, atol=1e-6)
    distance = BOUNDARY_DISTANCE[shape](points)
    flag = graph.boundary.numpy()
    assert np.array_equal(graph.x[:, 1].numpy() == 1.0, flag)
    assert distance[flag].max() < 1e-9  # flagged nodes lie on the boundary
    assert distance[~flag].min() > 1e-3  # and every node on it is flagged


def _holes(shape):
    return 1 if shape in ("square-with-hole", "square-with-square-hole", "annulus") else 0


def test_generate_domain_refuses_bad_arguments_and_leaves_gmsh_as_it_found_it():
    import gmsh

    with pytest.raises(ConfigError, match="unknown domain shape 'hexagon'; choose one of square, disk"):
        generate_domain("hexagon")
    with pytest.raises(ConfigError, match="unknown parameter radiuss for shape 'disk'; valid: radius, center"):
        generate_domain("disk", radiuss=2.0)
    with pytest.raises(ConfigError, match=r"\|c1\| \+ \|c2\| < 1"):
        generate_domain("star", c1=0.7, c2=0.4)
    with pytest.raises(ConfigError, match="must lie strictly inside"):
        generate_domain("square-with-hole", hole_radius=0.6)
    with pytest.raises(ConfigError, match="h must be a positive mesh size"):
        generate_domain("square", h=0.0)
    with pytest.raises(ConfigError, match="would give about"):
        generate_domain("square", h=1e-5)
    assert not gmsh.isInitialized()
    gmsh.initialize(interruptible=False)
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.option.setNumber("Mesh.MeshSizeMax", 7.0)
        gmsh.model.add("users-model")
        generate_domain("square", h=0.25)
        assert gmsh.option.getNumber("Mesh.MeshSizeMax") == 7.0
        assert gmsh.model.getCurrent() == "users-model"
    finally:
        gmsh.finalize()


# ---------------------------------------------------------------------------- (c) file round trip


@pytest.mark.parametrize("suffix", [".msh", ".vtu", ".xdmf"])
def test_write_and_read_round_trip(tmp_path, suffix):
    mesh = generate_domain("square-with-hole", h=0.2)
    mesh.point_data["rho"] = np.arange(len(mesh.points), dtype=np.float64)
    path = tmp_path / f"domain{suffix}"
    path.write_text("old contents")  # replaced atomically
    assert write_mesh(mesh, path) == path
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no temporary file left
    back = read_mesh(path)
    points, cells = mesh_arrays(back)
    np.testing.assert_allclose(points, mesh.points, rtol=0, atol=1e-12)
    assert np.all(back.points[:, 2] == 0.0)
    np.testing.assert_array_equal(cells, mesh.cells[0].data)
    if suffix != ".msh":  # meshio's gmsh writer keeps point data too, but under gmsh's own rules
        np.testing.assert_array_equal(back.point_data["rho"], mesh.point_data["rho"])
    graph = to_graph(back)
    assert graph.pos.shape == (len(mesh.points), 2)


def test_read_mesh_names_the_file_it_cannot_read(tmp_path):
    with pytest.raises(DataError, match="mesh file .*missing.msh does not exist"):
        read_mesh(tmp_path / "missing.msh")
    garbage = tmp_path / "garbage.vtu"
    garbage.write_text("this is not a mesh")
    with pytest.raises(DataError, match="mesh file .*garbage.vtu cannot be read"):
        read_mesh(garbage)
    with pytest.raises(DataError, match="cannot tell the mesh format of .*mesh.unknownext"):
        write_mesh(generate_domain("square", h=0.5), tmp_path / "mesh.unknownext")


# ------------------------------------------------------------------------------ (d) mesh defects

POINTS = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
GOOD = np.array([[0, 1, 2], [0, 2, 3]])


@pytest.mark.parametrize("points, cells, message", [
    (np.vstack([POINTS, [[2.0, 0.0], [3.0, 0.0]]]), np.vstack([GOOD, [[1, 4, 5]]]),
     r"mesh element 2 \(triangle\) is degenerate: its area 0"),
    (POINTS, np.array([[0, 1, 2], [0, 2, 2]]), r"mesh element 1 \(triangle\) is degenerate: node 2 appears more"),
    (POINTS, np.array([[0, 1, 2], [0, 3, 2]]), r"mesh element 1 \(triangle\) is inverted: nodes \[0, 3, 2\]"),
    (POINTS, np.array([[0, 2, 1], [0, 3, 2]]), r"all 2 triangle cells are ordered clockwise.*orientation='reorient'"),
    (POINTS, np.vstack([GOOD, [[1, 2, 0]]]), r"mesh elements 0 and 2 \(triangle\) are duplicates"),
    (np.vstack([POINTS, [[5.0, 5.0]]]), GOOD, r"mesh node 4 is unreferenced"),
    (np.vstack([POINTS[:3], [[np.nan, 1.0]]]), GOOD, r"mesh node 3 has a non-finite coordinate"),
    (POINTS, np.array([[0, 1, 2], [0, 2, 7]]), r"mesh element 1 \(triangle\) refers to node 7, but the mesh has 4"),
])
def test_each_quality_defect_names_the_element_or_node(points, cells, message):
    with pytest.raises(DataError, match=message):
        check_mesh((points, cells))
    with pytest.raises(DataError, match=message):
        check_mesh(meshio.Mesh(points, [("triangle", cells)]))
    if "clockwise" in message or "inverted" in message:
        poisson_mesh.solve((points, cells), 1.0)  # the solver takes either orientation
    else:
        with pytest.raises(DataError, match=message):
            poisson_mesh.solve((points, cells), 1.0)


def test_clockwise_meshes_are_reoriented_on_request_and_3d_tetra_volumes_are_checked():
    fixed = check_mesh((POINTS, np.array([[0, 2, 1], [0, 3, 2]])), orientation="reorient")
    points, cells = mesh_arrays(fixed)
    assert check_mesh(fixed) is fixed
    np.testing.assert_array_equal(np.sort(cells, axis=1), [[0, 1, 2], [0, 2, 3]])
    mixed = np.array([[0, 1, 2], [0, 3, 2]])
    np.testing.assert_array_equal(mesh_arrays(check_mesh((POINTS, mixed), orientation="any"))[1], mixed)
    tet = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1.0]])
    check_mesh((tet, np.array([[0, 1, 2, 3]])))
    with pytest.raises(DataError, match=r"element 0 \(tetra\) is degenerate"):
        check_mesh((np.vstack([tet[:3], [[1.0, 1.0, 0.0]]]), np.array([[0, 1, 2, 3]])))
    with pytest.raises(ConfigError, match="unknown orientation 'cw'; choose one of ccw, reorient, any"):
        check_mesh((POINTS, GOOD), orientation="cw")
    with pytest.raises(DataError, match="mesh has cells of type quad; supported: triangle, tetra"):
        check_mesh(meshio.Mesh(POINTS, [("quad", np.array([[0, 1, 2, 3]]))]))


# ------------------------------------------------------------------------- (e) the generator

PARAMS = {"shapes": ["star", "square-with-hole", "L"], "eps_inclusion": [2.0, 5.0], "order": 1}


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setitem(sciml.data.pdes.PDES, "poisson-mesh", poisson_mesh)


def test_generator_is_deterministic_and_samples_round_trip_to_graphs(tmp_path, registered):
    generate_dataset("poisson-mesh", tmp_path / "a.h5", n=3, res=10, seed=4, params=PARAMS)
    generate_dataset("poisson-mesh", tmp_path / "b.h5", n=3, res=10, seed=4, params=PARAMS)
    with open_store(tmp_path / "a.h5") as a, open_store(tmp_path / "b.h5") as b:
        assert a.attrs["pde"] == "poisson-mesh" and set(a.fields) == set(b.fields)
        for name in a.fields:
            np.testing.assert_array_equal(a.read(name), b.read(name))
        params = a.attrs["params"]
        assert a.fields["points"][0] == (3, params["max_nodes"], 2)
        counts = a.read("num_nodes")
        assert np.all(counts <= params["max_nodes"]) and np.all(a.read("cells")[0, a.read("num_cells")[0]:] == -1)
        for i in range(3):
            graph = poisson_mesh.load_sample(a, i)
            n = int(counts[i])
            assert graph.x.shape == (n, 3) and graph.y.shape == (n, 1) and graph.pos.shape == (n, 2)
            assert graph.edge_index.max() < n and graph.face.shape[1] == int(a.read("num_cells")[i])
            np.testing.assert_array_equal(graph.y[:, 0].numpy(), a.read("u", i)[:n])
            assert float(graph.y[graph.boundary].abs().max()) == 0.0  # u = 0 on the boundary
            eps = graph.cell_eps.numpy()
            assert np.all((eps == 1.0) | ((eps >= 2.0) & (eps <= 5.0)))
            assert PARAMS["shapes"][int(graph.shape_index)] in PARAMS["shapes"]
            mesh = meshio.Mesh(graph.pos.double().numpy(), [("triangle", graph.face.T.numpy())])
            resolved = poisson_mesh.solve(mesh, graph.x[:, 0].double(), graph.cell_eps.double())
            torch.testing.assert_close(resolved, graph.y[:, 0].double(), rtol=1e-4, atol=1e-5)
    same_path = poisson_mesh.load_sample(tmp_path / "a.h5", 2)
    torch.testing.assert_close(same_path.y, poisson_mesh.load_sample(tmp_path / "b.h5", 2).y)
    with pytest.raises(IndexError, match="sample index 3 is out of range"):
        poisson_mesh.load_sample(tmp_path / "a.h5", 3)


def test_generator_refuses_bad_parameters_before_writing(tmp_path, registered):
    out = tmp_path / "p.h5"
    for params, pattern in [({"shape": ["disk"]}, "unknown poisson-mesh parameter shape; valid: shapes"),
                            ({"shapes": ["disk", "hexagon"]}, "unknown shape 'hexagon' in shapes; choose from"),
                            ({"order": 3}, "order must be one of 1, 2"),
                            ({"n_sources": [3, 1]}, "n_sources must have low <= high"),
                            ({"hole_radius": [0.1, 0.45]}, "hole_radius must stay below 0.4"),
                            ({"star_c": 0.6}, r"star_c must be a number in \[0, 0.5\)")]:
        with pytest.raises(ConfigError, match=pattern):
            generate_dataset("poisson-mesh", out, n=3, res=8, params=params)
    with pytest.raises(ConfigError, match="res must be an integer from 4 to 1024"):
        generate_dataset("poisson-mesh", out, n=3, res=2)
    assert list(tmp_path.iterdir()) == []
