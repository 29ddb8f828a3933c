"""Loading and SQL: views, partitions, several experiments, bad SQL, damaged files skipped."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from analysis import group_searches, load_experiments, load_results, run_query
from optcompare.cli import main
from optcompare.errors import InputError
from tests.analysis.synthetic import trial, write_experiment


@pytest.fixture
def exp(tmp_path) -> Path:
    return write_experiment(tmp_path / "exp", {
        ("w", "p", "sgd"): [trial(0.3, tuned={"learning_rate": 0.1}), trial(0.4, tuned={"learning_rate": 0.2})],
        ("w", "p", "adam"): [trial(0.2, tuned={"learning_rate": 0.1, "one_minus_beta1": 0.1})],
        ("w", "q", "sgd"): [trial(0.5, status="failed")],
    })


def _damage(exp: Path) -> None:
    """Truncate sgd/p's trials file; add a text file and a foreign Parquet file as part files."""
    (part,) = (exp / "trials" / "workload=w" / "protocol=p" / "optimizer=sgd").glob("part-*.parquet")
    part.write_bytes(part.read_bytes()[: part.stat().st_size // 2])
    adam = exp / "trials" / "workload=w" / "protocol=p" / "optimizer=adam"
    (adam / "part-zzz-text.parquet").write_text("not parquet at all")
    pq.write_table(pa.table({"x": [1, 2]}), adam / "part-zzz-foreign.parquet")
    pq.write_table(pa.table({"trial_id": ["t"], "attempt": [0], "status": ["completed"]}), exp / "trials" / "part-unpartitioned.parquet")


def test_views_have_partitions_experiment_and_united_columns(exp):
    result = run_query(str(exp), "select workload, protocol, optimizer, experiment, count(*) as n, "
                                 "min(tuned_one_minus_beta1) as b from trials group by all order by all")
    assert result.columns == ("workload", "protocol", "optimizer", "experiment", "n", "b")
    assert result.rows == [("w", "p", "adam", "exp", 1, 0.1), ("w", "p", "sgd", "exp", 2, None), ("w", "q", "sgd", "exp", 1, None)]
    assert result.skipped == ()
    # curves: 5 evaluations per trial that ran; the failed trial has none.
    (row,) = run_query(str(exp), "select count(*), count(distinct trial_id), max(step) from curves").rows
    assert row == (15, 3, 100)


def test_query_cli_formats(exp, capsys):
    sql = "select optimizer, final_val_error from trials where protocol = 'p' order by final_val_error"
    assert main(["query", str(exp), sql, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == [
        {"optimizer": "adam", "final_val_error": 0.2}, {"optimizer": "sgd", "final_val_error": 0.3},
        {"optimizer": "sgd", "final_val_error": 0.4}]
    assert main(["query", str(exp), sql, "--format", "csv"]) == 0
    assert list(csv.reader(io.StringIO(capsys.readouterr().out)))[:2] == [["optimizer", "final_val_error"], ["adam", "0.2"]]
    assert main(["query", str(exp), sql]) == 0
    out = capsys.readouterr().out
    assert "final_val_error" in out and "adam" in out and "3 row(s)" in out


@pytest.mark.parametrize(("sql", "message"), [("selec * from trials", "Parser Error"),
                                              ("select nope from trials", "Binder Error"),
                                              ("select * from nowhere", "nowhere"),
                                              ("  ", "empty SQL")])
def test_bad_sql_exits_2_with_duckdbs_message(exp, capsys, sql, message):
    assert main(["query", str(exp), sql]) == 2
    err = capsys.readouterr().err
    assert "optcompare query: error:" in err and message in err


def test_query_on_a_directory_that_is_no_experiment_exits_2(tmp_path, capsys):
    assert main(["query", str(tmp_path), "select 1"]) == 2
    assert "is not an optcompare experiment" in capsys.readouterr().err


def test_several_experiments(exp, tmp_path):
    other = write_experiment(tmp_path / "other", {("w", "p", "sgd"): [trial(0.1)]})
    (row,) = run_query([str(exp), str(other)], "select count(distinct experiment), count(*) from trials").rows
    assert row == (2, 5)
    both = load_experiments([str(exp), str(other)])
    assert sorted(set(both.trials.column("experiment").to_pylist())) == ["exp", "other"]
    assert set(both.meta["experiments"]) == {"exp", "other"}


def test_truncated_and_foreign_files_are_reported_and_skipped(exp, capsys):
    _damage(exp)
    loaded = load_results(str(exp))
    assert len(loaded.skipped) == 4
    reasons = "\n".join(loaded.skipped)
    assert "optimizer=sgd" in reasons and "not a trials file (no column trial_id, attempt, status)" in reasons
    assert "not under workload=/protocol=/optimizer= partitions" in reasons
    assert sorted(group_searches(loaded.trials)) == [("w", "p", "adam"), ("w", "q", "sgd")]
    result = run_query(str(exp), "select optimizer, count(*) from trials group by all order by all")
    assert result.rows == [("adam", 1), ("sgd", 1)] and len(result.skipped) == 4
    # Every command goes on with a warning.
    assert main(["query", str(exp), "select count(*) from curves", "--format", "csv"]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines()[1] == "15" and captured.err.count("warning: skipped") == 4
    assert main(["rank", str(exp), "--format", "json", "--resamples", "20"]) == 0
    assert "warning: skipped" in capsys.readouterr().err


def test_retried_trial_counts_once_with_its_latest_attempt(tmp_path):
    exp = write_experiment(tmp_path / "exp", {("w", "p", "o"): [
        trial(0.9, attempt=0, index=0), trial(0.2, attempt=1, index=0), trial(0.5, index=1)]})
    (search,) = group_searches(load_results(str(exp)).trials).values()
    assert list(search.trial_id) == ["w/p/o/00000", "w/p/o/00001"]
    assert list(search.column("final_val_error")) == [0.2, 0.5]


def test_bad_experiment_json(tmp_path):
    (tmp_path / "experiment.json").write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        load_results(str(tmp_path))


def test_file_with_a_readable_footer_but_corrupt_data_is_skipped(exp, capsys):
    (part,) = (exp / "trials" / "workload=w" / "protocol=p" / "optimizer=sgd").glob("part-*.parquet")
    data = bytearray(part.read_bytes())
    data[8 : len(data) // 2] = b"\xab" * (len(data) // 2 - 8)  # data pages; the footer stays intact
    part.write_bytes(bytes(data))
    loaded = load_results(str(exp))
    assert len(loaded.skipped) == 1 and "optimizer=sgd" in loaded.skipped[0]
    assert sorted(group_searches(loaded.trials)) == [("w", "p", "adam"), ("w", "q", "sgd")]
    result = run_query(str(exp), "select optimizer, protocol from trials order by all")
    assert result.rows == [("adam", "p"), ("sgd", "q")] and len(result.skipped) == 1


def test_reruns_are_not_search_points(tmp_path):
    from analysis import rerun_summaries

    exp = write_experiment(tmp_path / "exp", {("w", "p", "o"): [
        trial(0.3), trial(0.2),
        trial(0.2, test_error=0.25, phase="rerun", index=2), trial(0.2, test_error=0.27, phase="rerun", index=3),
        trial(float("nan"), status="diverged", phase="rerun", index=4)]})
    trials = load_results(str(exp), curves=False).trials
    (search,) = group_searches(trials).values()
    assert list(search.trial_id) == ["w/p/o/00000", "w/p/o/00001"]
    (rerun,) = rerun_summaries(trials)
    assert (rerun.n_reruns, rerun.n_completed) == (3, 2)
    assert (rerun.mean, rerun.min, rerun.max) == pytest.approx((0.26, 0.25, 0.27))
    assert rerun.std == pytest.approx(0.02 / 2**0.5)


def _sgd_dir(exp: Path) -> Path:
    return exp / "trials" / "workload=w" / "protocol=p" / "optimizer=sgd"


def test_known_columns_are_those_the_sink_writes(exp):
    # Part files written by tuning.store.sink.ResultSink hold exactly the reader's known columns (plus
    # hp_/tuned_ ones in trials), each of the type the reader expects.
    from analysis.load import (
        CURVE_COLUMNS,
        KNOWN_COLUMNS,
        TRIAL_COLUMNS,
        TRIAL_PREFIXES,
        type_mismatches,
    )

    assert KNOWN_COLUMNS == {"trials": TRIAL_COLUMNS, "curves": CURVE_COLUMNS}
    for table, known in KNOWN_COLUMNS.items():
        (part, *_) = sorted((exp / table).rglob("part-*.parquet"))
        schema = pq.read_schema(part)
        extra = [n for n in schema.names if n not in known]
        assert all(n.startswith(tuple(TRIAL_PREFIXES)) for n in extra) and (table == "trials" or not extra)
        assert [n for n in schema.names if n in known] == list(known)
        assert {n: schema.field(n).type for n in known} == known
        assert type_mismatches(schema, table) == []


def test_a_file_with_the_right_names_but_wrong_types_is_skipped(exp, capsys):
    # A foreign file claims to hold a far better sgd trial, with attempt and the errors as strings;
    # DuckDB's union_by_name would turn those columns into strings for every file.
    pq.write_table(pa.table({"trial_id": ["w/p/sgd/00009"], "trial_index": [9], "attempt": ["0"],
                             "status": ["completed"], "final_val_error": ["0.01"], "final_test_error": ["0.01"]}),
                   _sgd_dir(exp) / "part-zzz-strings.parquet")
    # A curves file with step as a timestamp.
    curves = exp / "curves" / "workload=w" / "protocol=p" / "optimizer=sgd"
    pq.write_table(pa.table({"trial_id": ["w/p/sgd/00000"], "attempt": [0], "step": pa.array([0], pa.timestamp("s"))}),
                   curves / "part-zzz-time.parquet")
    loaded = load_results(str(exp))
    assert len(loaded.skipped) == 2
    strings = next(s for s in loaded.skipped if "part-zzz-strings" in s)
    assert "not a trials file written by optcompare" in strings
    assert "attempt is string, expected int64" in strings and "final_val_error is string, expected double" in strings
    assert "step is timestamp[ms], expected int64" in next(s for s in loaded.skipped if "part-zzz-time" in s)
    assert loaded.trials.schema.field("attempt").type == pa.int64()
    assert loaded.trials.schema.field("final_val_error").type == pa.float64()
    sgd = group_searches(loaded.trials)[("w", "p", "sgd")]
    assert sgd.n_trials == 2 and list(sgd.column("final_val_error")) == [0.3, 0.4]
    assert len(run_query(str(exp), "select * from trials").skipped) == 2  # both tables
    assert main(["rank", str(exp), "--format", "json", "--resamples", "20", "--budget", "2"]) == 0
    captured = capsys.readouterr()
    (p,) = [r for r in json.loads(captured.out)["rankings"] if r["protocol"] == "p"]
    sgd_score = next(o for o in p["optimizers"] if o["optimizer"] == "sgd")
    assert sgd_score["n_trials"] == 2 and sgd_score["mean"] > 0.3
    assert "part-zzz-strings" in captured.err


def test_compatible_widths_and_null_columns_are_read(exp):
    # int32 for int64, float32 for float64, int64 for a float column and all-null columns are the
    # same kind: such a file (e.g. written by pandas or another tool) is read, not skipped.
    pq.write_table(pa.table({
        "trial_id": ["w/p/sgd/00002"], "trial_index": pa.array([2], pa.int32()), "attempt": pa.array([0], pa.int32()),
        "status": ["completed"], "final_val_error": pa.array([0.25], pa.float32()),
        "final_test_error": pa.array([1], pa.int64()), "steps_to_target": pa.array([None], pa.null()),
        "phase": pa.array([None], pa.null()), "hp_learning_rate": pa.array([0.5], pa.float32()),
    }), _sgd_dir(exp) / "part-zzz-narrow.parquet")
    loaded = load_results(str(exp), curves=False)
    assert loaded.skipped == ()
    assert loaded.trials.schema.field("attempt").type == pa.int64()
    sgd = group_searches(loaded.trials)[("w", "p", "sgd")]
    assert sgd.n_trials == 3
    assert sgd.column("final_val_error")[2] == pytest.approx(0.25)
    assert sgd.column("final_test_error")[2] == 1.0 and sgd.column("hp_learning_rate")[2] == 0.5


def test_type_fits_rules():
    from analysis.load import type_fits

    assert type_fits(pa.int32(), pa.int64()) and type_fits(pa.uint32(), pa.int64())
    assert type_fits(pa.float32(), pa.float64()) and type_fits(pa.int16(), pa.float64())
    assert type_fits(pa.null(), pa.string()) and type_fits(pa.large_string(), pa.string())
    assert type_fits(pa.dictionary(pa.int32(), pa.string()), pa.string())
    assert not type_fits(pa.float64(), pa.int64())  # not a widening
    assert not type_fits(pa.uint64(), pa.int64())  # may not fit
    assert not type_fits(pa.string(), pa.float64()) and not type_fits(pa.int64(), pa.string())
    assert not type_fits(pa.bool_(), pa.float64())


def test_a_damaged_curves_file_is_skipped_by_report_and_rank(exp, tmp_path, capsys):
    (part,) = (exp / "curves" / "workload=w" / "protocol=p" / "optimizer=sgd").glob("part-*.parquet")
    part.write_bytes(part.read_bytes()[: part.stat().st_size // 2])
    loaded = load_results(str(exp))
    assert len(loaded.skipped) == 1 and "curves" in loaded.skipped[0]
    assert set(loaded.curves.column("optimizer").to_pylist()) == {"adam"}
    assert main(["report", str(exp), "--out", str(tmp_path / "out"), "--resamples", "20"]) == 0
    captured = capsys.readouterr()
    assert "warning: skipped unreadable file" in captured.err and "curves" in captured.err
    assert "Skipped files" in (tmp_path / "out" / "index.html").read_text()
    assert main(["rank", str(exp), "--format", "json", "--resamples", "20"]) == 0  # rank reads no curves
    assert len(json.loads(capsys.readouterr().out)["rankings"]) == 2


def test_query_reads_rows_without_stage_or_study_as_final_and_study_0(tmp_path):
    searches = {("w", "p", "sgd"): [trial(0.3, stage="initial", study=1), trial(0.2)]}
    new = write_experiment(tmp_path / "new", searches)  # one row with values, one with nulls
    old = write_experiment(tmp_path / "old", {("w", "p", "sgd"): [trial(0.3), trial(0.2)]})
    for part in (old / "trials").rglob("part-*.parquet"):  # written before the columns existed
        pq.write_table(pq.read_table(part).drop_columns(["stage", "study"]), part)
    for path, expected in ((new, [("final", 0), ("initial", 1)]), (old, [("final", 0), ("final", 0)])):
        result = run_query(str(path), "select stage, study from trials order by stage, study")
        assert [tuple(r) for r in result.rows] == expected
    both = run_query([str(new), str(old)], "select experiment, count(*) from trials where stage = 'final' and study = 0 group by 1 order by 1")
    assert [tuple(r) for r in both.rows] == [("new", 1), ("old", 2)]


def test_a_default_budget_lowered_by_a_skipped_file_says_so(tmp_path, capsys):
    """Probe 5 of the reliability issue: with one part file unreadable, rank's default budget
    dropped from the search size without a word next to the table."""
    exp = write_experiment(tmp_path / "exp", {
        ("w", "p", "adam"): [trial(0.1 * (i + 1)) for i in range(4)],
        ("w", "p", "sgd"): [trial(0.2 * (i + 1), index=i) for i in range(2)],
    })
    rest = write_experiment(tmp_path / "rest", {("w", "p", "sgd"): [trial(0.9, index=i) for i in (2, 3)]})
    partition = Path("trials") / "workload=w" / "protocol=p" / "optimizer=sgd"
    (extra,) = (rest / partition).glob("part-*.parquet")
    shutil.copy(extra, exp / partition / "part-extra.parquet")
    assert main(["rank", str(exp), "--format", "json", "--resamples", "20"]) == 0
    assert json.loads(capsys.readouterr().out)["budget"] == 4  # every search read: K = 4
    (exp / partition / "part-extra.parquet").write_bytes(b"PAR1 not parquet")
    assert main(["rank", str(exp), "--format", "json", "--resamples", "20"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["budget"] == 2
    assert "the default budget K = 2 is the smallest search read, and 1 part file could not be read" in captured.err
    assert "give --budget to rank at the budget the study ran" in captured.err
