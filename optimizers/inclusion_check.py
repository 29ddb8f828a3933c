"""Numerical check of an inclusion: train the narrow optimizer and its imitation side by side.

Both runs start from the same weights of a small float64 network (10-32-32-3, tanh) and see the
same minibatches; :func:`trajectory_gap` returns the largest relative parameter distance
max_t ||theta_narrow(t) - theta_wide(t)|| / ||theta_narrow(t)|| over the run. For an exact
inclusion it is at rounding level; for a limit inclusion it shrinks as epsilon grows.
:func:`check_inclusion` runs it at several epsilons and returns an :class:`InclusionCheck` with
the gaps and a verdict.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch

from optcompare.errors import InputError

from .inclusions import imitate, inclusion_path
from .registry import create
from .schedules import Schedule

__all__ = ["InclusionCheck", "check_inclusion", "trajectory_gap"]


def _problem(seed: int) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(256, 10, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 3, (256,), generator=gen)
    torch.manual_seed(seed)
    model = torch.nn.Sequential(
        torch.nn.Linear(10, 32), torch.nn.Tanh(), torch.nn.Linear(32, 32), torch.nn.Tanh(),
        torch.nn.Linear(32, 3),
    ).double()
    return model, x, y


def _train(
    name: str, hparams: dict[str, float], schedule: Schedule, steps: int, seed: int
) -> list[torch.Tensor]:
    model, x, y = _problem(seed)
    opt = create(name, list(model.parameters()), **hparams)  # type: ignore[arg-type]  # hparams are floats; mypy matches ** to foreach too
    gen = torch.Generator().manual_seed(seed + 1)
    trajectory = []
    for t in range(steps):
        idx = torch.randint(0, len(y), (32,), generator=gen)
        for group in opt.param_groups:
            group["lr"] = schedule(t)
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
        opt.step()
        trajectory.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    return trajectory


def trajectory_gap(
    narrow: str, wide: str, hparams: dict[str, float], *, schedule: Schedule | None = None,
    epsilon: float = 1e8, steps: int = 200, seed: int = 0,
) -> float:
    """Largest relative distance between the narrow run and its imitation by ``wide``."""
    if schedule is None:
        lr = float(hparams["learning_rate"])
        schedule = lambda t: lr  # noqa: E731
    imitation = imitate(narrow, wide, hparams, schedule, epsilon=epsilon, horizon=steps)
    ours = _train(narrow, hparams, schedule, steps, seed)
    theirs = _train(wide, imitation.hparams, imitation.schedule, steps, seed)
    return max(
        float((a - b).norm() / a.norm().clamp_min(1e-300)) for a, b in zip(ours, theirs, strict=True)
    )


@dataclass(frozen=True)
class InclusionCheck:
    """Gaps and verdict of :func:`check_inclusion`. Iterating yields the ``(epsilon, gap)`` pairs
    (``for eps, gap in check_inclusion(...)`` works as when a list of pairs was returned)."""

    narrow: str
    wide: str
    exact: bool
    """Whether the registered inclusion (chain) is declared exact."""
    gaps: tuple[tuple[float, float], ...]
    """(epsilon, trajectory gap) per epsilon, in the order given."""
    passed: bool
    """Exact: every gap <= ``tolerance``. Limit: with epsilons sorted ascending, every gap is
    below the previous one (or already <= ``tolerance``, rounding level), and the last one is
    <= ``shrink`` times the first (or <= ``tolerance``)."""
    reason: str
    """Why it passed or failed, with the numbers."""

    def __iter__(self) -> Iterator[tuple[float, float]]:
        return iter(self.gaps)

    def __len__(self) -> int:
        return len(self.gaps)

    def __getitem__(self, index: int) -> tuple[float, float]:
        return self.gaps[index]


def check_inclusion(
    narrow: str,
    wide: str,
    hparams: dict[str, float],
    epsilons: Sequence[float] = (1e2, 1e4, 1e6, 1e8),
    *,
    schedule: Schedule | None = None,
    steps: int = 200,
    seed: int = 0,
    tolerance: float = 1e-10,
    shrink: float = 1e-2,
) -> InclusionCheck:
    """Train ``narrow`` and its imitation by ``wide`` at each epsilon; gaps and a verdict.

    The gap is :func:`trajectory_gap` (largest relative parameter distance over ``steps``
    float64 steps, so rounding sits near 1e-16). An exact inclusion passes when every gap is
    <= ``tolerance`` (relative). A limit inclusion needs at least two distinct epsilons and
    passes when the gaps fall strictly as epsilon grows (a gap already <= ``tolerance`` counts
    as converged) and the gap at the largest epsilon is <= ``shrink`` times the gap at the
    smallest (or <= ``tolerance``). A NaN or infinite gap fails.
    """
    if not (tolerance >= 0.0 and 0.0 < shrink <= 1.0):
        raise InputError(
            f"tolerance={tolerance!r} and shrink={shrink!r}: valid ranges are tolerance >= 0 and 0 < shrink <= 1"
        )
    if not epsilons:
        raise InputError("epsilons is empty; give at least one epsilon (two or more for a limit inclusion)")
    exact = all(inc.exact for inc in inclusion_path(narrow, wide))
    gaps = tuple(
        (float(eps), trajectory_gap(narrow, wide, hparams, schedule=schedule, epsilon=eps, steps=steps, seed=seed))
        for eps in epsilons
    )
    passed, reason = _verdict(exact, gaps, tolerance, shrink)
    return InclusionCheck(narrow, wide, exact, gaps, passed, f"{narrow} <= {wide}: {reason}")


def _verdict(
    exact: bool, gaps: tuple[tuple[float, float], ...], tolerance: float, shrink: float
) -> tuple[bool, str]:
    bad = [(e, g) for e, g in gaps if not math.isfinite(g)]
    if bad:
        return False, f"gap {bad[0][1]} at epsilon {bad[0][0]:g} is not finite"
    if exact:
        eps, worst = max(gaps, key=lambda pair: pair[1])
        if worst <= tolerance:
            return True, f"exact inclusion, largest gap {worst:.2g} <= tolerance {tolerance:g}"
        return False, (
            f"declared exact, but the gap is {worst:.3g} at epsilon {eps:g} > tolerance {tolerance:g}: "
            "the mapping does not reproduce the narrow trajectory"
        )
    ordered = sorted(gaps)
    if len({e for e, _ in ordered}) < 2:
        return False, "a limit inclusion needs gaps at two or more distinct epsilons"
    if len({e for e, _ in ordered}) < len(ordered):
        return False, "a limit inclusion needs each epsilon once; got repeated epsilons"
    for (e0, g0), (e1, g1) in zip(ordered, ordered[1:], strict=False):
        if not (g1 < g0 or g1 <= tolerance):
            return False, (
                f"limit inclusion, but the gap does not shrink as epsilon grows: {g0:.3g} at "
                f"epsilon {e0:g}, {g1:.3g} at {e1:g}"
            )
    (e_first, first), (e_last, last) = ordered[0], ordered[-1]
    trend = f"gap {first:.2g} at epsilon {e_first:g} -> {last:.2g} at {e_last:g}"
    ratio = f"{last / first:.2g}" if first > 0.0 else "n/a"
    if last <= tolerance:
        return True, f"limit inclusion, {trend} (converged to rounding level <= {tolerance:g})"
    if last <= shrink * first:
        return True, f"limit inclusion, {trend} (falls monotonically, last/first = {ratio})"
    return False, (
        f"limit inclusion, {trend}: falls, but last/first = {ratio} > {shrink:g}; "
        "the imitation does not converge to the narrow trajectory"
    )
