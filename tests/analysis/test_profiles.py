"""Performance profiles and the cross-workload summary: a hand-computed example, ties, left-out
workloads, the standings and verdict table, and the summary through load and the CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from analysis import analyse
from analysis.across_workloads import (
    standings,
    summarize_experiments,
    summarize_workloads,
    verdict_table,
)
from analysis.inclusion import InclusionVerdict
from analysis.profiles import (
    OptimizerProfile,
    check_tau_max,
    performance_profile,
    performance_ratios,
    profile_score,
)
from analysis.ranking import OptimizerScore, Ranking
from optcompare.cli import main
from optcompare.errors import ParameterError
from tests.analysis.synthetic import trial, write_experiment

INF = math.inf

# Steps to target of 3 optimizers x 5 workloads (inf: target missed).
#
#        A     B     C       r_A   r_B   r_C
#   w1  100   200   400      1     2     4
#   w2  300   100   inf      3     1     inf      (C missed the target)
#   w3   50    50   100      1     1     2        (A and B tie for best)
#   w4  250   100   500      2.5   1     5
#   w5  inf   inf   inf      left out: no optimizer reached the target
#
# |W| = 4, tau_max = 4, score = sum_w max(0, 4 - r) / (4 * 3):
#   A: (3 + 1 + 3 + 1.5) / 12 = 8.5 / 12 = 17/24
#   B: (2 + 3 + 3 + 3)   / 12 = 11 / 12
#   C: (0 + 0 + 2 + 0)   / 12 = 2 / 12  = 1/6
# By breakpoints (rho(t_j) * (t_{j+1} - t_j)), e.g. A: rho = 1/2 on [1, 2.5), 3/4 on [2.5, 3),
# 1 on [3, 4]: (0.5 * 1.5 + 0.75 * 0.5 + 1 * 1) / 3 = 2.125 / 3 = 17/24.
STEPS = {
    "w1": {"A": 100, "B": 200, "C": 400},
    "w2": {"A": 300, "B": 100, "C": INF},
    "w3": {"A": 50, "B": 50, "C": 100},
    "w4": {"A": 250, "B": 100, "C": 500},
    "w5": {"A": INF, "B": INF, "C": INF},
}
RATIOS = {"A": (1.0, 3.0, 1.0, 2.5), "B": (2.0, 1.0, 1.0, 1.0), "C": (4.0, INF, 2.0, 5.0)}
SCORES = {"A": 17 / 24, "B": 11 / 12, "C": 1 / 6}


@pytest.fixture
def profile():
    return performance_profile(STEPS, protocol="p", quantity="steps_to_target")


def test_hand_computed_ratios_scores_and_order(profile):
    assert profile.workloads == ("w1", "w2", "w3", "w4") and profile.left_out == ("w5",)
    assert [o.optimizer for o in profile.optimizers] == ["B", "A", "C"]  # highest score first
    for o in profile.optimizers:
        assert o.ratios == RATIOS[o.optimizer]
        assert o.score == pytest.approx(SCORES[o.optimizer], abs=1e-15)


@pytest.mark.parametrize(
    ("optimizer", "tau", "rho"),
    [("A", 1.0, 0.5), ("A", 2.49, 0.5), ("A", 2.5, 0.75), ("A", 3.0, 1.0), ("A", 4.0, 1.0),
     ("B", 1.0, 0.75), ("B", 1.99, 0.75), ("B", 2.0, 1.0),
     ("C", 1.0, 0.0), ("C", 2.0, 0.25), ("C", 3.99, 0.25), ("C", 4.0, 0.5), ("C", 1e9, 0.75)],
)
def test_rho_is_the_fraction_of_workloads_within_tau(profile, optimizer, tau, rho):
    by_name = {o.optimizer: o for o in profile.optimizers}
    assert by_name[optimizer].rho(tau) == rho


def test_score_is_the_exact_integral_of_the_step_function(profile):
    for o in profile.optimizers:
        taus, rhos = o.steps(4.0)
        by_breakpoints = sum(r * (b - a) for a, b, r in zip(taus, taus[1:], rhos, strict=False)) / 3.0
        assert o.score == pytest.approx(by_breakpoints, abs=1e-15)
        grid = np.linspace(1.0, 4.0, 300_001)  # a fine grid only approaches the exact value
        assert o.score == pytest.approx(np.mean([o.rho(t) for t in grid[::100]]), abs=2e-3)
    a = next(o for o in profile.optimizers if o.optimizer == "A")
    assert a.steps(4.0) == ((1.0, 2.5, 3.0, 4.0), (0.5, 0.75, 1.0, 1.0))


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"A": 2.0, "B": 2.0, "C": 3.0}, {"A": 1.0, "B": 1.0, "C": 1.5}),  # a tie for best
        ({"A": 0.0, "B": 0.0, "C": 0.1}, {"A": 1.0, "B": 1.0, "C": INF}),  # best value 0
        ({"A": 1.0, "B": math.nan, "C": None}, {"A": 1.0, "B": INF, "C": INF}),  # NaN, None
        ({"A": INF, "B": INF}, None),  # no finite value: left out
    ],
)
def test_ratios_of_one_workload(values, expected):
    assert performance_ratios(values) == expected


def test_best_everywhere_scores_one_and_never_within_tau_max_scores_zero():
    values = {w: {"A": 1.0, "B": 10.0, "C": 2.0 + i} for i, w in enumerate(("w1", "w2", "w3"))}
    scores = {o.optimizer: o.score for o in performance_profile(values, protocol="p", quantity="q").optimizers}
    assert scores["A"] == 1.0 and scores["B"] == 0.0
    assert scores["C"] == pytest.approx((2 + 1 + 0) / 9)  # r = 2, 3, 4


def test_an_optimizer_absent_from_a_workload_has_an_infinite_ratio_there():
    values = {"w1": {"A": 1.0, "B": 2.0}, "w2": {"A": 1.0}}
    by_name = {o.optimizer: o for o in performance_profile(values, protocol="p", quantity="q").optimizers}
    assert by_name["B"].ratios == (2.0, INF) and by_name["B"].score == pytest.approx(2 / 6)


def test_every_workload_left_out_gives_no_score():
    prof = performance_profile({"w": {"A": INF}}, protocol="p", quantity="q")
    assert prof.workloads == () and prof.left_out == ("w",) and math.isnan(prof.optimizers[0].score)
    assert math.isnan(profile_score(())) and math.isnan(OptimizerProfile("A", (), math.nan).rho(2.0))


@pytest.mark.parametrize("tau_max", [1.0, 0.5, INF, math.nan, "x", True])
def test_tau_max_must_be_a_finite_number_above_one(tau_max):
    with pytest.raises(ParameterError, match="tau_max must be a finite number > 1") as err:
        check_tau_max(tau_max)
    assert err.value.parameter == "tau_max"


def _ranking(workload: str, means: dict[str, float], protocol: str = "p") -> Ranking:
    ordered = sorted(means, key=lambda o: (means[o], o))
    return Ranking(workload, protocol, [OptimizerScore(o, i + 1, 4, means[o], 0.0, 1.0) for i, o in enumerate(ordered)])


def test_standings_share_ranks_of_equal_means():
    rankings = [_ranking("w1", {"a": 0.1, "b": 0.2, "c": 0.3}),
                _ranking("w2", {"a": 0.2, "b": 0.2, "c": 0.1}),  # a and b tie at rank 2
                _ranking("w3", {"a": 0.1, "b": 0.1})]  # c did not run; a and b both win
    rows = {s.optimizer: s for s in standings(rankings)}
    assert [s.optimizer for s in standings(rankings)] == ["a", "b", "c"]
    assert (rows["a"].n_workloads, rows["a"].mean_rank, rows["a"].wins) == (3, pytest.approx(4 / 3), 2)
    assert (rows["b"].mean_rank, rows["b"].wins) == (pytest.approx(5 / 3), 1)
    assert (rows["c"].n_workloads, rows["c"].mean_rank, rows["c"].wins) == (2, 2.0, 1)


def _verdict(w: str, p: str, narrow: str, wide: str, verdict: str, via: tuple[str, ...] = ()) -> InclusionVerdict:
    return InclusionVerdict(w, p, narrow, wide, 4, 0.1, 0.1, 0.1, 0.2, 0.2, 0.2, 1.0, verdict, via)


def test_verdict_table_has_a_row_per_workload_and_pair_and_a_column_per_protocol():
    table = verdict_table([
        _verdict("w2", "lr-only", "sgd", "momentum", "violated"),
        _verdict("w1", "choi-full", "sgd", "adam", "holds", ("momentum",)),
        _verdict("w1", "lr-only", "sgd", "adam", "inconclusive", ("momentum",)),
    ])
    assert table.protocols == ("choi-full", "lr-only")
    assert [(r.workload, r.narrow, r.wide, r.via, r.verdicts) for r in table.rows] == [
        ("w1", "sgd", "adam", ("momentum",), ("holds", "inconclusive")),
        ("w2", "sgd", "momentum", (), (None, "violated")),
    ]


def test_summary_of_one_workload_warns_that_it_needs_several():
    summary = summarize_workloads([_ranking("w", {"a": 0.1, "b": 0.2})], [], [], budget=4,
                                  select="val_error", report="test_error", n_resamples=10)
    assert any("covers 1 workload (w)" in w and "need several" in w for w in summary.warnings)
    (protocol,) = summary.protocols
    assert protocol.profiles[1].optimizers[0].score == 1.0


# The study through the results layout: A = adam, B = momentum, C = sgd; every search holds two
# identical trials, so each bootstrapped value is the trials' value exactly. Steps to target as
# in STEPS above; the final test error (val_error selects):
#
#         adam  momentum  sgd     r_adam  r_mom  r_sgd   ranks (shared)
#   w1    0.1    0.2      0.3      1       2      3       1 2 3
#   w2    0.2    0.1      0.4      2       1      4       2 1 3
#   w3    0.1    0.1      0.1      1       1      1       1 1 1
#   w4    0.2    0.1      0.2      2       1      2       2 1 2
#   w5    0.5    0.5      0.5      1       1      1       1 1 1
#
# test_error scores, |W| = 5: adam (3+2+3+2+3)/15 = 13/15, momentum (2+3+3+3+3)/15 = 14/15,
# sgd (1+0+3+2+3)/15 = 9/15. Mean ranks: adam 7/5 (3 wins), momentum 6/5 (4), sgd 10/5 (2).
ERRORS = {
    "w1": {"adam": 0.1, "momentum": 0.2, "sgd": 0.3},
    "w2": {"adam": 0.2, "momentum": 0.1, "sgd": 0.4},
    "w3": {"adam": 0.1, "momentum": 0.1, "sgd": 0.1},
    "w4": {"adam": 0.2, "momentum": 0.1, "sgd": 0.2},
    "w5": {"adam": 0.5, "momentum": 0.5, "sgd": 0.5},
}
NAMES = {"A": "adam", "B": "momentum", "C": "sgd"}
ERROR_SCORES = {"adam": 13 / 15, "momentum": 14 / 15, "sgd": 9 / 15}
STANDINGS = [("momentum", 5, 6 / 5, 4), ("adam", 5, 7 / 5, 3), ("sgd", 5, 10 / 5, 2)]


def _search(workload: str, optimizer: str) -> list[dict]:
    letter = next(k for k, v in NAMES.items() if v == optimizer)
    steps = STEPS[workload][letter]
    error = ERRORS[workload][optimizer]
    if math.isinf(steps):  # a validation error above the target: never reached
        return [trial(0.6, test_error=error) for _ in range(2)]
    return [trial(error - 0.01, test_error=error, steps_to_target=int(steps)) for _ in range(2)]


def _write(path, workloads):
    return write_experiment(path, {(w, "p", o): _search(w, o) for w in workloads for o in NAMES.values()})


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    return _write(tmp_path_factory.mktemp("summary") / "exp", STEPS)


def _scores(profile: dict) -> dict[str, float]:
    return {o["optimizer"]: o["score"] for o in profile["optimizers"]}


def test_cli_prints_the_summary_with_the_hand_computed_scores(study, capsys):
    assert main(["summary", str(study), "--format", "json", "--resamples", "50"]) == 0
    captured = capsys.readouterr()
    payload = json.loads(captured.out, parse_constant=lambda c: pytest.fail(f"non-strict JSON {c}"))
    assert list(payload) == ["budget", "select", "report", "n_resamples", "tau_max", "workloads",
                             "protocols", "inclusion_verdicts"]
    assert payload["budget"] == 2 and payload["workloads"] == list(STEPS)
    (protocol,) = payload["protocols"]
    speed, error = protocol["profiles"]
    assert (speed["quantity"], speed["left_out"], error["quantity"], error["left_out"]) == (
        "steps_to_target", ["w5"], "test_error", [])
    assert _scores(speed) == pytest.approx({NAMES[k]: v for k, v in SCORES.items()}, abs=1e-12)
    assert _scores(error) == pytest.approx(ERROR_SCORES, abs=1e-12)
    sgd = next(o for o in speed["optimizers"] if o["optimizer"] == "sgd")
    assert sgd["ratios"] == {"w1": 4.0, "w2": None, "w3": 2.0, "w4": 5.0}  # a missed target is null
    assert [(s["optimizer"], s["n_workloads"], s["mean_rank"], s["wins"]) for s in protocol["standings"]] == [
        (o, n, pytest.approx(m), wins) for o, n, m, wins in STANDINGS]
    verdicts = payload["inclusion_verdicts"]
    assert verdicts["protocols"] == ["p"] and len(verdicts["rows"]) == 5 * 3  # sgd<=momentum<=adam, sgd<=adam
    violated = [(r["workload"], r["narrow"], r["wide"]) for r in verdicts["rows"] if r["verdicts"]["p"] == "violated"]
    assert violated == [("w2", "momentum", "adam"), ("w4", "momentum", "adam")]
    assert "steps_to_target profile: left out w5 (no optimizer reached the target there)" in captured.err


def test_cli_table_and_csv(study, capsys):
    assert main(["summary", str(study), "--format", "csv", "--resamples", "20"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == ("protocol,optimizer,n_workloads,mean_rank,wins,score_steps_to_target,"
                        "score_test_error,budget,select,report,n_resamples,tau_max")
    assert [line.split(",")[1] for line in lines[1:]] == ["momentum", "adam", "sgd"]
    assert float(lines[1].split(",")[6]) == pytest.approx(14 / 15)
    assert main(["summary", str(study), "--resamples", "20"]) == 0
    out = capsys.readouterr().out
    assert "p over 5 workloads" in out and "steps_to_target: left out w5" in out and "violated" in out


def test_experiments_loaded_together_give_the_same_summary(study, tmp_path, capsys):
    first, second = _write(tmp_path / "a", ("w1", "w2")), _write(tmp_path / "b", ("w3", "w4", "w5"))
    together = summarize_experiments([str(first), str(second)], n_resamples=30)
    alone = summarize_experiments(str(study), n_resamples=30)
    assert together.as_dict() == alone.as_dict()
    assert main(["summary", str(first), str(first), "--resamples", "5"]) == 2
    assert "search w1/p/adam is in both" in capsys.readouterr().err


def test_cli_one_workload_still_summarises_and_warns(tmp_path, capsys):
    one = _write(tmp_path / "one", ("w1",))
    assert main(["summary", str(one), "--format", "json", "--resamples", "10"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["workloads"] == ["w1"]
    assert "covers 1 workload (w1)" in captured.err


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--tau-max", "1"], "--tau-max must be a finite number > 1"),
     (["--budget", "0"], "--budget must be >= 1"),
     (["--resamples", "0"], "--resamples must be >= 1")],
)
def test_cli_bad_input_exits_2(study, capsys, args, message):
    assert main(["summary", str(study), *args]) == 2
    assert message in capsys.readouterr().err


def test_cli_refuses_a_directory_that_is_not_an_experiment(tmp_path, capsys):
    assert main(["summary", str(tmp_path / "missing")]) == 2
    assert "is not an optcompare experiment" in capsys.readouterr().err


def test_the_summary_has_the_numbers_of_the_report(tmp_path):
    rng = np.random.default_rng(3)  # noisy searches, so the bootstrap draws matter
    searches = {(w, "p", o): [trial(float(rng.uniform(0.1, 0.6)), steps_to_target=int(rng.integers(20, 100)))
                              for _ in range(6)]
                for w in ("w1", "w2", "w3") for o in ("sgd", "momentum", "adam")}
    path = str(write_experiment(tmp_path / "noisy", searches))
    report = analyse(path, n_resamples=200, seed=7)
    assert report.across_workloads is not None
    assert report.across_workloads.as_dict() == summarize_experiments(path, n_resamples=200, seed=7).as_dict()
