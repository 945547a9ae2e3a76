"""Physics hard constraints through a differentiable solve (PI-HC) and a mixture of experts (PI-HC-MoE),
after Chalapathi, Du, Krishnapriyan, arXiv 2402.13412.

A network outputs ``N`` basis functions ``b_1 .. b_N`` on the grid; the prediction is ``u = sum_i w_i b_i``
with coefficients ``w`` that make the constraint residual ``F(w)`` (the discrete PDE at sampled points, the
initial and boundary conditions) as small as possible:

    w* = argmin_w  1/2 |F(w, b)|^2 + 1/2 lambda |w|^2          (lambda: a small ridge)

found by a batched Levenberg-Marquardt iteration in torch (:func:`solve_coefficients`). The backward pass
does not unroll the iterations: at ``w*`` the gradient ``g(w, b) = J^T F + lambda w`` vanishes, so the
implicit function theorem gives ``dw*/db = -H^{-1} dg/db`` with ``H = dg/dw`` the exact Hessian of the
objective (``J^T J + sum_m F_m grad^2 F_m + lambda I``); :class:`_ConstrainedSolve` computes
``grad_b = -(dg/db)^T H^{-1} grad_w`` by one vector-Jacobian product. Both are done in float64 by default.

Mixture of experts: the space axis is split into ``K`` equal blocks; every expert has its own
coefficients, solved on the constraint rows of its block only (its sampled PDE points, its part of the
initial condition, the boundary condition where its block touches the boundary), with the basis shared.
Experts are an extra batch axis of the same batched solve; under ``torchrun`` they are split over the ranks
(:func:`expert_slice`) and the blocks gathered, with the basis gradient summed over ranks, so that every
rank holds the same prediction and the same gradients as one process.

A problem is an object with ``residual(u, *context) -> (M,)`` for one expert's window ``u (nt, width)``
(written for one sample: it is batched with :func:`torch.func.vmap`); see
:class:`DiffusionSorptionConstraint`.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import Tensor

from sciml._errors import ConfigError, DataError

__all__ = ["SolveOptions", "SolveInfo", "solve_coefficients", "constrained_coefficients", "expert_slice",
           "DiffusionSorptionConstraint", "ConstrainedSolveError", "HardConstraintConfig", "HardConstrainedFNO",
           "NavierStokesConstraint", "NavierStokesHCConfig", "HardConstrainedNS", "MODES"]

log = logging.getLogger("sciml.pinn.hard_constraints")


class ConstrainedSolveError(DataError):
    """A constrained solve that cannot give finite coefficients (non-finite basis or residual)."""


@dataclass(frozen=True)
class SolveOptions:
    """Settings of the Levenberg-Marquardt solve and of its implicit backward pass.

    Attributes
    ----------
    ridge : ``lambda`` of the objective, keeps ``J^T J + lambda I`` positive definite
    max_iters : Levenberg-Marquardt iterations at most
    tol : stop where the step is below ``tol (1 + |w|)`` or the gradient below ``tol (1 + |F|^2)``
    damping : initial Marquardt damping (scaled by ``diag(J^T J + lambda I)``), adapted per solve
    max_condition : a Gauss-Newton matrix with a larger condition number is reported (logged once and
        counted in :class:`SolveInfo`): the basis functions are nearly dependent on the constraint rows
    dtype : ``float64`` (default) or ``float32``, the precision of the solve and the backward pass
    polish : Newton steps with the exact Hessian after Levenberg-Marquardt (kept only where they lower the
        gradient norm): Gauss-Newton converges only linearly where the residual cannot vanish, and the
        implicit gradient is exact only at a stationary point
    """

    ridge: float = 1e-4
    max_iters: int = 30
    tol: float = 1e-9
    damping: float = 1e-3
    max_condition: float = 1e10
    dtype: str = "float64"
    polish: int = 2

    def __post_init__(self):
        if not (self.ridge > 0 and math.isfinite(self.ridge)):
            raise ConfigError(f"ridge must be a positive number (it keeps the solve well posed), got {self.ridge}")
        if self.max_iters < 1:
            raise ConfigError(f"max_iters must be at least 1, got {self.max_iters}")
        if not (self.tol > 0 and self.damping > 0 and self.max_condition > 1):
            raise ConfigError("tol and damping must be positive and max_condition above 1")
        if self.polish < 0:
            raise ConfigError(f"polish must be 0 or more Newton steps, got {self.polish}")
        if self.dtype not in ("float64", "float32"):
            raise ConfigError(f"dtype must be float64 or float32, got {self.dtype!r}")


@dataclass
class SolveInfo:
    """What the last solve did: how many solves (samples x experts on this process), iterations, the worst
    final gradient norm, how many solves stopped at
    ``max_iters``, the largest condition number of ``J^T J + lambda I`` and how many exceeded
    ``max_condition``, and how many backward Hessians needed extra damping."""

    solves: int = 0
    iterations: int = 0
    gradient_norm: float = 0.0
    unconverged: int = 0
    condition: float = 0.0
    ill_conditioned: int = 0
    backward_damped: int = 0

    def as_dict(self) -> dict[str, float]:
        return dict(self.__dict__)


_warned: set[str] = set()


def _warn_once(key: str, message: str) -> None:
    if key not in _warned:
        _warned.add(key)
        log.warning(message)


def _combine(w: Tensor, basis: Tensor) -> Tensor:
    """``sum_i w_i basis_i`` for one expert: ``w (N,)``, ``basis (N, ...)``."""
    return torch.tensordot(w, basis, dims=1)


def _objective_parts(residual: Callable[..., Tensor], ridge: float):
    def values(w, basis, *context):
        return residual(_combine(w, basis), *context)

    def cost(w, basis, *context):
        r = values(w, basis, *context)
        return 0.5 * (r * r).sum() + 0.5 * ridge * (w * w).sum()

    return values, cost


def solve_coefficients(residual: Callable[..., Tensor], basis: Tensor, context: tuple[Tensor, ...],
                       options: SolveOptions = SolveOptions(), w0: Tensor | None = None) -> tuple[Tensor, SolveInfo]:
    """Levenberg-Marquardt for ``w* = argmin 1/2 |F(w)|^2 + 1/2 ridge |w|^2``, batched over the first axis.

    Parameters
    ----------
    residual : ``residual(u, *context_e) -> (M,)`` for one expert's field ``u = sum_i w_i basis_e[i]``
    basis : ``(E, N, ...)`` the basis of each of ``E`` independent solves (samples x experts)
    context : tensors with a leading ``E`` axis, passed to ``residual`` per solve
    w0 : ``(E, N)`` start (zeros by default)

    Returns
    -------
    ``w (E, N)`` in ``basis``'s dtype and device (no gradient) and a :class:`SolveInfo`.
    Raises :class:`ConstrainedSolveError` when the basis or the residual is not finite.
    """
    w, info = _solve(residual, basis, context, options, w0)
    return w.to(basis.dtype), info


def _solve(residual, basis, context, options, w0=None):
    """:func:`solve_coefficients` in the solve's dtype (the float64 coefficients the backward pass needs)."""
    from torch.func import jacfwd, vmap

    dtype = getattr(torch, options.dtype)
    b = basis.detach().to(dtype)
    ctx = tuple(c.detach().to(dtype) if c.is_floating_point() else c.detach() for c in context)
    if not torch.isfinite(b).all():
        raise ConstrainedSolveError("the basis functions hold NaN or inf (has the network diverged?); "
                                    "no coefficients can be solved for")
    E, N = b.shape[:2]
    values, _ = _objective_parts(residual, options.ridge)
    f = vmap(values)
    jac = vmap(jacfwd(values))
    lam = options.ridge
    eye = torch.eye(N, dtype=dtype, device=b.device)
    w = torch.zeros(E, N, dtype=dtype, device=b.device) if w0 is None else w0.detach().to(dtype).clone()
    mu = torch.full((E,), options.damping, dtype=dtype, device=b.device)
    done = torch.zeros(E, dtype=torch.bool, device=b.device)
    r = f(w, b, *ctx)
    if not torch.isfinite(r).all():
        raise ConstrainedSolveError("the constraint residual is NaN or inf at the starting coefficients; "
                                    "check the basis scale and the problem's data (initial condition)")
    cost = 0.5 * (r * r).sum(-1) + 0.5 * lam * (w * w).sum(-1)
    info = SolveInfo(solves=E)
    gnorm = torch.zeros(E, dtype=dtype, device=b.device)
    for it in range(options.max_iters):
        J = jac(w, b, *ctx)  # (E, M, N)
        g = torch.einsum("emn,em->en", J, r) + lam * w
        A = J.transpose(1, 2) @ J + lam * eye
        gnorm = g.norm(dim=-1)
        done |= gnorm <= options.tol * (1 + 2 * cost)
        if bool(done.all()):
            break
        diag = torch.diagonal(A, dim1=1, dim2=2)
        step, solved = _solve_ex(A + mu[:, None, None] * torch.diag_embed(diag), -g)
        trial = w + step
        r_trial = f(trial, b, *ctx)
        cost_trial = 0.5 * (r_trial * r_trial).sum(-1) + 0.5 * lam * (trial * trial).sum(-1)
        accept = solved & torch.isfinite(cost_trial) & (cost_trial <= cost) & ~done
        w = torch.where(accept[:, None], trial, w)
        r = torch.where(accept[:, None], r_trial, r)
        small = step.norm(dim=-1) <= options.tol * (1 + w.norm(dim=-1))
        cost = torch.where(accept, cost_trial, cost)
        mu = torch.where(accept, (mu / 3).clamp_min(1e-12), (mu * 4).clamp_max(1e12))
        done |= accept & small
        info.iterations = it + 1
    else:
        J = jac(w, b, *ctx)
        A = J.transpose(1, 2) @ J + lam * eye
        gnorm = (torch.einsum("emn,em->en", J, r) + lam * w).norm(dim=-1)
        done |= gnorm <= options.tol * (1 + 2 * cost)
    if options.polish:
        w, gnorm = _newton_polish(residual, options, w, b, ctx, gnorm)
        done |= gnorm <= options.tol * (1 + 2 * cost)
    eig = torch.linalg.eigvalsh(A)
    condition = eig[:, -1] / eig[:, 0].clamp_min(torch.finfo(dtype).tiny)
    info.gradient_norm = float(gnorm.max())
    info.unconverged = int((~done).sum())
    info.condition = float(condition.max())
    info.ill_conditioned = int((condition > options.max_condition).sum())
    if info.ill_conditioned:
        _warn_once("condition", f"{info.ill_conditioned} of {E} constrained solves are ill-conditioned (condition "
                   f"number up to {info.condition:.2e} > {options.max_condition:.0e}): the basis functions are nearly "
                   f"dependent on the constraint points; the ridge {lam:g} damps them")
    if info.unconverged:
        _warn_once("iters", f"{info.unconverged} of {E} constrained solves stopped at max_iters = {options.max_iters} "
                   f"(gradient norm up to {info.gradient_norm:.2e}); the implicit gradient assumes a stationary point")
    return w, info


def _solve_ex(A: Tensor, rhs: Tensor) -> tuple[Tensor, Tensor]:
    """Batched ``A x = rhs`` without raising on a singular element: ``(x, ok)``, ``x = 0`` where not ok."""
    x, status = torch.linalg.solve_ex(A, rhs.unsqueeze(-1))
    x = x.squeeze(-1)
    ok = (status == 0) & torch.isfinite(x).all(-1)
    return torch.where(ok[:, None], x, torch.zeros_like(x)), ok


def _newton_polish(residual, options, w, b, ctx, gnorm):
    """Up to ``options.polish`` exact Newton steps, each kept per solve only where it lowers ``|g|``."""
    from torch.func import grad, jacfwd, vmap

    _, cost = _objective_parts(residual, options.ridge)
    gradient = vmap(grad(cost, argnums=0))
    hessian = vmap(jacfwd(grad(cost, argnums=0), argnums=0))
    for _ in range(options.polish):
        g = gradient(w, b, *ctx)
        H = hessian(w, b, *ctx)
        step, ok = _solve_ex(H, -g)
        trial = w + step
        g_trial = gradient(trial, b, *ctx).norm(dim=-1)
        better = ok & torch.isfinite(g_trial) & (g_trial < g.norm(dim=-1))
        w = torch.where(better[:, None], trial, w)
        gnorm = torch.where(better, g_trial, g.norm(dim=-1))
    return w, gnorm


class _ConstrainedSolve(torch.autograd.Function):
    """``basis -> w*`` with the implicit-function-theorem backward (no unrolling)."""

    @staticmethod
    def forward(ctx, basis, residual, options, info_out, *context):
        w, info = _solve(residual, basis, context, options)
        ctx.residual, ctx.options, ctx.info = residual, options, info_out
        ctx.save_for_backward(basis, w, *context)  # w in the solve's dtype: the stationary point itself
        if info_out is not None:
            info_out.__dict__.update(info.__dict__)
        return w.to(basis.dtype)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_w):
        from torch.func import grad, jacfwd, vjp, vmap

        basis, w, *context = ctx.saved_tensors
        options = ctx.options
        dtype = getattr(torch, options.dtype)
        b, ws, gw = basis.detach().to(dtype), w.detach().to(dtype), grad_w.detach().to(dtype)
        cont = tuple(c.to(dtype) if c.is_floating_point() else c for c in context)
        _, cost = _objective_parts(ctx.residual, options.ridge)
        gradient = grad(cost, argnums=0)
        H = vmap(jacfwd(gradient, argnums=0))(ws, b, *cont)  # exact Hessian (E, N, N)
        H = 0.5 * (H + H.transpose(1, 2))
        # H v = grad_w by the eigendecomposition of the symmetric H: eigenvalues below 1e-10 of the largest in
        # size are raised to it (a singular or nearly singular Hessian is damped, counted and warned, never NaN)
        if not torch.isfinite(H).all():
            raise ConstrainedSolveError("the Hessian of the constrained objective is not finite at the solution; "
                                        "the basis or the residual overflowed")
        lam, Q = torch.linalg.eigh(H)
        floor = 1e-10 * lam.abs().amax(-1, keepdim=True).clamp_min(torch.finfo(dtype).tiny)
        small = lam.abs() < floor
        lam = torch.where(small, torch.where(lam < 0, -floor, floor), lam)
        v = (Q @ ((Q.transpose(1, 2) @ gw.unsqueeze(-1)) / lam.unsqueeze(-1))).squeeze(-1)
        damped = int(small.any(-1).sum())
        if damped:
            if ctx.info is not None:
                ctx.info.backward_damped = damped
            _warn_once("backward", f"{damped} implicit backward solves met a (nearly) singular Hessian; its smallest "
                       f"eigenvalues were raised to 1e-10 of the largest")

        def grad_of_basis(wi, bi, vi, *ci):
            _, pull = vjp(lambda bb: gradient(wi, bb, *ci), bi)
            return pull(vi)[0]

        grad_b = -vmap(grad_of_basis)(ws, b, v, *cont)
        return (grad_b.to(basis.dtype), None, None, None) + (None,) * len(context)


def constrained_coefficients(residual: Callable[..., Tensor], basis: Tensor, context: tuple[Tensor, ...],
                             options: SolveOptions = SolveOptions(), info: SolveInfo | None = None) -> Tensor:
    """Differentiable ``w*(basis)`` of :func:`solve_coefficients` (gradients by the implicit function
    theorem); ``info``, when given, is filled with the forward solve's :class:`SolveInfo`."""
    return _ConstrainedSolve.apply(basis, residual, options, info, *context)


# ------------------------------------------------------------------------------------- distributed experts


def expert_slice(n_experts: int, rank: int, world: int) -> slice:
    """The experts rank ``rank`` of ``world`` solves: a contiguous block; ``n_experts`` must be divisible."""
    if n_experts % world:
        raise ConfigError(f"{n_experts} experts cannot be split evenly over {world} ranks; choose a number of "
                          f"experts divisible by the number of processes")
    per = n_experts // world
    return slice(rank * per, (rank + 1) * per)


class _SumGradOverRanks(torch.autograd.Function):
    """Identity forward; backward sums the gradient over the ranks (every rank uses a share of the
    replicated input)."""

    @staticmethod
    def forward(ctx, x):
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        import torch.distributed as dist

        grad = grad.contiguous().clone()
        dist.all_reduce(grad)
        return grad


class _GatherExperts(torch.autograd.Function):
    """All-gather of per-rank expert blocks along ``dim``; every rank computes the same loss from the
    gathered tensor, so the backward keeps the local slice of the gradient (no communication)."""

    @staticmethod
    def forward(ctx, x, dim):
        import torch.distributed as dist

        world = dist.get_world_size()
        parts = [torch.empty_like(x) for _ in range(world)]
        dist.all_gather(parts, x.contiguous())
        ctx.dim, ctx.rank, ctx.size = dim, dist.get_rank(), x.shape[dim]
        return torch.cat(parts, dim=dim)

    @staticmethod
    def backward(ctx, grad):
        return grad.narrow(ctx.dim, ctx.rank * ctx.size, ctx.size), None


def distributed_world() -> tuple[int, int]:
    """``(rank, world)`` of the torch.distributed process group, ``(0, 1)`` without one."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


# ---------------------------------------------------------------------------------- diffusion-sorption


class DiffusionSorptionConstraint:
    """The discrete constraints of diffusion-sorption ``u_t = D / R(u) u_xx`` on a ``(nt, nx)`` grid of
    cell centres ``x_j = (j + 1/2) / nx`` and times ``t_n = n T / (nt - 1)`` (the data's grid).

    Rows (time in units of ``T``, so the PDE row is ``u_tau - D T / R(u) u_xx``):

    * PDE at sampled points ``(n, j)``, ``n = 0 .. nt-1`` and ``j`` away from the two edge cells:
      second-order central differences (one-sided second order in time at the ends);
    * initial condition ``u(0, x_j) - u0_j`` at every cell;
    * left boundary ``u(t, 0) - u_left`` and right ``u(t, 1) + D u_x(t, 1)`` for ``n >= 1``, with
      ``u(t, 0) = (3 u_0 - u_1) / 2`` and ``u(t, 1)``, ``u_x(t, 1)`` extrapolated from the last two cells.

    ``weights`` scales the groups (``pde``, ``ic``, ``bc``). Experts (the authors' formulation): ``K``
    blocks of ``nx / K`` cells; every expert's field is global (its own coefficients on the shared basis), its
    PDE rows are at points sampled in its block, and every expert keeps the global initial and boundary rows,
    which carry the boundary's information into the interior blocks (there is no interface condition).
    """

    def __init__(self, nx: int, nt: int, params: dict[str, Any] | None = None,
                 weights: dict[str, float] | None = None):
        from sciml.data.pdes import diffusion_sorption as ds

        self.params = ds.check_params(None, dict(params or {}), fill_grid=False)
        if nx < 4 or nt < 3:
            raise ConfigError(f"the diffusion-sorption constraint needs nx >= 4 and nt >= 3, got nx={nx}, nt={nt}")
        self.nx, self.nt, self.h, self.dtau = nx, nt, 1.0 / nx, 1.0 / (nt - 1)
        self.weights = {"pde": 1.0, "ic": 1.0, "bc": 1.0, **(weights or {})}
        unknown = set(self.weights) - {"pde", "ic", "bc"}
        if unknown:
            raise ConfigError(f"unknown constraint weight {', '.join(sorted(unknown))}; valid: pde, ic, bc")
        p = self.params
        self.coef = (1 - p["phi"]) / p["phi"] * p["rho_s"] * p["k"] * p["n_f"]
        self.diffusivity = p["D"] * p["T"]  # D T: the PDE in tau = t / T

    # -- discrete operators on a window u (..., nt, w)
    def _u_tau(self, u: Tensor) -> Tensor:
        d = self.dtau
        first = (-3 * u[..., 0:1, :] + 4 * u[..., 1:2, :] - u[..., 2:3, :]) / (2 * d)
        mid = (u[..., 2:, :] - u[..., :-2, :]) / (2 * d)
        last = (3 * u[..., -1:, :] - 4 * u[..., -2:-1, :] + u[..., -3:-2, :]) / (2 * d)
        return torch.cat([first, mid, last], dim=-2)

    def retardation(self, u: Tensor) -> Tensor:
        p = self.params
        return 1.0 + self.coef * (u.clamp_min(0.0) + p["eps"]) ** (p["n_f"] - 1.0)

    def pde_field(self, u: Tensor) -> Tensor:
        """PDE residual at the inner columns of ``u (..., nt, w)``: ``(..., nt, w - 2)``."""
        inner = u[..., 1:-1]
        uxx = (u[..., 2:] - 2 * inner + u[..., :-2]) / self.h**2
        return self._u_tau(u)[..., 1:-1] - self.diffusivity / self.retardation(inner) * uxx

    def left_bc(self, u: Tensor) -> Tensor:
        """``u(t, 0) - u_left`` for ``n >= 1`` from the first two columns of ``u (..., nt, w)``."""
        return 1.5 * u[..., 1:, 0] - 0.5 * u[..., 1:, 1] - self.params["u_left"]

    def right_bc(self, u: Tensor) -> Tensor:
        """``u(t, 1) + D u_x(t, 1)`` for ``n >= 1`` from the last two columns of ``u (..., nt, w)``."""
        a, b = u[..., 1:, -1], u[..., 1:, -2]
        return 1.5 * a - 0.5 * b + self.params["D"] * (a - b) / self.h

    def field_residuals(self, u: Tensor, u0: Tensor) -> dict[str, Tensor]:
        """Every residual of a whole field ``u (B, nt, nx)`` with initial values ``u0 (B, nx)``: ``pde``
        ``(B, nt, nx - 2)``, ``ic (B, nx)``, ``left (B, nt - 1)``, ``right (B, nt - 1)``."""
        return {"pde": self.pde_field(u), "ic": u[:, 0] - u0, "left": self.left_bc(u), "right": self.right_bc(u)}

    # -- experts
    def check_experts(self, n_experts: int) -> int:
        if n_experts < 1 or self.nx % n_experts or self.nx // n_experts < 2:
            raise ConfigError(f"{n_experts} experts do not divide the {self.nx} cells of the grid into equal blocks "
                              f"of at least 2 cells; choose a divisor of {self.nx}")
        return self.nx // n_experts

    def masks(self, n_experts: int) -> Tensor:
        """``(K, nx)`` 0/1 indicators of the experts' blocks of cells."""
        m = self.check_experts(n_experts)
        return (torch.arange(self.nx)[None] // m == torch.arange(n_experts)[:, None]).to(torch.float64)

    def contexts(self, u0: Tensor, n_experts: int, points: int, generator: torch.Generator | None = None
                 ) -> tuple[Tensor, ...]:
        """Per sample and expert (leading ``(B, K)``): sampled PDE indices ``(P,)`` into the ``(nt, nx - 2)``
        grid of inner cells (row-major), within the expert's block; the initial values ``(nx,)``.

        ``points`` PDE points in all, ``points / K`` per expert, drawn without replacement."""
        m = self.check_experts(n_experts)
        if points % n_experts:
            raise ConfigError(f"{points} PDE points cannot be shared equally by {n_experts} experts")
        per = points // n_experts
        B, K, nt, inner = u0.shape[0], n_experts, self.nt, self.nx - 2
        owner = (torch.arange(1, self.nx - 1) // m)  # the expert of each inner cell
        allowed = (owner[None] == torch.arange(K)[:, None])[:, None, :].expand(K, nt, inner).reshape(K, nt * inner)
        if per > int(allowed.sum(-1).min()):
            raise ConfigError(f"{per} PDE points per expert exceed the {int(allowed.sum(-1).min())} cells of a block")
        keys = torch.rand(B, K, nt * inner, generator=generator)
        keys = torch.where(allowed, keys, torch.full_like(keys, 2.0))
        idx = keys.argsort(dim=-1)[..., :per].to(u0.device)
        return idx, u0[:, None].expand(B, K, self.nx)

    def lift(self, basis: Tensor) -> tuple[Tensor, Tensor]:
        """The linear parts of the rows, per basis function ``basis (..., N, nt, nx)``: ``u``, ``u_tau``,
        ``u_xx`` at every inner cell ``(..., N, 3, nt (nx - 2))``, and the rows every expert shares
        ``(..., N, nx + 2 (nt - 1))``: ``u(0)`` at every cell and the two extrapolated boundary values.
        Taken once per basis function, they keep the stencils out of the Levenberg-Marquardt iterations,
        whose Jacobian is then a weighted sum of these columns."""
        inner = basis[..., 1:-1]
        uxx = (basis[..., 2:] - 2 * inner + basis[..., :-2]) / self.h**2
        fields = torch.stack([inner, self._u_tau(basis)[..., 1:-1], uxx], dim=-3).flatten(-2)
        shared = torch.cat([basis[..., 0, :], self.left_bc(basis) + self.params["u_left"], self.right_bc(basis)],
                           dim=-1)
        return fields, shared

    def gather_rows(self, fields: Tensor, shared: Tensor, idx: Tensor) -> Tensor:
        """Per expert: ``fields (B, N, 3, G)``, ``shared (B, N, S)``, ``idx (B, K, P)`` -> ``(B, K, N, 3 P + S)``."""
        B, N = fields.shape[:2]
        K, P = idx.shape[1:]
        gather = idx[:, :, None, None, :].expand(B, K, N, 3, P)
        at = fields[:, None].expand(B, K, *fields.shape[1:]).gather(-1, gather).flatten(-2)
        return torch.cat([at, shared[:, None].expand(B, K, *shared.shape[1:])], dim=-1)

    def pointwise(self, z: Tensor, init: Tensor) -> Tensor:
        """Rows of one expert from its combined lifted features ``z`` (:meth:`gather_rows`): its PDE points,
        then the global initial and boundary rows (each expert's field is global, as in the paper)."""
        wt, m, nb = self.weights, init.shape[-1], self.nt - 1
        P = (z.shape[-1] - m - 2 * nb) // 3
        u, ut, uxx = z[:P], z[P:2 * P], z[2 * P:3 * P]
        pde = (ut - self.diffusivity / self.retardation(u) * uxx) * wt["pde"]
        ic = (z[3 * P:3 * P + m] - init) * wt["ic"]
        lb = (z[3 * P + m:3 * P + m + nb] - self.params["u_left"]) * wt["bc"]
        rb = z[3 * P + m + nb:] * wt["bc"]
        return torch.cat([pde, ic, lb, rb])

    def pointwise_offset(self, z: Tensor, offset: Tensor, init: Tensor) -> Tensor:
        """:meth:`pointwise` of the field ``offset + sum_i c_i basis_i`` (``offset``: the gathered rows of a fixed
        field, as ``z``): the exact-initial-condition ansatz ``u = u0 + tau sum_i c_i b_i``."""
        return self.pointwise(z + offset, init)


# ------------------------------------------------------------------------------------------------ model


MODES = ("soft", "hc", "moe")
_CONSTRAINT_KEYS = ("D", "phi", "rho_s", "k", "n_f", "eps", "T", "u_left")


class _ModeChecks:
    """What the two model configurations check alike: the mode, the counts, the experts sharing the points,
    the solve's options; ``experts_fit()`` checks the experts against the grid."""

    def _check(self, experts_fit: Callable[[], Any]) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"unknown hard-constraint mode {self.mode!r}; choose one of {', '.join(MODES)}")
        if self.n_basis < 1 or self.points < 1:
            raise ConfigError("n_basis and points must be at least 1")
        if self.mode == "moe":
            experts_fit()
        if self.mode != "soft" and self.points % self.n_experts:
            raise ConfigError(f"{self.points} PDE points cannot be shared equally by {self.n_experts} experts")
        SolveOptions(ridge=self.ridge, max_iters=self.max_iters, tol=self.tol)

    @property
    def n_experts(self) -> int:
        return self.experts if self.mode == "moe" else 1


@dataclass(frozen=True)
class HardConstraintConfig(_ModeChecks):
    """Configuration of :class:`HardConstrainedFNO`.

    Attributes
    ----------
    mode : ``soft`` (the FNO's one output is the prediction; physics only in the loss), ``hc`` (one
        constrained solve per sample), ``moe`` (``experts`` constrained solves per sample)
    nx, nt : the grid (cells, stored times); 0: from the training data (``sciml train pi-hc``)
    n_basis : basis functions the FNO outputs (the paper's 16)
    experts : blocks of the space axis in ``moe`` mode (must divide ``nx``)
    points : PDE points of the constraint per sample, shared equally by the experts (equal points in
        ``hc`` and ``moe``)
    width, modes, n_layers, padding : the FNO over ``(t, x)`` (:class:`sciml.operators.fno.FNOConfig`)
    ridge, max_iters, tol : :class:`SolveOptions`
    distributed : split the experts over the ranks of an initialised torch.distributed group
    D, phi, rho_s, k, n_f, eps, T, u_left : the diffusion-sorption coefficients (PDEBench's by default; ``sciml
        train pi-hc`` takes them from the store)
    constraint_eps : when positive (the default 1e-2), the ``eps`` of ``R(u)`` in the constraint and the loss in
        place of the PDE's; 0 keeps the PDE's (PDEBench's 1e-6 makes ``R'(u)`` about 1e6 near ``u = 0``, where the
        Levenberg-Marquardt solves stall: PI-HC 16.4% with it, 2.5% with 1e-2, experiments/hc-diffusion-sorption)
    exact_ic : the initial condition built into the ansatz, ``u = u0 + tau sum_i c_i b_i`` (``tau = t / T``; soft:
        ``u = u0 + tau b``), as :class:`HardConstrainedNS` does, so its rows vanish identically; ``False``: the
        paper's form, ``u = sum_i c_i b_i`` with the initial values as least-squares rows
    warmup_hc_steps : ``sciml train pi-hc`` in ``moe`` mode trains its first ``warmup_hc_steps`` steps as PI-HC
        (one expert, the same basis and points) and then the experts (0: experts from the start, the paper's
        schedule); the experiment ``hc-diffusion-sorption`` sets the same through its ``train`` settings
    """

    mode: str = "moe"
    nx: int = 0
    nt: int = 0
    n_basis: int = 16
    experts: int = 4
    points: int = 1024
    width: int = 32
    modes: int = 8
    n_layers: int = 4
    padding: float = 0.1
    ridge: float = 1e-4
    max_iters: int = 30
    tol: float = 1e-9
    distributed: bool = True
    D: float = 5e-4
    phi: float = 0.29
    rho_s: float = 2880.0
    k: float = 3.5e-4
    n_f: float = 0.874
    eps: float = 1e-6
    T: float = 500.0
    u_left: float = 1.0
    constraint_eps: float = 1e-2
    exact_ic: bool = False
    warmup_hc_steps: int = 0

    def __post_init__(self):
        if isinstance(self.warmup_hc_steps, bool) or not isinstance(self.warmup_hc_steps, int) \
                or self.warmup_hc_steps < 0:
            raise ConfigError(f"warmup_hc_steps must be a whole number of steps >= 0, got {self.warmup_hc_steps!r}")

        def experts_fit():
            if self.nx and (self.experts < 1 or self.nx % self.experts or self.nx // self.experts < 2):
                raise ConfigError(f"{self.experts} experts do not divide the {self.nx} cells of the grid into equal "
                                  f"blocks of at least 2 cells; choose a divisor of {self.nx}")
        self._check(experts_fit)


class HardConstrainedFNO(torch.nn.Module):
    """An FNO over ``(t, x)`` from the initial condition, with the physics as a soft loss only (``soft``)
    or enforced through the constrained solve (``hc``, ``moe``).

    ``forward(u0 (B, nx), generator=None) -> u (B, nt, nx)``; ``generator`` draws the constraint's
    PDE points (fresh each call when ``None``). :attr:`last_info` holds the last solve's :class:`SolveInfo`.
    """

    def __init__(self, config: HardConstraintConfig):
        super().__init__()
        from sciml.operators.fno import FNO, FNOConfig

        if config.nx < 4 or config.nt < 3:
            raise ConfigError(f"HardConstrainedFNO needs the grid: nx >= 4 cells and nt >= 3 times (the trainer fills "
                              f"them from the data), got nx={config.nx}, nt={config.nt}")
        self.config = config
        out = 1 if config.mode == "soft" else config.n_basis
        self.fno = FNO(FNOConfig(in_channels=1, out_channels=out, n_dims=2, modes=config.modes, width=config.width,
                                 n_layers=config.n_layers, padding=config.padding))
        params = {key: getattr(config, key) for key in _CONSTRAINT_KEYS}
        if config.constraint_eps > 0:
            params["eps"] = config.constraint_eps
        self.constraint = DiffusionSorptionConstraint(config.nx, config.nt, params)
        self.options = SolveOptions(ridge=config.ridge, max_iters=config.max_iters, tol=config.tol)
        self.last_info = SolveInfo()

    def weights(self) -> dict[str, Tensor]:
        """The state dict without neuraloperator's pickled metadata (weights-only loadable)."""
        return {k: v for k, v in self.state_dict().items() if isinstance(v, Tensor)}

    def basis(self, u0: Tensor) -> Tensor:
        c = self.config
        if u0.ndim != 2 or u0.shape[1] != c.nx:
            raise ConfigError(f"expected initial values of shape (batch, {c.nx}), got {tuple(u0.shape)}")
        if not torch.isfinite(u0).all():
            raise DataError("the initial values hold NaN or inf")
        x = u0[:, None, None, :].expand(u0.shape[0], 1, c.nt, c.nx)
        return self.fno(x)

    def forward(self, u0: Tensor, generator: torch.Generator | None = None, return_experts: bool = False,
                experts: int | None = None):
        """``u (B, nt, nx)``; with ``return_experts`` also the experts' fields (through DDP's forward);
        ``experts`` as in :meth:`fields`."""
        u, experts = self.fields(u0, generator, experts=experts)
        return (u, experts) if return_experts else u

    def fields(self, u0: Tensor, generator: torch.Generator | None = None, experts: int | None = None
               ) -> tuple[Tensor, Tensor | None]:
        """``(u (B, nt, nx), expert fields (B, K, nt, nx) or None)``: ``u`` takes each block from its expert;
        the experts' global fields (own coefficients on the shared basis) are for :meth:`physics_loss`.
        ``experts``: solve with that many experts instead of the configured ones (1: PI-HC on the same basis,
        the warm-up of ``warmup_hc_steps`` in training)."""
        c = self.config
        basis = self.basis(u0)
        if c.exact_ic:
            basis = basis * torch.linspace(0.0, 1.0, c.nt, dtype=basis.dtype, device=basis.device)[:, None]
            start = u0[:, None, None, :].expand(u0.shape[0], 1, c.nt, c.nx).to(basis.dtype)
        if c.mode == "soft":
            return (start[:, 0] + basis[:, 0] if c.exact_ic else basis[:, 0]), None
        K, B = (c.n_experts if experts is None else experts), u0.shape[0]
        rank, world = distributed_world() if c.distributed and K > 1 else (0, 1)
        if world > 1:
            basis = _SumGradOverRanks.apply(basis)
        con = self.constraint
        idx, init = con.contexts(u0, K, c.points, generator)
        local = expert_slice(K, rank, world) if world > 1 else slice(0, K)
        idx, init = idx[:, local], init[:, local]
        kl = idx.shape[1]
        fields, shared = con.lift(basis)
        rows = con.gather_rows(fields, shared, idx)  # (B, kl, N, rows)
        info = SolveInfo()
        if c.exact_ic:
            offset = con.gather_rows(*con.lift(start), idx)[:, :, 0]  # (B, kl, rows): the rows of u0 itself
            residual, context = con.pointwise_offset, (offset.reshape(B * kl, -1), init.reshape(B * kl, -1))
        else:
            residual, context = con.pointwise, (init.reshape(B * kl, -1),)
        w = constrained_coefficients(residual, rows.reshape(B * kl, *rows.shape[2:]), context, self.options, info)
        self.last_info = info
        experts = torch.einsum("bkn,bntx->bktx", w.view(B, kl, -1), basis)  # each expert's global field
        if c.exact_ic:
            experts = experts + start
        if world > 1:
            experts = _GatherExperts.apply(experts, 1)
        masks = con.masks(K).to(device=u0.device, dtype=experts.dtype)  # (K, nx)
        u = (experts * masks[None, :, None, :]).sum(1)
        return u, experts

    def physics_loss(self, u: Tensor, u0: Tensor, experts: Tensor | None = None) -> tuple[Tensor, dict[str, float]]:
        """The training loss of all three modes (no data): the initial condition's relative error, the
        two boundary residual norms and the mean squared PDE residual over the grid.

        With ``experts`` (from :meth:`fields`, each expert's global field) the PDE residual of a block's cells
        is that of its expert's own field, so the jumps between experts (no interface condition, as in the
        paper) do not enter difference quotients; with one expert this is the residual of ``u``."""
        r = self.constraint.field_residuals(u, u0)
        if experts is not None:
            masks = self.constraint.masks(experts.shape[1]).to(device=u.device, dtype=u.dtype)[:, 1:-1]
            pde = (self.constraint.pde_field(experts) * masks[None, :, None, :]).sum(1)  # (B, nt, nx - 2)
        else:
            pde = r["pde"]
        ic = (r["ic"].norm(dim=-1) / u0.norm(dim=-1).clamp_min(1e-12)).mean()
        bc = (r["left"].norm(dim=-1) + r["right"].norm(dim=-1)).mean()
        pde = pde.pow(2).mean()
        loss = ic + bc + pde
        return loss, {"ic": float(ic.detach()), "bc": float(bc.detach()), "pde": float(pde.detach())}


# ----------------------------------------------------------------------------------- Navier-Stokes (vorticity)


class NavierStokesConstraint:
    """The discrete vorticity equation ``w_t + u . grad w = nu Lap w + f`` on the unit torus, on the data's
    grid ``(nt, n, n)`` (``x_i = i / n``; times ``t_k = k T / (nt - 1)``), with ``u = psi_y``,
    ``v = -psi_x``, ``-Lap psi = w`` and the FNO forcing ``0.1 (sin 2 pi (x + y) + cos 2 pi (x + y))``.

    Space derivatives are spectral (exact on the grid), the time derivative second-order differences (as
    :class:`DiffusionSorptionConstraint`); the row is ``w_tau + T (u w_x + v w_y - nu Lap w - f)``. The initial
    condition and periodicity are built into the ansatz ``w = w0 + tau sum_i c_i (b_i - mean b_i)`` (zero-mean
    vorticity at every time), so the only rows are the PDE's at sampled points. Experts: ``K = s^2`` square
    blocks of ``n / s`` points per side; each expert's field is global (spectral derivatives need all of it),
    its rows those of its block."""

    def __init__(self, n: int, nt: int, nu: float, T: float):
        if n < 4 or nt < 3:
            raise ConfigError(f"the Navier-Stokes constraint needs n >= 4 and nt >= 3, got n={n}, nt={nt}")
        if not (nu > 0 and T > 0):
            raise ConfigError(f"nu and T must be positive, got nu={nu}, T={T}")
        self.n, self.nt, self.nu, self.T, self.dtau = n, nt, float(nu), float(T), 1.0 / (nt - 1)
        freq = torch.fft.fftfreq(n, d=1.0 / n, dtype=torch.float64)
        rfreq = torch.fft.rfftfreq(n, d=1.0 / n, dtype=torch.float64)
        kx, ky = torch.meshgrid(2 * math.pi * freq, 2 * math.pi * rfreq, indexing="ij")
        k2 = kx**2 + ky**2
        inv = torch.where(k2 > 0, 1.0 / k2.clamp_min(1e-30), torch.zeros_like(k2))
        # first derivatives drop the Nyquist modes of even grids (their derivative is not real on the grid)
        odd_x = torch.where(freq.abs() == n / 2, 0.0, 2 * math.pi * freq)
        odd_y = torch.where(rfreq == n / 2, 0.0, 2 * math.pi * rfreq)
        dx, dy = torch.meshgrid(odd_x, odd_y, indexing="ij")
        self._ops = torch.stack([1j * dy * inv, -1j * dx * inv, 1j * dx + 0 * k2, 1j * dy + 0 * k2, -k2 + 0j])
        x = torch.arange(n, dtype=torch.float64) / n
        gx, gy = torch.meshgrid(x, x, indexing="ij")
        self.forcing = 0.1 * (torch.sin(2 * math.pi * (gx + gy)) + torch.cos(2 * math.pi * (gx + gy)))

    def _w_tau(self, w: Tensor) -> Tensor:
        d = self.dtau
        first = (-3 * w[..., 0:1, :, :] + 4 * w[..., 1:2, :, :] - w[..., 2:3, :, :]) / (2 * d)
        mid = (w[..., 2:, :, :] - w[..., :-2, :, :]) / (2 * d)
        last = (3 * w[..., -1:, :, :] - 4 * w[..., -2:-1, :, :] + w[..., -3:-2, :, :]) / (2 * d)
        return torch.cat([first, mid, last], dim=-3)

    def features(self, w: Tensor) -> Tensor:
        """``(w_tau, u, v, w_x, w_y, Lap w)`` of ``w (..., nt, n, n)``: ``(..., 6, nt, n, n)``, linear in ``w``."""
        ops = self._ops.to(w.device)
        wh = torch.fft.rfft2(w)
        spatial = [torch.fft.irfft2(op * wh, s=w.shape[-2:]) for op in ops]
        return torch.stack([self._w_tau(w), *spatial], dim=-4)

    def pointwise(self, z: Tensor, offset: Tensor, f: Tensor) -> Tensor:
        """The PDE rows from features ``z + offset`` (``(6, P)`` each) and the forcing ``f (P,)``."""
        wt, u, v, wx, wy, lap = (z + offset).unbind(0)
        return wt + self.T * (u * wx + v * wy - self.nu * lap - f)

    def pde_field(self, w: Tensor) -> Tensor:
        """The residual at every grid point of ``w (..., nt, n, n)``."""
        wt, u, v, wx, wy, lap = self.features(w).unbind(-4)
        f = self.forcing.to(device=w.device, dtype=w.dtype)
        return wt + self.T * (u * wx + v * wy - self.nu * lap - f)

    def check_experts(self, n_experts: int) -> int:
        side = math.isqrt(n_experts)
        if n_experts < 1 or side * side != n_experts or self.n % side or self.n // side < 2:
            raise ConfigError(f"{n_experts} experts do not tile the {self.n} x {self.n} grid into equal square blocks; "
                              f"choose a square number whose root divides {self.n}")
        return side

    def masks(self, n_experts: int) -> Tensor:
        """``(K, n, n)`` 0/1 indicators of the experts' blocks (row-major over the blocks)."""
        side = self.check_experts(n_experts)
        m = self.n // side
        block = (torch.arange(self.n) // m)
        owner = block[:, None] * side + block[None, :]
        return (owner[None] == torch.arange(n_experts)[:, None, None]).to(torch.float64)

    def contexts(self, w0: Tensor, n_experts: int, points: int, generator: torch.Generator | None = None
                 ) -> tuple[Tensor, ...]:
        """Per sample and expert: sampled flat indices ``(P,)`` into ``(nt, n, n)`` within its block, and
        ``w0 (n, n)`` (the ansatz's offset)."""
        if points % n_experts:
            raise ConfigError(f"{points} PDE points cannot be shared equally by {n_experts} experts")
        per = points // n_experts
        masks = self.masks(n_experts).bool()  # (K, n, n)
        allowed = masks[:, None].expand(n_experts, self.nt, self.n, self.n).reshape(n_experts, -1)
        if per > int(allowed.sum(-1).min()):
            raise ConfigError(f"{per} PDE points per expert exceed the {int(allowed.sum(-1).min())} points of a block")
        B = w0.shape[0]
        keys = torch.rand(B, n_experts, allowed.shape[1], generator=generator)
        keys = torch.where(allowed, keys, torch.full_like(keys, 2.0))
        idx = keys.argsort(dim=-1)[..., :per].to(w0.device)
        return idx, w0[:, None].expand(B, n_experts, self.n, self.n)



@dataclass(frozen=True)
class NavierStokesHCConfig(_ModeChecks):
    """Configuration of :class:`HardConstrainedNS` (as :class:`HardConstraintConfig`; ``experts`` a square
    number, the blocks ``sqrt(K) x sqrt(K)`` over space; ``n`` the grid side, ``nt`` the stored times)."""

    mode: str = "moe"
    n: int = 32
    nt: int = 33
    nu: float = 1e-4
    T: float = 5.0
    n_basis: int = 16
    experts: int = 4
    points: int = 2048
    width: int = 16
    modes: int = 8
    n_layers: int = 4
    padding: float = 0.0
    ridge: float = 1e-4
    max_iters: int = 30
    tol: float = 1e-9
    distributed: bool = True

    def __post_init__(self):
        self._check(lambda: NavierStokesConstraint(self.n, self.nt, self.nu, self.T).check_experts(self.experts))


class HardConstrainedNS(torch.nn.Module):
    """An FNO over ``(t, x, y)`` from ``w0``, with the ansatz ``w = w0 + tau sum_i c_i (b_i - mean b_i)``:
    ``soft`` (one output, ``c = 1``, the PDE in the loss only), ``hc`` / ``moe`` (coefficients from the
    constrained solve, per expert). ``fields(w0 (B, n, n))`` -> ``(w (B, nt, n, n), experts (B, K, nt, n, n))``."""

    def __init__(self, config: NavierStokesHCConfig):
        super().__init__()
        from sciml.operators.fno import FNO, FNOConfig

        self.config = config
        out = 1 if config.mode == "soft" else config.n_basis
        self.fno = FNO(FNOConfig(in_channels=1, out_channels=out, n_dims=3, modes=config.modes, width=config.width,
                                 n_layers=config.n_layers, padding=config.padding))
        self.constraint = NavierStokesConstraint(config.n, config.nt, config.nu, config.T)
        self.options = SolveOptions(ridge=config.ridge, max_iters=config.max_iters, tol=config.tol)
        self.last_info = SolveInfo()

    def weights(self) -> dict[str, Tensor]:
        return {k: v for k, v in self.state_dict().items() if isinstance(v, Tensor)}

    def basis(self, w0: Tensor) -> Tensor:
        c = self.config
        if w0.ndim != 3 or w0.shape[1:] != (c.n, c.n):
            raise ConfigError(f"expected initial vorticity of shape (batch, {c.n}, {c.n}), got {tuple(w0.shape)}")
        if not torch.isfinite(w0).all():
            raise DataError("the initial vorticity holds NaN or inf")
        b = self.fno(w0[:, None, None].expand(w0.shape[0], 1, c.nt, c.n, c.n))
        tau = torch.linspace(0, 1, c.nt, device=b.device, dtype=b.dtype).view(1, 1, -1, 1, 1)
        return tau * (b - b.mean(dim=(-2, -1), keepdim=True))

    def forward(self, w0: Tensor, generator: torch.Generator | None = None, return_experts: bool = False):
        w, experts = self.fields(w0, generator)
        return (w, experts) if return_experts else w

    def fields(self, w0: Tensor, generator: torch.Generator | None = None, experts: int | None = None
               ) -> tuple[Tensor, Tensor | None]:
        """As :meth:`HardConstrainedFNO.fields` (``experts``: a square number in place of the configured ones)."""
        c = self.config
        basis = self.basis(w0)  # (B, N, nt, n, n)
        if c.mode == "soft":
            return w0[:, None] + basis[:, 0], None
        K, B = (c.n_experts if experts is None else experts), w0.shape[0]
        rank, world = distributed_world() if c.distributed and K > 1 else (0, 1)
        if world > 1:
            basis = _SumGradOverRanks.apply(basis)
        idx, _ = self.constraint.contexts(w0, K, c.points, generator)
        local = expert_slice(K, rank, world) if world > 1 else slice(0, K)
        idx = idx[:, local]  # (B, kl, P)
        kl, P = idx.shape[1], idx.shape[2]
        # the solve works on the basis's features at the sampled points: the spectral derivatives are linear,
        # taken once per basis function here (autograd carries the implicit gradient back through them)
        con = self.constraint
        feats = con.features(basis).flatten(-3)  # (B, N, 6, nt n n)
        gather = idx[:, :, None, None, :].expand(B, kl, feats.shape[1], feats.shape[2], P)
        lifted = feats[:, None].expand(B, kl, *feats.shape[1:]).gather(-1, gather)  # (B, kl, N, 6, P)
        # w0's features: w_tau = 0 and one frame of spatial derivatives (w0 is the same at every time), gathered
        # at the points' cells (flat index into (nt, n, n) modulo n n)
        f0 = con.features(w0[:, None].expand(B, 3, c.n, c.n))[:, :, 0].flatten(-2).detach()  # (B, 6, n n)
        cell = (idx % (c.n * c.n))[:, :, None, :].expand(B, kl, 6, P)
        offset = f0[:, None].expand(B, kl, *f0.shape[1:]).gather(-1, cell)
        force = con.forcing.to(device=w0.device, dtype=w0.dtype).reshape(-1)
        force = force.repeat(c.nt)[idx]  # (B, kl, P)
        ctx = (offset.reshape(B * kl, 6, P), force.reshape(B * kl, P))
        info = SolveInfo()
        w = constrained_coefficients(con.pointwise, lifted.reshape(B * kl, *lifted.shape[2:]), ctx, self.options, info)
        self.last_info = info
        win = basis[:, None].expand(B, K, *basis.shape[1:])[:, local]
        experts = w0[:, None, None] + (w.view(B, kl, -1, 1, 1, 1) * win).sum(2)  # (B, kl, nt, n, n)
        if world > 1:
            experts = _GatherExperts.apply(experts, 1)
        masks = self.constraint.masks(K).to(device=w0.device, dtype=w0.dtype)  # (K, n, n)
        return (experts * masks[None, :, None]).sum(1), experts

    def physics_loss(self, w: Tensor, w0: Tensor, experts: Tensor | None = None) -> tuple[Tensor, dict[str, float]]:
        """Mean squared PDE residual over the grid (the authors' NS loss); with ``experts`` each block's
        residual is its expert's own."""
        if experts is None:
            r = self.constraint.pde_field(w)
        else:
            masks = self.constraint.masks(experts.shape[1]).to(device=w.device, dtype=w.dtype)
            r = (self.constraint.pde_field(experts) * masks[None, :, None]).sum(1)
        pde = r.pow(2).mean()
        return pde, {"pde": float(pde.detach())}


# ---------------------------------------------------------------------- the pi-hc model kind (sciml train)


PAPER = ("Chalapathi, Du, Krishnapriyan: Scaling physics-informed hard constraints with mixture-of-experts, "
         "arXiv 2402.13412")


def _trajectories(path: Any):
    from sciml.data.trajectories import TrajectoryDataset

    return TrajectoryDataset(path)


def _check_store(config: HardConstraintConfig, data: Any, what: str) -> None:
    if data.pde != "diffusion-sorption":
        raise DataError(f"{data.path} holds {data.pde or 'unknown'} trajectories; pi-hc is {what} diffusion-sorption "
                        f"stores (sciml data generate diffusion-sorption)")
    if len(data.spatial) != 1 or data.channels != 1:
        raise DataError(f"{data.path}: expected one field on a 1-D grid, got {data.channels} channel(s) on "
                        f"{data.spatial}")
    if config.nx and (data.spatial[0], data.n_times) != (config.nx, config.nt):
        raise DataError(f"{data.path} has {data.spatial[0]} cells x {data.n_times} times; the model was built for "
                        f"{config.nx} x {config.nt} (the constraint's differences are tied to the grid)")


def complete_config(config: HardConstraintConfig, data: Any) -> HardConstraintConfig:
    """``nx``, ``nt`` and the PDE's coefficients from the store (its generator's parameters)."""
    import json
    from dataclasses import replace

    _check_store(replace(config, nx=0), data, "trained on")
    params = data.attrs.get("params", "{}")
    params = json.loads(params) if isinstance(params, str) else dict(params)
    pde = {key: float(params[key]) for key in _CONSTRAINT_KEYS if key in params}
    return replace(config, nx=data.spatial[0], nt=data.n_times, distributed=False, **pde)


class ConstrainedTraining:
    """``sciml train pi-hc``: the physics loss of :meth:`HardConstrainedFNO.physics_loss` on the initial
    conditions of the batch (the trajectories' later frames are not used), fresh PDE points each step; in
    ``moe`` mode the first ``warmup_hc_steps`` steps solve with one expert (PI-HC). The step count is the
    method's state (saved in ``checkpoint.pt``), so a resumed run keeps the schedule."""

    metric = "rel_l2"

    def __init__(self, model: torch.nn.Module):
        self.model = model
        self.steps = 0

    def _module(self) -> HardConstrainedFNO:
        return getattr(self.model, "module", self.model)

    def step(self, batch: Tensor) -> dict[str, Tensor]:
        c = self._module().config
        u0 = batch[:, 0, 0]
        warm = c.mode == "moe" and self.steps < c.warmup_hc_steps
        # through DDP's forward when it wraps the model
        u, experts = self.model(u0, return_experts=True, experts=1 if warm else None)
        loss, _ = self._module().physics_loss(u, u0, experts)
        self.steps += 1
        return {"loss": loss, "warmup": torch.tensor(1.0 if warm else 0.0)}

    def state_dict(self) -> dict[str, int]:
        return {"steps": int(self.steps)}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.steps = int(state.get("steps", 0))

    @torch.no_grad()
    def evaluate(self, batch: Tensor) -> dict[str, Tensor]:
        from sciml.train.losses import nrmse, relative_lp, rmse

        truth = batch[:, :, 0]
        pred = self.model(batch[:, 0, 0], generator=torch.Generator().manual_seed(0))  # as sciml predict
        return {"rel_l2": relative_lp(pred, truth, reduction="sum"), "nrmse": nrmse(pred, truth, reduction="sum"),
                "rmse": rmse(pred, truth, reduction="sum")}


def _prepare(model: torch.nn.Module, data: Any) -> None:
    """Nothing to fit: the physics loss needs no normalisation."""


def _inference():
    from sciml.operators.inference import RolloutInference
    from sciml.train.inference import SampleBatch

    class ConstrainedInference(RolloutInference):
        """``pi-hc``: every frame after the first from the initial condition, the constraint solved at
        test time (points from a fixed seed, so a file's predictions are reproducible)."""

        natural_input = "u0 (batch, nx) initial values at the cell centres -> u (batch, nt, nx)"

        def open(self, path, model, metadata):
            data = _trajectories(path)
            _check_store(model.config, data, "evaluated on")
            return data

        def _window(self, model):
            return 0, 1, model.config.nt

        def prediction_attrs(self, model, data):
            import json

            return {"predicted_frames": json.dumps([1, data.n_times]),
                    "prediction_note": "frames 1.. from the initial condition (frame 0, copied)"}

        @torch.no_grad()
        def predict_samples(self, model, data, indices, device):
            import numpy as np

            trajectories = data.read(indices)  # (B, nt, 1, nx)
            model = model.to(device)
            dtype = next(model.parameters()).dtype
            u = model(trajectories[:, 0, 0].to(device, dtype), generator=torch.Generator().manual_seed(0))
            pred = trajectories.clone()
            pred[:, 1:, 0] = u[:, 1:].to("cpu", pred.dtype)
            pred = pred[:, :, 0] if not data.has_channel_axis else pred
            target = trajectories[:, :, 0] if not data.has_channel_axis else trajectories
            mask = np.zeros(pred.shape, dtype=bool)
            mask[:, 1:] = True
            return SampleBatch(indices, pred.double().numpy(), target.double().numpy(), mask=mask)

        @torch.no_grad()
        def predict(self, model, u0):
            parameter = next(model.parameters())
            u0 = torch.as_tensor(u0)
            if u0.ndim == 1:
                return self.predict(model, u0[None])[0]
            return model(u0.to(parameter.device, parameter.dtype), generator=torch.Generator().manual_seed(0))

        def natural_example(self, model, data):
            return (data.read([0])[:, 0, 0],), {}

    return ConstrainedInference()


def _spec():
    from sciml.train.spec import ModelSpec

    return ModelSpec(
        name="pi-hc", config_cls=HardConstraintConfig, build=HardConstrainedFNO, method=ConstrainedTraining,
        dataset=_trajectories, complete_config=complete_config, prepare=_prepare, paper=PAPER,
        summary="FNO basis functions combined by a differentiable Levenberg-Marquardt solve of the PDE on sampled "
                "points (soft / hc / moe modes), physics loss only; diffusion-sorption trajectories",
        inference=_inference(),
        example={"pde": "diffusion-sorption", "res": 16, "n": 4, "params": {"fine": 64, "nt": 9},
                 "overrides": {"epochs": 1, "batch_size": 2, "mode": "moe", "experts": 4, "points": 32,
                               "n_basis": 4, "width": 6, "modes": 3, "n_layers": 1, "max_iters": 10}})


SPEC = _spec()
