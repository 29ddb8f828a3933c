"""Learning-rate schedules as pure functions of the update index ``t`` (0 at the first update).

- ``constant``:      lr_t = lr_0
- ``linear_decay``:  lr_t = lr_0 * (1 - (1 - decay_factor) * t / decay_steps)   for t < decay_steps,
                     lr_t = lr_0 * decay_factor                                    afterwards,
                     decay_steps = max(1, round(decay_steps_factor * total_steps))
                     (Choi et al. 2019, section 4, without the rounding; docs/method.md)
- ``step_decay``:    lr_t = lr_0 * step_decay_factor ^ floor(t / interval),
                     interval = max(1, round(step_decay_every_factor * total_steps))
                     (Wilson et al. 2017: the rate drops by a fixed factor at fixed intervals)
- ``cosine_decay``:  lr_t = lr_0 * (decay_factor + (1 - decay_factor) * (1 + cos(pi * t / decay_steps)) / 2)
                     for t < decay_steps, lr_t = lr_0 * decay_factor afterwards,
                     decay_steps = max(1, round(decay_steps_factor * total_steps))
                     (the modern baselines' schedule: a half cosine from lr_0 to lr_0 * decay_factor)

Every schedule also takes an optional ``warmup_steps_factor`` (default 0): with
``w = round(warmup_steps_factor * total_steps)`` warm-up steps, lr_t is multiplied by
``(t + 1) / w`` for t < w (linear warm-up from lr_0 / w to lr_0), and an optional ``lr_ramp``
= b in [0, 1) (default 0): lr_t is multiplied by ``1 - b^(t+1)`` (b = 0.9: 0.1, 0.19, 0.271 at
t = 0, 1, 2), the first-moment ramp of Adam's and NAdam's imitation of heavy-ball momentum
(alpha_t = eta_t * E * (1 - beta1^(t+1)) / (1 - beta1), docs/method.md). At b = 0 the schedule
is not wrapped at all, so its rates are bitwise those without the parameter.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass, field

from optcompare.errors import InputError

__all__ = ["SCHEDULES", "Schedule", "ScheduleSpec", "is_real", "make_schedule"]

Schedule = Callable[[int], float]


def _constant(lr0: float, total_steps: int) -> Schedule:
    del total_steps
    return lambda t: lr0


def _decay(
    lr0: float, total_steps: int, decay_steps_factor: float, decay_factor: float,
    shape: Callable[[int, int], float],
) -> Schedule:
    """``lr0 * shape(t, D)`` for t < D = max(1, round(decay_steps_factor * total_steps)), then
    ``lr0 * decay_factor``: the decay schedules' common form."""
    decay_steps = max(1, round(decay_steps_factor * total_steps))

    def schedule(t: int) -> float:
        if t < decay_steps:
            return lr0 * shape(t, decay_steps)
        return lr0 * decay_factor

    return schedule


def _linear_decay(
    lr0: float, total_steps: int, *, decay_steps_factor: float, decay_factor: float
) -> Schedule:
    return _decay(lr0, total_steps, decay_steps_factor, decay_factor,
                  lambda t, d: 1.0 - (1.0 - decay_factor) * t / d)


def _step_decay(
    lr0: float, total_steps: int, *, step_decay_factor: float, step_decay_every_factor: float
) -> Schedule:
    interval = max(1, round(step_decay_every_factor * total_steps))
    return lambda t: lr0 * step_decay_factor ** (t // interval)


def _cosine_decay(
    lr0: float, total_steps: int, *, decay_steps_factor: float, decay_factor: float
) -> Schedule:
    return _decay(lr0, total_steps, decay_steps_factor, decay_factor,
                  lambda t, d: decay_factor + (1.0 - decay_factor) * 0.5 * (1.0 + math.cos(math.pi * t / d)))


def _with_warmup(schedule: Schedule, warmup_steps: int) -> Schedule:
    if warmup_steps <= 0:
        return schedule
    return lambda t: schedule(t) * min(1.0, (t + 1) / warmup_steps)


def _with_ramp(schedule: Schedule, ramp: float) -> Schedule:
    """``schedule(t) * (1 - ramp^(t+1))``; ``schedule`` itself at ramp 0 (no multiplication)."""
    if ramp == 0.0:
        return schedule
    return lambda t: schedule(t) * (1.0 - ramp ** (t + 1))


OPTIONAL_PARAMS: dict[str, tuple[float, float, float]] = {
    "warmup_steps_factor": (0.0, 1.0, 0.0),
    "lr_ramp": (0.0, 1.0, 0.0),
}
"""Optional parameters of every schedule: name -> (low, high, default) (module docstring)."""

OPEN_ABOVE = frozenset({"lr_ramp"})
"""Parameters whose high bound is excluded: lr_ramp = 1 would make every rate 0."""


@dataclass(frozen=True)
class ScheduleSpec:
    """A registered schedule: its builder and the hyperparameters it takes, with valid ranges."""

    build: Callable[..., Schedule]
    hparams: dict[str, tuple[float, float]]
    """Required parameters: name -> closed interval of valid values."""
    description: str
    optional: dict[str, tuple[float, float, float]] = field(
        default_factory=lambda: dict(OPTIONAL_PARAMS)
    )
    """Optional parameters: name -> (low, high, default); :data:`OPEN_ABOVE` names those whose
    high bound is excluded."""

    @property
    def all_params(self) -> tuple[str, ...]:
        return (*self.hparams, *self.optional)


SCHEDULES: dict[str, ScheduleSpec] = {
    "constant": ScheduleSpec(_constant, {}, "lr_t = lr_0"),
    "linear_decay": ScheduleSpec(
        _linear_decay,
        {"decay_steps_factor": (0.0, 1.0), "decay_factor": (0.0, 1.0)},
        "linear decay from lr_0 to lr_0*decay_factor over decay_steps_factor*total_steps",
    ),
    "step_decay": ScheduleSpec(
        _step_decay,
        {"step_decay_factor": (0.0, 1.0), "step_decay_every_factor": (0.0, 1.0)},
        "lr_0 times step_decay_factor every step_decay_every_factor*total_steps steps",
    ),
    "cosine_decay": ScheduleSpec(
        _cosine_decay,
        {"decay_steps_factor": (0.0, 1.0), "decay_factor": (0.0, 1.0)},
        "half-cosine decay from lr_0 to lr_0*decay_factor over decay_steps_factor*total_steps",
    ),
}


def is_real(value: object) -> bool:
    """A real number (Python or numpy scalar), not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def make_schedule(name: str, lr0: float, total_steps: int, **params: float) -> Schedule:
    """Build schedule ``name``; InputError naming the schedule, parameter and valid values."""
    if name not in SCHEDULES:
        raise InputError(f"unknown schedule {name!r}; valid choices: {', '.join(SCHEDULES)}")
    spec = SCHEDULES[name]
    missing = sorted(set(spec.hparams) - set(params))
    extra = sorted(set(params) - set(spec.all_params))
    if missing or extra:
        raise InputError(
            f"schedule {name!r} takes {sorted(spec.hparams) or 'no parameters'}"
            f" (optional: {sorted(spec.optional)}), got {sorted(params)}"
        )
    bounds = {**spec.hparams, **{k: (lo, hi) for k, (lo, hi, _) in spec.optional.items()}}
    for key, value in params.items():
        low, high = bounds[key]
        open_above = key in OPEN_ABOVE
        if not is_real(value) or not low <= value <= high or (open_above and value == high):
            raise InputError(
                f"schedule {name!r}: {key}={value!r} must be a number in "
                f"[{low:g}, {high:g}{')' if open_above else ']'}"
            )
    if not is_real(lr0) or not math.isfinite(lr0) or not lr0 > 0:
        raise InputError(f"schedule {name!r}: lr0={lr0!r} must be a number > 0")
    if isinstance(total_steps, bool) or not isinstance(total_steps, numbers.Integral) or total_steps < 1:
        raise InputError(f"schedule {name!r}: total_steps={total_steps!r} must be an integer >= 1")
    optional = {k: params.get(k, default) for k, (_, _, default) in spec.optional.items()}
    required = {k: float(params[k]) for k in spec.hparams}
    schedule = spec.build(float(lr0), int(total_steps), **required)
    schedule = _with_warmup(schedule, round(optional["warmup_steps_factor"] * total_steps))
    return _with_ramp(schedule, float(optional["lr_ramp"]))
