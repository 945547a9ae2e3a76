"""The TENG network: a periodic embedding, tanh layers and a linear read-out, in float64.

``u_theta(x) = W_L tanh(... tanh(W_1 phi(x) + b_1) ...) + b_L`` with the periodic embedding ``phi(x)_{kj} =
a_kj cos(2 pi x_j / period + phi_kj) + c_kj`` (``k < width / d`` features per coordinate ``j``), so that
every ``u_theta`` is periodic on ``[0, period)^d`` by construction: no boundary term is needed. The
parameters live in one flat vector (:class:`FlatParams`) because the TENG step updates random subsets of it
by least squares.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from sciml._errors import ConfigError

__all__ = ["PeriodicNetConfig", "PeriodicNet", "FlatParams"]


@dataclass(frozen=True)
class PeriodicNetConfig:
    """The network of TENG (the authors' code: width 40, depth 7 = embedding, 5 hidden tanh layers, output).

    Attributes
    ----------
    dim : spatial dimension d
    width : features of every layer (a multiple of ``dim``: ``width / dim`` cosines per coordinate)
    depth : layers counting the embedding and the output layer (``depth - 2`` hidden ``width x width`` layers)
    period : the domain is ``[0, period)^dim``
    time_input : append the time ``t`` to the embedded features (the space-time PINN baseline)
    seed : initial weights (the embedding from a normal truncated at 2, dense layers LeCun normal, biases 0)
    """

    dim: int = 2
    width: int = 40
    depth: int = 7
    period: float = 2 * math.pi
    time_input: bool = False
    seed: int = 1234

    def __post_init__(self) -> None:
        if self.dim < 1:
            raise ConfigError(f"dim must be at least 1, got {self.dim}")
        if self.width < self.dim or self.width % self.dim:
            raise ConfigError(f"width must be a positive multiple of dim = {self.dim}, got {self.width}")
        if self.depth < 2:
            raise ConfigError(f"depth counts the embedding and the output layer, so it must be at least 2, got "
                              f"{self.depth}")
        if not self.period > 0:
            raise ConfigError(f"period must be positive, got {self.period}")


def _truncated_normal(shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    out = torch.empty(shape, dtype=torch.float64)
    torch.nn.init.trunc_normal_(out, 0.0, 1.0, -2.0, 2.0, generator=generator)
    return out


class PeriodicNet(nn.Module):
    """``u_theta: (N, dim) -> (N,)`` (``(N, 1 + dim)`` with ``t`` first when ``config.time_input``)."""

    def __init__(self, config: PeriodicNetConfig):
        super().__init__()
        self.config = config
        g = torch.Generator().manual_seed(config.seed)
        m, d, w = config.width // config.dim, config.dim, config.width
        self.a = nn.Parameter(_truncated_normal((m, d), g))
        self.phase = nn.Parameter(_truncated_normal((m, d), g))
        self.c = nn.Parameter(_truncated_normal((m, d), g))
        layers = []
        fan_in = w + (1 if config.time_input else 0)
        for _ in range(config.depth - 2):
            layers.append(self._dense(fan_in, w, g))
            fan_in = w
        layers.append(self._dense(fan_in, 1, g))
        self.layers = nn.ModuleList(layers)

    @staticmethod
    def _dense(fan_in: int, fan_out: int, g: torch.Generator) -> nn.Linear:
        layer = nn.Linear(fan_in, fan_out, dtype=torch.float64)
        with torch.no_grad():
            layer.weight.copy_(torch.randn(fan_out, fan_in, generator=g, dtype=torch.float64) / math.sqrt(fan_in))
            layer.bias.zero_()
        return layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        if cfg.time_input:
            t, x = x[:, :1], x[:, 1:]
        z = self.a * torch.cos((2 * math.pi / cfg.period) * x[:, None, :] + self.phase) + self.c
        h = torch.tanh(z.reshape(x.shape[0], -1))
        if cfg.time_input:
            h = torch.cat([h, t], dim=1)
        for layer in self.layers[:-1]:
            h = torch.tanh(layer(h))
        return self.layers[-1](h)[:, 0]

    def factors(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``u (N,)`` and the two factor matrices of its parameter Jacobian: ``d u(x_n) / d theta_p =
        left[n, left_index[p]] * right[n, right_index[p]]`` (:meth:`jacobian_index`), by one forward and one
        backward pass written out (a dense weight's derivative is the outer product of the back-propagated
        signal and the layer's input, an embedding parameter's is the signal times a cosine or sine)."""
        cfg = self.config
        if cfg.time_input:
            t, x = x[:, :1], x[:, 1:]
        n = x.shape[0]
        arg = (2 * math.pi / cfg.period) * x[:, None, :] + self.phase
        cos, sin = torch.cos(arg), torch.sin(arg)
        h = torch.tanh(self.a * cos + self.c).reshape(n, -1)
        inputs = [torch.cat([h, t], dim=1) if cfg.time_input else h]
        for layer in self.layers[:-1]:
            inputs.append(torch.tanh(layer(inputs[-1])))
        u = self.layers[-1](inputs[-1])[:, 0]
        signals = [torch.ones(n, 1, dtype=x.dtype, device=x.device)]  # d u / d (pre-activation), last layer first
        for k in range(len(self.layers) - 1, 0, -1):
            back = signals[-1] @ self.layers[k].weight
            signals.append(back * (1 - inputs[k] ** 2))
        signals.reverse()
        back = signals[0] @ self.layers[0].weight
        if cfg.time_input:
            back = back[:, :-1]
        dz = back * (1 - h ** 2)  # (n, m * d)
        left = torch.cat([dz, *signals], dim=1)
        right = torch.cat([cos.reshape(n, -1), -(self.a * sin).reshape(n, -1), torch.ones(n, 1, dtype=x.dtype,
                                                                                       device=x.device), *inputs],
                          dim=1)
        return u, left, right

    def jacobian_index(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The column maps of :meth:`factors`, in the order of ``parameters()``."""
        cfg = self.config
        md = (cfg.width // cfg.dim) * cfg.dim
        widths = [layer.out_features for layer in self.layers]
        left_start = [md]
        for w in widths[:-1]:
            left_start.append(left_start[-1] + w)
        in_widths = [layer.in_features for layer in self.layers]
        right_start = [2 * md + 1]
        for w in in_widths[:-1]:
            right_start.append(right_start[-1] + w)
        ones = 2 * md
        emb = torch.arange(md)
        lefts, rights = [emb, emb, emb], [emb, md + emb, torch.full((md,), ones)]  # a, phase, c
        for k, layer in enumerate(self.layers):
            rows = torch.arange(layer.out_features)[:, None].expand(-1, layer.in_features).reshape(-1)
            cols = torch.arange(layer.in_features)[None, :].expand(layer.out_features, -1).reshape(-1)
            lefts += [left_start[k] + rows, left_start[k] + torch.arange(layer.out_features)]
            rights += [right_start[k] + cols, torch.full((layer.out_features,), ones)]
        return torch.cat(lefts), torch.cat(rights)


class FlatParams:
    """The parameters of ``module`` as one flat float64 vector and back (``torch.func.functional_call`` views)."""

    def __init__(self, module: nn.Module):
        self.module = module
        self.names = [n for n, _ in module.named_parameters()]
        self.shapes = [p.shape for _, p in module.named_parameters()]
        self.sizes = [p.numel() for _, p in module.named_parameters()]
        self.total = sum(self.sizes)

    def get(self) -> torch.Tensor:
        return torch.cat([p.detach().reshape(-1) for p in self.module.parameters()])

    def set(self, flat: torch.Tensor) -> None:
        if flat.shape != (self.total,):
            raise ValueError(f"expected {self.total} parameters, got shape {tuple(flat.shape)}")
        with torch.no_grad():
            for p, chunk in zip(self.module.parameters(), torch.split(flat, self.sizes)):
                p.copy_(chunk.reshape(p.shape))

    def unflatten(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        return {n: c.reshape(s) for n, c, s in zip(self.names, torch.split(flat, self.sizes), self.shapes)}

    def __call__(self, flat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``u`` with the parameters ``flat`` at the points ``x``."""
        return torch.func.functional_call(self.module, self.unflatten(flat), (x,))

    def describe(self) -> dict[str, Any]:
        return {"parameters": self.total, "tensors": dict(zip(self.names, map(list, self.shapes)))}
