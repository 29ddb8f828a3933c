"""The space-inclusion check (tuning/plan/space_inclusion.py): hand-computed cases, exact and limit,
requirements named, the covering rule, and every shipped protocol classified."""

from __future__ import annotations

import pytest

from tuning.plan.space_inclusion import (
    IMITATION,
    SAMPLE_POINTS,
    check_pair,
    check_space_inclusion,
    covering_ranges,
    run_warnings,
)
from tuning.spec.protocol import load_protocol, parse_protocol
from tuning.spec.protocol_files import shipped_protocols

SIX = ["sgd", "momentum", "nesterov", "rmsprop", "adam", "nadam"]
LOG = "log"


def _protocol(optimizers: dict, schedule: str = "constant", **top: object):
    raw = {"name": "hand", "schedule": schedule, "optimizers": optimizers, **top}
    return parse_protocol(raw, "hand.yaml")


def _log(low: float, high: float) -> dict:
    return {"min": low, "max": high, "scaling": LOG}


# --- exact inclusions: a coverage share by hand ----------------------------------------------


def test_momentum_capped_at_1_covers_three_quarters_of_sgd_up_to_10():
    # SGD's rate is log-uniform on [1e-3, 10]: P(rate <= 1) = log(1e3) / log(1e4) = 3/4. The
    # first 128 scrambled Halton points stratify a coordinate into 128 equal cells, so 96 of them
    # lie below 1 exactly. momentum = 0 (one_minus_momentum = 1) is the range's top: held.
    protocol = _protocol({
        "sgd": {"learning_rate": _log(1e-3, 10.0)},
        "momentum": {"learning_rate": _log(1e-4, 1.0), "one_minus_momentum": _log(1e-3, 1.0)},
    })
    c = check_pair(protocol, "sgd", "momentum")
    assert (c.status, c.coverage, c.exact, c.epsilon) == ("partly covered", 96 / SAMPLE_POINTS, True, None)
    assert c.coverage == 0.75
    assert (c.first_outside, c.outside, c.at) == ("learning_rate", "(1, 10]", (("momentum", 0.0),))
    lr = next(i for i in c.coordinates if i.coordinate == "learning_rate")
    assert (lr.low, lr.high, lr.range) == (pytest.approx(1e-3), pytest.approx(10.0), (1e-4, 1.0))
    assert c.message() == (
        "hand: momentum cannot express sgd's learning_rate in (1, 10] at momentum = 0 (covers 75% of sgd's space)"
    )
    assert run_warnings([c]) == [c.message()]


def test_the_covering_rule_widens_to_the_hull_and_then_has_nothing_left_to_do():
    entries = {
        "sgd": {"learning_rate": _log(1e-3, 10.0)},
        "momentum": {"learning_rate": _log(1e-4, 1.0), "one_minus_momentum": _log(1e-3, 1.0)},
        "nesterov": {"learning_rate": _log(1e-2, 3.0), "one_minus_momentum": _log(1e-3, 1.0)},
    }
    checks = check_space_inclusion(_protocol(entries))
    widened = covering_ranges(checks)
    # Each range becomes the hull of itself and SGD's image [1e-3, 10] (nesterov at both ends).
    assert widened == {
        "momentum": {"learning_rate": (1e-4, pytest.approx(10.0))},
        "nesterov": {"learning_rate": (pytest.approx(1e-3), pytest.approx(10.0))},
    }
    for opt, ranges in widened.items():
        for key, (low, high) in ranges.items():
            entries[opt][key] = _log(low, high)
    after = check_space_inclusion(_protocol(entries))
    assert [(c.narrow, c.wide, c.status, c.coverage) for c in after] == [
        ("sgd", "momentum", "covered", 1.0), ("sgd", "nesterov", "covered", 1.0)
    ]
    assert covering_ranges(after) == {} and run_warnings(after) == []


# --- requirements: values no range of the wide space can hold ---------------------------------


def test_rmsprop_needs_rho_1_and_epsilon_0_which_log_ranges_cannot_hold():
    protocol = _protocol({
        "momentum": {"learning_rate": _log(1e-3, 1.0), "one_minus_momentum": _log(1e-2, 1.0)},
        "rmsprop": {
            "learning_rate": _log(1e-4, 1.0), "one_minus_momentum": _log(1e-3, 1.0),
            "one_minus_rho": _log(1e-4, 1.0), "epsilon": _log(1e-10, 1.0),
        },
    })
    c = check_pair(protocol, "momentum", "rmsprop")
    assert (c.status, c.coverage) == ("not expressible", None)
    assert [(r.coordinate, r.needs, r.why) for r in c.requirements] == [
        ("one_minus_rho", "one_minus_rho = 0 (rho = 1)", "a log range (log [0.0001, 1]) cannot hold 0"),
        ("epsilon", "epsilon = 0", "a log range (log [1e-10, 1]) cannot hold 0"),
    ]
    assert "rmsprop cannot imitate momentum: needs one_minus_rho = 0 (rho = 1)" in c.message()


def test_a_decaying_schedule_has_no_rmsprop_imitation_at_any_point():
    decay = {"decay_steps_factor": 1.0, "decay_factor": {"min": 1e-3, "max": 0.1, "scaling": LOG}}
    protocol = _protocol({
        "momentum": {"learning_rate": _log(1e-3, 1.0), "momentum": 0.9, **decay},
        # rho = 1 and epsilon = 0 held: only the schedule stands in the way.
        "rmsprop": {"learning_rate": _log(1e-4, 1.0), "momentum": 0.9, "one_minus_rho": 0.0, "epsilon": 0.0, **decay},
    }, schedule="linear_decay")
    c = check_pair(protocol, "momentum", "rmsprop")
    assert c.status == "not expressible" and [r.coordinate for r in c.requirements] == [IMITATION]
    assert "holds only for a constant learning rate" in c.message()
    assert "(momentum's schedule: linear_decay)" in c.message()


def test_a_fixed_momentum_and_a_capped_beta2_are_requirements():
    protocol = _protocol({
        "sgd": {"learning_rate": _log(1e-3, 10.0)},
        "momentum": {"learning_rate": _log(1e-4, 10.0), "momentum": 0.9},
        "adam": {"learning_rate_over_epsilon": _log(1e-2, 1e7), "epsilon": _log(1e-8, 1e2),
                 "one_minus_beta1": _log(1e-3, 1.0), "one_minus_beta2": _log(1e-4, 0.1)},
    })
    fixed = check_pair(protocol, "sgd", "momentum")
    assert [(r.needs, r.why) for r in fixed.requirements] == [("momentum = 0", "momentum fixes momentum = 0.9 under hand")]
    capped = check_pair(protocol, "momentum", "adam")
    assert [(r.coordinate, r.needs, r.why) for r in capped.requirements] == [
        ("one_minus_beta2", "one_minus_beta2 = 1 (beta2 = 0)", "its range is log [0.0001, 0.1]"),
        # Adam imitates heavy-ball momentum with the ramp 1 - beta1^(t+1) on its rate.
        ("lr_ramp", "lr_ramp = 0.9", "no space of adam under hand tunes lr_ramp (it stays at its default 0)"),
    ]


# --- a limit inclusion, covered at the largest epsilon the space allows -----------------------


def test_adam_covers_momentum_in_the_limit_at_its_largest_epsilon_and_quotes_the_gap():
    # Adam's imitation of momentum (eta, gamma): beta1 = gamma, beta2 = 0, lr_ramp = gamma and
    # learning_rate / epsilon = eta / (1 - gamma), in [1e-3, 1e3] here, whatever epsilon is.
    protocol = _protocol({
        "momentum": {"learning_rate": _log(1e-3, 1.0), "one_minus_momentum": _log(1e-3, 1.0)},
        "adam": {"learning_rate_over_epsilon": _log(1e-4, 1e4), "epsilon": _log(1e-8, 1e2),
                 "one_minus_beta1": _log(1e-3, 1.0), "one_minus_beta2": _log(1e-4, 1.0),
                 "lr_ramp": {"min": 0.0, "max": 0.999, "scaling": "linear"}},
    })
    c = check_pair(protocol, "momentum", "adam")
    assert (c.status, c.coverage, c.exact) == ("covered", 1.0, False)
    assert c.epsilon == 1e2  # the epsilon range's top
    assert c.gap == pytest.approx(3.9e-4)  # optimizers.limit_gap: the recorded gap at 1e2
    ratio = next(i for i in c.coordinates if i.coordinate == "learning_rate_over_epsilon")
    assert (ratio.low, ratio.high) == (pytest.approx(1e-3), pytest.approx(1e3))
    assert c.message() == (
        "hand: adam expresses all of momentum's space (limit inclusion at epsilon = 100, the largest "
        "the space allows: trajectory gap ~0.0004)"
    )
    # A smaller ratio range leaves part of the image out: the share is the Halton count.
    protocol = _protocol({**protocol.raw["optimizers"], "adam": {**protocol.raw["optimizers"]["adam"],
                                                               "learning_rate_over_epsilon": _log(1e-4, 1.0)}})
    c = check_pair(protocol, "momentum", "adam")
    assert c.status == "partly covered" and c.first_outside == "learning_rate_over_epsilon"
    assert 0.0 < c.coverage < 1.0


# --- the shipped protocols ---------------------------------------------------------------------

WIDE_EXPECTED = {
    ("sgd", "momentum"): ("covered", None),
    ("sgd", "nesterov"): ("covered", None),
    ("sgd", "rmsprop"): ("not expressible", IMITATION),  # needs a constant rate; linear decay
    ("momentum", "rmsprop"): ("not expressible", IMITATION),
    ("sgd", "adam"): ("not expressible", "one_minus_beta2"),  # beta2 = 0; capped at 0.1
    ("momentum", "adam"): ("not expressible", "one_minus_beta2"),  # and lr_ramp
    ("sgd", "nadam"): ("not expressible", "one_minus_beta2"),
    ("nesterov", "nadam"): ("not expressible", "one_minus_beta2"),
}
FIXED_MOMENTUM = {
    ("sgd", "momentum"): ("not expressible", "momentum"),
    ("sgd", "nesterov"): ("not expressible", "momentum"),
    ("sgd", "rmsprop"): ("not expressible", IMITATION),
    ("momentum", "rmsprop"): ("not expressible", IMITATION),
    ("sgd", "adam"): ("not expressible", "beta1"),
    ("momentum", "adam"): ("not expressible", "beta2"),
    ("sgd", "nadam"): ("not expressible", "beta1"),
    ("nesterov", "nadam"): ("not expressible", "beta2"),
}
SHIPPED_EXPECTED = {
    "choi-full": (False, WIDE_EXPECTED),
    "modern-wide": (False, WIDE_EXPECTED),  # choi-full's ranges for the six, cosine decay
    "choi-full-random": (False, WIDE_EXPECTED),
    "choi-full-tpe": (False, WIDE_EXPECTED),
    "choi-two-stage": (False, WIDE_EXPECTED),
    "lr-only": (True, FIXED_MOMENTUM),
    "wilson2017": (True, FIXED_MOMENTUM),
    "deepobs2019": (True, {
        **FIXED_MOMENTUM,  # a constant rate: rmsprop's imitation exists but needs rho = 1, eps = 0
        ("sgd", "rmsprop"): ("not expressible", "momentum"),
        ("momentum", "rmsprop"): ("not expressible", "rho"),
    }),
    # At 24 trials the ladder tunes momentum (from 10) but not beta2 (from 50), and keeps
    # choi-full's old cap of 1 on momentum's rate: 3/4 of SGD's space.
    "playbook-adam": (True, {
        **WIDE_EXPECTED,
        ("sgd", "momentum"): ("partly covered", 0.75),
        ("sgd", "nesterov"): ("partly covered", 0.75),
        ("sgd", "adam"): ("not expressible", "beta2"),
        ("momentum", "adam"): ("not expressible", "beta2"),
        ("sgd", "nadam"): ("not expressible", "beta2"),
        ("nesterov", "nadam"): ("not expressible", "beta2"),
    }),
}


RULESETS = {"algoperf-external"}
"""Shipped protocols that carry another benchmark's fixed spaces for today's optimizers, not
spaces for the paper's six: their inclusion pairs are not checked here."""


def test_every_shipped_protocol_is_classified():
    assert set(SHIPPED_EXPECTED) | RULESETS == set(shipped_protocols())


@pytest.mark.parametrize("name", sorted(SHIPPED_EXPECTED))
def test_shipped_protocol_pairs(name):
    narrow_by_design, expected = SHIPPED_EXPECTED[name]
    protocol = load_protocol(name).bound(SIX)
    checks = check_space_inclusion(protocol, SIX, trials=24)
    got = {
        (c.narrow, c.wide): (c.status, c.requirements[0].coordinate if c.requirements else c.coverage if c.coverage != 1.0 else None)
        for c in checks
    }
    assert got == expected
    assert protocol.narrow_by_design is narrow_by_design and all(c.narrow_by_design is narrow_by_design for c in checks)
    # Narrow-by-design protocols warn about nothing; the wide ones about every pair not covered,
    # and the covering rule has nothing left to widen in them (its fixed point).
    assert len(run_warnings(checks)) == (0 if narrow_by_design else 6)
    if not narrow_by_design:
        assert covering_ranges(checks) == {}


def test_an_image_no_point_reaches_is_recorded_as_null_not_nan():
    # RMSProp's imitation of momentum needs epsilon = 0, so learning_rate_over_epsilon is
    # learning_rate / 0 at every point: no finite image, and the record stays strict JSON.
    import json

    protocol = _protocol({
        "momentum": {"learning_rate": _log(1e-3, 1.0), "one_minus_momentum": _log(1e-2, 1.0)},
        "rmsprop": {"learning_rate_over_epsilon": _log(1e-2, 1e7), "epsilon": _log(1e-10, 1.0),
                    "one_minus_momentum": _log(1e-3, 1.0), "one_minus_rho": _log(1e-4, 1.0)},
    })
    c = check_pair(protocol, "momentum", "rmsprop")
    assert c.status == "not expressible"
    record = json.loads(json.dumps(c.record(), allow_nan=False))
    ratio = next(i for i in record["coordinates"] if i["coordinate"] == "learning_rate_over_epsilon")
    assert (ratio["low"], ratio["high"]) == (None, None)


def test_points_without_an_imitation_are_named_when_every_image_is_held():
    # A decay_factor range reaching 1 (a constant rate) gives RMSProp's imitation at its top
    # only: the points that decay have none, and the message says so instead of a coordinate.
    decay = {"decay_steps_factor": 1.0, "decay_factor": {"feasible_points": [0.1, 1.0]}}
    protocol = _protocol({
        "momentum": {"learning_rate": _log(1e-3, 1.0), "momentum": 0.9, **decay},
        "rmsprop": {"learning_rate": _log(1e-4, 1.0), "momentum": 0.9, "one_minus_rho": 0.0, "epsilon": 0.0,
                    "decay_steps_factor": 1.0, "decay_factor": {"feasible_points": [0.1, 1.0]}},
    }, schedule="linear_decay")
    c = check_pair(protocol, "momentum", "rmsprop")
    assert c.status == "partly covered" and c.first_outside is None and 0.0 < c.coverage < 1.0
    assert c.missing_points == round((1 - c.coverage) * SAMPLE_POINTS)
    assert "points have no imitation: momentum <= rmsprop holds only for a constant learning rate" in c.message()
    assert "None" not in c.message()
