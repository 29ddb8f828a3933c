"""SQL over an experiment's results with DuckDB: views ``trials`` and ``curves``.

Each view holds every part file of its table with the hive partition columns ``workload``,
``protocol``, ``optimizer`` (strings) and an ``experiment`` column (the experiment's name),
columns united by name across files (an optimizer's missing ``hp_`` columns are null). Part
files that are truncated, foreign or outside the partitions are left out and reported, as in
:mod:`analysis.load`. Every attempt row is there (filter ``attempt`` yourself if needed), once:
a row written twice (same :data:`~optcompare.schema.ROW_KEYS` key) is in the view once, the
last one in part-file path order, the row ``rank`` and the other readers keep.

Queries are read-only. The SQL must be exactly one statement, and a query (``SELECT``, ``WITH``,
``FROM``, ``VALUES``, ``DESCRIBE``, ``SUMMARIZE``, ``SHOW``: DuckDB's parser classifies it,
:func:`check_statement`); anything else (``COPY``, ``ATTACH``, ``INSTALL``/``LOAD``, ``SET``,
``CREATE``, ``EXPORT``, ``PRAGMA``, ``CALL``, ``EXPLAIN``) is an InputError saying why. The
connection is locked down as well before the statement runs (:func:`read_only`): external
access off, with the experiment's part files the only paths it may open (``allowed_paths``),
no spilling to a temporary directory, no extension installed or loaded, and its configuration
locked, so not even a query can read other files or write any.
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
    ROW_KEYS,
    TRIAL_BASE_SCHEMA,
)

from .load import list_part_files, load_results, open_experiment, parquet_scan_sql, sql_literal

ALLOWED_STATEMENTS = ("SELECT",)
"""DuckDB statement types ``query`` runs (``duckdb.StatementType`` names): queries only."""
REFUSED_WHY = {
    "COPY": "COPY writes files",
    "COPY_DATABASE": "COPY writes files",
    "EXPORT": "EXPORT DATABASE writes files",
    "ATTACH": "ATTACH opens or creates database files",
    "DETACH": "DETACH changes the databases of the connection",
    "LOAD": "INSTALL and LOAD fetch and run extensions",
    "EXTENSION": "extensions are not installed or loaded by a query",
    "SET": "SET and USE change the connection's settings",
    "VARIABLE_SET": "SET VARIABLE changes the connection's state",
    "PRAGMA": "PRAGMA changes or inspects the connection",
    "CALL": "CALL runs procedures (e.g. CHECKPOINT)",
    "EXPLAIN": "EXPLAIN ANALYZE runs the statement it explains",
}
"""Why a statement type other than a query is refused (the rest: "it changes the database")."""

if TYPE_CHECKING:
    import duckdb

__all__ = ["QueryResult", "check_statement", "connect", "read_only", "run_query"]

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


PART_FILE = "_part_file"
"""The column each local view's scan adds for the part file a row came from (then dropped)."""


def _view_sql(name: str, experiment: str, files: list[str]) -> str:
    """One experiment's rows of view ``name``: one row per :data:`ROW_KEYS` key, the last in
    (part file path, row in file) order, as :func:`analysis.load.drop_repeated_rows` keeps."""
    tag = f"{sql_literal(experiment)} AS experiment"
    if not files:
        cols = {k: "VARCHAR" for k in PARTITION_KEYS} | EMPTY_VIEW_COLUMNS[name]
        select = ", ".join(f"CAST(NULL AS {t}) AS {c}" for c, t in cols.items())
        return f"SELECT {select}, {tag} WHERE false"
    scan = parquet_scan_sql(files, tag, options=f"filename = {sql_literal(PART_FILE)}, file_row_number = true")
    keys = ", ".join(ROW_KEYS[name])
    return (
        f"SELECT * EXCLUDE ({PART_FILE}, file_row_number) FROM ({scan}) QUALIFY row_number() OVER "
        f"(PARTITION BY {keys} ORDER BY {PART_FILE} DESC, file_row_number DESC) = 1"
    )


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
    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    skipped: list[str] = []
    readable: list[str] = []
    parts: dict[str, list[str]] = {v: [] for v in VIEWS}
    for n, path in enumerate(paths):
        filesystem, root = open_experiment(path)
        name = path.rstrip("/").rsplit("/", 1)[-1]
        if isinstance(filesystem, pafs.LocalFileSystem) and not via_arrow:
            for view in VIEWS:
                files, bad = list_part_files(filesystem, root, view)
                skipped.extend(bad)
                readable.extend(f for f, _ in files)
                parts[view].append(_view_sql(view, name, [f for f, _ in files]))
        else:
            experiment = load_results(path)
            skipped.extend(experiment.skipped)
            for view, table in (("trials", experiment.trials), ("curves", experiment.curves)):
                arrow_name = f"_arrow_{view}_{n}"
                con.register(arrow_name, table)
                parts[view].append(f"SELECT *, {sql_literal(name)} AS experiment FROM {arrow_name}")
    read_only(con, readable)
    for view in VIEWS:
        body = " UNION ALL BY NAME ".join(f"({sql})" for sql in parts[view])
        con.execute(f"CREATE VIEW _{view}_files AS {body}")
        con.execute(f"CREATE VIEW {view} AS {_filled_sql(con, f'_{view}_files', FILLED.get(view, {}))}")
    con.execute("SET lock_configuration = true")
    return con, tuple(skipped)


def read_only(con: duckdb.DuckDBPyConnection, files: Sequence[str]) -> None:
    """Let ``con`` open only ``files`` (read, by the views) and nothing else: no temporary
    directory, external access off. :func:`connect` locks the configuration once its views
    exist."""
    listing = "[" + ", ".join(sql_literal(f) for f in files) + "]"
    con.execute("SET temp_directory = ''")
    con.execute(f"SET allowed_paths = {listing}")
    con.execute("SET enable_external_access = false")


def check_statement(sql: str) -> None:
    """InputError unless ``sql`` is exactly one query statement (DuckDB's parser decides: module
    doc); the message says why it was refused."""
    import duckdb

    if not sql.strip():
        raise InputError("empty SQL; e.g. \"select optimizer, count(*) from trials group by all\"")
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as err:
        raise InputError(f"{err}\n(views: trials, curves; columns as in docs/usage.md 'Results schema')") from None
    if len(statements) != 1:
        raise InputError(
            f"give exactly one SQL statement, got {len(statements)}; queries run one at a time"
        )
    kind = statements[0].type.name
    if kind not in ALLOWED_STATEMENTS:
        why = REFUSED_WHY.get(kind, "it changes the database")
        raise InputError(
            f"refused a {kind} statement: queries are read-only and {why}; give one SELECT "
            "(or WITH / FROM / DESCRIBE / SUMMARIZE) over the views trials and curves"
        )


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

    check_statement(sql)
    statement_errors = (
        duckdb.ParserException, duckdb.BinderException, duckdb.CatalogException, duckdb.PermissionException,
    )
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
                    f"{err}\n(views: trials, curves; columns as in docs/usage.md 'Results schema')"
                ) from err
            # A part file whose footer reads but whose data does not: read file by file with
            # pyarrow, skipping what fails, and run the statement once more.
        finally:
            con.close()
    raise AssertionError("unreachable")
