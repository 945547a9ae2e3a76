"""Sparse linear algebra in torch, CPU and CUDA: CSR tensors, batched PCG, triangular solves, preconditioners,
and a preconditioner's quality on a matrix estimated from a few PCG steps."""

from sciml.linalg.estimate import ConditionEstimate, EstimateStatus, estimate_condition
from sciml.linalg.krylov import SolveError, SolveResult, SolveStatus, pcg
from sciml.linalg.precond import AMG, IC0, SSOR, Identity, Jacobi, Preconditioner, preconditioner
from sciml.linalg.sor import sor
from sciml.linalg.sparse import BatchedCSR, as_csr, from_scipy, spmv, to_scipy
from sciml.linalg.triangular import TriangularSolver

__all__ = ["pcg", "sor", "SolveResult", "SolveStatus", "SolveError", "Preconditioner", "Identity", "Jacobi", "SSOR",
           "IC0", "AMG", "preconditioner", "BatchedCSR", "as_csr", "from_scipy", "to_scipy", "spmv",
           "TriangularSolver", "estimate_condition", "ConditionEstimate", "EstimateStatus"]
