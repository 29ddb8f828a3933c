"""The embedded workloads' speed targets are the ones benchmarks/speed_targets.py recorded by its
rule (docs/method.md section 9.3): a changed constant without a new record, or a record without
the constant, fails here."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

import workloads

RECORD = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "speed_targets.json"
RULED = ("mnist1d-mlp", "mnist1d-cnn", "digits-cnn", "tinytext-lstm")


@pytest.fixture(scope="module")
def record() -> dict[str, dict]:
    return {w["workload"]: w for w in json.loads(RECORD.read_text())["workloads"]}


@pytest.mark.parametrize("name", RULED)
def test_the_class_constants_are_the_recorded_rule_s(record, name):
    cls = workloads.get_class(name)
    measured = record[name]
    assert (cls.target_metric, cls.target_value, cls.target_spread) == (
        measured["metric"], measured["target"], measured["target_spread"]
    )
    # The rule: the median tuned optimizer's level, rounded up to 3 significant digits.
    last_digit = 10 ** (math.floor(math.log10(measured["median_level"])) - 2)
    assert measured["median_level"] <= measured["target"] <= measured["median_level"] + last_digit
    # The point of the rule: at the default interval the target separates the optimizers.
    assert measured["resolved_at_default_interval"]


def test_every_other_workload_keeps_a_target_set_otherwise():
    for name in workloads.names():
        if name not in RULED:
            assert workloads.get_class(name).target_spread is None
