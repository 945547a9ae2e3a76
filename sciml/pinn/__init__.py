"""Physics-informed networks: the shared core (problems on :mod:`sciml.geometry` domains, derivatives
through :mod:`torch.func`, training through :class:`sciml.train.Trainer` with fresh collocation points
and an L-BFGS phase), the plain PINN, Lagrangian PINNs and SDGD for high-dimensional PDEs.

The model kinds are ``pinn``, ``lpinn`` and ``sdgd`` (``sciml train KIND --problem NAME``); import
their modules (``sciml.pinn.pinn``, ``sciml.pinn.lpinn``, ``sciml.pinn.sdgd``) for the classes.
"""

from sciml.pinn.derivatives import along, gradient, hessian, laplacian, partials

__all__ = ["along", "partials", "laplacian", "gradient", "hessian"]
