"""SQL over an experiment's results with DuckDB: views ``trials`` and ``curves``.

Each view holds every part file of its table with the hive partition columns ``workload``,
``protocol``, ``optimizer`` (strings) and an ``experiment`` column (the experiment's name),
columns united by name across files (an optimizer's missing ``hp_`` columns are null). Part
files that are truncated, foreign or outside the partitions are left out and reported, as in
:mod:`analysis.load`. Every attempt row is there; filter ``attempt`` yourself if needed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from pyarrow import fs as pafs

from optcompare.errors import InputError
from optcompare.schema import (
    CURVE_SCHEMA,
    FINAL_STAGE,
    FIRST_STUDY,
    PARTITION_KEYS,
    REQUIRED_COLUMNS,
    TRIAL_BASE_SCHEMA,
)

from .load import list_part_files, load_results, open_experiment, parquet_scan_sql, sql_literal

if TYPE_CHECKING:
    import duckdb

__all__ = ["QueryResult", "connect", "run_query"]

VIEWS = ("trials", "curves")

DUCKDB_TYPES = {pa.string(): "VARCHAR", pa.int64(): "BIGINT", pa.float64(): "DOUBLE"}
"""DuckDB's name of each Arrow type the tables use."""

EMPTY_VIEW_COLUMNS: dict[str, dict[str, str]] = {
    "trials": {c: DUCKDB_TYPES[TRIAL_BASE_SCHEMA.field(c).type] for c in REQUIRED_COLUMNS["trials"]},
    "curves": {f.name: DUCKDB_TYPES[f.type] for f in CURVE_SCHEMA},
}
"""Columns (and DuckDB types) of a view over an experiment without part files, partition
columns and ``experiment`` excluded: every curves column, the trials table's required ones."""


@dataclass(frozen=True)
class QueryResult:
    """Column names, rows (tuples of Python values) and the files left out."""

    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]
    skipped: tuple[str, ...]

    def records(self) -> list[dict[str, Any]]:
        """Rows as dicts, non-finite floats as None (JSON-safe)."""
        def clean(v: Any) -> Any:
            return None if isinstance(v, float) and not math.isfinite(v) else v

        return [{c: clean(v) for c, v in zip(self.columns, row, strict=True)} for row in self.rows]


def _view_sql(name: str, experiment: str, files: list[str]) -> str:
    tag = f"{sql_literal(experiment)} AS experiment"
    if not files:
        cols = {k: "VARCHAR" for k in PARTITION_KEYS} | EMPTY_VIEW_COLUMNS[name]
        select = ", ".join(f"CAST(NULL AS {t}) AS {c}" for c, t in cols.items())
        return f"SELECT {select}, {tag} WHERE false"
    return parquet_scan_sql(files, tag)


def connect(
    paths: str | Sequence[str], *, via_arrow: bool = False
) -> tuple[duckdb.DuckDBPyConnection, tuple[str, ...]]:
    """(in-memory DuckDB connection with views ``trials`` and ``curves``, skipped files).

    Local experiments are read by DuckDB straight from the Parquet files; experiments behind
    a filesystem URI (``s3://...``), or all of them with ``via_arrow``, are read with
    :func:`analysis.load.load_results` (file by file when needed, skipping unreadable ones)
    and registered as Arrow tables.
    """
    import duckdb

    paths = [paths] if isinstance(paths, str) else list(paths)
    if not paths:
        raise InputError("no experiment given; pass RESULTS/NAME")
    con = duckdb.connect()
    skipped: list[str] = []
    parts: dict[str, list[str]] = {v: [] for v in VIEWS}
    for n, path in enumerate(paths):
        filesystem, root = open_experiment(path)
        name = path.rstrip("/").rsplit("/", 1)[-1]
        if isinstance(filesystem, pafs.LocalFileSystem) and not via_arrow:
            for view in VIEWS:
                files, bad = list_part_files(filesystem, root, view)
                skipped.extend(bad)
                parts[view].append(_view_sql(view, name, [f for f, _ in files]))
        else:
            experiment = load_results(path)
            skipped.extend(experiment.skipped)
            for view, table in (("trials", experiment.trials), ("curves", experiment.curves)):
                arrow_name = f"_arrow_{view}_{n}"
                con.register(arrow_name, table)
                parts[view].append(f"SELECT *, {sql_literal(name)} AS experiment FROM {arrow_name}")
    for view in VIEWS:
        body = " UNION ALL BY NAME ".join(f"({sql})" for sql in parts[view])
        con.execute(f"CREATE VIEW _{view}_files AS {body}")
        con.execute(f"CREATE VIEW {view} AS {_filled_sql(con, f'_{view}_files', FILLED.get(view, {}))}")
    return con, tuple(skipped)


FILLED: dict[str, dict[str, str]] = {
    "trials": {"stage": sql_literal(FINAL_STAGE), "study": f"CAST({FIRST_STUDY} AS BIGINT)"},
}
"""Per view, columns that rows written before they existed lack, with the value such rows read
as (the other readers fill them the same way, :mod:`analysis.load`)."""


def _filled_sql(con: duckdb.DuckDBPyConnection, source: str, filled: dict[str, str]) -> str:
    """``source`` with each column of ``filled`` present: nulls (old part files) and a missing
    column (an experiment written before it existed) read as its value."""
    columns = {d[0] for d in con.execute(f"SELECT * FROM {source} LIMIT 0").description}
    replace = [f"coalesce({c}, {v}) AS {c}" for c, v in filled.items() if c in columns]
    added = [f"{v} AS {c}" for c, v in filled.items() if c not in columns]
    star = f"* REPLACE ({', '.join(replace)})" if replace else "*"
    return f"SELECT {', '.join([star, *added])} FROM {source}"


def run_query(paths: str | Sequence[str], sql: str) -> QueryResult:
    """Run ``sql`` against the views of :func:`connect`. Bad SQL (or SQL that fails on these
    views) raises :class:`~optcompare.errors.InputError` with DuckDB's message."""
    import duckdb

    if not sql.strip():
        raise InputError("empty SQL; e.g. \"select optimizer, count(*) from trials group by all\"")
    statement_errors = (duckdb.ParserException, duckdb.BinderException, duckdb.CatalogException)
    for via_arrow in (False, True):
        con, skipped = connect(paths, via_arrow=via_arrow)
        try:
            cursor = con.execute(sql)
            if cursor.description is None:
                return QueryResult((), [], skipped)
            return QueryResult(tuple(d[0] for d in cursor.description), cursor.fetchall(), skipped)
        except duckdb.Error as err:
            if via_arrow or isinstance(err, statement_errors):
                raise InputError(
                    f"{err}\n(views: trials, curves; columns as in README 'Results schema')"
                ) from err
            # A part file whose footer reads but whose data does not: read file by file with
            # pyarrow, skipping what fails, and run the statement once more.
        finally:
            con.close()
    raise AssertionError("unreachable")
