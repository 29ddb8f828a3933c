"""``optcompare query`` is read-only (issue 16, probe 3): exactly one query statement, DuckDB's
external access off with the experiment's part files the only paths it may open. Before, ``copy
trials to 'EXP/trials/.../part-evil.parquet'`` doubled every trial, ``copy ... to '/any/path'`` and
``attach`` wrote arbitrary files, and several statements ran."""

from __future__ import annotations

from pathlib import Path

import pytest

from analysis import load_results, run_query
from optcompare.cli import main
from optcompare.errors import InputError
from tests.analysis.synthetic import trial, write_experiment


@pytest.fixture
def exp(tmp_path) -> Path:
    return write_experiment(tmp_path / "exp", {
        ("w", "p", "sgd"): [trial(0.3), trial(0.4)],
        ("w", "p", "adam"): [trial(0.2)],
    })


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def _query(capsys, exp: Path, sql: str) -> tuple[int, str]:
    code = main(["query", str(exp), sql])
    return code, capsys.readouterr().err


def test_the_copy_probe_is_refused_and_writes_nothing(exp, tmp_path, capsys):
    partition = exp / "trials" / "workload=w" / "protocol=p" / "optimizer=sgd"
    before = _files(tmp_path)
    code, err = _query(capsys, exp, f"copy trials to '{partition}/part-evil.parquet' (format parquet)")
    assert code == 2
    assert "refused a COPY statement: queries are read-only and COPY writes files" in err
    assert _files(tmp_path) == before
    assert load_results(str(exp)).trials.num_rows == 3  # not doubled


REFUSED = {
    "copy to any path": ("copy trials to '{tmp}/out.csv'", "refused a COPY statement"),
    "copy a query": ("copy (select 1) to '{tmp}/out.parquet' (format parquet)", "COPY writes files"),
    "attach": ("attach '{tmp}/new.duckdb'", "refused a ATTACH statement: queries are read-only and ATTACH opens"),
    "install": ("install httpfs", "refused a LOAD statement: queries are read-only and INSTALL and LOAD"),
    "load": ("load httpfs", "INSTALL and LOAD fetch and run extensions"),
    "set": ("set enable_external_access = true", "refused a SET statement"),
    "export": ("export database '{tmp}/dump'", "EXPORT DATABASE writes files"),
    "create": ("create table t as select * from trials", "refused a CREATE statement: queries are read-only and it changes the database"),
    "explain analyze": ("explain analyze copy trials to '{tmp}/x.csv'", "EXPLAIN ANALYZE runs the statement"),
    "pragma": ("pragma enable_profiling", "refused a PRAGMA statement"),
    "checkpoint": ("checkpoint", "refused a CALL statement"),
    "two statements": ("select 1; select 2", "give exactly one SQL statement, got 2"),
    "a query then a copy": ("select 1; copy trials to '{tmp}/x.csv'", "give exactly one SQL statement, got 2"),
    "reading a file outside the experiment": ("select * from read_csv('/etc/passwd')", "file system operations are disabled"),
    "globbing outside the experiment": ("select * from glob('{tmp}/*')", "file system operations are disabled"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_everything_but_one_query_is_exit_2_saying_why(exp, tmp_path, capsys, case):
    sql, fragment = REFUSED[case]
    before = _files(tmp_path)
    code, err = _query(capsys, exp, sql.format(tmp=tmp_path))
    assert code == 2, err
    assert err.startswith("optcompare query: error: ") and fragment in err, err
    assert _files(tmp_path) == before


QUERIES = {
    "select": "select count(*) from trials",
    "with": "with t as (select * from trials) select count(*) from t",
    "from first": "from trials select count(*)",
    "a trailing semicolon": "select count(*) from trials;",
    "the experiment's own files": "select count(*) from trials where trial_id in (select trial_id from curves)",
}


@pytest.mark.parametrize("case", sorted(QUERIES))
def test_queries_still_run(exp, case):
    assert run_query(str(exp), QUERIES[case]).rows == [(3,)]


def test_describe_and_summarize_are_queries(exp):
    assert "trial_id" in {row[0] for row in run_query(str(exp), "describe trials").rows}
    assert run_query(str(exp), "summarize curves").rows


def test_read_parquet_of_the_experiment_itself_still_works(exp):
    (part,) = (exp / "trials" / "workload=w" / "protocol=p" / "optimizer=sgd").glob("part-*.parquet")
    assert run_query(str(exp), f"select count(*) from read_parquet('{part}')").rows == [(2,)]


def test_the_library_raises_input_error(exp):
    with pytest.raises(InputError, match="refused a COPY statement"):
        run_query(str(exp), f"copy trials to '{exp}/x.csv'")
