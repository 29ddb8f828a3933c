"""One generalized first-order update that covers the six optimizers of PAPER.md section 2.

For one parameter tensor ``theta`` with minibatch gradient ``g`` at update ``t`` (``t = 0`` at
the first update) and scheduled learning rate ``eta_t`` (``param_group["lr"]``):

    g     <- g + weight_decay * theta                                   (coupled L2, optional)
    v     <- rho * v + (1 - rho) * g^2                  if second moment (v0 = ``v_init``)
    u     <- g / sqrt(v + eps)   if eps_placement == "inside"  (RMSProp)
             g                    otherwise
    s     <- eta_t if lr_placement == "inside" else 1                   (RMSProp: eta in the buffer)
    m     <- a * m + c * s * u                                          (m0 = 0)
    n     <- a * m + c * s * u   if nesterov  else  m
    b     <- sqrt(1 - rho^(t+1)) / (1 - a^(t+1))   if bias_correction  else 1
    d     <- sqrt(v) + eps       if eps_placement == "outside"  (Adam, NAdam)
             1                    otherwise
    theta <- theta - (eta_t if lr_placement == "outside" else 1) * b * n / d

with ``a`` the momentum coefficient (``momentum`` or ``beta1``), ``c = 1 - a`` for an
exponential moving average (Adam family) or ``c = 1`` for a plain sum (heavy ball), and ``rho``
the second-moment decay (``rho`` or ``beta2``). Each preset in :mod:`optimizers.presets` fixes the
structural switches; the numeric hyperparameters live in the param groups as usual.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import torch


@dataclass(frozen=True)
class UpdateStructure:
    """The structural switches that turn the generalized update into one named optimizer."""

    momentum_key: str | None
    """param_group key holding ``a`` (``"momentum"`` or ``"beta1"``); None: no first moment."""
    ema: bool
    """``c = 1 - a`` when True (moving average), ``c = 1`` when False (heavy-ball sum)."""
    nesterov: bool
    second_moment_key: str | None
    """param_group key holding the second-moment decay (``"rho"`` or ``"beta2"``); None: no v."""
    v_init: float
    eps_placement: Literal["inside", "outside", "none"]
    lr_placement: Literal["inside", "outside"]
    bias_correction: bool


class GeneralizedOptimizer(torch.optim.Optimizer):
    """A ``torch.optim.Optimizer`` running the generalized update for a fixed structure.

    Hyperparameters live in ``param_groups`` under the names ``lr``, ``momentum``, ``beta1``,
    ``beta2``, ``rho``, ``eps`` and ``weight_decay`` (only those the structure uses). State per
    parameter: ``step`` (number of updates done), ``m`` and ``v`` where the structure has them.
    Device and dtype follow the parameters.
    """

    structure: UpdateStructure

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
        defaults: dict[str, float],
        structure: UpdateStructure,
    ) -> None:
        self.structure = structure
        super().__init__(params, defaults)

    def _init_state(self, p: torch.Tensor) -> dict[str, Any]:
        state = self.state[p]
        if not state:
            s = self.structure
            state["step"] = 0
            if s.momentum_key is not None:
                state["m"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            if s.second_moment_key is not None:
                state["v"] = torch.full_like(p, s.v_init, memory_format=torch.preserve_format)
        return state

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:  # noqa: ANN401 - torch's signature
        """Apply one update to every parameter that has a gradient."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        s = self.structure
        for group in self.param_groups:
            lr = float(group["lr"])
            wd = float(group.get("weight_decay", 0.0))
            a = float(group[s.momentum_key]) if s.momentum_key else 0.0
            c = 1.0 - a if s.ema else 1.0
            rho = float(group[s.second_moment_key]) if s.second_moment_key else 0.0
            eps = float(group.get("eps", 0.0))
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError(f"{type(self).__name__} does not support sparse gradients")
                state = self._init_state(p)
                t = state["step"]
                g = p.grad
                if wd != 0.0:
                    g = g.add(p, alpha=wd)
                if s.second_moment_key is not None:
                    v = state["v"]
                    v.mul_(rho).addcmul_(g, g, value=1.0 - rho)
                    if s.eps_placement == "inside":
                        g = g / v.add(eps).sqrt_()
                scale_in = lr if s.lr_placement == "inside" else 1.0
                if s.momentum_key is not None:
                    m = state["m"]
                    m.mul_(a).add_(g, alpha=c * scale_in)
                    n = m.mul(a).add_(g, alpha=c * scale_in) if s.nesterov else m
                else:
                    n = g if scale_in == 1.0 else g.mul(scale_in)
                scale_out = lr if s.lr_placement == "outside" else 1.0
                if s.bias_correction:
                    scale_out *= math.sqrt(1.0 - rho ** (t + 1)) / (1.0 - a ** (t + 1))
                if s.eps_placement == "outside":
                    denom = state["v"].sqrt().add_(eps)
                    p.addcdiv_(n, denom, value=-scale_out)
                else:
                    p.add_(n, alpha=-scale_out)
                state["step"] = t + 1
        return loss
