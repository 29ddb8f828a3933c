"""The sink when its store fails (issue 16, probe 7): a failed write keeps the rows buffered and
is retried with backoff within a time and a memory bound, then a StorageError naming the store
and the error stops the study; every file written is readable, and no row is written twice.
And on S3 (a moto server), part files and experiment.json are single uploads of their final
names: no temporary object, no rename (which is a copy and a delete there)."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pytest
from pyarrow import fs as pafs

import tuning.store.sink as sink_module
from analysis.load import load_table
from optcompare.schema import SearchKey
from tests.faulty_store import faulty
from tuning.store.sink import ResultSink, StorageError, write_json_atomic

KEY = SearchKey("mnist1d-mlp", "lr-only", "sgd")
HP = {"learning_rate": 0.1}


def _row(index: int) -> dict:
    return {
        "trial_id": f"mnist1d-mlp/lr-only/sgd/{index:05d}", "trial_index": index, "seed": index,
        "attempt": 0, "status": "completed", "final_train_loss": 0.5, "final_val_error": 0.25,
        "final_val_loss": 0.6, "final_test_error": 0.3, "final_test_loss": 0.7, "best_val_error": 0.2,
        "best_val_step": 10, "steps_to_target": None, "total_steps": 10, "wall_time_s": 1.0,
        "train_time_s": 0.5, "error": None,
    }


class Clock:
    """A fake monotonic clock; ``sleep`` advances it."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def store(tmp_path, monkeypatch):
    """``store(fails, **sink_kwargs)`` -> (sink over a local store that fails the writes
    ``fails(n)`` picks, its handler, the clock)."""

    def make(fails, **kwargs):  # noqa: ANN001, ANN003
        filesystem, handler = faulty(pafs.LocalFileSystem(), fails)
        monkeypatch.setattr(sink_module, "open_filesystem", lambda root: (filesystem, os.path.abspath(root)))
        clock = Clock()
        kwargs = {"flush_rows": 1, "flush_seconds": 3600, "trial_flush_seconds": 3600, **kwargs}
        return ResultSink(str(tmp_path), clock=clock, sleep=clock.sleep, **kwargs), handler, clock

    return make


def _rows_on_disk(root: Path) -> list[int]:
    loaded = load_table(pafs.LocalFileSystem(), str(root), "trials")
    assert loaded.skipped == []  # every file written is readable
    return sorted(loaded.table.column("trial_index").to_pylist())


def test_a_transient_failure_is_retried_after_a_backoff_and_loses_nothing(tmp_path, store, capsys):
    sink, handler, clock = store(lambda n: n in (2, 3))  # the second and third writes fail
    sink.add_trial_row(KEY, _row(0), HP)  # written
    sink.add_trial_row(KEY, _row(1), HP)  # fails: buffered, retried in 0.5 s
    assert "warning: cannot write results to" in capsys.readouterr().err
    sink.add_trial_row(KEY, _row(2), HP)  # within the backoff: buffered, no write tried
    assert handler.writes == 2 and sink.write_failures == 1
    clock.now += 0.5
    sink.maybe_flush()  # fails again: next try 1 s later
    clock.now += 0.9
    sink.maybe_flush()
    assert handler.writes == 3
    clock.now += 0.1
    sink.maybe_flush()  # succeeds: rows 1 and 2 in one file
    assert "writable again after 2 failed writes" in capsys.readouterr().err
    sink.close()
    assert _rows_on_disk(tmp_path) == [0, 1, 2]  # each row once
    assert sink.write_failures == 2 and sink.trial_rows_written == 3


def test_a_store_that_keeps_failing_stops_the_study_after_the_retry_time(tmp_path, store):
    sink, handler, clock = store(lambda n: n >= 2, retry_seconds=60)
    sink.add_trial_row(KEY, _row(0), HP)
    sink.add_trial_row(KEY, _row(1), HP)  # the first failure, at t = 0
    for _ in range(20):
        clock.now += 2.9
        sink.maybe_flush()  # t <= 58 s: retried, rows kept
    clock.now += 3
    with pytest.raises(StorageError) as info:
        sink.maybe_flush()
    message = str(info.value)
    assert f"cannot write results to {tmp_path}" in message and "No space left on device" in message
    assert "it failed for 61 s (the limit is 60 s)" in message and "1 rows were not written" in message
    assert f"'optcompare resume {tmp_path}'" in message
    with pytest.raises(StorageError):  # the driver's next add stops too
        sink.add_trial_row(KEY, _row(2), HP)
    slept = len(clock.slept)
    with pytest.raises(StorageError):  # close: one last try, no waiting
        sink.close()
    assert len(clock.slept) == slept
    assert _rows_on_disk(tmp_path) == [0]
    assert not list(tmp_path.rglob("*.tmp"))


def test_backoff_doubles_up_to_eight_seconds(store):
    sink, handler, clock = store(lambda n: True, retry_seconds=40)
    sink.add_trial_row(KEY, _row(0), HP)
    with pytest.raises(StorageError):
        sink.close()  # close waits the backoffs out itself
    assert clock.slept[:6] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
    assert sum(clock.slept) <= 40 + 8


def test_close_waits_for_a_store_that_recovers(tmp_path, store):
    sink, handler, clock = store(lambda n: n <= 3, flush_rows=100)
    sink.add_trial_row(KEY, _row(0), HP)
    sink.close()
    assert clock.slept == [0.5, 1.0, 2.0]
    assert _rows_on_disk(tmp_path) == [0]


def test_rows_buffered_past_the_memory_bound_stop_the_study_at_once(tmp_path, store):
    sink, handler, clock = store(lambda n: True, max_buffered_bytes=20_000)
    sink.add_trial_row(KEY, _row(0), HP)
    with pytest.raises(StorageError, match=r"bytes of rows buffered meanwhile passed the limit of 20000"):
        for i in range(1, 1000):
            sink.add_trial_row(KEY, _row(i), HP)
    assert clock.now == 1000.0  # no time passed: the memory bound, not the retry time
    assert sink._buffered_bytes > 20_000


def test_flush_is_one_attempt_that_raises_the_stores_error(store):
    sink, handler, clock = store(lambda n: True, flush_rows=100)
    sink.add_trial_row(KEY, _row(0), HP)
    with pytest.raises(OSError, match="No space left on device"):
        sink.flush()


def test_the_default_bounds_are_documented_values():
    sink = ResultSink("unused-root")
    assert sink.retry_seconds == sink_module.RETRY_SECONDS == 60.0
    assert sink.max_buffered_bytes == sink_module.MAX_BUFFERED_BYTES == 256 * 2**20


# --- S3: one upload of the final name --------------------------------------------------------

def _recording_s3(monkeypatch):
    """Route the sink's filesystem through a recording wrapper of the real S3 filesystem."""
    recorded = {}

    def open_recorded(root: str):  # noqa: ANN202
        base, path = pafs.FileSystem.from_uri(root)
        filesystem, handler = faulty(base, lambda n: False)
        recorded["handler"] = handler
        return filesystem, path

    monkeypatch.setattr(sink_module, "open_filesystem", open_recorded)
    return recorded


def test_part_files_on_s3_are_single_uploads_of_their_final_names(s3_results, monkeypatch):
    recorded = _recording_s3(monkeypatch)
    sink = ResultSink(f"{s3_results}/exp", flush_rows=1)
    for i in range(3):
        sink.add_trial_row(KEY, _row(i), HP)
    sink.close()
    calls = recorded["handler"].calls
    writes = [path for name, path in calls if name == "open_output_stream"]
    assert len(writes) == 3 and all(p.rsplit("/", 1)[1].startswith("part-") for p in writes)
    assert not [c for c in calls if c[0] in ("move", "copy_file", "delete_file")]
    filesystem, root = pafs.FileSystem.from_uri(f"{s3_results}/exp")
    loaded = load_table(filesystem, root, "trials")
    assert loaded.skipped == [] and sorted(loaded.table.column("trial_index").to_pylist()) == [0, 1, 2]
    listed = filesystem.get_file_info(pafs.FileSelector(root, recursive=True))
    assert not [i.path for i in listed if i.base_name.startswith(".")]  # no temporary object left


def test_experiment_json_on_s3_is_rewritten_by_one_upload(s3_results):
    base, root = pafs.FileSystem.from_uri(f"{s3_results}/exp")
    filesystem, handler = faulty(base, lambda n: False)
    write_json_atomic(filesystem, f"{root}/experiment.json", {"a": 1})
    write_json_atomic(filesystem, f"{root}/experiment.json", {"a": 2})
    assert [c[0] for c in handler.calls] == ["open_output_stream", "open_output_stream"]
    with base.open_input_stream(f"{root}/experiment.json") as stream:
        assert b'"a": 2' in stream.read()


def test_a_failed_upload_leaves_no_object(s3_results):
    base, root = pafs.FileSystem.from_uri(f"{s3_results}/exp")
    filesystem, _ = faulty(base, lambda n: True)  # the file is encoded before its upload opens
    with pytest.raises(OSError, match="No space left"):
        sink_module.write_atomic(filesystem, f"{root}/trials/part-x.parquet", pa.table({"a": [1]}))
    assert base.get_file_info(f"{root}/trials/part-x.parquet").type == pafs.FileType.NotFound
