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
#   w5  inf   inf   inf      inf   inf   inf      (no optimizer reached the target)
#
# AlgoPerf's convention (the default): w5 stays in W as a miss for all. |W| = 5, tau_max = 4,
# score = sum_w max(0, 4 - r) / (5 * 3):
#   A: (3 + 1 + 3 + 1.5 + 0) / 15 = 8.5 / 15 = 17/30
#   B: (2 + 3 + 3 + 3 + 0)   / 15 = 11 / 15
#   C: (0 + 0 + 2 + 0 + 0)   / 15 = 2 / 15
# By breakpoints (rho(t_j) * (t_{j+1} - t_j)), e.g. A: rho = 2/5 on [1, 2.5), 3/5 on [2.5, 3),
# 4/5 on [3, 4]: (0.4 * 1.5 + 0.6 * 0.5 + 0.8 * 1) / 3 = 1.7 / 3 = 17/30.
# --drop-unsolved leaves w5 out: |W| = 4, A 8.5/12 = 17/24, B 11/12, C 2/12 (each 5/4 of the above).
STEPS = {
    "w1": {"A": 100, "B": 200, "C": 400},
    "w2": {"A": 300, "B": 100, "C": INF},
    "w3": {"A": 50, "B": 50, "C": 100},
    "w4": {"A": 250, "B": 100, "C": 500},
    "w5": {"A": INF, "B": INF, "C": INF},
}
RATIOS = {"A": (1.0, 3.0, 1.0, 2.5, INF), "B": (2.0, 1.0, 1.0, 1.0, INF), "C": (4.0, INF, 2.0, 5.0, INF)}
SCORES = {"A": 17 / 30, "B": 11 / 15, "C": 2 / 15}
DROPPED_SCORES = {"A": 17 / 24, "B": 11 / 12, "C": 1 / 6}


@pytest.fixture
def profile():
    return performance_profile(STEPS, protocol="p", quantity="steps_to_target")


def test_hand_computed_ratios_scores_and_order(profile):
    assert profile.workloads == ("w1", "w2", "w3", "w4", "w5") and profile.left_out == ()
    assert profile.unsolved == ("w5",) and profile.convention == "algoperf"
    assert [o.optimizer for o in profile.optimizers] == ["B", "A", "C"]  # highest score first
    for o in profile.optimizers:
        assert o.ratios == RATIOS[o.optimizer]
        assert o.score == pytest.approx(SCORES[o.optimizer], abs=1e-15)
    assert profile.convention_sentence == (
        "steps_to_target: w5 unsolved by every optimizer, kept in W as a miss for all (AlgoPerf's "
        "convention): every score is 4/5 of what --drop-unsolved would give"
    )


def test_drop_unsolved_leaves_the_workload_out_and_scales_every_score_up():
    dropped = performance_profile(STEPS, protocol="p", quantity="steps_to_target", drop_unsolved=True)
    assert dropped.workloads == ("w1", "w2", "w3", "w4") and dropped.left_out == ("w5",)
    assert dropped.convention == "drop-unsolved"
    assert [o.optimizer for o in dropped.optimizers] == ["B", "A", "C"]  # the order is the same
    for o in dropped.optimizers:
        assert o.ratios == RATIOS[o.optimizer][:4]
        assert o.score == pytest.approx(DROPPED_SCORES[o.optimizer], abs=1e-15)
    assert "scales every score by 5/4" in dropped.convention_sentence


def test_the_convention_is_the_flag_even_when_nothing_was_unsolved():
    solved = {w: v for w, v in STEPS.items() if w != "w5"}
    dropped = performance_profile(solved, protocol="p", quantity="q", drop_unsolved=True)
    assert dropped.convention == "drop-unsolved" and dropped.as_dict()["convention"] == "drop-unsolved"
    assert dropped.convention_sentence == ""  # nothing was unsolved: nothing to say
    nothing = performance_profile({"w": {"A": INF}}, protocol="p", quantity="q", drop_unsolved=True)
    assert nothing.convention_sentence.endswith("no workload is left, so there is no score")


def test_algoperf_trapezoid_on_a_hand_computed_grid():
    # points = 4 on [1, 4]: tau = 1, 2, 3, 4. A's ratios (1, 3, 1, 2.5, inf) give rho = 2/5, 2/5,
    # 4/5, 4/5; the trapezoid is (0.4 + 0.4)/2 + (0.4 + 0.8)/2 + (0.8 + 0.8)/2 = 1.8, / 3 = 0.6
    # (exact: 17/30 = 0.5667). B's (2, 1, 1, 1, inf): 3/5, 4/5, 4/5, 4/5 -> (0.7 + 0.8 + 0.8) / 3.
    grid = performance_profile(STEPS, protocol="p", quantity="steps_to_target", points=4)
    scores = {o.optimizer: o.score for o in grid.optimizers}
    assert scores["A"] == pytest.approx(0.6, abs=1e-15)
    assert scores["B"] == pytest.approx(2.3 / 3, abs=1e-15)
    assert grid.points == 4 and grid.as_dict()["points"] == 4
    at_100 = performance_profile(STEPS, protocol="p", quantity="steps_to_target", points=100)
    for o in at_100.optimizers:  # within the bound 1 / (2 (N - 1)) of the exact score
        assert abs(o.score - SCORES[o.optimizer]) <= 1 / 198
    with pytest.raises(ParameterError, match="points must be an integer >= 2"):
        performance_profile(STEPS, protocol="p", quantity="q", points=1)


@pytest.mark.parametrize(
    ("optimizer", "tau", "rho"),
    [("A", 1.0, 0.4), ("A", 2.49, 0.4), ("A", 2.5, 0.6), ("A", 3.0, 0.8), ("A", 4.0, 0.8),
     ("B", 1.0, 0.6), ("B", 1.99, 0.6), ("B", 2.0, 0.8),
     ("C", 1.0, 0.0), ("C", 2.0, 0.2), ("C", 3.99, 0.2), ("C", 4.0, 0.4), ("C", 1e9, 0.6)],
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
    assert a.steps(4.0) == ((1.0, 2.5, 3.0, 4.0), (0.4, 0.6, 0.8, 0.8))


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


def test_every_workload_unsolved_scores_zero_or_with_drop_unsolved_nothing():
    kept = performance_profile({"w": {"A": INF}}, protocol="p", quantity="q")
    assert kept.workloads == ("w",) and kept.optimizers[0].score == 0.0
    prof = performance_profile({"w": {"A": INF}}, protocol="p", quantity="q", drop_unsolved=True)
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
    assert list(payload) == ["budget", "select", "report", "n_resamples", "tau_max", "convention", "points",
                             "workloads", "protocols", "inclusion_verdicts"]
    assert (payload["convention"], payload["points"]) == ("algoperf", None)
    assert payload["budget"] == 2 and payload["workloads"] == list(STEPS)
    (protocol,) = payload["protocols"]
    speed, error = protocol["profiles"]
    assert (speed["quantity"], speed["unsolved"], speed["left_out"], error["quantity"], error["unsolved"]) == (
        "steps_to_target", ["w5"], [], "test_error", [])
    assert _scores(speed) == pytest.approx({NAMES[k]: v for k, v in SCORES.items()}, abs=1e-12)
    assert _scores(error) == pytest.approx(ERROR_SCORES, abs=1e-12)
    sgd = next(o for o in speed["optimizers"] if o["optimizer"] == "sgd")
    assert sgd["ratios"] == {"w1": 4.0, "w2": None, "w3": 2.0, "w4": 5.0, "w5": None}  # a missed target is null
    assert [(s["optimizer"], s["n_workloads"], s["mean_rank"], s["wins"]) for s in protocol["standings"]] == [
        (o, n, pytest.approx(m), wins) for o, n, m, wins in STANDINGS]
    verdicts = payload["inclusion_verdicts"]
    assert verdicts["protocols"] == ["p"] and len(verdicts["rows"]) == 5 * 3  # sgd<=momentum<=adam, sgd<=adam
    violated = [(r["workload"], r["narrow"], r["wide"]) for r in verdicts["rows"] if r["verdicts"]["p"] == "violated"]
    assert violated == [("w2", "momentum", "adam"), ("w4", "momentum", "adam")]
    assert ("p, steps_to_target: w5 unsolved by every optimizer, kept in W as a miss for all "
            "(AlgoPerf's convention)") in captured.err
    assert main(["summary", str(study), "--format", "json", "--resamples", "50", "--drop-unsolved"]) == 0
    dropped = json.loads(capsys.readouterr().out)
    speed = dropped["protocols"][0]["profiles"][0]
    assert dropped["convention"] == "drop-unsolved" and speed["left_out"] == ["w5"]
    assert _scores(speed) == pytest.approx({NAMES[k]: v for k, v in DROPPED_SCORES.items()}, abs=1e-12)


def test_cli_table_and_csv(study, capsys):
    assert main(["summary", str(study), "--format", "csv", "--resamples", "20"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == ("protocol,optimizer,n_workloads,mean_rank,wins,score_steps_to_target,"
                        "score_test_error,score_ruleset,budget,select,report,n_resamples,tau_max,convention")
    assert lines[1].split(",")[7] == ""  # the protocol follows no ruleset
    assert [line.split(",")[1] for line in lines[1:]] == ["momentum", "adam", "sgd"]
    assert float(lines[1].split(",")[6]) == pytest.approx(14 / 15)
    assert main(["summary", str(study), "--resamples", "20"]) == 0
    out = " ".join(capsys.readouterr().out.split())  # titles and captions may wrap
    assert "p over 5 workloads" in out and "steps_to_target: w5 unsolved by every optimizer" in out
    assert "violated" in out and "count as misses, as in AlgoPerf" in out


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


def _csv_table(path, rows, header="submission,workload,value"):
    path.write_text(header + "\n" + "".join(f"{who},{w},{v}\n" for who, w, v in rows))
    return path


def test_an_external_table_scores_like_the_hand_computed_example(tmp_path, capsys):
    rows = [(who, w, "" if math.isinf(v) else v) for w, by in STEPS.items() for who, v in by.items()]
    table = _csv_table(tmp_path / "board.csv", rows)
    assert main(["profile", str(table), "--format", "json", "--quantity", "steps"]) == 0
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert _scores(document) == pytest.approx(SCORES, abs=1e-15)
    assert document["unsolved"] == ["w5"] and document["quantity"] == "steps"
    assert "w5 unsolved by every optimizer" in captured.err
    assert main(["profile", str(table), "--format", "json", "--drop-unsolved"]) == 0
    assert _scores(json.loads(capsys.readouterr().out)) == pytest.approx(DROPPED_SCORES, abs=1e-15)
    assert main(["profile", str(table), "--format", "csv", "--points", "4"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "name,score,r_w1,r_w2,r_w3,r_w4,r_w5"
    assert lines[2].split(",")[:2] == ["A", "0.6"]  # the hand-computed trapezoid; B first
    assert main(["profile", str(table)]) == 0
    assert "exact integral" in " ".join(capsys.readouterr().out.split())  # the title may wrap


def _algoperf_scores(steps: dict[str, dict[str, float]], points: int = 100, tau_max: float = 4.0) -> dict[str, float]:
    """AlgoPerf's procedure, step by step as scoring/performance_profile.py writes it (pandas):
    divide each workload's column by its minimum (inf / inf = NaN for an unsolved one), rho(tau)
    = #(r <= tau) / the number of workloads at np.linspace(1, tau_max, points), then
    np.trapz over tau divided by tau_max - 1 (compute_leaderboard_score, normalize=True)."""
    import pandas as pd

    frame = pd.DataFrame(steps)  # rows: submissions, columns: workloads
    ratios = frame.div(frame.min(axis=0), axis=1)
    taus = np.linspace(1.0, tau_max, num=points)
    rho = pd.concat([(ratios <= t).sum(axis=1) / frame.shape[1] for t in taus], axis=1)
    scores = np.trapezoid(rho.to_numpy(), x=taus, axis=1) / (tau_max - 1.0)
    return dict(zip(frame.index, scores, strict=True))


def test_a_leaderboard_with_an_unsolved_workload_scores_as_algoperf_and_not_inflated(tmp_path, capsys):
    rng = np.random.default_rng(7)
    names = [f"sub{i}" for i in range(5)]
    steps = {f"w{j}": {s: float(rng.integers(1_000, 9_000)) for s in names} for j in range(8)}
    steps["w1"]["sub2"] = steps["w1"]["sub3"] = INF  # two misses
    steps["w3"]["sub0"] = steps["w3"]["sub4"] = min(steps["w3"].values())  # a tie for best
    steps["w8"] = dict.fromkeys(names, INF)  # nobody solved the ninth workload
    rows = [(s, w, "inf" if math.isinf(v) else int(v)) for w, by in steps.items() for s, v in by.items()]
    table = _csv_table(tmp_path / "leaderboard.csv", rows)
    assert main(["profile", str(table), "--format", "json", "--points", "100"]) == 0
    ours = _scores(json.loads(capsys.readouterr().out))
    assert ours == pytest.approx(_algoperf_scores(steps), abs=1e-12)
    assert main(["profile", str(table), "--format", "json", "--points", "100", "--drop-unsolved"]) == 0
    inflated = _scores(json.loads(capsys.readouterr().out))
    assert {s: inflated[s] / ours[s] for s in names} == pytest.approx(dict.fromkeys(names, 9 / 8))


@pytest.mark.parametrize(("text", "message"), [
    ("who,workload,value\na,w,1\n", "lacks submission (or optimizer)"),
    ("optimizer,workload\na,w\n", "lacks value"),
    ("optimizer,workload,value\na,w,fast\n", "line 2: value 'fast' is not a number"),
    ("optimizer,workload,value\na,w,-3\n", "line 2: value '-3' is negative"),
    ("optimizer,workload,value\na,w,1\na,w,2\n", "line 3: a on w is given twice"),
    ("optimizer,workload,value\n", "has a header but no rows"),
    ("optimizer,workload,value\na,w,1\n\nb,w,x\n", "line 4: value 'x' is not a number"),  # the blank line counts
])
def test_a_bad_table_is_refused_naming_the_line_and_the_fix(tmp_path, capsys, text, message):
    table = tmp_path / "bad.csv"
    table.write_text(text)
    assert main(["profile", str(table)]) == 2
    assert message in capsys.readouterr().err
