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
floating-point operations in the same order, so on CPU their results are bitwise identical
(checked in tests/optimizers/test_kernels.py); on CUDA the foreach kernels are different device
code and may differ in the last bit. The default follows torch.optim: foreach when every
parameter being updated in a group is a dense CUDA tensor, the single-tensor loop otherwise (on
CPU the foreach kernel is slower: it materialises each intermediate for the whole group).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import torch

from .intervals import Interval
from .schedules import is_real

__all__ = ["GeneralizedOptimizer", "UpdateStructure", "check_group", "group_ranges", "root_epsilon_problem"]


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

    def equations(self) -> str:
        """The update this structure runs, written out with its param-group keys (one line each;
        ``g`` is the minibatch gradient, ``eta_t`` the scheduled ``lr``, t = 0 at the first update)."""
        a, rho = self.momentum_key, self.second_moment_key
        lines = [
            "g <- g + weight_decay * theta                            (coupled L2, if set)",
            "theta <- theta * (1 - eta_t * decoupled_weight_decay)   (decoupled decay, if set)",
        ]
        if rho is not None:
            lines.append(f"v <- {rho}*v + (1-{rho})*g^2   (v0 = {self.v_init:g})")
        u = "g / sqrt(v + eps)" if self.eps_placement == "inside" else "g"
        inner = f"eta_t * {u}" if self.lr_placement == "inside" else u
        if a is not None:
            c = f"(1-{a})*" if self.ema else ""
            lines.append(f"m <- {a}*m + {c}{inner}   (m0 = 0)")
            n = f"({a}*m + {c}{inner})" if self.nesterov else "m"
        else:
            n = inner
        scale = "eta_t * " if self.lr_placement == "outside" else ""
        if self.bias_correction:
            scale += f"sqrt(1 - {rho or 0}^(t+1)) / (1 - {a or 0}^(t+1)) * "
        denom = " / (sqrt(v) + eps)" if self.eps_placement == "outside" else ""
        lines.append(f"theta <- theta - {scale}{n}{denom}")
        return "\n".join(lines)


_UNIT = Interval(0.0, 1.0, high_closed=False)
_NONNEGATIVE = Interval(0.0, math.inf, high_closed=False)
_POSITIVE = Interval(0.0, math.inf, low_closed=False, high_closed=False)
_OPTIONAL_KEYS = ("weight_decay", "decoupled_weight_decay")
"""Param-group keys read with a default of 0 when absent (no decay)."""


def group_ranges(structure: UpdateStructure) -> dict[str, Interval]:
    """Valid values of every param-group key ``structure`` reads (torch keys, e.g. ``lr``).

    ``lr`` in (0, inf); the momentum coefficient ``a`` in [0, 1) (``a = 1`` never forgets, and
    makes the bias correction 1 - a^(t+1) zero); the second-moment decay in [0, 1] without bias
    correction (``rho = 1`` freezes v at v0) and [0, 1) with it (``sqrt(1 - 1^(t+1)) = 0``);
    ``eps`` in (0, inf) outside the root (``m / sqrt(v)`` is 0/0 where g = 0) and [0, inf) inside
    it (see :func:`root_epsilon_problem` for eps = 0); the weight decays in [0, inf).
    """
    ranges: dict[str, Interval] = {"lr": _POSITIVE}
    if structure.momentum_key is not None:
        ranges[structure.momentum_key] = _UNIT
    if structure.second_moment_key is not None:
        ranges[structure.second_moment_key] = _UNIT if structure.bias_correction else Interval(0.0, 1.0)
    if structure.eps_placement == "outside":
        ranges["eps"] = _POSITIVE
    elif structure.eps_placement == "inside":
        ranges["eps"] = _NONNEGATIVE
    for key in _OPTIONAL_KEYS:
        ranges[key] = _NONNEGATIVE
    return ranges


def root_epsilon_problem(
    structure: UpdateStructure,
    eps: float | None,
    rho: float | None,
    *,
    eps_name: str = "eps",
    rho_name: str | None = None,
) -> str | None:
    """Why ``eps`` cannot go with ``rho`` in ``structure``, or None when it can.

    With eps inside the root, u = g / sqrt(v + eps) and v_t = rho^t v0 + (1 - rho) sum_s
    rho^(t-1-s) g_s^2. eps = 0 is safe only with rho = 1, which keeps v at v0 > 0 for ever (the
    exact MOMENTUM <= RMSPROP inclusion); with rho < 1, v reaches 0 wherever the gradient is 0
    (at once for rho = 0, by underflow of rho^t otherwise) and u = 0/0 = NaN.
    """
    if structure.eps_placement != "inside" or structure.second_moment_key is None:
        return None
    if eps is None or rho is None or float(eps) != 0.0 or float(rho) == 1.0:
        return None
    rho_name = rho_name or structure.second_moment_key
    return (
        f"{eps_name}={eps!r} requires {rho_name}=1 (got {rho_name}={rho!r}): with {rho_name} < 1, "
        f"v reaches 0 where the gradient is 0 and g / sqrt(v + {eps_name}) is 0/0; valid: "
        f"{eps_name} > 0, or {eps_name} = 0 with {rho_name} = 1 (the exact momentum <= rmsprop inclusion)"
    )


def check_group(structure: UpdateStructure, group: Mapping[str, Any], *, label: str) -> None:
    """ValueError unless ``group`` (torch keys, defaults filled in) is valid for ``structure``:
    every key of :func:`group_ranges` present (the weight decays may be absent) and in range, and
    no :func:`root_epsilon_problem`. ``label`` starts the message."""
    ranges = group_ranges(structure)
    for key, interval in ranges.items():
        if key not in group:
            if key in _OPTIONAL_KEYS:
                continue
            raise ValueError(
                f"{label}: a param group needs {key!r} (read by this update structure); "
                f"valid range: {interval}"
            )
        raw = group[key]
        if isinstance(raw, torch.Tensor) and raw.numel() == 1:
            raw = raw.item()
        if not is_real(raw):
            raise ValueError(f"{label}: {key}={raw!r} is not a number; valid range: {interval}")
        value = float(raw)
        if math.isnan(value) or value not in interval:
            raise ValueError(f"{label}: {key}={raw!r} is out of range; valid range: {interval}")
    s = structure
    problem = root_epsilon_problem(
        s, group.get("eps"), group.get(s.second_moment_key) if s.second_moment_key else None
    )
    if problem is not None:
        raise ValueError(f"{label}: {problem}")


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
    the structure has them. Device and dtype follow the parameters.

    ``foreach`` selects the kernel: True, the foreach kernel (one op per group and
    (device, dtype) bucket instead of one per tensor); False, the single-tensor loop; None (the
    default, as in torch.optim), foreach for a group whose parameters being updated are all dense
    CUDA tensors and the single-tensor loop otherwise (on CPU torch.optim defaults to it too, and
    our foreach kernel is slower there). Anything else raises ValueError.

    Every param group, those given at construction and those added later with
    :meth:`add_param_group`, is checked against :func:`group_ranges` and
    :func:`root_epsilon_problem` (defaults filled in): a bad value raises ValueError naming the
    key and its valid range. ``params`` (and a group's ``"params"``) must be ordered, not a set.
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
        if foreach is not None and not isinstance(foreach, bool):
            raise ValueError(
                f"foreach={foreach!r} is not a bool; valid values: True (foreach kernel), False "
                "(single-tensor kernel) or None (foreach on CUDA, single-tensor otherwise)"
            )
        _refuse_set(params, "params")
        self.structure = structure
        self.foreach = foreach
        super().__init__(params, defaults)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a param group (as torch.optim does) after checking its values, defaults filled in."""
        if isinstance(param_group, dict):
            _refuse_set(param_group.get("params"), "a param group's 'params'")
            self._check_group({**self.defaults, **param_group})
        super().add_param_group(param_group)

    def _check_group(self, group: Mapping[str, Any]) -> None:
        check_group(self.structure, group, label=type(self).__name__)

    def _use_foreach(self, params: list[torch.Tensor]) -> bool:
        """The kernel for these parameters of one group (see the class docstring)."""
        if self.foreach is not None:
            return self.foreach
        return all(p.device.type == "cuda" and not p.is_sparse for p in params)

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
            if not self._use_foreach(params):
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


def _refuse_set(params: object, what: str) -> None:
    """ValueError for a set of parameters: its order, and so the state_dict, is not reproducible."""
    if isinstance(params, (set, frozenset)):
        raise ValueError(
            f"{what} must be an ordered iterable (list or model.parameters()), not a set: "
            "a set's order is not reproducible"
        )
