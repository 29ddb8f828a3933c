"""The evidence next to a broken inclusion (analysis/explain.py) and its text (render.verdict_lines)."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.diagnostics import HyperparameterDiagnostic
from analysis.explain import violation_evidence
from analysis.inclusion import HierarchySummary, InclusionVerdict
from analysis.ranking import OptimizerScore, Ranking
from analysis.render import verdict_lines
from optcompare.space_range import SpaceRange


def _verdict(narrow, wide, verdict, protocol="full", via=()):
    return InclusionVerdict("w", protocol, narrow, wide, 16, 0.30, 0.29, 0.31, 0.40, 0.38, 0.42,
                            0.99 if verdict == "violated" else 0.3, verdict, via)


def _diag(optimizer, name, position, protocol="full"):
    warning = None if 0.05 <= position <= 0.95 else "widen it"
    return HyperparameterDiagnostic(
        "w", protocol, optimizer, name, SpaceRange(1e-4, 1.0, "log"), "val_error", "t", 0.3,
        position, (position,), warning, np.zeros(1), np.zeros(1), np.ones(1, bool),
    )


def _ranking(protocol="full", trials=16):
    return Ranking("w", protocol, [OptimizerScore(o, i + 1, trials, 0.3, 0.3, 0.3) for i, o in
                                   enumerate(("sgd", "adam", "momentum"))])


DIAGNOSTICS = [
    _diag("adam", "learning_rate_over_epsilon", 0.5), _diag("adam", "epsilon", 0.99),
    _diag("adam", "one_minus_beta1", 0.01), _diag("adam", "one_minus_beta2", 0.4),
    _diag("sgd", "learning_rate", 0.5),
    _diag("adam", "learning_rate", 0.5, protocol="lr"), _diag("sgd", "learning_rate", 0.5, protocol="lr"),
]


def test_evidence_is_gathered_for_violated_verdicts_only():
    verdicts = [_verdict("sgd", "adam", "violated"), _verdict("sgd", "momentum", "holds"),
                _verdict("sgd", "adam", "inconclusive", protocol="lr")]
    (e,) = violation_evidence(verdicts, DIAGNOSTICS, [_ranking(), _ranking("lr")])
    assert e.verdict is verdicts[0]
    assert (e.wide.dims, e.wide.n_trials, e.narrow.dims) == (4, 16, 1)
    assert e.wide.levels == pytest.approx(16 ** 0.25) and e.narrow.levels == 16.0
    # Best trial in the outer 5%: epsilon at the upper end, one_minus_beta1 at the lower end.
    assert e.boundary == (("epsilon", "upper"), ("one_minus_beta1", "lower"))
    assert not e.wide.learning_rate_only


def test_a_learning_rate_only_protocol_is_named_as_the_likely_reason():
    verdicts = [_verdict("sgd", "adam", "violated", protocol="lr", via=("momentum",))]
    (e,) = violation_evidence(verdicts, DIAGNOSTICS, [_ranking("lr", trials=8)])
    assert e.wide.learning_rate_only and e.wide.tuned == ("learning_rate",) and e.boundary == ()
    lines = verdict_lines(HierarchySummary(16, 0.05, tuple(verdicts), ()), [e])
    assert lines[1] == "  w / lr: 0 holds, 0 inconclusive, 1 violated"
    assert lines[2] == ("  violated in w / lr: sgd <= adam (via momentum): adam 0.4000 against sgd "
                        "0.3000 (P(wide worse) = 0.99)")
    assert lines[3] == ("    adam tunes 1 coordinate with 8 trials (about 8.0 levels per coordinate); "
                        "sgd tunes 1 with 8 (about 8.0)")
    assert "lr tunes only adam's learning rate" in lines[4]


def test_verdict_lines_count_each_protocol_and_name_the_boundary():
    verdicts = (_verdict("sgd", "adam", "violated"), _verdict("sgd", "momentum", "holds"))
    evidence = violation_evidence(verdicts, DIAGNOSTICS, [_ranking()])
    lines = verdict_lines(HierarchySummary(16, 0.05, verdicts, ()), evidence)
    assert lines[0].startswith("inclusion verdicts at K=16 ")
    assert lines[1] == "  w / full: 1 holds, 0 inconclusive, 1 violated"
    assert lines[-1] == ("    adam's best trial sits at the upper end of epsilon, the lower end of "
                         "one_minus_beta1: its optimum may lie outside the range")
    assert verdict_lines(HierarchySummary(16, 0.05, (), ()), []) == [
        "inclusion verdicts: none checked (no inclusion pair ran under a common protocol)"]
