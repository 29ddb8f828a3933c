"""Read an experiment's Parquet results (the layout of :mod:`optcompare.schema`; see
docs/architecture.md) without torch or ray.

Part files of different optimizers carry different ``hp_<name>`` / ``tuned_<name>`` columns;
they are read one by one and concatenated with schema promotion (missing columns become null).
A file that cannot be read (truncated, foreign, missing the table's key columns, a known column
of the wrong type, or outside the ``workload=/protocol=/optimizer=`` partitions) is reported in
``skipped`` and left out, never a crash. Hidden files (``.part-*.tmp`` being written) and
``_``-prefixed ones are ignored.

Column types. A known column (:data:`TRIAL_COLUMNS`, ``hp_<name>`` / ``tuned_<name>``,
:data:`CURVE_COLUMNS`) must have the kind the sink writes: a string column any string type, an
integer column any signed integer type (or unsigned up to 32 bits), a float column any floating
type or integer type but uint64. Widths may differ (int32 for int64, float32 for float64) and an all-null column
(type null) fits every kind. Any other type (e.g. ``attempt`` or ``final_val_error`` as strings)
marks the file as foreign: DuckDB's ``union_by_name`` would otherwise silently change the
column's type for every file. Columns the layout does not name are not checked.

Repeated rows. Two drivers that ran the same study at once (before experiments had a lease), or
a resume racing the original driver, wrote some rows twice: each table keeps one row per
:data:`~optcompare.schema.ROW_KEYS` key (``trial_id, attempt`` for trials, ``trial_id, attempt,
step`` for curves), the last one read in part-file path order (part-file names start with their
write time, so that is the last one written), and counts the rows it dropped in ``repeated``.
``optcompare query``'s views keep the same rows (:mod:`analysis.query`).

experiment.json must be a JSON object whose known fields have the types ``optcompare run``
writes (:class:`ExperimentRecord`); a file of another shape is an InputError naming the field.

Every trials table read here has a ``stage`` and a ``study`` column: rows written before those
columns existed (the column absent, or null) read as stage ``final`` and study 0
(:func:`with_stage_and_study`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyarrow import fs as pafs

from optcompare.errors import InputError
from optcompare.experiment_record import RECOVER, read_experiment_record
from optcompare.schema import (
    FINAL_STAGE,
    FIRST_STUDY,
    PARTITION_KEYS,
    REQUIRED_COLUMNS,
    ROW_KEYS,
    TABLES,
    TRIAL_PREFIXES,
)

__all__ = [
    "CURVE_COLUMNS",
    "KNOWN_COLUMNS",
    "TRIAL_COLUMNS",
    "Experiment",
    "Loaded",
    "drop_repeated_rows",
    "list_part_files",
    "load_experiment",
    "load_experiments",
    "load_results",
    "load_table",
    "open_experiment",
    "open_record",
    "with_stage_and_study",
]

KNOWN_COLUMNS: dict[str, dict[str, pa.DataType]] = {
    table: {f.name: f.type for f in schema} for table, schema in TABLES.items()
}
"""The fixed columns of each table (:data:`optcompare.schema.TABLES`) by name; ``trials`` part
files add ``hp_<name>`` and ``tuned_<name>`` columns (:data:`TRIAL_PREFIXES`)."""

CURVE_COLUMNS = KNOWN_COLUMNS["curves"]
TRIAL_COLUMNS = KNOWN_COLUMNS["trials"]


@dataclass
class Loaded:
    """One table of an experiment and the files that had to be skipped."""

    table: pa.Table
    files: int
    skipped: list[str] = field(default_factory=list)
    repeated: int = 0
    """Rows dropped because an earlier-read row had the same :data:`ROW_KEYS` key."""


@dataclass(frozen=True)
class Experiment:
    """An experiment directory read into memory.

    ``trials`` keeps every attempt row (see :func:`optcompare.searches.group_searches` for the
    latest-attempt rule); both tables carry the partition columns ``workload``, ``protocol``,
    ``optimizer``. ``skipped`` lists ``"path: reason"`` for each unreadable part file;
    ``repeated`` the rows dropped per table as repeats of a :data:`ROW_KEYS` key (module doc).
    """

    path: str
    meta: dict[str, Any]
    trials: pa.Table
    curves: pa.Table
    skipped: tuple[str, ...]
    repeated: dict[str, int] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The experiment's name (experiment.json ``name``, else the directory name)."""
        return str(self.meta.get("name") or self.path.rstrip("/").rsplit("/", 1)[-1])




def open_experiment(path: str) -> tuple[pafs.FileSystem, str]:
    """(filesystem, path) of an experiment directory; InputError when it is not one (saying how
    to recover when it holds results but no experiment.json) or when its experiment.json is
    broken (:func:`read_experiment_record`). Every reader opens experiments here (or through
    :func:`open_record`), so they all refuse a broken one with the same message."""
    filesystem, root, _ = open_record(path)
    return filesystem, root


def open_record(path: str) -> tuple[pafs.FileSystem, str, dict[str, Any]]:
    """(filesystem, path, experiment.json contents) of an experiment directory, refused as
    :func:`open_experiment` refuses it; experiment.json is read once."""
    if "://" in path:
        try:
            filesystem, root = pafs.FileSystem.from_uri(path)
        except (pa.ArrowInvalid, OSError) as err:
            raise InputError(f"cannot open {path}: {err}; give a local path or a pyarrow URI") from err
    else:
        filesystem, root = pafs.LocalFileSystem(), os.path.abspath(path)
    if filesystem.get_file_info(f"{root}/experiment.json").type != pafs.FileType.File:
        found = {name: len(list_part_files(filesystem, root, name)[0]) for name in TABLES}
        if any(found.values()):
            counts = ", ".join(f"{n} {name}" for name, n in found.items())
            raise InputError(
                f"{path} holds results ({counts} part files) but no experiment.json, which "
                f"describes the study and is written first; {RECOVER}"
            )
        raise InputError(
            f"{path} is not an optcompare experiment (no experiment.json); give RESULTS/NAME "
            "as written by 'optcompare run'"
        )
    return filesystem, root, read_experiment_record(filesystem, root, path)










def expected_type(name: str, column: str) -> pa.DataType | None:
    """The type the sink writes for ``column`` of table ``name``; None for a column it does not name."""
    if column in KNOWN_COLUMNS[name]:
        return KNOWN_COLUMNS[name][column]
    prefixes = TRIAL_PREFIXES if name == "trials" else {}
    return next((kind for prefix, kind in prefixes.items() if column.startswith(prefix)), None)


def _is_signed_or_small_int(kind: pa.DataType) -> bool:
    return pa.types.is_signed_integer(kind) or (pa.types.is_unsigned_integer(kind) and kind.bit_width <= 32)


def type_fits(actual: pa.DataType, expected: pa.DataType) -> bool:
    """True when a column of type ``actual`` can stand for ``expected`` (module doc: same kind,
    any width; integers for floats; null for anything)."""
    if pa.types.is_null(actual):
        return True
    if pa.types.is_dictionary(actual):
        actual = actual.value_type
    if pa.types.is_string(expected):
        return pa.types.is_string(actual) or pa.types.is_large_string(actual) or pa.types.is_string_view(actual)
    if pa.types.is_integer(expected):
        return _is_signed_or_small_int(actual)
    if pa.types.is_floating(expected):
        return pa.types.is_floating(actual) or _is_signed_or_small_int(actual)
    return actual.equals(expected)


def type_mismatches(schema: pa.Schema, name: str) -> list[str]:
    """``"column (type, expected kind)"`` for each known column of ``schema`` whose type does not
    fit the one the sink writes for table ``name`` (see :func:`type_fits`)."""
    bad = []
    for item in schema:
        expected = expected_type(name, item.name)
        if expected is not None and not type_fits(item.type, expected):
            bad.append(f"{item.name} is {item.type}, expected {expected}")
    return bad


def _partition_values(relative: str) -> dict[str, str]:
    values = {}
    for part in relative.split("/")[:-1]:
        key, sep, value = part.partition("=")
        if sep and key in PARTITION_KEYS:
            values[key] = value
    return values


def _empty(name: str) -> pa.Table:
    """An empty table ``name``: the partition columns, then every curves column or the trials
    table's required ones."""
    known = KNOWN_COLUMNS[name]
    names = known if name == "curves" else REQUIRED_COLUMNS[name]
    columns = {k: pa.array([], pa.string()) for k in PARTITION_KEYS}
    columns.update({k: pa.array([], known[k]) for k in names})
    return pa.table(columns)


def list_part_files(
    filesystem: pafs.FileSystem, root: str, name: str
) -> tuple[list[tuple[str, dict[str, str]]], list[str]]:
    """(readable part files with their partition values, ``"path: reason"`` of skipped ones).

    A file is kept when it sits under ``workload=/protocol=/optimizer=`` and its Parquet footer
    reads, names the table's :data:`REQUIRED_COLUMNS` and gives every known column a type that
    fits the sink's (:func:`type_mismatches`). Only the footer is read here.
    """
    base = f"{root}/{name}"
    if filesystem.get_file_info(base).type == pafs.FileType.NotFound:
        return [], []
    infos = filesystem.get_file_info(pafs.FileSelector(base, recursive=True))
    good: list[tuple[str, dict[str, str]]] = []
    skipped: list[str] = []
    for info in sorted(infos, key=lambda i: i.path):
        if info.type != pafs.FileType.File or info.base_name.startswith((".", "_")):
            continue
        if not info.base_name.endswith(".parquet"):
            continue
        values = _partition_values(info.path[len(base) + 1 :])
        if set(values) != set(PARTITION_KEYS):
            skipped.append(f"{info.path}: not under workload=/protocol=/optimizer= partitions")
            continue
        try:
            with filesystem.open_input_file(info.path) as handle:
                schema = pq.read_schema(handle)
        except (pa.ArrowInvalid, OSError) as err:
            skipped.append(f"{info.path}: {err}")
            continue
        missing = [c for c in REQUIRED_COLUMNS[name] if c not in schema.names]
        if missing:
            skipped.append(f"{info.path}: not a {name} file (no column {', '.join(missing)})")
            continue
        mistyped = type_mismatches(schema, name)
        if mistyped:
            skipped.append(
                f"{info.path}: not a {name} file written by optcompare (column {'; '.join(mistyped)}); "
                "rewrite it with those types or move it out of the experiment"
            )
            continue
        good.append((info.path, values))
    return good, skipped


def sql_literal(text: str) -> str:
    """``text`` as a single-quoted SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def parquet_scan_sql(files: Sequence[str], extra: str = "", options: str = "") -> str:
    """A DuckDB ``SELECT`` over local part files: columns united by name, the hive partition
    columns as strings, then ``extra`` select items (e.g. ``'x' AS experiment``); ``options``
    adds ``read_parquet`` options (e.g. ``filename = true``)."""
    listing = "[" + ", ".join(sql_literal(f) for f in files) + "]"
    hive_types = "{" + ", ".join(f"{sql_literal(k)}: 'VARCHAR'" for k in PARTITION_KEYS) + "}"
    items = f"*, {extra}" if extra else "*"
    return (
        f"SELECT {items} FROM read_parquet({listing}, hive_partitioning = true, "
        f"union_by_name = true, hive_types = {hive_types}{', ' + options if options else ''})"
    )


def _read_with_duckdb(files: Sequence[str]) -> pa.Table | None:
    """All files in one multi-threaded DuckDB scan; None when DuckDB fails on one of them."""
    import duckdb

    con = duckdb.connect()
    try:
        table = con.sql(parquet_scan_sql(files)).to_arrow_table()
    except duckdb.Error:
        return None
    finally:
        con.close()
    columns = [c for c in table.column_names if c not in PARTITION_KEYS] + list(PARTITION_KEYS)
    return table.select(columns).combine_chunks()


TRIAL_DEFAULTS: dict[str, tuple[object, pa.DataType]] = {
    "stage": (FINAL_STAGE, pa.string()),
    "study": (FIRST_STUDY, pa.int64()),
}
"""Trials columns added after the first experiments were written, with the value a row without
them reads as: a one-stage protocol's only stage, study 0."""


def with_stage_and_study(trials: pa.Table) -> pa.Table:
    """``trials`` with a ``stage`` (string) and ``study`` (int64) column in every row: an absent
    column, or a null value, reads as :data:`~optcompare.schema.FINAL_STAGE` /
    :data:`~optcompare.schema.FIRST_STUDY` (:data:`TRIAL_DEFAULTS`)."""
    for column, (default, kind) in TRIAL_DEFAULTS.items():
        if column in trials.column_names:
            index = trials.column_names.index(column)
            filled = pc.fill_null(pc.cast(trials.column(column), kind), pa.scalar(default, kind))
            trials = trials.set_column(index, column, filled)
        else:
            trials = trials.append_column(column, pa.array([default] * trials.num_rows, kind))
    return trials


def load_table(filesystem: pafs.FileSystem, root: str, name: str) -> Loaded:
    """All part files of ``trials`` or ``curves`` with the partition columns added (and, for
    ``trials``, ``stage`` / ``study`` filled in: :func:`with_stage_and_study`).

    Local files are read in one DuckDB scan (many small part files are the norm: the sink
    flushes every few seconds); if that scan fails, or the filesystem is remote, files are read
    one by one with pyarrow so that an unreadable one is skipped and reported.
    """
    loaded = _load_table(filesystem, root, name)
    if name == "trials":
        loaded.table = with_stage_and_study(loaded.table)
    return loaded


def drop_repeated_rows(table: pa.Table, name: str) -> tuple[pa.Table, int]:
    """(``table`` with one row per :data:`ROW_KEYS` key of table ``name``, the last one in row
    order; the number of rows dropped). Row order is kept."""
    keys = [k for k in ROW_KEYS[name] if k in table.column_names]
    if table.num_rows < 2 or len(keys) != len(ROW_KEYS[name]):
        return table, 0
    numbered = table.select(keys).append_column("_row", pa.array(range(table.num_rows), pa.int64()))
    last = numbered.group_by(keys, use_threads=False).aggregate([("_row", "max")]).column("_row_max")
    if len(last) == table.num_rows:
        return table, 0
    kept = pc.sort_indices(last)
    return table.take(pc.take(last, kept)), table.num_rows - len(last)


def _load_table(filesystem: pafs.FileSystem, root: str, name: str) -> Loaded:
    loaded = _read_part_files(filesystem, root, name)
    loaded.table, loaded.repeated = drop_repeated_rows(loaded.table, name)
    return loaded


def _read_part_files(filesystem: pafs.FileSystem, root: str, name: str) -> Loaded:
    files, skipped = list_part_files(filesystem, root, name)
    count = len(files) + len(skipped)
    if files and isinstance(filesystem, pafs.LocalFileSystem):
        table = _read_with_duckdb([f for f, _ in files])
        if table is not None:
            return Loaded(table, count, skipped)
    tables: list[pa.Table] = []
    for path, values in files:
        try:
            table = pq.read_table(path, filesystem=filesystem)
        except (pa.ArrowInvalid, OSError) as err:
            skipped.append(f"{path}: {err}")
            continue
        table = table.drop_columns([k for k in PARTITION_KEYS if k in table.column_names])
        for key in PARTITION_KEYS:
            table = table.append_column(key, pa.array([values[key]] * table.num_rows, pa.string()))
        tables.append(table)
    if not tables:
        return Loaded(_empty(name), count, skipped)
    try:
        table = pa.concat_tables(tables, promote_options="permissive").combine_chunks()
    except (pa.ArrowInvalid, pa.ArrowTypeError) as err:
        raise InputError(f"{root}/{name}: part files have incompatible columns ({err})") from err
    return Loaded(table, count, skipped)


def load_experiment(path: str) -> tuple[dict[str, Any], Loaded]:
    """(experiment.json contents, trials table) of ``RESULTS/NAME``."""
    filesystem, root, meta = open_record(path)
    return meta, load_table(filesystem, root, "trials")


def load_results(path: str, *, curves: bool = True) -> Experiment:
    """Read ``RESULTS/NAME``: experiment.json, every trials row and (unless ``curves=False``)
    every curves row. Unreadable part files are listed in ``skipped``."""
    filesystem, root, meta = open_record(path)
    trials = load_table(filesystem, root, "trials")
    curve_table = load_table(filesystem, root, "curves") if curves else Loaded(_empty("curves"), 0)
    return Experiment(
        path=path,
        meta=meta,
        trials=trials.table,
        curves=curve_table.table,
        skipped=tuple(trials.skipped + curve_table.skipped),
        repeated={"trials": trials.repeated, "curves": curve_table.repeated},
    )


def recorded_protocols(meta: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """Protocol -> its record in experiment.json (``protocols[P]``, the protocol file as
    written); several experiments' merged meta (``{"experiments": {name: meta}}``,
    :func:`load_experiments`) are read one by one, a later one's record replacing an earlier
    one's. Records that are not mappings are left out."""
    if isinstance(meta.get("experiments"), Mapping):
        merged: dict[str, Mapping[str, Any]] = {}
        for inner in meta["experiments"].values():
            if isinstance(inner, Mapping):
                merged.update(recorded_protocols(inner))
        return merged
    recorded = meta.get("protocols")
    if not isinstance(recorded, Mapping):
        return {}
    return {str(p): raw for p, raw in recorded.items() if isinstance(raw, Mapping)}


def load_experiments(paths: Sequence[str], *, curves: bool = True) -> Experiment:
    """Several experiment directories as one: rows gain an ``experiment`` column (each
    directory's name) and ``meta`` is ``{"experiments": {name: experiment.json}}``.

    Searches of different experiments stay apart only through that column: the analysis
    functions group by (workload, protocol, optimizer), so give distinct protocol names, or
    analyse the experiments one at a time, when they should not be pooled.
    """
    if not paths:
        raise InputError("no experiment given; pass at least one RESULTS/NAME directory")
    loaded = [load_results(p, curves=curves) for p in paths]
    names = [e.name for e in loaded]
    if len(set(names)) != len(names):
        names = [f"{n}#{i}" for i, n in enumerate(names)]

    def tag(table: pa.Table, name: str) -> pa.Table:
        return table.append_column("experiment", pa.array([name] * table.num_rows, pa.string()))

    return Experiment(
        path=",".join(paths),
        meta={"experiments": {n: e.meta for n, e in zip(names, loaded, strict=True)}},
        trials=pa.concat_tables(
            [tag(e.trials, n) for n, e in zip(names, loaded, strict=True)], promote_options="permissive"
        ),
        curves=pa.concat_tables(
            [tag(e.curves, n) for n, e in zip(names, loaded, strict=True)], promote_options="permissive"
        ),
        skipped=tuple(s for e in loaded for s in e.skipped),
        repeated={t: sum(e.repeated.get(t, 0) for e in loaded) for t in TABLES},
    )
