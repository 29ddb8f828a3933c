"""Inclusion verdicts: the rule on hand-made resamples, and a study built to break one pair."""

from __future__ import annotations

import numpy as np
import pytest

from analysis import analyse, write_report
from analysis.bootstrap import BudgetCurve
from analysis.inclusion import (
    DEFAULT_INCLUSIONS,
    InclusionPair,
    check_inclusions,
    inclusion_pairs,
    rank_flips,
    transitive_pairs,
    verdict_of,
)
from analysis.ranking import OptimizerScore, Ranking
from tests.analysis.synthetic import trial, write_experiment


def _curve(samples):
    s = np.asarray([samples], dtype=float)
    return BudgetCurve(np.array([4]), s.mean(axis=1), np.percentile(s, 5, axis=1), np.percentile(s, 95, axis=1), s)


@pytest.mark.parametrize(
    ("wide", "p_worse", "verdict"),
    [
        ([0.1] * 20, 0.0, "holds"),  # ties are not "worse"
        ([0.0] * 20, 0.0, "holds"),
        ([0.2] * 10 + [0.0] * 10, 0.5, "holds"),
        ([0.2] * 15 + [0.0] * 5, 0.75, "inconclusive"),
        ([0.2] * 19 + [0.0], 0.95, "violated"),
        ([0.2] * 20, 1.0, "violated"),
    ],
)
def test_rule_on_paired_resamples(wide, p_worse, verdict):
    curves = {("w", "p", "momentum"): _curve([0.1] * 20), ("w", "p", "adam"): _curve(wide)}
    (v,) = check_inclusions(curves, 4, [InclusionPair("momentum", "adam")])
    assert v.p_wide_worse == pytest.approx(p_worse)
    assert v.verdict == verdict
    assert (v.narrow_mean, v.wide_mean) == pytest.approx((0.1, float(np.mean(wide))))


def test_verdict_thresholds_follow_alpha():
    assert verdict_of(0.9, alpha=0.1) == "violated"
    assert verdict_of(0.9, alpha=0.05) == "inconclusive"
    with pytest.raises(ValueError, match="alpha"):
        check_inclusions({}, 1, alpha=0.7)


def test_pairs_come_from_experiment_json_with_the_paper_as_fallback():
    assert inclusion_pairs({}) == DEFAULT_INCLUSIONS
    assert [(p.narrow, p.wide) for p in DEFAULT_INCLUSIONS] == [
        ("sgd", "momentum"), ("sgd", "nesterov"), ("momentum", "rmsprop"), ("momentum", "adam"), ("nesterov", "nadam")]
    recorded = {"inclusions": [{"narrow": "sgd", "wide": "adagrad", "exact": False}, {"bad": 1}]}
    assert inclusion_pairs(recorded) == (InclusionPair("sgd", "adagrad", False),)
    assert inclusion_pairs({"inclusions": []}) == ()


MEANS = {
    # lr-only: Adam with default betas/eps is clearly worse than tuned momentum (breaks momentum <= adam).
    "lr-only": {"sgd": 0.30, "momentum": 0.20, "nesterov": 0.20, "rmsprop": 0.19, "adam": 0.40, "nadam": 0.18},
    "choi-full": {"sgd": 0.30, "momentum": 0.20, "nesterov": 0.20, "rmsprop": 0.18, "adam": 0.17, "nadam": 0.17},
}


@pytest.fixture(scope="module")
def hierarchy(tmp_path_factory):
    rng = np.random.default_rng(0)
    searches = {
        ("w", p, o): [trial(float(m + e)) for e in rng.uniform(0.0, 0.02, size=8)]
        for p, by in MEANS.items() for o, m in by.items()
    }
    exp = write_experiment(tmp_path_factory.mktemp("incl") / "exp", searches)  # no "inclusions": paper's five
    return analyse(str(exp), n_resamples=400, budgets=[1, 4, 8])


def test_one_broken_inclusion_is_found_and_nothing_else(hierarchy):
    h = hierarchy.hierarchy
    # The paper's five pairs and the three their chains imply (sgd <= rmsprop, adam, nadam), per protocol.
    assert len(h.verdicts) == 16
    broken = [(v.protocol, v.narrow, v.wide, v.via) for v in h.verdicts if v.violated]
    assert broken == [("lr-only", "momentum", "adam", ()), ("lr-only", "sgd", "adam", ("momentum",))]
    v = next(v for v in h.verdicts if (v.protocol, v.wide) == ("lr-only", "adam"))
    assert v.p_wide_worse == 1.0 and v.wide_mean > 0.39
    assert all(v.verdict == "holds" for v in h.verdicts if v.protocol == "choi-full")
    assert h.breaking_protocols == ("lr-only",)
    assert h.consistent_protocols == ("choi-full",)


def test_rank_flips_between_protocols(hierarchy):
    flips = {(f.a, f.b): (f.a_first, f.b_first) for f in hierarchy.hierarchy.flips}
    # adam is first-or-second under choi-full and last under lr-only.
    assert flips[("adam", "momentum")] == (("choi-full",), ("lr-only",))
    assert flips[("adam", "sgd")] == (("choi-full",), ("lr-only",))
    assert ("momentum", "sgd") not in flips  # momentum beats sgd under both


def test_transitive_closure_of_the_papers_pairs():
    closed = transitive_pairs(DEFAULT_INCLUSIONS)
    assert closed[:5] == DEFAULT_INCLUSIONS  # recorded pairs first, unchanged
    assert [(p.narrow, p.wide, p.exact, p.via) for p in closed[5:]] == [
        ("sgd", "adam", False, ("momentum",)),
        ("sgd", "nadam", False, ("nesterov",)),
        ("sgd", "rmsprop", True, ("momentum",)),
    ]
    # Longer chains, unknown exactness, duplicates, self-pairs and cycles.
    pairs = [InclusionPair("a", "b", True), InclusionPair("b", "c"), InclusionPair("c", "d", True),
             InclusionPair("a", "b"), InclusionPair("d", "d"), InclusionPair("d", "a", True)]
    closed = {(p.narrow, p.wide): p for p in transitive_pairs(pairs)}
    assert len(closed) == 12  # every ordered pair of distinct a, b, c, d: the cycle joins them all
    assert (closed[("a", "d")].via, closed[("a", "d")].exact) == (("b", "c"), None)
    assert (closed[("d", "b")].via, closed[("d", "b")].exact) == (("a",), True)
    assert transitive_pairs([]) == ()


def test_a_study_of_only_sgd_and_adam_gets_the_implied_verdict(tmp_path):
    # experiment.json records the registered pairs with an end in the study: sgd <= momentum,
    # sgd <= nesterov and momentum <= adam. momentum never ran, yet sgd <= adam follows.
    recorded = [{"narrow": "sgd", "wide": "momentum", "exact": True}, {"narrow": "sgd", "wide": "nesterov", "exact": True},
                {"narrow": "momentum", "wide": "adam", "exact": False}]
    searches = {
        ("w", "p", "sgd"): [trial(0.2), trial(0.25), trial(0.22)],
        ("w", "p", "adam"): [trial(0.5), trial(0.45), trial(0.6)],
    }
    recorded_exp = write_experiment(tmp_path / "recorded", searches, inclusions=recorded)
    older_exp = write_experiment(tmp_path / "older", searches)  # no "inclusions": the paper's pairs
    for exp in (recorded_exp, older_exp):
        data = analyse(str(exp), n_resamples=200, budgets=[1, 2])
        (v,) = data.hierarchy.verdicts
        assert (v.narrow, v.wide, v.via, v.verdict) == ("sgd", "adam", ("momentum",), "violated")
        assert data.hierarchy.breaking_protocols == ("p",)
    files = write_report(data, tmp_path / "out")
    assert "<td>momentum</td>" in files.html.read_text()


def test_tied_means_are_not_rank_flips():
    def ranking(protocol, means):
        ordered = sorted(means, key=lambda o: (means[o], o))
        return Ranking("w", protocol, [OptimizerScore(o, i + 1, 4, means[o], 0.0, 1.0) for i, o in enumerate(ordered)])

    # p1: a and b tie (every draw diverged: worst 1.0), so the ranking put a first by name only.
    tied = [ranking("p1", {"a": 1.0, "b": 1.0}), ranking("p2", {"a": 0.4, "b": 0.3})]
    assert tied[0].optimizers[0].optimizer == "a"
    assert rank_flips(tied) == []
    flipped = [ranking("p1", {"a": 0.2, "b": 0.3}), ranking("p2", {"a": 0.4, "b": 0.3})]
    assert [(f.a, f.b, f.a_first, f.b_first) for f in rank_flips(flipped)] == [("a", "b", ("p1",), ("p2",))]
