"""One generalized first-order update that covers the six optimizers of PAPER.md section 2.

For one parameter tensor ``theta`` with minibatch gradient ``g`` at update ``t`` (``t = 0`` at
the first update) and scheduled learning rate ``eta_t`` (``param_group["lr"]``):

    theta <- theta * (1 - eta_t * decoupled_weight_decay)                (decoupled, optional)
    g     <- g + weight_decay * theta                                   (coupled L2, optional)
    v     <- rho * v + (1 - rho) * g^2                  if second moment (v0 = ``v_init``)
    u     <- g / sqrt(v + eps)   if eps_placement == "inside"  (RMSProp)
             g                    otherwise
    s     <- eta_t if lr_placement == "inside" else 1                   (RMSProp: eta in the buffer)
    m     <- a * m + c * s * u                                          (m0 = 0)
    n     <- a * m + c * s * u   if nesterov  else  m
             (applied to theta as two in-place terms, a*m and c*s*u, so that no temporary of the
             parameters' size is allocated)
    b     <- sqrt(1 - rho^(t+1)) / (1 - a^(t+1))   if bias_correction  else 1
    d     <- sqrt(v) + eps       if eps_placement == "outside"  (Adam, NAdam)
             1                    otherwise
    theta <- theta - (eta_t if lr_placement == "outside" else 1) * b * n / d

with ``a`` the momentum coefficient (``momentum`` or ``beta1``), ``c = 1 - a`` for an
exponential moving average (Adam family) or ``c = 1`` for a plain sum (heavy ball), and ``rho``
the second-moment decay (``rho`` or ``beta2``). Coupled weight decay uses the parameter before
the decoupled shrink of the same step. Each preset in :mod:`optimizers.presets` fixes the
structural switches; the numeric hyperparameters live in the param groups as usual.

Two kernels compute the same update: a single-tensor loop and a ``foreach`` kernel that applies
each operation to all tensors of a group (same device and dtype) at once. They perform the same
floating-point operations in the same order, so their results are bitwise identical on CPU.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import torch

__all__ = ["GeneralizedOptimizer", "UpdateStructure"]


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


@dataclass(frozen=True)
class _Coefficients:
    """Scalars of one group's update, read once per step."""

    lr: float
    weight_decay: float
    decoupled: float
    a: float
    c: float
    rho: float
    eps: float

    @property
    def scale_in(self) -> float:
        return self.lr

    def scale_out(self, s: UpdateStructure, t: int) -> float:
        scale = self.lr if s.lr_placement == "outside" else 1.0
        if s.bias_correction:
            scale *= math.sqrt(1.0 - self.rho ** (t + 1)) / (1.0 - self.a ** (t + 1))
        return scale


class GeneralizedOptimizer(torch.optim.Optimizer):
    """A ``torch.optim.Optimizer`` running the generalized update for a fixed structure.

    Hyperparameters live in ``param_groups`` under the names ``lr``, ``momentum``, ``beta1``,
    ``beta2``, ``rho``, ``eps``, ``weight_decay`` and ``decoupled_weight_decay`` (those the
    structure uses). State per parameter: ``step`` (updates done, an int), ``m`` and ``v`` where
    the structure has them. Device and dtype follow the parameters. ``foreach=None`` picks the
    foreach kernel (one op per group instead of per tensor) unless parameters are sparse.
    """

    structure: UpdateStructure

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
        defaults: dict[str, float],
        structure: UpdateStructure,
        *,
        foreach: bool | None = None,
    ) -> None:
        self.structure = structure
        self.foreach = foreach
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

    def _coefficients(self, group: dict[str, Any]) -> _Coefficients:
        s = self.structure
        a = float(group[s.momentum_key]) if s.momentum_key else 0.0
        return _Coefficients(
            lr=float(group["lr"]),
            weight_decay=float(group.get("weight_decay", 0.0)),
            decoupled=float(group.get("decoupled_weight_decay", 0.0)),
            a=a,
            c=1.0 - a if s.ema else 1.0,
            rho=float(group[s.second_moment_key]) if s.second_moment_key else 0.0,
            eps=float(group.get("eps", 0.0)),
        )

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:  # noqa: ANN401 - torch's signature
        """Apply one update to every parameter that has a gradient."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            if any(p.grad.is_sparse for p in params):
                raise RuntimeError(f"{type(self).__name__} does not support sparse gradients")
            coef = self._coefficients(group)
            if self.foreach is False:
                for p in params:
                    self._single_tensor(p, coef)
                continue
            buckets: dict[tuple[torch.device, torch.dtype], list[torch.Tensor]] = {}
            for p in params:
                buckets.setdefault((p.device, p.dtype), []).append(p)
            for bucket in buckets.values():
                self._foreach(bucket, coef)
        return loss

    def _fuse_root_into_momentum(self, scale_in: float) -> bool:
        """Whether m <- a*m + c*s*g/root can be one addcdiv (eps inside, plain momentum)."""
        s = self.structure
        return (
            s.eps_placement == "inside"
            and s.second_moment_key is not None
            and s.momentum_key is not None
            and not s.nesterov
            and not (s.ema and scale_in == 1.0)
        )

    def _single_tensor(self, p: torch.Tensor, k: _Coefficients) -> None:
        s = self.structure
        state = self._init_state(p)
        t = state["step"]
        g = p.grad
        if k.weight_decay != 0.0:
            g = g.add(p, alpha=k.weight_decay)
        if k.decoupled != 0.0:
            p.mul_(1.0 - k.lr * k.decoupled)
        scale_in = k.scale_in if s.lr_placement == "inside" else 1.0
        fused = self._fuse_root_into_momentum(scale_in)
        if s.second_moment_key is not None:
            v = state["v"]
            v.mul_(k.rho).addcmul_(g, g, value=1.0 - k.rho)
            if s.eps_placement == "inside":
                root = v.add(k.eps).sqrt_()
                if not fused:
                    g = g / root
        if s.momentum_key is not None:
            m = state["m"]
            w = k.c * scale_in
            if fused:
                m.mul_(k.a).addcdiv_(g, root, value=w)  # RMSProp: no g / root temporary
            elif s.ema and scale_in == 1.0:
                m.lerp_(g, 1.0 - k.a)  # a*m + (1-a)*g in one pass
            else:
                m.mul_(k.a).add_(g, alpha=w)
            # Nesterov's n = a*m + w*g is applied as two in-place terms rather than built as a
            # temporary: same memory traffic, no allocation of a parameter-sized tensor.
            terms = [(m, k.a), (g, w)] if s.nesterov else [(m, 1.0)]
        else:
            terms = [(g, scale_in)]
        scale_out = k.scale_out(s, t)
        if s.eps_placement == "outside":
            denom = state["v"].sqrt().add_(k.eps)
            for x, coef in terms:
                p.addcdiv_(x, denom, value=-scale_out * coef)
        else:
            for x, coef in terms:
                p.add_(x, alpha=-scale_out * coef)
        state["step"] = t + 1

    def _foreach(self, params: list[torch.Tensor], k: _Coefficients) -> None:
        s = self.structure
        states = [self._init_state(p) for p in params]
        steps = [st["step"] for st in states]
        grads: list[torch.Tensor] = [p.grad for p in params]
        if k.weight_decay != 0.0:
            grads = torch._foreach_add(grads, params, alpha=k.weight_decay)
        if k.decoupled != 0.0:
            torch._foreach_mul_(params, 1.0 - k.lr * k.decoupled)
        scale_in = k.scale_in if s.lr_placement == "inside" else 1.0
        fused = self._fuse_root_into_momentum(scale_in)
        if s.second_moment_key is not None:
            vs = [st["v"] for st in states]
            torch._foreach_mul_(vs, k.rho)
            torch._foreach_addcmul_(vs, grads, grads, value=1.0 - k.rho)
            if s.eps_placement == "inside":
                root = torch._foreach_add(vs, k.eps)
                torch._foreach_sqrt_(root)
                if not fused:
                    grads = torch._foreach_div(grads, root)
        if s.momentum_key is not None:
            ms = [st["m"] for st in states]
            w = k.c * scale_in
            if fused:
                torch._foreach_mul_(ms, k.a)
                torch._foreach_addcdiv_(ms, grads, root, value=w)
            elif s.ema and scale_in == 1.0:
                torch._foreach_lerp_(ms, grads, 1.0 - k.a)
            else:
                torch._foreach_mul_(ms, k.a)
                torch._foreach_add_(ms, grads, alpha=w)
            terms = [(ms, k.a), (grads, w)] if s.nesterov else [(ms, 1.0)]
        else:
            terms = [(grads, scale_in)]
        scale_out = [k.scale_out(s, t) for t in steps]
        same_scale = len(set(scale_out)) == 1  # always, unless bias correction meets mixed steps
        denom = None
        if s.eps_placement == "outside":
            denom = torch._foreach_sqrt([st["v"] for st in states])
            torch._foreach_add_(denom, k.eps)
        for xs, coef in terms:
            if same_scale:
                value = -scale_out[0] * coef
                if denom is not None:
                    torch._foreach_addcdiv_(params, xs, denom, value=value)
                else:
                    torch._foreach_add_(params, xs, alpha=value)
            elif denom is not None:
                torch._foreach_addcdiv_(params, xs, denom, [-so * coef for so in scale_out])
            else:
                for p, x, so in zip(params, xs, scale_out, strict=True):
                    p.add_(x, alpha=-so * coef)
        for st, t in zip(states, steps, strict=True):
            st["step"] = t + 1
