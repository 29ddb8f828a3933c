"""Learning-rate schedules as pure functions of the update index ``t`` (0 at the first update).

- ``constant``:      lr_t = lr_0
- ``linear_decay``:  lr_t = lr_0 * (1 - (1 - decay_factor) * t / decay_steps)   for t < decay_steps,
                     lr_t = lr_0 * decay_factor                                    afterwards,
                     decay_steps = max(1, round(decay_steps_factor * total_steps))   (PAPER.md section 4)
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["SCHEDULES", "ScheduleSpec", "make_schedule"]

Schedule = Callable[[int], float]


def _constant(lr0: float, total_steps: int) -> Schedule:
    del total_steps
    return lambda t: lr0


def _linear_decay(
    lr0: float, total_steps: int, *, decay_steps_factor: float, decay_factor: float
) -> Schedule:
    decay_steps = max(1, round(decay_steps_factor * total_steps))

    def schedule(t: int) -> float:
        if t < decay_steps:
            return lr0 * (1.0 - (1.0 - decay_factor) * t / decay_steps)
        return lr0 * decay_factor

    return schedule


@dataclass(frozen=True)
class ScheduleSpec:
    """A registered schedule: its builder and the hyperparameters it takes, with valid ranges."""

    build: Callable[..., Schedule]
    hparams: dict[str, tuple[float, float]]
    """Name -> closed interval of valid values."""
    description: str


SCHEDULES: dict[str, ScheduleSpec] = {
    "constant": ScheduleSpec(_constant, {}, "lr_t = lr_0"),
    "linear_decay": ScheduleSpec(
        _linear_decay,
        {"decay_steps_factor": (0.0, 1.0), "decay_factor": (0.0, 1.0)},
        "linear decay from lr_0 to lr_0*decay_factor over decay_steps_factor*total_steps",
    ),
}


def make_schedule(name: str, lr0: float, total_steps: int, **params: float) -> Schedule:
    """Build schedule ``name``; ValueError naming the schedule, parameter and valid values."""
    from .registry import is_real

    if name not in SCHEDULES:
        raise ValueError(f"unknown schedule {name!r}; valid choices: {', '.join(SCHEDULES)}")
    spec = SCHEDULES[name]
    expected = set(spec.hparams)
    if set(params) != expected:
        raise ValueError(
            f"schedule {name!r} takes exactly {sorted(expected) or 'no parameters'}, "
            f"got {sorted(params)}"
        )
    for key, value in params.items():
        low, high = spec.hparams[key]
        if not is_real(value) or not low <= value <= high:
            raise ValueError(
                f"schedule {name!r}: {key}={value!r} must be a number in [{low:g}, {high:g}]"
            )
    if not is_real(lr0) or not lr0 > 0:
        raise ValueError(f"schedule {name!r}: lr0={lr0!r} must be a number > 0")
    if isinstance(total_steps, bool) or not isinstance(total_steps, numbers.Integral) or total_steps < 1:
        raise ValueError(f"schedule {name!r}: total_steps={total_steps!r} must be an integer >= 1")
    return spec.build(lr0, total_steps, **params)
