"""Refinement that lost ground (analysis/lost_ground.py): flagged beyond the tolerance, with
the numbers, per search and study; not flagged within it, for one-stage protocols, or from
reruns and probes."""

from __future__ import annotations

import math

import pyarrow as pa
import pytest

from analysis.lost_ground import lost_ground

META = {"stages": {"two": ["initial", "final"], "one": ["final"]}, "select": {"two": "val_error", "one": "val_error"}}


def _trials(rows: list[tuple]) -> pa.Table:
    names = ("protocol", "optimizer", "study", "stage", "phase", "status", "final_val_error")
    columns = {n: [r[i] for r in rows] for i, n in enumerate(names)}
    columns["workload"] = ["w"] * len(rows)
    columns["trial_id"] = [f"t{i}" for i in range(len(rows))]
    columns["attempt"] = [0] * len(rows)
    return pa.table(columns)


def test_the_rmsprop_case_of_the_issue_is_flagged_with_its_numbers():
    # Initial best 0.085; the refined stage's best 0.324 and most trials at chance.
    initial = [("two", "rmsprop", 0, "initial", "search", "completed", v) for v in (0.085, 0.3, 0.5)]
    final = [("two", "rmsprop", 0, "final", "search", "completed", v) for v in (0.324, 0.906, 0.906, 0.91)]
    diverged = [("two", "rmsprop", 0, "final", "search", "diverged", None)]
    (lost,) = lost_ground(_trials(initial + final + diverged), META)
    assert (lost.optimizer, lost.earlier, lost.later) == ("rmsprop", "initial", "final")
    assert (lost.earlier_best, lost.later_best, lost.later_median) == (0.085, 0.324, pytest.approx(0.906))
    assert lost.sentence == (
        "w/two/rmsprop: refinement lost ground: final stage best val_error 0.324 (median 0.906) "
        "against 0.085 in the initial stage (tolerance 0.01, default; no reruns: indicative)"
    )


def test_within_tolerance_across_studies_and_for_one_stage_protocols_nothing_is_flagged():
    rows = [
        ("two", "adam", 0, "initial", "search", "completed", 0.120),
        ("two", "adam", 0, "final", "search", "completed", 0.129),  # 0.009 worse: within 0.01
        ("two", "adam", 1, "initial", "search", "completed", 0.120),
        ("two", "adam", 1, "final", "search", "completed", 0.144),  # study 1: lost
        ("two", "sgd", 0, "initial", "search", "completed", 0.2),
        ("two", "sgd", 0, "final", "search", "completed", 0.5),
        ("two", "sgd", 0, "final", "probe", "completed", 0.1),  # a probe does not count...
        ("two", "sgd", 0, "initial", "rerun", "completed", 0.9),  # ...nor a rerun
        ("one", "sgd", 0, "final", "search", "completed", 0.9),
    ]
    lost = lost_ground(_trials(rows), META)
    assert [(x.optimizer, x.study, x.earlier_best, x.later_best) for x in lost] == [
        ("adam", 1, 0.120, 0.144), ("sgd", 0, 0.2, 0.5)
    ]
    assert "(study 1)" in lost[0].sentence
    assert lost_ground(_trials(rows), META, tolerance=0.5) == ()
    assert all(math.isfinite(x.later_median) for x in lost)


def test_the_reruns_of_the_later_best_set_a_measured_tolerance():
    base = [
        ("two", "adam", 0, "initial", "search", "completed", 0.100),
        ("two", "adam", 0, "final", "search", "completed", 0.140),  # 0.04 worse than 0.100
        ("two", "nadam", 0, "initial", "search", "completed", 0.100),
        ("two", "nadam", 0, "final", "search", "completed", 0.108),  # 0.008 worse: within the default 0.01
    ]
    reruns = [
        ("two", "adam", 0, "final", "rerun", "completed", v) for v in (0.12, 0.17, 0.15)  # spread 0.05
    ] + [
        ("two", "nadam", 0, "final", "rerun", "completed", v) for v in (0.107, 0.110)  # spread 0.003
    ] + [("two", "nadam", 0, "final", "rerun", "failed", 0.9)]  # a failed rerun does not widen it
    assert [x.optimizer for x in lost_ground(_trials(base), META)] == ["adam"]
    (lost,) = lost_ground(_trials(base + reruns), META)
    assert (lost.optimizer, lost.measured) == ("nadam", True)
    assert lost.tolerance == pytest.approx(0.003)
    assert lost.sentence.endswith("(tolerance 0.003, seed spread of its reruns)")
    assert not lost_ground(_trials(base + reruns[:1]), META)[0].measured  # one rerun: no spread, the default
