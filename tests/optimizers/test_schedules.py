"""Learning-rate schedules (``optimizers.make_schedule``): values by hand, warm-up, the
first-moment ramp, bad input.

The protocols of Choi et al. (2019), section 4, write decay_steps = decay_steps_factor *
total_steps; schedules.py rounds it, decay_steps = max(1, round(decay_steps_factor *
total_steps)) (rows marked "rounds" below).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import optimizers
from optcompare.errors import InputError

LINEAR_1 = {"decay_steps_factor": 0.5, "decay_factor": 0.01}
LINEAR_2 = {"decay_steps_factor": 1.0, "decay_factor": 0.1}
STEP = {"step_decay_factor": 0.5, "step_decay_every_factor": 0.25}

# (schedule, lr0, total_steps, parameters, {t: lr_t worked out by hand}); compared to rel 1e-14.
VALUES = [
    # decay_steps = 0.5 * 100 = 50; lr_t = 0.1 * (1 - 0.99 * t / 50) for t < 50, then 0.1*0.01
    ("linear_decay", 0.1, 100, LINEAR_1, {25: 0.0505, 49: 0.00298, 50: 0.001}),
    # one step before the end the line is one slope short of the floor: 1 - 0.9*39/40 = 0.1225
    ("linear_decay", 1.0, 40, LINEAR_2, {39: 0.1225, 40: 0.1, 59: 0.1}),
    # rounds: 0.57 * 10 = 5.7 -> 6 steps (not 5.7, nor int() = 5): lr_t = 1 - 0.6 * t / 6
    ("linear_decay", 1.0, 10, {"decay_steps_factor": 0.57, "decay_factor": 0.4}, {3: 0.7, 5: 0.5, 6: 0.4}),
    # lr0 0.1, factor 0.5 every 0.25 * 100 = 25 steps
    ("step_decay", 0.1, 100, STEP, {0: 0.1, 24: 0.1, 25: 0.05, 49: 0.05, 50: 0.025, 75: 0.0125, 99: 0.0125}),
    # 10% of 100 steps = 10 warm-up steps: lr_t *= (t + 1) / 10 for t < 10
    ("constant", 0.2, 100, {"warmup_steps_factor": 0.1}, {0: 0.02, 4: 0.1, 9: 0.2, 10: 0.2, 50: 0.2}),
    # warm-up multiplies any schedule: at t = 4, 0.1 * (1 - 4/100) * 5/10
    (
        "linear_decay", 0.1, 100, {"decay_steps_factor": 1.0, "decay_factor": 0.0, "warmup_steps_factor": 0.1},
        {4: 0.1 * (1 - 4 / 100) * 0.5, 50: 0.05},
    ),
    # first-moment ramp: lr_t *= 1 - 0.9^(t+1) = 0.1, 0.19, 0.271 at t = 0, 1, 2
    ("constant", 2.0, 100, {"lr_ramp": 0.9}, {0: 0.2, 1: 0.38, 2: 0.542, 1000: 2.0}),
    # 1 - 0.5^(t+1) = 0.5, 0.75, 0.875; on the step decay 0.1 (t < 25) and with warm-up (10 steps)
    ("step_decay", 0.1, 100, {**STEP, "lr_ramp": 0.5}, {0: 0.05, 1: 0.075, 2: 0.0875, 25: 0.05 * (1 - 0.5**26)}),
    (
        "constant", 1.0, 100, {"warmup_steps_factor": 0.1, "lr_ramp": 0.9},
        {0: 0.1 * 0.1, 1: 0.2 * 0.19, 2: 0.3 * 0.271},
    ),
    # cosine: lr_0 (f + (1 - f)(1 + cos(pi t / T)) / 2), T = 80 (0.8 x 100), f = 0.1: 1 at t = 0,
    # 0.55 at t = 40 (cos = 0), 0.1 + 0.9 (1 + cos(pi / 4)) / 2 at t = 20, f from t = T on
    (
        "cosine_decay", 1.0, 100, {"decay_steps_factor": 0.8, "decay_factor": 0.1},
        {0: 1.0, 20: 0.1 + 0.9 * (1 + 2**-0.5) / 2, 40: 0.55, 79: 0.1 + 0.45 * (1 - 0.9992290362407229), 80: 0.1, 500: 0.1},
    ),
    # with a 10-step warm-up: (t + 1) / 10 times the cosine for t < 10
    (
        "cosine_decay", 2.0, 100, {"decay_steps_factor": 1.0, "decay_factor": 0.0, "warmup_steps_factor": 0.1},
        {0: 0.1 * 2.0, 9: 1.0 * (1 + 0.9602936856769431)},  # cos(9 pi / 100); warm-up factor 1
    ),
]

# (schedule, lr0, total_steps, parameters, steps, the exact rates at those steps)
EXACT = [
    ("linear_decay", 0.1, 100, LINEAR_1, (0,), [0.1]),
    ("constant", 0.02, 1000, {}, (0, 1, 500, 999, 10**6), [0.02] * 5),
    ("linear_decay", 0.3, 10, {"decay_steps_factor": 0.5, "decay_factor": 1.0}, range(20), [0.3] * 20),
    # decay_steps = max(1, round(0 * 10)) = 1: lr_0 at t = 0, then lr_0 * decay_factor
    ("linear_decay", 0.3, 10, {"decay_steps_factor": 0.0, "decay_factor": 0.5}, range(3), [0.3, 0.15, 0.15]),
    ("constant", 0.2, 100, {}, (0,), [0.2]),  # no warm-up by default
]

# lr_ramp = 0 (the default) leaves every rate bitwise what it is without the parameter.
RAMP_OFF = [
    ("constant", 0.02, 1000, {}),
    ("linear_decay", 0.1, 100, LINEAR_1),
    ("linear_decay", 0.3, 7, {"decay_steps_factor": 0.57, "decay_factor": 0.4, "warmup_steps_factor": 0.3}),
    ("step_decay", 0.1, 100, STEP),
]


def _id(row: tuple) -> str:
    return f"{row[0]}-{'-'.join(f'{k}={v:g}' for k, v in row[3].items()) or 'plain'}"


@pytest.mark.parametrize(("name", "lr0", "total", "params", "expected"), VALUES, ids=[_id(r) for r in VALUES])
def test_schedule_values_by_hand(name, lr0, total, params, expected):
    lr = optimizers.make_schedule(name, lr0, total, **params)
    for t, value in expected.items():
        assert lr(t) == pytest.approx(value, rel=1e-14, abs=0.0), t


@pytest.mark.parametrize(("name", "lr0", "total", "params", "steps", "rates"), EXACT, ids=[_id(r) for r in EXACT])
def test_schedule_values_exactly(name, lr0, total, params, steps, rates):
    lr = optimizers.make_schedule(name, lr0, total, **params)
    assert [lr(t) for t in steps] == rates


@pytest.mark.parametrize(("name", "lr0", "total", "params"), RAMP_OFF, ids=[_id((*r, None)) for r in RAMP_OFF])
def test_a_zero_lr_ramp_is_bitwise_no_ramp(name, lr0, total, params):
    plain = optimizers.make_schedule(name, lr0, total, **params)
    ramp0 = optimizers.make_schedule(name, lr0, total, **params, lr_ramp=0.0)
    steps = range(2 * total)
    assert [ramp0(t).hex() for t in steps] == [plain(t).hex() for t in steps]
    assert all(1.0 - 0.0 ** (t + 1) == 1.0 for t in steps)


def test_every_schedule_takes_warm_up_and_the_ramp_as_optional_parameters():
    for spec in optimizers.SCHEDULES.values():
        assert spec.optional == {"warmup_steps_factor": (0.0, 1.0, 0.0), "lr_ramp": (0.0, 1.0, 0.0)}


def test_linear_decay_falls_strictly_then_stays_at_its_floor():
    lr = optimizers.make_schedule("linear_decay", 1.0, 40, **LINEAR_2)
    values = [lr(t) for t in range(60)]
    assert all(a > b for a, b in zip(values[:40], values[1:41], strict=True))
    assert values[40:] == [pytest.approx(0.1, rel=1e-15)] * 20
    floor = optimizers.make_schedule("linear_decay", 0.1, 100, **LINEAR_1)
    assert floor(51) == floor(50) and floor(10_000) == floor(50)


def test_numpy_scalars_are_accepted():
    assert optimizers.make_schedule("constant", np.float32(0.1), np.int64(10))(3) == pytest.approx(0.1)


LINEAR_OK = {"decay_steps_factor": 0.5, "decay_factor": 0.1}

# (schedule, lr0, total_steps, parameters, message)
BAD = [
    ("cosine", 0.1, 100, {}, r"unknown schedule 'cosine'; valid choices: constant, linear_decay"),
    ("linear_decay", 0.1, 100, {"decay_steps_factor": 0.5}, r"'linear_decay' takes .*decay_factor"),
    (
        "linear_decay", 0.1, 100, {},
        r"takes \['decay_factor', 'decay_steps_factor'\] \(optional: \['lr_ramp', 'warmup_steps_factor'\]\), got \[\]",
    ),
    ("linear_decay", 0.1, 100, {**LINEAR_OK, "warmup": 3}, r"takes .*got .*'warmup'"),
    ("constant", 0.1, 100, {"decay_factor": 0.1}, r"'constant' takes no parameters"),
    ("linear_decay", 0.1, 100, {"decay_steps_factor": 0.5, "decay_factor": 1.5}, r"decay_factor=1\.5 must be a number in \[0, 1\]"),
    (
        "linear_decay", 0.1, 100, {"decay_steps_factor": -0.1, "decay_factor": 0.1},
        r"decay_steps_factor=-0\.1 must be a number in \[0, 1\]",
    ),
    (
        "linear_decay", 0.1, 100, {"decay_steps_factor": 0.5, "decay_factor": math.nan},
        r"decay_factor=nan must be a number in \[0, 1\]",
    ),
    ("linear_decay", 0.1, 100, {"decay_steps_factor": 0.5, "decay_factor": "0.1"}, r"decay_factor='0\.1' must be"),
    ("linear_decay", 0.1, 100, {"decay_steps_factor": 0.5, "decay_factor": True}, r"decay_factor=True must be"),
    ("linear_decay", -1.0, 100, LINEAR_OK, r"lr0=-1\.0 must be"),
    ("linear_decay", 0.1, 0, LINEAR_OK, r"total_steps=0 must be"),
    ("linear_decay", 0.1, 2.5, LINEAR_OK, r"total_steps=2\.5 must be"),
    ("step_decay", 0.1, 100, {"step_decay_factor": 0.5}, "takes"),
    ("step_decay", 0.1, 100, {"step_decay_factor": 1.5, "step_decay_every_factor": 0.1}, r"step_decay_factor=1\.5 must be"),
    (
        "step_decay", 0.1, 100, {"step_decay_factor": 0.5, "step_decay_every_factor": 0.1, "warmup_steps_factor": 2.0},
        r"warmup_steps_factor=2\.0 must be",
    ),
    # lr_ramp lies in [0, 1): at 1 every rate would be 0
    ("constant", 0.1, 100, {"lr_ramp": 1.0}, r"lr_ramp=1\.0 must be a number in \[0, 1\)"),
    ("constant", 0.1, 100, {"lr_ramp": -0.1}, r"lr_ramp=-0\.1 must be a number in \[0, 1\)"),
    ("constant", 0.1, 100, {"lr_ramp": math.nan}, r"lr_ramp=nan must be a number in \[0, 1\)"),
    ("constant", 0.1, 100, {"lr_ramp": True}, r"lr_ramp=True must be"),
]


@pytest.mark.parametrize(
    ("name", "lr0", "total", "params", "match"), BAD, ids=[f"{r[0]}-{r[1]}-{r[2]}-{sorted(r[3])}" for r in BAD]
)
def test_bad_schedule_raises_input_error(name, lr0, total, params, match):
    with pytest.raises(InputError, match=match):
        optimizers.make_schedule(name, lr0, total, **params)
