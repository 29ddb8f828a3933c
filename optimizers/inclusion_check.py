"""Numerical check of an inclusion: train the narrow optimizer and its imitation side by side.

Both runs start from the same weights of a small float64 network (10-32-32-3, tanh) and see the
same minibatches; :func:`trajectory_gap` returns the largest relative parameter distance
max_t ||theta_narrow(t) - theta_wide(t)|| / ||theta_narrow(t)|| over the run. For an exact
inclusion it is at rounding level; for a limit inclusion it shrinks as epsilon grows.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .inclusions import imitate
from .registry import create
from .schedules import Schedule

__all__ = ["check_inclusion", "trajectory_gap"]


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
    opt = create(name, list(model.parameters()), **hparams)
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
    narrow: str,
    wide: str,
    hparams: dict[str, float],
    *,
    schedule: Schedule | None = None,
    epsilon: float = 1e8,
    steps: int = 200,
    seed: int = 0,
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


def check_inclusion(
    narrow: str,
    wide: str,
    hparams: dict[str, float],
    epsilons: Sequence[float] = (1e2, 1e4, 1e6, 1e8),
    **kwargs: object,
) -> list[tuple[float, float]]:
    """(epsilon, trajectory gap) for each epsilon: the evidence that ``narrow <= wide``."""
    return [(eps, trajectory_gap(narrow, wide, hparams, epsilon=eps, **kwargs)) for eps in epsilons]
