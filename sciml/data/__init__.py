"""Data: Gaussian random fields, reference PDE solvers, the HDF5 store and torch datasets."""

from sciml.data.datasets import PairDataset
from sciml.data.generate import generate_dataset
from sciml.data.importers import import_file
from sciml.data.mesh import check_mesh, generate_domain, read_mesh, to_graph, write_mesh
from sciml.data.store import Store, StoreWriter, open_store, summarize

__all__ = ["PairDataset", "generate_dataset", "import_file", "Store", "StoreWriter",
           "open_store", "summarize", "read_mesh", "write_mesh", "check_mesh", "to_graph", "generate_domain"]
