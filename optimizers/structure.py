"""The structural switches of the generalized update and the values each structure accepts.

An :class:`UpdateStructure` turns the generalized update (equations in :mod:`optimizers.update`)
into one named optimizer; :func:`group_ranges`, :func:`root_epsilon_problem` and
:func:`check_group` say which hyperparameter values it accepts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal, NamedTuple

import torch

from optcompare.errors import InputError
from optcompare.intervals import Interval

from .schedules import is_real

__all__ = ["OPTIONAL_KEYS", "Fusions", "UpdateStructure", "check_group", "group_ranges", "root_epsilon_problem"]


class Fusions(NamedTuple):
    """Which fused forms the update uses for a structure (:attr:`UpdateStructure.fusions`)."""

    lerp: bool
    """m <- a*m + (1-a)*u as one ``lerp(m, u, 1 - a)``."""
    root_into_momentum: bool
    """m <- a*m + c*s*g/root as one ``addcdiv`` (no ``g / root`` temporary)."""


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

    def __post_init__(self) -> None:
        """Refuse switches the update cannot run, when the structure is made (not at the first
        step): an unknown placement, or an epsilon without the second moment it sits beside
        (``g / sqrt(v + eps)`` and ``m / (sqrt(v) + eps)`` both read v)."""
        for name, value, allowed in (
            ("eps_placement", self.eps_placement, ("inside", "outside", "none")),
            ("lr_placement", self.lr_placement, ("inside", "outside")),
        ):
            if value not in allowed:
                raise InputError(f"UpdateStructure: {name}={value!r} is not one of {', '.join(allowed)}")
        if self.eps_placement != "none" and self.second_moment_key is None:
            raise InputError(
                f"UpdateStructure: eps_placement={self.eps_placement!r} needs a second moment "
                "(second_moment_key), since epsilon sits beside sqrt(v); give second_moment_key "
                "(e.g. 'rho') or eps_placement='none'"
            )

    @cached_property
    def fusions(self) -> Fusions:
        """The one fusion rule of the update (all three paths), a function of the switches alone:
        ``lerp`` with a moving average and the learning rate outside (then c*s = 1 - a);
        ``root_into_momentum`` otherwise, with eps inside the root and a plain first moment
        (not Nesterov, which needs u twice)."""
        lerp = self.momentum_key is not None and self.ema and self.lr_placement == "outside"
        root_into_momentum = (
            self.eps_placement == "inside"
            and self.second_moment_key is not None
            and self.momentum_key is not None
            and not self.nesterov
            and not lerp
        )
        return Fusions(lerp, root_into_momentum)

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
OPTIONAL_KEYS = ("weight_decay", "decoupled_weight_decay")
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
    for key in OPTIONAL_KEYS:
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
    """InputError unless ``group`` (torch keys, defaults filled in) is valid for ``structure``:
    every key of :func:`group_ranges` present (the weight decays may be absent) and in range, and
    no :func:`root_epsilon_problem`. ``label`` starts the message."""
    ranges = group_ranges(structure)
    for key, interval in ranges.items():
        if key not in group:
            if key in OPTIONAL_KEYS:
                continue
            raise InputError(
                f"{label}: a param group needs {key!r} (read by this update structure); "
                f"valid range: {interval}"
            )
        raw = group[key]
        if isinstance(raw, torch.Tensor) and raw.numel() == 1:
            raw = raw.item()
        if not is_real(raw):
            raise InputError(f"{label}: {key}={raw!r} is not a number; valid range: {interval}")
        value = float(raw)
        if math.isnan(value) or value not in interval:
            raise InputError(f"{label}: {key}={raw!r} is out of range; valid range: {interval}")
    s = structure
    problem = root_epsilon_problem(
        s, group.get("eps"), group.get(s.second_moment_key) if s.second_moment_key else None
    )
    if problem is not None:
        raise InputError(f"{label}: {problem}")
