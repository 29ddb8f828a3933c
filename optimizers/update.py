"""The generalized first-order update of Choi et al. (2019), section 2, as one function.

This docstring is the one statement of the update's equations; every other module refers here
(each preset's own instance is ``UpdateStructure.equations()`` and its factory's docstring).

For one parameter tensor ``theta`` with minibatch gradient ``g`` at update ``t`` (``t = 0`` at
the first update) and scheduled learning rate ``eta_t``:

    g     <- g + weight_decay * theta                   (coupled L2; theta before the shrink)
    theta <- theta * (1 - eta_t * decoupled_weight_decay)            (decoupled, AdamW's)
    v     <- rho * v + (1 - rho) * g^2                  if second moment (v0 = ``v_init``)
    u     <- g / sqrt(v + eps)   if eps_placement == "inside"  (RMSProp)
             g                    otherwise
    s     <- eta_t if lr_placement == "inside" else 1                (RMSProp: eta in the buffer)
    m     <- a * m + c * s * u                          if first moment (m0 = 0)
    n     <- a * m + c * s * u   if nesterov;  m with a first moment;  s * u without
    b     <- sqrt(1 - rho^(t+1)) / (1 - a^(t+1))   if bias_correction  else 1
    d     <- sqrt(v) + eps       if eps_placement == "outside"  (Adam, NAdam)
             1                    otherwise
    theta <- theta - (eta_t if lr_placement == "outside" else 1) * b * n / d

with ``a`` the momentum coefficient (``momentum`` or ``beta1``), ``c = 1 - a`` for an
exponential moving average (Adam family) or ``c = 1`` for a plain sum (heavy ball), and ``rho``
the second-moment decay (``rho`` or ``beta2``). A weight decay of 0 skips its line.

:func:`apply_update` computes these equations once, for three callers, each with its table of
elementwise operations:

- the single-tensor path of :class:`optimizers.GeneralizedOptimizer`: one call per tensor with
  :data:`TENSOR_OPS` (torch's tensor methods), hyperparameters as Python floats;
- its foreach path: one call per (device, dtype, step) bucket of a param group with
  :data:`FOREACH_OPS` (each operation applied to the whole list at once), floats again;
- :class:`optimizers.BundledUpdate`: one call on a ``(B, P)`` matrix of B stacked trials with
  :data:`COLUMN_OPS`, each hyperparameter a ``(B, 1)`` column (one row per trial).

The per-step numbers (``c * s``, ``1 - eta_t * lambda``, the bias-corrected step sizes) come
from :func:`step_coefficients`, the same arithmetic on floats and on float64 columns. Three
fusions save passes over memory; ``UpdateStructure.fusions`` is the one rule for all callers:

- ``lerp``: with an EMA and the learning rate outside (``c * s = 1 - a``), m <- a*m + (1-a)*u
  is one ``lerp(m, u, 1 - a)``;
- ``root_into_momentum``: otherwise, with eps inside the root and a plain first moment (not
  Nesterov), m <- a*m + c*s*g/root is one ``addcdiv`` (no ``g / root`` temporary; the column
  table forms ``g / root`` all the same);
- Nesterov's n is applied to theta as two in-place terms, a*m and c*s*u, so that no temporary
  of the parameters' size is allocated.

Rounding: the tensor and foreach tables perform the same floating-point operations in the same
order, so on CPU the single-tensor and foreach paths are bitwise identical (on CUDA the foreach
kernels are other device code and may differ in the last bit). With a column coefficient an
``x + c * y`` is an ``addcmul`` instead of ``add(alpha=c)``, so a bundle equals each trial
alone up to rounding.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any, Protocol, cast

import torch

from .structure import UpdateStructure

__all__ = [
    "COLUMN_OPS",
    "FOREACH_OPS",
    "TENSOR_OPS",
    "Coefficient",
    "Hyperparameters",
    "StepCoefficients",
    "UpdateOps",
    "apply_update",
    "initial_state",
    "step_coefficients",
]

Coefficient = float | torch.Tensor
"""A Python float (one param group) or a ``(B, 1)`` float64 column (one row per bundled trial)."""


@dataclass(frozen=True, slots=True)
class Hyperparameters:
    """The numbers of the update besides the learning rate (0.0 where the structure has none)."""

    a: Coefficient = 0.0
    rho: Coefficient = 0.0
    eps: Coefficient = 0.0
    weight_decay: Coefficient = 0.0
    decoupled_weight_decay: Coefficient = 0.0

    @classmethod
    def read(
        cls, structure: UpdateStructure, value: Callable[[str, float], Coefficient]
    ) -> Hyperparameters:
        """The values ``structure`` reads, ``value(torch_key, default)`` each (0 when absent)."""
        s = structure
        return cls(
            a=value(s.momentum_key, 0.0) if s.momentum_key else 0.0,
            rho=value(s.second_moment_key, 0.0) if s.second_moment_key else 0.0,
            eps=value("eps", 0.0) if s.eps_placement != "none" else 0.0,
            weight_decay=value("weight_decay", 0.0),
            decoupled_weight_decay=value("decoupled_weight_decay", 0.0),
        )

    def rows(self, index: torch.Tensor) -> Hyperparameters:
        """The trials ``index`` (1-D) of every column, in that order (floats are kept)."""
        return replace(self, **{f.name: _rows(getattr(self, f.name), index) for f in fields(self)})


@dataclass(frozen=True, slots=True)
class StepCoefficients:
    """The numbers one update step multiplies by (see :func:`step_coefficients`)."""

    weight_decay: Coefficient | None
    """Coupled L2 coefficient; None when 0 (for a column: in every row)."""
    shrink: Coefficient | None
    """``1 - eta_t * decoupled_weight_decay``; None when the decay is 0."""
    a: Coefficient
    rho: Coefficient
    one_minus_rho: Coefficient
    eps: Coefficient
    w: Coefficient
    """``c * s``: the weight of u in m (and the lerp weight ``1 - a``)."""
    terms: tuple[Coefficient, ...]
    """Coefficient of each term added to theta: ``-eta_t*b*(a, c*s)`` (Nesterov, terms m and u),
    ``-eta_t*b`` (m) or ``-eta_t*b*s`` (u, no first moment); eta_t is 1 when the rate is inside."""

    def cast(self, like: torch.Tensor) -> StepCoefficients:
        """The columns in ``like``'s dtype and device, moved in one copy; floats stay floats."""
        names = [f.name for f in fields(self) if f.name != "terms"]
        flat = [getattr(self, n) for n in names] + list(self.terms)
        columns = [x for x in flat if isinstance(x, torch.Tensor)]
        if not columns:
            return self
        moved = iter(torch.cat(columns, dim=1).to(like.device, like.dtype).split(1, dim=1))
        flat = [next(moved) if isinstance(x, torch.Tensor) else x for x in flat]
        return StepCoefficients(**dict(zip(names, flat[: len(names)], strict=True)), terms=tuple(flat[len(names):]))


def step_coefficients(
    structure: UpdateStructure, hp: Hyperparameters, lr: Coefficient, t: int
) -> StepCoefficients:
    """The coefficients of update ``t`` at learning rate ``lr`` (floats in, floats out; float64
    columns in, columns out), as the equations of this module's docstring define them."""
    s = structure
    inside = s.lr_placement == "inside"
    scale_in = lr if inside else 1.0
    w = (1.0 - hp.a if s.ema else 1.0) * scale_in
    scale = 1.0 if inside else lr
    if s.bias_correction:
        scale = scale * (_sqrt(1.0 - hp.rho ** (t + 1)) / (1.0 - hp.a ** (t + 1)))
    if s.momentum_key is None:
        factors: tuple[Coefficient, ...] = (scale_in,)
    elif s.nesterov:
        factors = (hp.a, w)
    else:
        factors = (1.0,)
    decoupled = hp.decoupled_weight_decay
    return StepCoefficients(
        weight_decay=None if _is_zero(hp.weight_decay) else hp.weight_decay,
        shrink=None if _is_zero(decoupled) else 1.0 - lr * decoupled,
        a=hp.a,
        rho=hp.rho,
        one_minus_rho=1.0 - hp.rho,
        eps=hp.eps,
        w=w,
        terms=tuple(-scale * f for f in factors),
    )


def initial_state(structure: UpdateStructure, like: torch.Tensor) -> dict[str, torch.Tensor]:
    """The moments at t = 0, shaped like ``like``: ``m`` = 0 and ``v`` = ``v_init`` (only those
    the structure has)."""
    state: dict[str, torch.Tensor] = {}
    if structure.momentum_key is not None:
        state["m"] = torch.zeros_like(like, memory_format=torch.preserve_format)
    if structure.second_moment_key is not None:
        state["v"] = torch.full_like(like, structure.v_init, memory_format=torch.preserve_format)
    return state


class UpdateOps(Protocol):
    """The elementwise operations of :func:`apply_update`, on one tensor or on a list of them
    (``x``, ``y``, ``z``), with torch's signatures; names ending in ``_`` work in place:
    ``axpy`` x + alpha*y, ``scale_`` x *= c, ``add`` x + c, ``sqrt``, ``div`` x / y,
    ``addcmul_`` x += value*y*z, ``addcdiv_`` x += value*y/z, ``lerp_`` x += w*(y - x)."""

    def axpy(self, x: Any, y: Any, *, alpha: Any) -> Any: ...
    def axpy_(self, x: Any, y: Any, *, alpha: Any) -> None: ...
    def scale_(self, x: Any, c: Any) -> None: ...
    def add(self, x: Any, c: Any) -> Any: ...
    def add_(self, x: Any, c: Any) -> None: ...
    def sqrt(self, x: Any) -> Any: ...
    def sqrt_(self, x: Any) -> None: ...
    def div(self, x: Any, y: Any) -> Any: ...
    def addcmul_(self, x: Any, y: Any, z: Any, *, value: Any) -> None: ...
    def addcdiv_(self, x: Any, y: Any, z: Any, *, value: Any) -> None: ...
    def lerp_(self, x: Any, y: Any, w: Any) -> None: ...


class _ElementwiseOps:
    """The operations whose coefficient torch broadcasts as it is (a float, or a ``(B, 1)``
    column over each row of a ``(B, P)`` matrix): torch's own methods, no wrapper in between."""

    scale_ = staticmethod(torch.Tensor.mul_)
    add = staticmethod(torch.Tensor.add)
    add_ = staticmethod(torch.Tensor.add_)
    sqrt = staticmethod(torch.Tensor.sqrt)
    sqrt_ = staticmethod(torch.Tensor.sqrt_)
    div = staticmethod(torch.Tensor.div)
    lerp_ = staticmethod(torch.Tensor.lerp_)


class _TensorOps(_ElementwiseOps):
    """One tensor, float coefficients: torch's own methods throughout."""

    axpy = staticmethod(torch.Tensor.add)
    axpy_ = staticmethod(torch.Tensor.add_)
    addcmul_ = staticmethod(torch.Tensor.addcmul_)
    addcdiv_ = staticmethod(torch.Tensor.addcdiv_)


class _ColumnOps(_ElementwiseOps):
    """One ``(B, P)`` tensor; a coefficient is a float or a ``(B, 1)`` column broadcast over
    each row. Torch's ``alpha=`` and ``value=`` take scalars only, so the four operations that
    use them multiply by the column instead."""

    @staticmethod
    def axpy(x: torch.Tensor, y: torch.Tensor, *, alpha: Coefficient) -> torch.Tensor:
        return x.addcmul(y, alpha) if isinstance(alpha, torch.Tensor) else x.add(y, alpha=alpha)

    @staticmethod
    def axpy_(x: torch.Tensor, y: torch.Tensor, *, alpha: Coefficient) -> None:
        if isinstance(alpha, torch.Tensor):
            x.addcmul_(y, alpha)
        else:
            x.add_(y, alpha=alpha)

    @staticmethod
    def addcmul_(x: torch.Tensor, y: torch.Tensor, z: torch.Tensor, *, value: Coefficient) -> None:
        if isinstance(value, torch.Tensor):
            x.addcmul_(y * z, value)
        else:
            x.addcmul_(y, z, value=value)

    @staticmethod
    def addcdiv_(x: torch.Tensor, y: torch.Tensor, z: torch.Tensor, *, value: Coefficient) -> None:
        if isinstance(value, torch.Tensor):
            x.addcmul_(y / z, value)
        else:
            x.addcdiv_(y, z, value=value)


class _ForeachOps:
    """A list of tensors of one device and dtype, float coefficients: ``torch._foreach_*``."""

    axpy = staticmethod(torch._foreach_add)
    axpy_ = staticmethod(torch._foreach_add_)
    scale_ = staticmethod(torch._foreach_mul_)
    add = staticmethod(torch._foreach_add)
    add_ = staticmethod(torch._foreach_add_)
    sqrt = staticmethod(torch._foreach_sqrt)
    sqrt_ = staticmethod(torch._foreach_sqrt_)
    div = staticmethod(torch._foreach_div)
    addcmul_ = staticmethod(torch._foreach_addcmul_)
    addcdiv_ = staticmethod(torch._foreach_addcdiv_)
    lerp_ = staticmethod(torch._foreach_lerp_)


# torch's methods and ``torch._foreach_*`` have the protocol's shape, but their stubs' overloads
# and positional-only parameters are more than a Protocol can match: each is cast once here.
TENSOR_OPS: UpdateOps = cast(UpdateOps, _TensorOps())
"""One parameter tensor with float coefficients (the single-tensor path)."""
COLUMN_OPS: UpdateOps = cast(UpdateOps, _ColumnOps())
"""A bundle's ``(B, P)`` matrix with ``(B, 1)`` column coefficients (the bundled path)."""
FOREACH_OPS: UpdateOps = cast(UpdateOps, _ForeachOps())
"""A list of tensors, one ``torch._foreach_*`` call each (the foreach path)."""


def apply_update(
    ops: UpdateOps,
    structure: UpdateStructure,
    theta: Any,  # noqa: ANN401 - a tensor, or a list of tensors for FOREACH_OPS
    grad: Any,  # noqa: ANN401
    m: Any,  # noqa: ANN401 - None without a first moment
    v: Any,  # noqa: ANN401 - None without a second moment
    k: StepCoefficients,
) -> None:
    """One update of ``theta`` (and of ``m``, ``v``) in place: the equations of this module's
    docstring with the coefficients ``k`` of :func:`step_coefficients`. ``grad`` is not changed."""
    s = structure
    g = grad
    if k.weight_decay is not None:
        g = ops.axpy(g, theta, alpha=k.weight_decay)
    if k.shrink is not None:
        ops.scale_(theta, k.shrink)
    root = None
    if v is not None:
        ops.scale_(v, k.rho)
        ops.addcmul_(v, g, g, value=k.one_minus_rho)
        if s.eps_placement == "inside":
            root = ops.add(v, k.eps)
            ops.sqrt_(root)
            if not s.fusions.root_into_momentum:
                g = ops.div(g, root)
    if m is not None:
        if s.fusions.lerp:
            ops.lerp_(m, g, k.w)
        else:
            ops.scale_(m, k.a)
            if s.fusions.root_into_momentum:
                ops.addcdiv_(m, g, root, value=k.w)
            else:
                ops.axpy_(m, g, alpha=k.w)
        # Nesterov: n = a*m + c*s*u as two terms, a*m and c*s*u (no temporary).
        terms: Sequence[tuple[Any, Coefficient]] = (
            ((m, k.terms[0]), (g, k.terms[1])) if s.nesterov else ((m, k.terms[0]),)
        )
    else:
        terms = ((g, k.terms[0]),)
    if s.eps_placement == "outside":
        denom = ops.sqrt(v)
        ops.add_(denom, k.eps)
        for x, c in terms:
            ops.addcdiv_(theta, x, denom, value=c)
    else:
        for x, c in terms:
            ops.axpy_(theta, x, alpha=c)


def _is_zero(c: Coefficient) -> bool:
    return not bool(c.any()) if isinstance(c, torch.Tensor) else c == 0.0


def _sqrt(x: Coefficient) -> Coefficient:
    return x.sqrt() if isinstance(x, torch.Tensor) else math.sqrt(x)


def _rows(c: Coefficient, index: torch.Tensor) -> Coefficient:
    return c[index] if isinstance(c, torch.Tensor) else c
