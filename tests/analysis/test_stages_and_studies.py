"""Stages and repeated studies in the analysis: the stage selection, old rows, per-study
rankings, the studies' spread and agreement, and the report's opening and refined sections.

The experiment: workload w; protocol ``two`` with stages initial -> final, protocol ``one`` with
the single stage final; optimizers sgd and momentum; studies 0 and 1. Every trial of one
(search, study, stage) has the same validation and test error, so each bootstrapped mean is
that value exactly.
"""

from __future__ import annotations

import csv
import io
import json
import re

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from analysis import analyse
from analysis.experiment_rankings import rank_experiment
from analysis.load import load_results
from analysis.ranking import rank_optimizers_at
from analysis.report import render_page
from analysis.stages import select_stage, select_stage_rows, stage_names
from analysis.studies import compare_studies, study_count
from optcompare.cli import main
from optcompare.errors import ParameterError
from tests.analysis.synthetic import trial, write_experiment

INITIAL_ERROR = 0.5
"""Every initial-stage trial of protocol ``two``."""

REFINED = [{
    "workload": "w", "protocol": "two", "optimizer": "sgd", "study": 1, "stage": "final",
    "from_stage": "initial", "rule": "best 25% of 2 completed trials, margin 0.5",
    "best_trial_ids": ["w/two/sgd/s1/00000"],
    "coordinates": [{"name": "learning_rate", "old": {"min": 0.001, "max": 1.0, "scaling": "log"},
                     "new": {"min": 0.01, "max": 0.1, "scaling": "log"}, "notes": "inside; inside"}],
}]


def _search(protocol: str, errors: dict[int, float], *, staged: bool, probe: bool = False, base: int = 0):
    """Per study: 2 initial trials (staged only), 2 final ones at ``errors[study]``, and a rerun
    of the final stage (staged only). Seeds 1000 * study + index + ``base``."""
    rows = []
    for study, error in errors.items():
        first = 0
        if staged:
            rows += [trial(INITIAL_ERROR, test_error=INITIAL_ERROR, index=i, stage="initial", study=study,
                           seed=base + 1000 * study + i) for i in (0, 1)]
            first = 2
        rows += [trial(error, test_error=error, index=first + i, stage="final", study=study,
                       seed=base + 1000 * study + first + i) for i in (0, 1)]
        if staged:
            rows.append(trial(error, test_error=error, index=first + 2, stage="final", study=study,
                              phase="rerun", seed=base + 1000 * study + 99))
    if probe:  # momentum imitating sgd/one's best trial (study 0, index 0: seed 200)
        rows.append(trial(0.2, test_error=0.2, index=10, stage="final", phase="probe", seed=200))
    return rows


def _experiment(path, sgd_two=(0.2, 0.2), meta=None):
    searches = {
        ("w", "two", "sgd"): _search("two", dict(enumerate(sgd_two)), staged=True),
        ("w", "two", "momentum"): _search("two", {0: 0.25, 1: 0.25}, staged=True, base=100),
        ("w", "one", "sgd"): _search("one", {0: 0.2, 1: 0.2}, staged=False, base=200),
        ("w", "one", "momentum"): _search("one", {0: 0.3, 1: 0.3}, staged=False, probe=True, base=300),
    }
    extra = {"stages": {"two": ["initial", "final"], "one": ["final"]}, "studies": 2, **(meta or {})}
    return write_experiment(path, searches, meta=extra,
                            inclusions=[{"narrow": "sgd", "wide": "momentum", "exact": True}])


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    return _experiment(tmp_path_factory.mktemp("staged") / "exp")


def _counts(table: pa.Table) -> dict[tuple[str, str, str], int]:
    """(protocol, stage, phase) -> number of rows."""
    out: dict[tuple[str, str, str], int] = {}
    for p, s, ph in zip(*(table.column(c).to_pylist() for c in ("protocol", "stage", "phase")), strict=True):
        out[(p, s, ph)] = out.get((p, s, ph), 0) + 1
    return out


# Per optimizer and study: two: 2 initial + 2 final + 1 rerun; one: 2 final (+ 1 probe, momentum).
ROWS = {
    "final": {("two", "final", "search"): 8, ("two", "final", "rerun"): 4,
              ("one", "final", "search"): 8, ("one", "final", "probe"): 1},
    "initial": {("two", "initial", "search"): 8,
                ("one", "final", "search"): 8, ("one", "final", "probe"): 1},
    "all": {("two", "initial", "search"): 8, ("two", "final", "search"): 8, ("two", "final", "rerun"): 4,
            ("one", "final", "search"): 8, ("one", "final", "probe"): 1},
}


@pytest.mark.parametrize("stage", ["final", "initial", "all"])
def test_select_stage_keeps_exactly_the_rows_of_the_selection(experiment, stage):
    exp = select_stage(load_results(str(experiment)), stage)
    assert _counts(exp.trials) == ROWS[stage]
    kept = set(exp.trials.column("trial_id").to_pylist())
    assert set(exp.curves.column("trial_id").to_pylist()) == kept  # every kept trial has curves
    assert exp.curves.num_rows == 5 * len(kept)


def test_a_stage_name_keeps_that_stage_and_drops_protocols_without_it(experiment):
    exp = load_results(str(experiment))
    rows = select_stage_rows(exp.trials, exp.meta, "initial")
    named = select_stage(exp, "initial")  # the selection "initial" = two's first stage, one's only
    assert _counts(named.trials) == ROWS["initial"] and rows.num_rows == named.trials.num_rows
    meta = {**exp.meta, "stages": {"two": ["coarse", "final"], "one": ["final"]}}
    coarse = exp.trials.set_column(
        exp.trials.column_names.index("stage"), "stage",
        pc.replace_substring(exp.trials.column("stage"), "initial", "coarse"),
    )
    assert _counts(select_stage_rows(coarse, meta, "coarse")) == {("two", "coarse", "search"): 8}


@pytest.mark.parametrize("bad", ["middle", "", "FINAL"])
def test_an_unknown_stage_is_a_parameter_error_listing_what_is_allowed(experiment, bad):
    exp = load_results(str(experiment))
    with pytest.raises(ParameterError) as err:
        select_stage(exp, bad)
    assert err.value.parameter == "stage"
    assert repr(bad) in str(err.value) and "final, initial, all" in str(err.value)


@pytest.mark.parametrize("command", [["rank"], ["summary"], ["report", "--out", "OUT"]])
def test_an_unknown_stage_exits_2_naming_the_flag(experiment, tmp_path, capsys, command):
    args = [a.replace("OUT", str(tmp_path / "out")) for a in command]
    assert main([args[0], str(experiment), *args[1:], "--stage", "middle", "--resamples", "10"]) == 2
    err = capsys.readouterr().err
    assert f"--stage 'middle' is not a stage of {experiment}" in err and "final, initial, all" in err


def test_old_files_without_stage_or_study_read_as_final_and_study_0(tmp_path):
    path = write_experiment(tmp_path / "old", {("w", "p", "sgd"): [trial(0.3), trial(0.4)]})
    # Null columns (the sink's rows without the values) ...
    assert set(load_results(str(path)).trials.column("stage").to_pylist()) == {"final"}
    # ... and files without the columns at all (written before stages and studies existed).
    (part,) = (path / "trials").rglob("part-*.parquet")
    pq.write_table(pq.read_table(part).drop_columns(["stage", "study"]), part)
    assert {"stage", "study"}.isdisjoint(pq.read_schema(part).names)
    trials = load_results(str(path)).trials
    assert trials.column("stage").to_pylist() == ["final", "final"]
    assert trials.column("study").to_pylist() == [0, 0] and trials.schema.field("study").type == pa.int64()
    assert stage_names({}, ["p"]) == {"p": ["final"]} and study_count({}, trials) == 1


def test_each_study_is_ranked_as_its_own_rows_alone(experiment):
    result = rank_experiment(str(experiment), [1, 2], n_resamples=200, seed=3)
    assert result.studies is not None and result.studies.studies == (0, 1)
    exp = load_results(str(experiment))
    final = select_stage_rows(exp.trials, exp.meta, "final")
    for at in result.studies.by_budget:
        for study, rankings in at.rankings:
            alone = final.filter(pc.equal(final.column("study"), study))
            expected = rank_optimizers_at(alone, [at.budget], n_resamples=200, seed=3)[at.budget]
            assert list(rankings) == expected
    # The pooled rankings are those of every study's rows together.
    pooled = rank_optimizers_at(final, [1, 2], n_resamples=200, seed=3)
    assert [list(b.rankings) for b in result.by_budget] == [pooled[1], pooled[2]]


def test_the_default_budget_with_studies_is_one_studys_smallest_search(experiment, capsys):
    result = rank_experiment(str(experiment), n_resamples=20)
    assert [b.budget for b in result.by_budget] == [2]  # 2 final trials per study, 4 pooled
    assert result.warnings == ()
    # K = 3 fits the pooled searches (4 trials) but not one study's (2): each study warns.
    warnings = rank_experiment(str(experiment), [3], n_resamples=20).warnings
    assert [w.split(":")[0] for w in warnings] == ["study 0", "study 1"]
    assert all("budget 3 exceeds the largest search (2 trials" in w for w in warnings)
    assert main(["rank", str(experiment), "--budget", "3", "--resamples", "10"]) == 0
    assert "warning: study 0: --budget 3 exceeds" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("sgd_two", "winners", "agree", "sd"),
    [
        ((0.2, 0.2), ("sgd", "sgd"), True, 0.0),
        # study 1's sgd (0.3) loses to momentum (0.25): another winner, and sgd <= momentum
        # goes from violated (momentum worse in every resample) to holds.
        ((0.2, 0.3), ("sgd", "momentum"), False, 0.1 / 2**0.5),
    ],
)
def test_the_studies_agree_only_with_the_same_winner_and_verdicts(tmp_path, sgd_two, winners, agree, sd):
    path = _experiment(tmp_path / "e", sgd_two)
    exp = select_stage(load_results(str(path)), "final")
    comparison = compare_studies(exp.trials, [2], [], n_resamples=50, meta=exp.meta)
    (at,) = comparison.by_budget
    by_protocol = {a.protocol: a for a in at.agreement}
    assert by_protocol["one"].agree and by_protocol["one"].winners == ("sgd", "sgd")
    two = by_protocol["two"]
    assert two.winners == winners and two.same_winner is agree and two.agree is agree
    spread = {(s.protocol, s.optimizer): s for s in at.spread}
    assert spread[("two", "sgd")].means == pytest.approx(sgd_two)
    assert spread[("two", "sgd")].mean == pytest.approx(sum(sgd_two) / 2)
    assert spread[("two", "sgd")].sd == pytest.approx(sd, abs=1e-12)
    assert spread[("two", "momentum")].sd == pytest.approx(0.0, abs=1e-12)
    # The verdicts on the recorded pair, one per study.
    from analysis.inclusion import InclusionPair

    verdicts = compare_studies(exp.trials, [2], [InclusionPair("sgd", "momentum", True)], n_resamples=50,
                               meta=exp.meta).by_budget[0]
    (two,) = [a for a in verdicts.agreement if a.protocol == "two"]
    expected = ("violated", "violated") if agree else ("violated", "holds")
    assert two.verdicts == (("sgd <= momentum", expected),) and two.same_verdicts is agree
    assert comparison.mixtures == ("two",)  # the staged protocol's pooled final stage is a mixture


def test_one_study_has_no_study_comparison(tmp_path):
    path = write_experiment(tmp_path / "one", {("w", "p", "sgd"): [trial(0.3)], ("w", "p", "adam"): [trial(0.2)]})
    assert rank_experiment(str(path), n_resamples=10).studies is None
    assert compare_studies(load_results(str(path)).trials, [1], []) is None


def test_rank_prints_per_study_tables_json_and_csv(experiment, capsys):
    assert main(["rank", str(experiment), "--resamples", "50"]) == 0
    out = capsys.readouterr().out
    assert "pooled: w / two" in out and "study 0: w / two" in out and "study 1: w / one" in out
    assert "over 2 studies" in out and "mix differently refined spaces" in out
    assert main(["rank", str(experiment), "--resamples", "50", "--format", "json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert [s["study"] for s in payload["studies"]["studies"]] == [0, 1]
    assert payload["studies"]["mixtures"] == ["two"] and "stage" not in payload
    assert {a["protocol"]: a["agree"] for a in payload["studies"]["agreement"]} == {"one": True, "two": True}
    assert main(["rank", str(experiment), "--resamples", "50", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["study"] for r in rows] == ["pooled"] * 4 + ["0"] * 4 + ["1"] * 4
    assert main(["rank", str(experiment), "--resamples", "50", "--format", "json", "--stage", "initial"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["stage"] == "initial" and payload["studies"]["mixtures"] == []
    (two,) = [r for r in payload["rankings"] if r["protocol"] == "two"]
    assert [o["mean"] for o in two["optimizers"]] == [INITIAL_ERROR, INITIAL_ERROR]


def _headings(page: str) -> list[str]:
    return re.findall(r"<h2>(.*?)</h2>", page)


def test_the_report_opens_with_the_inclusion_table_and_shows_studies_and_refined_spaces(tmp_path):
    path = _experiment(tmp_path / "e", (0.2, 0.3), meta={"refined": REFINED})
    data = analyse(str(path), n_resamples=50)
    assert data.budget == 2 and data.stage == "final"
    rows = {(h.protocol, h.workload): h for h in data.hierarchy_rows}
    one = rows[("one", "w")]
    assert one.status == "broken" and one.n_checked == 1
    (broken,) = one.broken_pairs
    assert broken.startswith("sgd <= momentum: momentum 0.3 vs sgd 0.2, P(wide worse) = 1.00")
    assert one.probe_summary == "1 of 1 realised: sgd <= momentum: realised"
    assert rows[("two", "w")].probes == ()
    page = render_page(data)
    headings = _headings(page)
    assert headings[0] == "Does the inclusion hierarchy hold?"
    assert page.index('<table class="headline">') < page.index('<table class="ranking">')
    assert "Repeated studies" in headings and "Refined search spaces" in headings
    assert "<td>[0.001, 1] log</td><td>[0.01, 0.1] log</td><td>inside; inside</td>" in page
    assert "best 25% of 2 completed trials" in page
    assert "Staged protocols two" in page and '<table class="study-agreement">' in page
    assert "rank 1: sgd, momentum" in page


def test_the_report_without_refined_entries_or_studies_has_neither_section(tmp_path):
    path = write_experiment(tmp_path / "plain", {("w", "p", "sgd"): [trial(0.3)], ("w", "p", "momentum"): [trial(0.2)]},
                            inclusions=[{"narrow": "sgd", "wide": "momentum", "exact": True}])
    data = analyse(str(path), n_resamples=20)
    assert [(h.status, h.probe_summary) for h in data.hierarchy_rows] == [("holds", "-")]
    headings = _headings(render_page(data))
    assert headings[0] == "Does the inclusion hierarchy hold?"
    assert "Refined search spaces" not in headings and "Repeated studies" not in headings


def test_the_report_of_the_initial_stage_ranks_the_initial_rows(experiment):
    data = analyse(str(experiment), n_resamples=20, stage="initial")
    (two,) = [r for r in data.rankings if r.protocol == "two"]
    assert [o.mean for o in two.optimizers] == [INITIAL_ERROR, INITIAL_ERROR]
    assert data.probes and all(p.protocol == "one" for p in data.probes)
    assert "stage selection <b>initial</b>" in render_page(data)
