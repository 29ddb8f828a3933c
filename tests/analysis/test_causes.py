"""Why a pair breaks (analysis/causes.py): each cause (a) to (e) on hand-made records, first
match wins, and the demo's verdict lines carry it."""

from __future__ import annotations

from analysis.causes import break_causes
from analysis.explain import violation_evidence
from analysis.inclusion import HierarchySummary, InclusionVerdict
from analysis.probes import NOT_REALISED, REALISED, ProbeResult
from analysis.render import verdict_lines

MOMENTUM_SPACE = {
    "learning_rate": {"min": 1e-4, "max": 1.0, "scaling": "log"},
    "one_minus_momentum": {"min": 1e-3, "max": 1.0, "scaling": "log"},
}


def _verdict(narrow="sgd", wide="momentum", verdict="violated"):
    return InclusionVerdict("w", "p", narrow, wide, 8, 0.28, 0.27, 0.29, 0.34, 0.33, 0.35, 0.99, verdict)


def _probe(lr: float, verdict=REALISED, probe=0.271):
    return ProbeResult(
        "w", "p", "sgd", "momentum", 0.271, probe, 0.30, 0.01, False, verdict,
        probe_trial_id="w/p/momentum/00024", hparams={"learning_rate": lr, "momentum": 0.0, "weight_decay": 0.0},
    )


def _meta(status="partly covered", refined=None):
    return {
        "searches": [{"protocol": "p", "optimizer": "momentum", "space": MOMENTUM_SPACE, "fixed": {}}],
        "space_inclusion": [{
            "protocol": "p", "narrow": "sgd", "wide": "momentum", "status": status,
            "message": f"p: momentum {status} of sgd's space",
        }],
        "refined": refined or [],
    }


def _cause(meta, probes):
    (cause,) = break_causes([_verdict(), _verdict("sgd", "nesterov", "holds")], meta, probes)
    return cause


def test_a_not_expressible_pair_is_cause_a_whatever_the_probe_says():
    cause = _cause(_meta("not expressible"), [_probe(3.18)])
    assert (cause.code, cause.detail) == ("a", "p: momentum not expressible of sgd's space")


def test_a_probe_outside_the_initial_space_is_cause_b_with_the_coordinate_value_and_bounds():
    cause = _cause(_meta(), [_probe(3.18)])
    assert cause.code == "b"
    assert cause.detail == (
        "momentum imitating the best sgd trial (probe w/p/momentum/00024) needs in the protocol's (initial) "
        "space: learning_rate = 3.18 outside [0.0001, 1] log"
    )


def test_a_probe_inside_the_initial_but_outside_the_refined_space_is_cause_b_naming_the_final():
    refined = [{
        "workload": "w", "protocol": "p", "optimizer": "momentum", "study": 0, "stage": "final",
        "coordinates": [{"name": "learning_rate", "new": {"min": 1e-3, "max": 0.59, "scaling": "log"}}],
    }]
    cause = _cause(_meta(refined=refined), [_probe(0.8)])
    assert cause.code == "b"
    assert cause.detail.endswith("needs in the final (refined) space: learning_rate = 0.8 outside [0.001, 0.59] log")


def test_cause_b_looks_only_at_the_spaces_of_the_ranked_stage():
    # The probe (rate 0.8) lies inside the initial space [1e-4, 1] and outside the refined
    # final space [1e-3, 0.59]: (b) when the final stage is ranked, not when the initial one
    # is (its space held the point), nor for all stages pooled (one of them held it).
    refined = [{
        "workload": "w", "protocol": "p", "optimizer": "momentum", "study": 0, "stage": "final",
        "coordinates": [{"name": "learning_rate", "new": {"min": 1e-3, "max": 0.59, "scaling": "log"}}],
    }]
    meta = {**_meta(refined=refined), "stages": {"p": ["initial", "final"]}}
    codes = {
        stage: break_causes([_verdict()], meta, [_probe(0.8)], stage)[0].code
        for stage in ("final", "initial", "all")
    }
    assert codes == {"final": "b", "initial": "c", "all": "c"}
    assert break_causes([_verdict()], meta, [_probe(3.18)], "all")[0].code == "b"  # outside both
    assert break_causes([_verdict()], meta, [_probe(0.8)], "nonexistent")[0].code == "c"  # no ranked space


def test_inside_and_realised_is_a_budget_finding():
    cause = _cause(_meta("covered"), [_probe(0.5)])
    assert cause.code == "c"
    assert "reaches 0.271 (narrow best 0.271)" in cause.detail and "0.34 at K = 8" in cause.detail


def test_inside_and_not_realised_is_cause_d():
    cause = _cause(_meta("covered"), [_probe(0.5, NOT_REALISED, probe=0.4)])
    assert cause.code == "d" and "not realised" in cause.detail


def test_without_a_probe_or_a_record_it_is_cause_e_saying_what_is_missing():
    cause = _cause({}, [])
    assert cause.code == "e"
    assert "no probe ran" in cause.detail and "written before the check" in cause.detail
    assert "the check: p: momentum partly covered" in _cause(_meta(), []).detail


def test_the_demo_verdict_lines_carry_the_cause_under_the_violation():
    verdicts = (_verdict(),)
    causes = break_causes(verdicts, _meta("not expressible"), [])
    hierarchy = HierarchySummary(budget=8, alpha=0.05, verdicts=verdicts, flips=())
    lines = verdict_lines(hierarchy, violation_evidence(verdicts, [], []), causes)
    assert lines[3] == "    cause (a) no imitation under this protocol: p: momentum not expressible of sgd's space"
