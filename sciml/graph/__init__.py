"""Graph PDE solvers on torch_geometric: MP-PDE (:mod:`sciml.graph.mppde`) and the graph builders they
share (:mod:`sciml.graph.builders`).

Importing this package imports torch_geometric; nothing below :mod:`sciml.registry` imports it.
"""
