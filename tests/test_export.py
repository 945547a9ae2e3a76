"""ParaView export through meshio: grids, graphs and time series read back with their fields."""

from __future__ import annotations

import meshio
import numpy as np
import pytest

from sciml import DataError
from sciml.data.export import graph_cells, grid_cells, write_fields, write_time_series


@pytest.mark.parametrize("sizes, cell, per_cell", [((5,), "line", 2), ((4, 3), "quad", 4), ((3, 3, 2), "hexahedron", 8)])
def test_grid_cells_follow_the_array_order_and_read_back(tmp_path, sizes, cell, per_cell):
    axes = [np.linspace(0, 1, n) for n in sizes]
    points, cells = grid_cells(axes)
    field = np.arange(np.prod(sizes), dtype=float).reshape(sizes)
    path = write_fields(tmp_path / "g.vtu", points, cells, {"u": field.reshape(-1)})
    mesh = meshio.read(path)
    assert mesh.cells[0].type == cell and mesh.cells[0].data.shape == (np.prod([n - 1 for n in sizes]), per_cell)
    # the value at grid index (1, 2, ...) sits at the point with those coordinates
    index = tuple(min(k + 1, n - 1) for k, n in enumerate(sizes))
    where = np.flatnonzero(np.all(np.isclose(mesh.points[:, :len(sizes)],
                                             [axes[k][i] for k, i in enumerate(index)]), axis=1))
    assert mesh.point_data["u"][where[0]] == field[index]


def test_graph_edges_become_one_line_each(tmp_path):
    edge_index = np.array([[0, 1, 1, 2, 2, 2], [1, 0, 2, 1, 2, 0]])  # both directions, a self loop
    cells = graph_cells(edge_index, 3)
    assert sorted(map(tuple, cells[0][1])) == [(0, 1), (0, 2), (1, 2)]
    mesh = meshio.read(write_fields(tmp_path / "g.vtu", np.random.rand(3, 3), cells, {"u": np.ones(3)}))
    assert mesh.cells[0].type == "line" and len(mesh.cells[0].data) == 3
    with pytest.raises(DataError, match="nodes outside 0..2"):
        graph_cells(np.array([[0], [3]]), 3)


def test_a_time_series_holds_every_frame(tmp_path):
    points, cells = grid_cells([np.linspace(0, 1, 4)])
    frames = [{"u": np.full(4, float(k))} for k in range(3)]
    path = write_time_series(tmp_path / "s.xdmf", points, cells, [0.0, 0.5, 1.0], frames)
    with meshio.xdmf.TimeSeriesReader(path) as reader:
        reader.read_points_cells()
        read = [reader.read_data(k) for k in range(reader.num_steps)]
    assert [t for t, _, _ in read] == [0.0, 0.5, 1.0] and [d["u"][0] for _, d, _ in read] == [0.0, 1.0, 2.0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.xdmf"]  # one file, nothing left behind
    with pytest.raises(DataError, match="3 times but 2 frames"):
        write_time_series(tmp_path / "t.xdmf", points, cells, [0, 1, 2], frames[:2])
