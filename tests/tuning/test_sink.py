"""The driver-side Parquet sink (tuning/store/sink.py) against the results layout of
optcompare/schema.py (hive-partitioned part files, atomic writes, the tables' column types),
and the rows the driver builds for it (tuning/store/rows.py)."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from pyarrow import fs as pafs

from analysis.load import load_table
from optcompare.schema import CURVE_SCHEMA, TRIAL_BASE_SCHEMA, SearchKey, trial_schema
from tuning.store.rows import failed_summary, trial_row
from tuning.store.sink import ResultSink, parameter_columns, write_json_atomic

HP_ADAM = {
    "learning_rate": 1e-3,
    "beta1": 0.9,
    "beta2": 0.999,
    "epsilon": 1e-8,
    "weight_decay": 0.0,
}
HP_SGD = {"learning_rate": 0.1, "weight_decay": 0.0}


def _trial_row(index: int, optimizer: str = "adam", steps_to_target: int | None = 120) -> dict:
    return {
        "trial_id": f"mnist1d-mlp/choi-full/{optimizer}/{index:05d}",
        "trial_index": index,
        "seed": 1000 + index,
        "attempt": 0,
        "status": "completed",
        "final_train_loss": 0.5,
        "final_val_error": 0.25 + index / 100,
        "final_val_loss": 0.6,
        "final_test_error": 0.3,
        "final_test_loss": 0.7,
        "best_val_error": 0.2,
        "best_val_step": 250,
        "steps_to_target": steps_to_target,
        "total_steps": 3000,
        "wall_time_s": 1.5,
        "train_time_s": 1.2,
        "error": None,
    }


def _curve_rows(index: int, optimizer: str = "adam", n: int = 3) -> list[dict]:
    return [
        {
            "trial_id": f"mnist1d-mlp/choi-full/{optimizer}/{index:05d}",
            "attempt": 0,
            "step": 250 * (k + 1),
            "learning_rate": 1e-3,
            "train_loss": 1.0 / (k + 1),
            "val_error": 0.5,
            "val_loss": 0.9,
            "test_error": 0.5,
            "test_loss": 0.9,
            "wall_time_s": float(k),
        }
        for k in range(n)
    ]


ADAM = SearchKey("mnist1d-mlp", "choi-full", "adam")
SGD = SearchKey("mnist1d-mlp", "choi-full", "sgd")


def _fill(root: str, **kwargs: object) -> ResultSink:
    kwargs.setdefault("trial_flush_seconds", 3600)
    sink = ResultSink(root, **kwargs)
    for i in range(4):
        sink.add_curve_rows(ADAM, _curve_rows(i))
        sink.add_trial_row(
            ADAM, _trial_row(i, steps_to_target=None if i == 3 else 100 * i), HP_ADAM
        )
    for i in range(2):
        sink.add_curve_rows(SGD, _curve_rows(i, "sgd"))
        sink.add_trial_row(SGD, _trial_row(i, "sgd"), HP_SGD)
    sink.close()
    return sink


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_hive_partition_layout(tmp_path):
    _fill(str(tmp_path))
    for table in ("trials", "curves"):
        for opt in ("adam", "sgd"):
            directory = (
                tmp_path
                / table
                / "workload=mnist1d-mlp"
                / "protocol=choi-full"
                / f"optimizer={opt}"
            )
            parts = list(directory.glob("part-*.parquet"))
            assert len(parts) == 1, parts
    # Nothing else was written: only part files in partition directories.
    for path in _files(tmp_path):
        rel = path.relative_to(tmp_path).parts
        assert rel[0] in ("trials", "curves")
        assert rel[1].startswith("workload=")
        assert rel[2].startswith("protocol=")
        assert rel[3].startswith("optimizer=")
        assert rel[4].startswith("part-") and rel[4].endswith(".parquet")


def test_no_temporary_files_remain_after_close(tmp_path):
    sink = _fill(str(tmp_path), flush_rows=3)
    names = [p.name for p in _files(tmp_path)]
    assert names
    assert not [n for n in names if n.startswith(".") or n.endswith(".tmp")]
    assert sink.files_written == len(names)


def test_column_types_per_contract(tmp_path):
    _fill(str(tmp_path))
    (adam_part,) = (tmp_path / "trials").rglob("optimizer=adam/part-*.parquet")
    schema = pq.read_schema(adam_part)
    assert schema.field("trial_id").type == pa.string()
    for name in (
        "trial_index",
        "seed",
        "attempt",
        "best_val_step",
        "total_steps",
        "steps_to_target",
    ):
        assert schema.field(name).type == pa.int64(), name
    assert schema.field("status").type == pa.string()
    for name in (
        "final_train_loss",
        "final_val_error",
        "final_val_loss",
        "final_test_error",
        "final_test_loss",
        "best_val_error",
        "wall_time_s",
    ):
        assert schema.field(name).type == pa.float64(), name
    hp = sorted(n for n in schema.names if n.startswith("hp_"))
    assert hp == sorted(f"hp_{k}" for k in HP_ADAM)
    for name in hp:
        assert schema.field(name).type == pa.float64()
    assert schema.field("steps_to_target").nullable
    table = pq.read_table(adam_part)
    assert table.column("steps_to_target").to_pylist() == [0, 100, 200, None]
    assert table.schema.equals(trial_schema(HP_ADAM), check_metadata=False)

    (curve_part,) = (tmp_path / "curves").rglob("optimizer=adam/part-*.parquet")
    assert pq.read_schema(curve_part).equals(CURVE_SCHEMA, check_metadata=False)


def test_trial_schema_orders_hp_columns():
    names = trial_schema(["beta2", "alpha"]).names
    assert names[-2:] == ["hp_alpha", "hp_beta2"]


def test_parameter_columns_are_prefixed_floats():
    columns = parameter_columns({"learning_rate": 1, "beta1": 0.9}, {"one_minus_beta1": 0.1})
    assert columns == {"hp_learning_rate": 1.0, "hp_beta1": 0.9, "tuned_one_minus_beta1": 0.1}
    assert all(type(v) is float for v in columns.values())


def test_a_failed_trials_row_has_every_base_column_and_is_written(tmp_path):
    from tuning.plan.trial import PlannedTrial

    planned = PlannedTrial(
        trial_id="w/p/o/00007", workload="w", protocol="p", optimizer="o", trial_index=7, seed=3,
        tuned={}, hparams={"learning_rate": 0.1}, schedule="constant", schedule_params={},
        steps=10, eval_every=5, data_dir=None,
    )
    row = trial_row(planned, 2, failed_summary("RuntimeError: boom"))
    assert set(row) == set(TRIAL_BASE_SCHEMA.names)
    assert (row["status"], row["attempt"], row["error"], row["phase"]) == ("failed", 2, "RuntimeError: boom", "search")
    sink = ResultSink(str(tmp_path))
    sink.add_trial_row(SearchKey("w", "p", "o"), row, {"learning_rate": 0.1})
    sink.close()
    (written,) = pq.read_table(next((tmp_path / "trials").rglob("*.parquet"))).to_pylist()
    assert written["final_val_error"] != written["final_val_error"]  # NaN
    assert (written["best_val_step"], written["steps_to_target"], written["total_steps"]) == (-1, None, 0)


def test_round_trip_with_analysis_load(tmp_path):
    _fill(str(tmp_path))
    loaded = load_table(pafs.LocalFileSystem(), str(tmp_path), "trials")
    assert loaded.skipped == []
    assert loaded.files == 2
    table = loaded.table
    assert table.num_rows == 6
    rows = {r["trial_id"]: r for r in table.to_pylist()}
    adam1 = rows["mnist1d-mlp/choi-full/adam/00001"]
    assert adam1["workload"] == "mnist1d-mlp"
    assert adam1["protocol"] == "choi-full"
    assert adam1["optimizer"] == "adam"
    assert adam1["hp_beta1"] == 0.9
    assert adam1["steps_to_target"] == 100
    assert rows["mnist1d-mlp/choi-full/adam/00003"]["steps_to_target"] is None
    # Schema promotion: sgd rows have no beta1.
    assert rows["mnist1d-mlp/choi-full/sgd/00000"]["hp_beta1"] is None
    assert rows["mnist1d-mlp/choi-full/sgd/00000"]["hp_learning_rate"] == 0.1

    curves = load_table(pafs.LocalFileSystem(), str(tmp_path), "curves")
    assert curves.skipped == []
    assert curves.table.num_rows == 6 * 3
    assert set(curves.table.column("optimizer").to_pylist()) == {"adam", "sgd"}


def test_round_trip_with_pyarrow_dataset(tmp_path):
    _fill(str(tmp_path))
    dataset = ds.dataset(str(tmp_path / "curves"), format="parquet", partitioning="hive")
    table = dataset.to_table()
    assert table.num_rows == 18
    assert set(table.column("optimizer").to_pylist()) == {"adam", "sgd"}
    assert set(table.column("workload").to_pylist()) == {"mnist1d-mlp"}
    adam = ds.dataset(
        str(tmp_path / "trials" / "workload=mnist1d-mlp" / "protocol=choi-full" / "optimizer=adam"),
        format="parquet",
    ).to_table()
    assert sorted(adam.column("trial_index").to_pylist()) == [0, 1, 2, 3]


def test_round_trip_with_duckdb(tmp_path):
    _fill(str(tmp_path))
    glob = (tmp_path / "trials" / "**" / "*.parquet").as_posix()
    con = duckdb.connect()
    rows = con.execute(
        "select optimizer, count(*), count(steps_to_target), max(hp_beta1) "
        f"from read_parquet('{glob}', hive_partitioning=true, union_by_name=true) "
        "group by optimizer order by optimizer"
    ).fetchall()
    assert rows == [("adam", 4, 3, 0.9), ("sgd", 2, 2, None)]
    ((trial_id, index, workload, protocol),) = con.execute(
        "select trial_id, trial_index, workload, protocol "
        f"from read_parquet('{glob}', hive_partitioning=true, union_by_name=true) "
        "where optimizer = 'adam' and trial_index = 2"
    ).fetchall()
    assert trial_id == "mnist1d-mlp/choi-full/adam/00002"
    assert index == 2
    assert (workload, protocol) == ("mnist1d-mlp", "choi-full")
    curve_glob = (tmp_path / "curves" / "**" / "*.parquet").as_posix()
    ((n,),) = con.execute(
        f"select count(*) from read_parquet('{curve_glob}', hive_partitioning=true)"
    ).fetchall()
    assert n == 18


def test_flush_by_row_count_makes_several_parts(tmp_path):
    sink = ResultSink(str(tmp_path), flush_rows=3, flush_seconds=3600, trial_flush_seconds=3600)
    for i in range(10):
        sink.add_trial_row(ADAM, _trial_row(i), HP_ADAM)
        if i == 2:
            # The third row reached flush_rows: it is on disk before close.
            parts = list((tmp_path / "trials").rglob("part-*.parquet"))
            assert len(parts) == 1
            assert pq.read_table(parts[0]).num_rows == 3
    sink.close()
    parts = list((tmp_path / "trials").rglob("part-*.parquet"))
    assert len(parts) == 4  # 3 + 3 + 3 + 1
    assert sink.trial_rows_written == 10
    assert sink.files_written == 4
    loaded = load_table(pafs.LocalFileSystem(), str(tmp_path), "trials")
    assert loaded.files == 4
    assert sorted(loaded.table.column("trial_index").to_pylist()) == list(range(10))
    glob = (tmp_path / "trials" / "**" / "*.parquet").as_posix()
    ((count, distinct),) = (
        duckdb.connect()
        .execute(
            f"select count(*), count(distinct trial_id) from read_parquet('{glob}', hive_partitioning=true)"
        )
        .fetchall()
    )
    assert (count, distinct) == (10, 10)


def test_nothing_written_before_flush(tmp_path):
    sink = ResultSink(str(tmp_path), flush_rows=100, flush_seconds=3600, trial_flush_seconds=3600)
    sink.add_curve_rows(ADAM, _curve_rows(0))
    sink.add_trial_row(ADAM, _trial_row(0), HP_ADAM)
    assert _files(tmp_path) == []
    sink.flush()
    assert len(_files(tmp_path)) == 2
    sink.close()  # nothing buffered: no empty part files
    assert len(_files(tmp_path)) == 2
    assert sink.curve_rows_written == 3
    assert sink.trial_rows_written == 1


def test_flush_by_time(tmp_path):
    sink = ResultSink(str(tmp_path), flush_rows=10_000, flush_seconds=0.0)
    sink.add_trial_row(ADAM, _trial_row(0), HP_ADAM)
    assert len(list((tmp_path / "trials").rglob("part-*.parquet"))) == 1
    sink.close()


def test_a_trial_end_flushes_its_rows_at_most_once_a_second(tmp_path, monkeypatch):
    import tuning.store.sink as sink_module

    clock = [1000.0]
    monkeypatch.setattr(sink_module.time, "monotonic", lambda: clock[0])
    sink = ResultSink(str(tmp_path), flush_rows=10_000, flush_seconds=3600)
    sink.add_curve_rows(ADAM, _curve_rows(0))
    clock[0] += 2.0
    sink.maybe_flush()
    assert _files(tmp_path) == []  # curve rows alone wait for flush_seconds
    sink.add_trial_row(ADAM, _trial_row(0), HP_ADAM)  # the trial ended: its rows go out now
    assert len(list((tmp_path / "curves").rglob("part-*.parquet"))) == 1
    assert len(list((tmp_path / "trials").rglob("part-*.parquet"))) == 1
    clock[0] += 0.5
    sink.add_trial_row(ADAM, _trial_row(1), HP_ADAM)  # within the 1 s floor: buffered
    assert len(list((tmp_path / "trials").rglob("part-*.parquet"))) == 1
    clock[0] += 0.6
    sink.maybe_flush()  # the driver's loop: the floor has passed
    assert len(list((tmp_path / "trials").rglob("part-*.parquet"))) == 2
    sink.close()
    assert sink.trial_rows_written == 2


def test_part_files_are_written_under_a_hidden_name_then_renamed(tmp_path, monkeypatch):
    import tuning.store.sink as sink_module

    written: list[str] = []
    real_write = sink_module.pq.write_table

    def recording_write(table, where, **kwargs):
        written.append(where)
        # While the data is being written no reader may see a part file.
        assert not list(tmp_path.rglob("part-*.parquet"))
        real_write(table, where, **kwargs)

    monkeypatch.setattr(sink_module.pq, "write_table", recording_write)
    sink = ResultSink(str(tmp_path), flush_rows=10_000, flush_seconds=3600, trial_flush_seconds=3600)
    sink.add_trial_row(ADAM, _trial_row(0), HP_ADAM)
    sink.close()
    assert len(written) == 1
    tmp_name = Path(written[0]).name
    assert tmp_name.startswith(".part-") and tmp_name.endswith(".tmp")
    assert not Path(written[0]).exists()
    (part,) = (tmp_path / "trials").rglob("*.parquet")
    assert part.name == tmp_name[1:].rsplit(".", 2)[0]


def test_a_failed_write_leaves_no_part_file_and_no_temporary(tmp_path, monkeypatch):
    import tuning.store.sink as sink_module

    def half_write(table, where, **kwargs):
        Path(where).write_bytes(b"PAR1 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(sink_module.pq, "write_table", half_write)
    sink = ResultSink(str(tmp_path), flush_rows=10_000, flush_seconds=3600, trial_flush_seconds=3600)
    sink.add_trial_row(ADAM, _trial_row(0), HP_ADAM)
    with pytest.raises(OSError, match="disk full"):
        sink.flush()
    assert _files(tmp_path) == []


def test_truncated_part_file_is_skipped_not_a_crash(tmp_path):
    _fill(str(tmp_path))
    partition = (
        tmp_path / "trials" / "workload=mnist1d-mlp" / "protocol=choi-full" / "optimizer=adam"
    )
    (good,) = partition.glob("part-*.parquet")
    garbage = partition / "part-garbage.parquet"
    garbage.write_bytes(b"PAR1 this is not a parquet file")
    truncated = partition / "part-truncated.parquet"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    empty = partition / "part-empty.parquet"
    empty.write_bytes(b"")
    loaded = load_table(pafs.LocalFileSystem(), str(tmp_path), "trials")
    assert loaded.files == 5
    skipped = sorted(s.split(":")[0] for s in loaded.skipped)
    assert skipped == sorted(str(p) for p in (garbage, truncated, empty))
    assert loaded.table.num_rows == 6  # the good files are all still read


def test_hidden_and_foreign_files_are_ignored_by_readers(tmp_path):
    _fill(str(tmp_path))
    partition = (
        tmp_path / "trials" / "workload=mnist1d-mlp" / "protocol=choi-full" / "optimizer=sgd"
    )
    # A half-written temporary file as the sink names them, and a non-parquet file.
    (partition / ".part-x.parquet.1234abcd.tmp").write_bytes(b"half")
    (partition / "notes.txt").write_text("hello")
    loaded = load_table(pafs.LocalFileSystem(), str(tmp_path), "trials")
    assert loaded.skipped == []
    assert loaded.table.num_rows == 6


def test_missing_table_loads_empty(tmp_path):
    loaded = load_table(pafs.LocalFileSystem(), str(tmp_path), "trials")
    assert loaded.table.num_rows == 0
    assert loaded.files == 0


def test_file_uri_root(tmp_path):
    root = tmp_path / "uri results"
    uri = root.as_uri()
    assert uri.startswith("file:///")
    sink = _fill(uri)
    assert sink.files_written == 4
    parts = list((root / "trials").rglob("part-*.parquet"))
    assert len(parts) == 2
    filesystem, path = pafs.FileSystem.from_uri(uri)
    loaded = load_table(filesystem, path, "trials")
    assert loaded.skipped == []
    assert loaded.table.num_rows == 6


def test_relative_root_is_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sink = ResultSink("rel/results")
    assert sink.root == str(tmp_path / "rel" / "results")
    sink.add_trial_row(ADAM, _trial_row(0), HP_ADAM)
    sink.close()
    assert len(list((tmp_path / "rel" / "results" / "trials").rglob("part-*.parquet"))) == 1


def test_write_json_atomic(tmp_path):
    filesystem = pafs.LocalFileSystem()
    target = tmp_path / "exp" / "experiment.json"
    write_json_atomic(filesystem, str(target), {"b": 1, "a": [1, 2]})
    assert json.loads(target.read_text()) == {"a": [1, 2], "b": 1}
    assert [p.name for p in target.parent.iterdir()] == ["experiment.json"]


def test_wrong_row_type_is_an_error_not_a_silent_write(tmp_path):
    sink = ResultSink(str(tmp_path), flush_rows=1)
    bad = _trial_row(0)
    bad["trial_index"] = "zero"
    with pytest.raises((pa.ArrowInvalid, pa.ArrowTypeError)):
        sink.add_trial_row(ADAM, bad, HP_ADAM)
    assert list((tmp_path).rglob("*.tmp")) == []


def test_malformed_row_fails_at_its_caller_and_never_poisons_a_flush(tmp_path):
    sink = ResultSink(str(tmp_path), flush_rows=4, flush_seconds=3600)
    bad = _trial_row(0)
    bad["trial_index"] = "zero"
    sink.add_curve_rows(ADAM, _curve_rows(0, n=2))
    with pytest.raises((pa.ArrowInvalid, pa.ArrowTypeError)):
        sink.add_trial_row(ADAM, bad, HP_ADAM)  # rejected when added, nothing buffered
    for i in (1, 2):
        sink.add_curve_rows(ADAM, _curve_rows(i, n=1))
    sink.add_trial_row(ADAM, _trial_row(1), HP_ADAM)
    sink.close()
    curves = sum(pq.read_table(p).num_rows for p in (tmp_path / "curves").rglob("*.parquet"))
    trials = sum(pq.read_table(p).num_rows for p in (tmp_path / "trials").rglob("*.parquet"))
    assert (curves, trials) == (4, 1)  # every good row exactly once
