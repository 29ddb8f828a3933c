"""Driver-side Parquet sink: writes ``trials`` and ``curves`` rows in the results layout of
:mod:`optcompare.schema` (the layout and its contract: docs/architecture.md).

Rows are buffered per partition ``workload=W/protocol=P/optimizer=O`` (a
:class:`~optcompare.schema.SearchKey`) and written as part files with unique names
(``part-TIME-UUID.parquet``), so that no reader ever sees a half-written one:

- on a local or shared POSIX filesystem, each is written under a hidden temporary name
  (``.part-*.tmp``, skipped by readers) and renamed, which is atomic there;
- on an object store (``s3://``, ``gs://``: anything but pyarrow's local filesystem, see
  :func:`renames_atomically`) there is no atomic rename (pyarrow's ``move`` on S3 is a copy and a
  delete), so the whole file is encoded in memory first and sent in one upload of its final
  name (one PUT, or a multipart upload that becomes visible only when it completes): an object
  appears whole or not at all. :func:`write_json_atomic` (experiment.json) works the same way.

A flush happens when ``flush_rows`` rows are
buffered, when ``flush_seconds`` (default 5) have passed since the last flush, when a trial has
ended (a trials row is buffered) and ``trial_flush_seconds`` (default 1) have passed since the
last flush (both checked on every add and by the driver's loop through :meth:`maybe_flush`), and
on :meth:`close`. The one-second floor keeps a burst of short trials (or a bundle whose members
end together) to one part file per partition per second instead of one per trial. A driver killed
without warning loses at most the rows of the last few seconds; resume reruns those trials.
The root may be a local path or any pyarrow filesystem URI (``s3://bucket/prefix``).

Storage faults. A flush that fails (disk full, permission lost, store unreachable: an ``OSError``
or Arrow error) keeps every row buffered and is retried on later adds and :meth:`maybe_flush`
calls, after a backoff of 0.5 s doubling to at most 8 s, for at most :data:`RETRY_SECONDS` (60 s)
from the first failure; :meth:`close` waits the backoffs out itself. While it fails, the rows
buffered may take at most :data:`MAX_BUFFERED_BYTES` (256 MiB of Arrow data). Past either bound
the sink raises :class:`StorageError`, naming the store and the error, and the study stops
(exit 1): each part file already written is complete, and ``optcompare resume`` runs the trials
whose rows were not written once the store works again. A partition's rows leave the buffer
only once their file is written, so a retry never writes a row twice. :meth:`flush` itself is
one attempt and raises the store's error as it is.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from pyarrow import fs as pafs

from optcompare.schema import CURVE_SCHEMA, HP_PREFIX, TUNED_PREFIX, SearchKey, trial_schema

__all__ = [
    "MAX_BUFFERED_BYTES",
    "RETRY_SECONDS",
    "ResultSink",
    "StorageError",
    "open_filesystem",
    "parameter_columns",
    "renames_atomically",
    "write_json_atomic",
]

RETRY_SECONDS = 60.0
"""How long a failing store is retried, from its first failed write, before the study stops."""
MAX_BUFFERED_BYTES = 256 * 2**20
"""The most Arrow data (bytes) the sink buffers while its store fails."""
BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 8.0
"""Seconds between retries of a failing store: ``BACKOFF_FIRST_S`` doubling up to this."""
WRITE_ERRORS = (OSError, pa.ArrowException)
"""What a failed write of the store raises (pyarrow's S3 and local errors are OSErrors)."""


class StorageError(RuntimeError):
    """The results store could not be written within the sink's bounds (module doc)."""


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


def renames_atomically(filesystem: pafs.FileSystem) -> bool:
    """Whether a rename on ``filesystem`` is atomic: pyarrow's local filesystem (POSIX
    ``rename``), or a Python filesystem whose handler says so (``renames_atomically = True``)."""
    if isinstance(filesystem, pafs.LocalFileSystem):
        return True
    handler = getattr(filesystem, "handler", None)
    return bool(getattr(handler, "renames_atomically", False))


def put_object(filesystem: pafs.FileSystem, path: str, data: bytes | pa.Buffer) -> None:
    """Write ``data`` to ``path`` in one upload on a store without atomic renames (module doc)."""
    with filesystem.open_output_stream(path) as out:
        out.write(data)


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
    """Write ``table`` to ``path`` so that readers see all of it or nothing: a hidden temporary
    file and a rename, or one upload of the encoded file (module doc)."""
    if renames_atomically(filesystem):
        _replace_atomically(
            filesystem, path,
            lambda tmp: pq.write_table(table, tmp, filesystem=filesystem, compression="zstd"),
        )
        return
    encoded = pa.BufferOutputStream()
    pq.write_table(table, encoded, compression="zstd")
    put_object(filesystem, path, encoded.getvalue())


def write_json_atomic(filesystem: pafs.FileSystem, path: str, payload: dict[str, Any]) -> None:
    """Write ``payload`` as JSON to ``path``, whole or not at all (as :func:`write_atomic`)."""
    data = json.dumps(payload, indent=2, sort_keys=True, default=str).encode()
    if not renames_atomically(filesystem):
        put_object(filesystem, path, data)
        return
    _replace_atomically(filesystem, path, lambda tmp: put_object(filesystem, tmp, data))


class _Failing:
    """A store that failed: since when, the last error, when to try again, the backoff."""

    def __init__(self, now: float) -> None:
        self.since = now
        self.error: BaseException | None = None
        self.next_attempt = now
        self.backoff = BACKOFF_FIRST_S
        self.attempts = 0

    def failed(self, error: BaseException, now: float) -> None:
        self.error = error
        self.attempts += 1
        self.next_attempt = now + self.backoff
        self.backoff = min(2 * self.backoff, BACKOFF_MAX_S)


class ResultSink:
    """Buffers trial and curve rows per partition and writes them as atomic Parquet part files;
    a failing store is retried within bounds (module doc)."""

    def __init__(
        self,
        root: str,
        *,
        flush_rows: int = 5000,
        flush_seconds: float = 5.0,
        trial_flush_seconds: float = 1.0,
        retry_seconds: float | None = None,
        max_buffered_bytes: int | None = None,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.store = root
        self.filesystem, self.root = open_filesystem(root)
        self.flush_rows = flush_rows
        self.flush_seconds = flush_seconds
        self.trial_flush_seconds = trial_flush_seconds
        # None: the module's bounds, read now (so that a test may lower them for a whole study).
        self.retry_seconds = RETRY_SECONDS if retry_seconds is None else retry_seconds
        self.max_buffered_bytes = MAX_BUFFERED_BYTES if max_buffered_bytes is None else max_buffered_bytes
        # Looked up on each call, so that a test's patched ``time.monotonic`` applies.
        self._clock = clock or (lambda: time.monotonic())
        self._sleep = sleep or (lambda seconds: time.sleep(seconds))
        # Rows are converted to Arrow when added, so a malformed row fails at its caller and
        # never poisons a later flush.
        self._curves: dict[SearchKey, list[pa.Table]] = defaultdict(list)
        self._trials: dict[SearchKey, list[pa.Table]] = defaultdict(list)
        self._buffered = 0
        self._buffered_bytes = 0
        self._last_flush = self._clock()
        self._failing: _Failing | None = None
        self._gave_up: StorageError | None = None
        self.files_written = 0
        self.trial_rows_written = 0
        self.curve_rows_written = 0
        self.write_failures = 0
        """Failed attempts to write a part file (each retried, module doc)."""

    def add_curve_rows(self, key: SearchKey, rows: list[dict[str, Any]]) -> None:
        """Buffer evaluation rows (each with every column of :data:`CURVE_SCHEMA`)."""
        table = pa.Table.from_pylist(rows, schema=CURVE_SCHEMA)
        self._curves[key].append(table)
        self._buffered += len(rows)
        self._buffered_bytes += table.nbytes
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
        self._buffered_bytes += table.nbytes
        self._maybe_flush()

    def maybe_flush(self) -> None:
        """Flush if enough rows are buffered or enough time has passed (call it periodically)."""
        self._maybe_flush()

    def _maybe_flush(self) -> None:
        if self._gave_up is not None:
            raise self._gave_up
        if self._buffered == 0:
            return
        now = self._clock()
        if self._failing is not None:
            if now < self._failing.next_attempt:
                self._check_bounds(now)
                return
        else:
            since = now - self._last_flush
            if not (
                self._buffered >= self.flush_rows
                or since >= self.flush_seconds
                or (self._trials and since >= self.trial_flush_seconds)
            ):
                return
        self._attempt()

    def _attempt(self) -> bool:
        """One flush; on a store error keep the rows, schedule the next try and check the
        bounds (StorageError past them). True when everything buffered was written."""
        try:
            self.flush()
        except WRITE_ERRORS as err:
            now = self._clock()
            self.write_failures += 1
            if self._failing is None:
                self._failing = _Failing(now)
                print(
                    f"warning: cannot write results to {self.store} ({err}); {self._buffered} rows "
                    f"stay buffered, retrying for up to {self.retry_seconds:g} s",
                    file=sys.stderr, flush=True,
                )
            self._failing.failed(err, now)
            self._check_bounds(now)
            return False
        if self._failing is not None:
            print(
                f"results store {self.store} writable again after {self._failing.attempts} failed "
                "writes; every buffered row is written", file=sys.stderr, flush=True,
            )
            self._failing = None
        return True

    def _check_bounds(self, now: float) -> None:
        """StorageError once the store has failed for longer than ``retry_seconds`` or the rows
        buffered meanwhile exceed ``max_buffered_bytes``."""
        failing = self._failing
        if failing is None:
            return
        elapsed = now - failing.since
        if elapsed <= self.retry_seconds and self._buffered_bytes <= self.max_buffered_bytes:
            return
        bound = (
            f"it failed for {elapsed:.0f} s (the limit is {self.retry_seconds:g} s)"
            if elapsed > self.retry_seconds
            else f"the {self._buffered_bytes} bytes of rows buffered meanwhile passed the limit of "
            f"{self.max_buffered_bytes}"
        )
        self._gave_up = StorageError(
            f"cannot write results to {self.store}: {failing.error}; {bound}, so the study stops. "
            f"{self._buffered} rows were not written; every part file written is complete, and "
            f"'optcompare resume {self.store}' runs the trials without rows once the store is "
            "writable again"
        )
        raise self._gave_up

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
            self._buffered_bytes -= sum(t.nbytes for t in tables)
            self.files_written += 1
            if name == "curves":
                self.curve_rows_written += table.num_rows
            else:
                self.trial_rows_written += table.num_rows

    def flush(self) -> None:
        """Write every buffered row now (curves first, so a trials row implies its curve); one
        attempt: a store error is raised as it is, the rows not written stay buffered."""
        self._write("curves", self._curves)
        self._write("trials", self._trials)
        self._buffered = 0
        self._buffered_bytes = 0
        self._last_flush = self._clock()

    def close(self) -> None:
        """Write what is buffered, retrying a failing store within the bounds (module doc);
        after the sink gave up, one last attempt, then the same StorageError."""
        if self._gave_up is not None:
            with contextlib.suppress(*WRITE_ERRORS):
                self.flush()
                return
            raise self._gave_up
        while self._buffered:
            if self._failing is not None:
                self._sleep(max(0.0, self._failing.next_attempt - self._clock()))
            if self._attempt():
                break
