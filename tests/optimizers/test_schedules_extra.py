"""Step decay and warm-up, by hand."""

from __future__ import annotations

import pytest

import optimizers


def test_step_decay_by_hand():
    # lr0 0.1, factor 0.5 every 0.25 * 100 = 25 steps.
    s = optimizers.make_schedule("step_decay", 0.1, 100, step_decay_factor=0.5, step_decay_every_factor=0.25)
    assert [s(t) for t in (0, 24, 25, 49, 50, 75, 99)] == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025, 0.0125, 0.0125])


def test_warmup_multiplies_any_schedule():
    # 10% of 100 steps = 10 warm-up steps: lr_t *= (t + 1) / 10 for t < 10.
    s = optimizers.make_schedule("constant", 0.2, 100, warmup_steps_factor=0.1)
    assert [s(t) for t in (0, 4, 9, 10, 50)] == pytest.approx([0.02, 0.1, 0.2, 0.2, 0.2])
    d = optimizers.make_schedule(
        "linear_decay", 0.1, 100, decay_steps_factor=1.0, decay_factor=0.0, warmup_steps_factor=0.1
    )
    assert d(4) == pytest.approx(0.1 * (1 - 4 / 100) * 0.5)
    assert d(50) == pytest.approx(0.05)


def test_no_warmup_by_default():
    s = optimizers.make_schedule("constant", 0.2, 100)
    assert s(0) == 0.2


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"step_decay_factor": 0.5}, "takes"),
        ({"step_decay_factor": 1.5, "step_decay_every_factor": 0.1}, r"step_decay_factor=1\.5 must be"),
        ({"step_decay_factor": 0.5, "step_decay_every_factor": 0.1, "warmup_steps_factor": 2.0}, r"warmup_steps_factor=2\.0 must be"),
    ],
)
def test_step_decay_bad_params(params, match):
    with pytest.raises(ValueError, match=match):
        optimizers.make_schedule("step_decay", 0.1, 100, **params)
