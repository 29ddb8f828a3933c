"""Rows written twice (two drivers on one experiment, issue 16 probe 1): every reader keeps one
row per (trial_id, attempt) and one curve row per (trial_id, attempt, step), the same one,
and says how many it dropped. Before, ``rank`` hid the repeats while ``query`` and the files
showed 39 rows for 24 trials."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from analysis import group_searches, load_results, run_query
from analysis.load import drop_repeated_rows
from tests.analysis.synthetic import trial, write_experiment


def _partition(exp: Path, table: str, optimizer: str) -> Path:
    return exp / table / "workload=w" / "protocol=p" / f"optimizer={optimizer}"


@pytest.fixture
def doubled(tmp_path) -> Path:
    """sgd's two trials and their curves written twice; the second copy (a later part-file
    name) of the trials rows carries other errors."""
    exp = write_experiment(tmp_path / "exp", {
        ("w", "p", "sgd"): [trial(0.3), trial(0.4)],
        ("w", "p", "adam"): [trial(0.2)],
    })
    for table in ("trials", "curves"):
        (part,) = _partition(exp, table, "sgd").glob("part-*.parquet")
        copy = part.with_name("part-99991231T235959-second.parquet")
        if table == "curves":
            shutil.copy(part, copy)
        else:
            rows = pq.read_table(part)
            index = rows.column_names.index("final_val_error")
            pq.write_table(rows.set_column(index, "final_val_error", pc.add(rows.column(index), 0.5)), copy)
    return exp


def _count(exp: Path, sql: str) -> int:
    return run_query(str(exp), sql).rows[0][0]


def test_the_files_hold_the_repeats(doubled):
    files = [pq.read_table(p).num_rows for p in (doubled / "trials").rglob("part-*.parquet")]
    assert sum(files) == 5  # 3 trials, sgd's 2 written twice


def test_query_rank_and_load_agree_on_one_row_per_trial_attempt(doubled):
    assert _count(doubled, "select count(*) from trials") == 3
    assert _count(doubled, "select count(*) from (select distinct trial_id, attempt from trials)") == 3
    assert _count(doubled, "select count(*) from curves") == 15  # 3 trials x 5 evaluations
    experiment = load_results(str(doubled))
    assert experiment.trials.num_rows == 3 and experiment.curves.num_rows == 15
    assert experiment.repeated == {"trials": 2, "curves": 10}
    searches = group_searches(experiment.trials)
    ranked = sorted(searches[("w", "p", "sgd")].column("final_val_error"))
    queried = sorted(r[0] for r in run_query(
        str(doubled), "select final_val_error from trials where optimizer = 'sgd'").rows)
    assert ranked == queried == pytest.approx([0.8, 0.9])  # the later copy's values, everywhere


def test_the_arrow_path_keeps_the_same_rows(doubled):
    from analysis.query import connect

    con, _ = connect(str(doubled), via_arrow=True)
    try:
        values = sorted(r[0] for r in con.execute("select final_val_error from trials where optimizer = 'sgd'").fetchall())
        assert values == pytest.approx([0.8, 0.9])
        assert con.execute("select count(*) from curves").fetchone()[0] == 15
    finally:
        con.close()


def test_drop_repeated_rows_keeps_the_last_row_of_each_key_in_order():
    import pyarrow as pa

    table = pa.table({"trial_id": ["a", "b", "a", "c", "b"], "attempt": [0, 0, 0, 0, 1], "v": [1, 2, 3, 4, 5]})
    kept, dropped = drop_repeated_rows(table, "trials")
    assert dropped == 1
    assert kept.to_pydict() == {"trial_id": ["b", "a", "c", "b"], "attempt": [0, 0, 0, 1], "v": [2, 3, 4, 5]}
    assert drop_repeated_rows(table.slice(0, 2), "trials") == (table.slice(0, 2), 0)
