"""Driver-side Parquet sink: writes ``trials`` and ``curves`` rows in the results layout of
:mod:`optcompare.schema` (the layout and its contract: docs/architecture.md).

Rows are buffered per partition ``workload=W/protocol=P/optimizer=O`` (a
:class:`~optcompare.schema.SearchKey`) and written as part files,
each first under a hidden temporary name (``.part-*.tmp``, skipped by Parquet readers) and then
renamed, so readers never see a half-written file. A flush happens when ``flush_rows`` rows are
buffered, when ``flush_seconds`` (default 5) have passed since the last flush, when a trial has
ended (a trials row is buffered) and ``trial_flush_seconds`` (default 1) have passed since the
last flush (both checked on every add and by the driver's loop through :meth:`maybe_flush`), and
on :meth:`close`. The one-second floor keeps a burst of short trials (or a bundle whose members
end together) to one part file per partition per second instead of one per trial. A driver killed
without warning loses at most the rows of the last few seconds; resume reruns those trials.
The root may be a local path or any pyarrow filesystem URI (``s3://bucket/prefix``).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from pyarrow import fs as pafs

from optcompare.schema import CURVE_SCHEMA, HP_PREFIX, TUNED_PREFIX, SearchKey, trial_schema

__all__ = ["ResultSink", "open_filesystem", "parameter_columns", "write_json_atomic"]


def parameter_columns(hparams: dict[str, float], tuned: dict[str, float]) -> dict[str, float]:
    """``hp_<name>`` and ``tuned_<name>`` columns (float) of a trials row."""
    return {
        **{f"{HP_PREFIX}{k}": float(v) for k, v in hparams.items()},
        **{f"{TUNED_PREFIX}{k}": float(v) for k, v in tuned.items()},
    }


def open_filesystem(root: str) -> tuple[pafs.FileSystem, str]:
    """(filesystem, path) for a local path or a filesystem URI."""
    if "://" in root:
        return pafs.FileSystem.from_uri(root)
    return pafs.LocalFileSystem(), os.path.abspath(root)


def _replace_atomically(
    filesystem: pafs.FileSystem, path: str, write: Callable[[str], None]
) -> None:
    """Call ``write(tmp)`` for a hidden temporary file beside ``path``, then rename it to ``path``."""
    directory, _, name = path.rpartition("/")
    filesystem.create_dir(directory, recursive=True)
    tmp = f"{directory}/.{name}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        write(tmp)
        filesystem.move(tmp, path)
    except BaseException:
        # A failed write leaves neither a visible file nor its temporary behind.
        with contextlib.suppress(OSError):
            filesystem.delete_file(tmp)
        raise


def write_atomic(filesystem: pafs.FileSystem, path: str, table: pa.Table) -> None:
    """Write ``table`` to ``path`` through a hidden temporary file and a rename."""
    _replace_atomically(
        filesystem, path,
        lambda tmp: pq.write_table(table, tmp, filesystem=filesystem, compression="zstd"),
    )


def write_json_atomic(filesystem: pafs.FileSystem, path: str, payload: dict[str, Any]) -> None:
    """Write ``payload`` as JSON to ``path`` through a hidden temporary file and a rename."""
    data = json.dumps(payload, indent=2, sort_keys=True, default=str).encode()

    def write(tmp: str) -> None:
        with filesystem.open_output_stream(tmp) as out:
            out.write(data)

    _replace_atomically(filesystem, path, write)


class ResultSink:
    """Buffers trial and curve rows per partition and writes them as atomic Parquet part files."""

    def __init__(
        self,
        root: str,
        *,
        flush_rows: int = 5000,
        flush_seconds: float = 5.0,
        trial_flush_seconds: float = 1.0,
    ) -> None:
        self.filesystem, self.root = open_filesystem(root)
        self.flush_rows = flush_rows
        self.flush_seconds = flush_seconds
        self.trial_flush_seconds = trial_flush_seconds
        # Rows are converted to Arrow when added, so a malformed row fails at its caller and
        # never poisons a later flush.
        self._curves: dict[SearchKey, list[pa.Table]] = defaultdict(list)
        self._trials: dict[SearchKey, list[pa.Table]] = defaultdict(list)
        self._buffered = 0
        self._last_flush = time.monotonic()
        self.files_written = 0
        self.trial_rows_written = 0
        self.curve_rows_written = 0

    def add_curve_rows(self, key: SearchKey, rows: list[dict[str, Any]]) -> None:
        """Buffer evaluation rows (each with every column of :data:`CURVE_SCHEMA`)."""
        table = pa.Table.from_pylist(rows, schema=CURVE_SCHEMA)
        self._curves[key].append(table)
        self._buffered += len(rows)
        self._maybe_flush()

    def add_trial_row(
        self,
        key: SearchKey,
        row: dict[str, Any],
        hparams: dict[str, float],
        tuned: dict[str, float] | None = None,
    ) -> None:
        """Buffer one trials row; ``hparams`` (optimizer and schedule values) become the
        ``hp_<name>`` columns, ``tuned`` (the search point's coordinates) ``tuned_<name>``."""
        tuned = tuned or {}
        full = {**row, **parameter_columns(hparams, tuned)}
        table = pa.Table.from_pylist([full], schema=trial_schema(hparams, tuned))
        self._trials[key].append(table)
        self._buffered += 1
        self._maybe_flush()

    def maybe_flush(self) -> None:
        """Flush if enough rows are buffered or enough time has passed (call it periodically)."""
        self._maybe_flush()

    def _maybe_flush(self) -> None:
        if self._buffered == 0:
            return
        since = time.monotonic() - self._last_flush
        if (
            self._buffered >= self.flush_rows
            or since >= self.flush_seconds
            or (self._trials and since >= self.trial_flush_seconds)
        ):
            self.flush()

    def _part_path(self, table: str, key: SearchKey) -> str:
        name = f"part-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:12]}.parquet"
        return f"{self.root}/{table}/{SearchKey(*key).partition_path()}/{name}"

    def _write(self, name: str, buffers: dict[SearchKey, list[pa.Table]]) -> None:
        """Write and drop each partition's buffer in turn: a partition written is never rewritten."""
        for key in list(buffers):
            tables = buffers[key]
            table = pa.concat_tables(tables, promote_options="default")
            write_atomic(self.filesystem, self._part_path(name, key), table)
            del buffers[key]
            self._buffered -= table.num_rows
            self.files_written += 1
            if name == "curves":
                self.curve_rows_written += table.num_rows
            else:
                self.trial_rows_written += table.num_rows

    def flush(self) -> None:
        """Write every buffered row now (curves first, so a trials row implies its curve)."""
        self._write("curves", self._curves)
        self._write("trials", self._trials)
        self._buffered = 0
        self._last_flush = time.monotonic()

    def close(self) -> None:
        self.flush()
