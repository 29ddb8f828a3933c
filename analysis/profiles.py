"""Performance profiles of optimizers over workloads (Dolan and Moré 2002, as in AlgoPerf).

Fix a protocol and a quantity ``v`` for which lower is better: the steps to the workload's
target, or the final reported metric (docs/method.md section 9.6). For optimizer ``s``
and workload ``w``, the performance ratio is

    r_{s,w} = v_{s,w} / min_{s'} v_{s',w}          (the minimum over the optimizers of w)

with r = +inf where v_{s,w} is +inf (a missed target), NaN, or absent (``s`` did not run on
``w``). Where the best value is 0, r = 1 for the optimizers at 0 and +inf for the others.

A workload on which no optimizer has a finite value (``unsolved``) has r = +inf for everyone.
By default it stays in W, as in AlgoPerf's scoring (``scoring/performance_profile.py`` of
mlcommons/algorithmic-efficiency divides rho by the fixed number of workloads, and its ratio
there is inf / inf = NaN, never <= tau): it counts as a miss for every optimizer, which lowers
every score by the factor |W_solved| / |W| and leaves their order unchanged. With
``drop_unsolved`` it is left out of W instead (listed in ``left_out``), which scales every score
up by |W| / |W_solved|: the convention of this module before it followed AlgoPerf's, kept
behind a flag for comparisons with earlier output. The profile of ``s`` is the fraction of
workloads on which ``s`` is within a factor tau of the best,

    rho_s(tau) = (1/|W|) * #{w in W : r_{s,w} <= tau},      tau in [1, tau_max],

a non-decreasing, right-continuous step function that jumps at the finite ratios. The score
is its normalised integral (tau_max = 4 by default),

    score_s = 1/(tau_max - 1) * integral_1^tau_max rho_s(tau) dtau
            = 1/(|W| (tau_max - 1)) * sum_{w in W} max(0, tau_max - r_{s,w}),

computed exactly: workload w adds the indicator 1[r_{s,w} <= tau], whose integral over
[1, tau_max] is (tau_max - r_{s,w})^+ since r >= 1 (0 for r = +inf). This equals the sum over
the breakpoints 1 = t_0 < t_1 < ... < t_m = tau_max (the ratios inside (1, tau_max)) of
rho_s(t_j) * (t_{j+1} - t_j). The score lies in [0, 1], higher is better: 1 exactly when ``s``
is the best (r = 1) on every workload, 0 when it is never within tau_max of the best.

AlgoPerf computes the same integral numerically: ``compute_leaderboard_score`` applies
``np.trapz`` to rho at ``num_points = 100`` equally spaced tau in [1, tau_max] and divides by
tau_max - 1. With ``points = N`` this module does the same,

    score_s = trapezoid(rho_s(tau_0..tau_{N-1}), tau) / (tau_max - 1),  tau_j = 1 + j (tau_max - 1) / (N - 1),

which reproduces a published AlgoPerf score. It differs from the exact integral only near the
jumps of rho: each workload's jump is smeared over one grid interval, so
|trapezoid - exact| <= (tau_max - 1) / (N - 1) / 2 / (tau_max - 1) = 1 / (2 (N - 1)) in all
(0.0051 at N = 100), and 0 when every finite ratio lies on the grid.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from optcompare.errors import ParameterError

__all__ = [
    "ALGOPERF_POINTS",
    "TAU_MAX",
    "OptimizerProfile",
    "PerformanceProfile",
    "check_tau_max",
    "performance_profile",
    "performance_ratios",
    "profile_score",
]

TAU_MAX = 4.0
"""The default upper end of the profile's tau range (AlgoPerf's)."""

ALGOPERF_POINTS = 100
"""The number of tau points of AlgoPerf's trapezoid score (``num_points``; module doc)."""


def check_tau_max(tau_max: float, parameter: str = "tau_max") -> float:
    """``tau_max`` as a float; ParameterError unless it is a finite number > 1."""
    try:
        value = float(tau_max)
    except (TypeError, ValueError):
        value = math.nan
    if isinstance(tau_max, bool) or not (math.isfinite(value) and value > 1.0):
        raise ParameterError(
            parameter,
            f"{{name}} must be a finite number > 1 (the profile spans [1, {{name}}]), "
            f"got {tau_max!r}; the default is {TAU_MAX:g}",
        )
    return value


def _value(v: float | None) -> float:
    """A value as the ratios see it: None and NaN are +inf (module doc)."""
    return math.inf if v is None or math.isnan(v) else float(v)


def performance_ratios(values: Mapping[str, float | None]) -> dict[str, float] | None:
    """r_{s,w} of one workload (``values``: optimizer -> v_{s,w}); None when no optimizer has a
    finite value (an unsolved workload; module doc). Values must be >= 0."""
    clean = {s: _value(v) for s, v in values.items()}
    if any(v < 0 for v in clean.values()):
        bad = {s: v for s, v in clean.items() if v < 0}
        raise ValueError(f"performance ratios need values >= 0, got {bad}")
    finite = [v for v in clean.values() if math.isfinite(v)]
    if not finite:
        return None
    best = min(finite)
    if best == 0.0:
        return {s: 1.0 if v == 0.0 else math.inf for s, v in clean.items()}
    return {s: v / best for s, v in clean.items()}


def check_points(points: int | None, parameter: str = "points") -> int | None:
    """``points`` as an int; ParameterError unless None (the exact integral) or an int >= 2."""
    if points is None:
        return None
    if isinstance(points, bool) or not isinstance(points, int) or points < 2:
        raise ParameterError(
            parameter,
            f"{{name}} must be an integer >= 2 (tau points of the trapezoid score), got {points!r}; "
            f"AlgoPerf uses {ALGOPERF_POINTS}, and leaving it out gives the exact integral",
        )
    return points


def profile_score(ratios: Sequence[float], tau_max: float = TAU_MAX, points: int | None = None) -> float:
    """The normalised integral of rho over [1, tau_max] (module doc): exactly,
    sum_w max(0, tau_max - r_w) / (|W| (tau_max - 1)), or with ``points`` = N AlgoPerf's
    trapezoid rule on N equally spaced tau; NaN for no workload."""
    if not ratios:
        return math.nan
    if points is None:
        total = sum(max(0.0, tau_max - r) for r in ratios)
        return total / (len(ratios) * (tau_max - 1.0))
    taus = np.linspace(1.0, tau_max, num=points)
    r = np.asarray(ratios, dtype=float)
    rho = (r[None, :] <= taus[:, None]).sum(axis=1) / len(ratios)
    return float(np.trapezoid(rho, taus) / (tau_max - 1.0))


@dataclass(frozen=True)
class OptimizerProfile:
    """One optimizer's ratios (one per workload of its :class:`PerformanceProfile`, in that
    order; +inf: missed or absent) and its score."""

    optimizer: str
    ratios: tuple[float, ...]
    score: float

    def rho(self, tau: float) -> float:
        """rho(tau): the fraction of the workloads with r <= tau (NaN for no workload)."""
        if not self.ratios:
            return math.nan
        return sum(r <= tau for r in self.ratios) / len(self.ratios)

    def steps(self, tau_max: float = TAU_MAX) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """(tau, rho(tau)) at 1, at each ratio inside (1, tau_max) and at tau_max: rho holds
        its value from each tau to the next (a ``where="post"`` step curve)."""
        inner = sorted({r for r in self.ratios if 1.0 < r < tau_max})
        taus = (1.0, *inner, float(tau_max))
        return taus, tuple(self.rho(t) for t in taus)


@dataclass(frozen=True)
class PerformanceProfile:
    """The profiles of the optimizers of one protocol on one quantity, highest score first
    (equal scores by name). ``workloads`` are those in W; ``unsolved`` those without a finite
    value for any optimizer, in W (a miss for everyone) unless ``left_out`` (``drop_unsolved``)
    holds them; ``points`` None for the exact score, N for AlgoPerf's trapezoid (module doc)."""

    protocol: str
    quantity: str
    workloads: tuple[str, ...]
    left_out: tuple[str, ...]
    tau_max: float
    optimizers: tuple[OptimizerProfile, ...]
    unsolved: tuple[str, ...] = ()
    points: int | None = None
    drop_unsolved: bool = False

    @property
    def convention(self) -> str:
        """How unsolved workloads count: ``"algoperf"`` (in W) or ``"drop-unsolved"``."""
        return "drop-unsolved" if self.drop_unsolved else "algoperf"

    @property
    def convention_sentence(self) -> str:
        """What the convention did to the scores, or "" when every workload was solved."""
        if not self.unsolved:
            return ""
        names = ", ".join(self.unsolved)
        solved = len(self.workloads) - (0 if self.left_out else len(self.unsolved))
        if self.left_out:
            if not self.workloads:
                return (f"{self.quantity}: left out {names} (no optimizer has a finite value there; "
                        "--drop-unsolved): no workload is left, so there is no score")
            return (f"{self.quantity}: left out {names} (no optimizer has a finite value there; "
                    f"--drop-unsolved), which scales every score by {len(self.workloads) + len(self.left_out)}/"
                    f"{len(self.workloads)} against AlgoPerf's convention")
        return (f"{self.quantity}: {names} unsolved by every optimizer, kept in W as a miss for all "
                f"(AlgoPerf's convention): every score is {solved}/{len(self.workloads)} of what "
                f"--drop-unsolved would give")

    def as_dict(self) -> dict[str, Any]:
        """``{"protocol", "quantity", "tau_max", "points", "convention", "workloads",
        "unsolved", "left_out", "optimizers": [{"optimizer", "score", "ratios": {workload:
        r}}]}`` (an infinite r is a missed target)."""
        return {
            "protocol": self.protocol,
            "quantity": self.quantity,
            "tau_max": self.tau_max,
            "points": self.points,
            "convention": self.convention,
            "workloads": list(self.workloads),
            "unsolved": list(self.unsolved),
            "left_out": list(self.left_out),
            "optimizers": [
                {
                    "optimizer": o.optimizer,
                    "score": o.score,
                    "ratios": dict(zip(self.workloads, o.ratios, strict=True)),
                }
                for o in self.optimizers
            ],
        }


def performance_profile(
    values: Mapping[str, Mapping[str, float | None]],
    *,
    protocol: str,
    quantity: str,
    tau_max: float = TAU_MAX,
    drop_unsolved: bool = False,
    points: int | None = None,
) -> PerformanceProfile:
    """The profile of ``values`` (workload -> optimizer -> v, lower is better) over every
    optimizer of any workload; one absent from a workload has r = +inf there. A workload that
    no optimizer solved stays in W unless ``drop_unsolved``; ``points`` None scores exactly, N
    by AlgoPerf's trapezoid (module doc)."""
    tau_max = check_tau_max(tau_max)
    points = check_points(points)
    optimizers = sorted({s for by_optimizer in values.values() for s in by_optimizer})
    kept: list[str] = []
    left_out: list[str] = []
    unsolved: list[str] = []
    columns: list[dict[str, float]] = []
    for workload in sorted(values):
        column = performance_ratios(values[workload])
        if column is None:
            unsolved.append(workload)
            if drop_unsolved:
                left_out.append(workload)
                continue
            column = {}
        kept.append(workload)
        columns.append(column)
    profiles = []
    for s in optimizers:
        ratios = tuple(c.get(s, math.inf) for c in columns)
        profiles.append(OptimizerProfile(s, ratios, profile_score(ratios, tau_max, points)))
    profiles.sort(key=lambda p: (-p.score if math.isfinite(p.score) else math.inf, p.optimizer))
    return PerformanceProfile(
        protocol, quantity, tuple(kept), tuple(left_out), tau_max, tuple(profiles), tuple(unsolved), points,
        drop_unsolved,
    )
