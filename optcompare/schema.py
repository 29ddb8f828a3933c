"""The results layout in one place: search key, partitions, metrics, trial states and the Arrow
schemas of the ``trials`` and ``curves`` tables.

Importable without torch or ray (pyarrow only). The training loop, the driver, the sink, the
readers in :mod:`analysis.load`, the query views, reruns and resume all take their column names
from here, so that adding a metric or a column is one edit.

Layout of ``RESULTS/NAME``::

    experiment.json
    trials/workload=W/protocol=P/optimizer=O/part-*.parquet   one row per finished attempt
    curves/workload=W/protocol=P/optimizer=O/part-*.parquet   one row per evaluation

A trial id is ``W/P/O/NNNNN`` (:meth:`SearchKey.of_trial_id` reads it back); reruns of a
search's best trial take the indices after the search's last trial, with ``phase = rerun``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

import pyarrow as pa

__all__ = [
    "COMPLETED",
    "CURVE_METRICS",
    "CURVE_SCHEMA",
    "DIVERGED",
    "FAILED",
    "HP_PREFIX",
    "METRICS",
    "PARTITION_KEYS",
    "PHASES",
    "REQUIRED_COLUMNS",
    "ROW_KEYS",
    "SELECT_METRICS",
    "STATUSES",
    "TABLES",
    "TARGET_METRICS",
    "TRIAL_BASE_SCHEMA",
    "TRIAL_PREFIXES",
    "TUNED_PREFIX",
    "FINAL_STAGE",
    "FIRST_STUDY",
    "STAGE_SELECTIONS",
    "ADAPTIVE_SEARCHES",
    "EXCHANGEABLE_SEARCHES",
    "PLANNED_SEARCHES",
    "SEARCH_KINDS",
    "Metric",
    "SearchKey",
    "is_adaptive",
    "is_exchangeable",
    "metric",
    "trial_id",
    "trial_schema",
]


class SearchKey(NamedTuple):
    """One search: (workload, protocol, optimizer). Also the Parquet partition of its rows.

    A plain tuple underneath, so ``SearchKey("w", "p", "o") == ("w", "p", "o")``.
    """

    workload: str
    protocol: str
    optimizer: str

    @classmethod
    def of_trial_id(cls, trial_id: str) -> SearchKey:
        """The search of a trial id ``W/P/O/NNNNN`` (or ``W/P/O/sS/NNNNN``, :func:`trial_id`)."""
        parts = trial_id.split("/")
        if len(parts) < 4:
            raise ValueError(f"trial id {trial_id!r} is not WORKLOAD/PROTOCOL/OPTIMIZER/INDEX")
        return cls(parts[0], parts[1], parts[2])

    def prefix(self) -> str:
        """``W/P/O``: the common prefix of the search's trial ids."""
        return "/".join(self)

    def partition_path(self) -> str:
        """``workload=W/protocol=P/optimizer=O``: the hive partition directory of its rows."""
        return "/".join(f"{k}={v}" for k, v in zip(PARTITION_KEYS, self, strict=True))


PARTITION_KEYS: tuple[str, str, str] = SearchKey._fields
"""Hive partition columns of both tables, outermost first; also the search key's fields."""

COMPLETED = "completed"
DIVERGED = "diverged"
FAILED = "failed"
STATUSES = (COMPLETED, DIVERGED, FAILED)
"""A trials row's ``status``: trained to its budget, stopped on a non-finite loss, or raised."""

SEARCH_PHASE = "search"
RERUN_PHASE = "rerun"
PROBE_PHASE = "probe"
PHASES = (SEARCH_PHASE, RERUN_PHASE, PROBE_PHASE)
"""A trials row's ``phase``: a planned search point, a rerun of a search's best point with a
new seed, or an inclusion probe (a narrower optimizer's best point imitated by a wider one, in the
wider one's partition); reruns and probes are outside the bootstrap."""

PLANNED_SEARCHES = ("quasirandom", "grid")
"""Protocol ``search:`` values whose points are planned before the run (exchangeable trials)."""
ADAPTIVE_SEARCHES = ("tpe", "gp", "cmaes", "random", "qmc")
"""Protocol ``search:`` values that name an Optuna sampler: the driver asks for each point when a
slot frees (:mod:`tuning.planners.adaptive`), so trials in ask order are not exchangeable."""
SEARCH_KINDS = PLANNED_SEARCHES + ADAPTIVE_SEARCHES
"""Every protocol ``search:`` value."""


EXCHANGEABLE_SEARCHES = PLANNED_SEARCHES + ("random", "qmc")
"""Searches whose points do not depend on the trials' results, so the best-of-K bootstrap
applies as it does to quasi-random search: the planned ones, and Optuna's ``random`` (i.i.d.
points) and ``qmc`` (its Halton sequence, as exchangeable as ours) samplers, which the driver
asks like the adaptive ones."""


def is_adaptive(search: str) -> bool:
    """Whether a protocol's ``search:`` names an Optuna sampler (the driver asks its points)."""
    return search in ADAPTIVE_SEARCHES


def is_exchangeable(search: str) -> bool:
    """Whether a protocol's trials are exchangeable (:data:`EXCHANGEABLE_SEARCHES`)."""
    return search in EXCHANGEABLE_SEARCHES


FINAL_STAGE = "final"
"""The ``stage`` of every trial of a one-stage protocol, and the name of a staged protocol's
last stage by convention: the stage rankings use by default. A staged protocol
(``stages:``, :mod:`tuning.planners.stages`) names its stages; rows written before stages existed have
no ``stage`` column and read as this."""
FIRST_STUDY = 0
"""The ``study`` of a config without ``studies:`` (and of rows written before studies existed):
study 0's trial ids and seeds are those of a single-study experiment."""
STAGE_SELECTIONS = ("final", "initial", "all")
"""What ``--stage`` may say besides a stage's own name: each protocol's last stage, its first
stage, or every stage."""


def trial_id(workload: str, protocol: str, optimizer: str, index: int, study: int = FIRST_STUDY) -> str:
    """``W/P/O/NNNNN`` (study 0) or ``W/P/O/sS/NNNNN`` (study S > 0), the index zero-padded to 5
    digits: unique within an experiment, and study 0's ids are those of a one-study plan."""
    middle = f"s{study}/" if study != FIRST_STUDY else ""
    return f"{workload}/{protocol}/{optimizer}/{middle}{index:05d}"


@dataclass(frozen=True)
class Metric:
    """One evaluated quantity.

    ``name`` is the column of the ``curves`` table (one value per evaluation) and ``column`` the
    column of the ``trials`` table that holds its value at the last evaluation. All metrics are
    lower-is-better. ``worst`` is the value a selection with no completed trial scores (an error
    rate cannot exceed 1; a loss is unbounded). ``select`` says whether a protocol may select
    trials by it (``val_error``, ``train_loss``: what tuning may look at; test metrics may not).
    """

    name: str
    kind: str
    """``error`` (a fraction of misclassified examples, in [0, 1]) or ``loss`` (cross-entropy)."""
    split: str
    """``train``, ``val`` or ``test``."""
    select: bool = False

    @property
    def column(self) -> str:
        return f"final_{self.name}"

    @property
    def worst(self) -> float:
        return 1.0 if self.kind == "error" else math.inf

    lower_is_better = True


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("val_error", "error", "val", select=True),
        Metric("test_error", "error", "test"),
        Metric("train_loss", "loss", "train", select=True),
        Metric("val_loss", "loss", "val"),
        Metric("test_loss", "loss", "test"),
    )
}
"""Every metric by name, validation error first: the order the CLI lists them in, and the order
:data:`SELECT_METRICS` (whose first is the default) takes. Column order is :data:`CURVE_METRICS`."""

SELECT_METRICS: tuple[str, ...] = tuple(n for n, m in METRICS.items() if m.select)
"""Metrics a protocol may select trials by (``select:``); the first is the default."""

CURVE_METRICS: tuple[str, ...] = ("train_loss", "val_error", "val_loss", "test_error", "test_loss")
"""The metric columns of a ``curves`` row, in column order."""

TARGET_METRICS: tuple[str, ...] = ("val_error", "val_loss")
"""Metrics a workload's ``target_metric`` may name (steps-to-target is measured on them)."""


def metric(name: str) -> Metric:
    """The metric called ``name``; ValueError listing the valid names otherwise."""
    try:
        return METRICS[name]
    except KeyError:
        raise ValueError(f"unknown metric {name!r}; valid choices: {', '.join(METRICS)}") from None


HP_PREFIX = "hp_"
"""``hp_<name>``: an optimizer or schedule hyperparameter as the trial used it."""
TUNED_PREFIX = "tuned_"
"""``tuned_<name>``: a search-space coordinate of the trial's point, in the space's own units
(e.g. ``tuned_one_minus_beta1``)."""
TRIAL_PREFIXES: dict[str, pa.DataType] = {HP_PREFIX: pa.float64(), TUNED_PREFIX: pa.float64()}
"""Prefixes of the per-search ``trials`` columns and their type."""

TRIAL_BASE_SCHEMA = pa.schema(
    [
        ("trial_id", pa.string()),
        ("trial_index", pa.int64()),
        ("seed", pa.int64()),
        ("attempt", pa.int64()),
        ("phase", pa.string()),
        ("stage", pa.string()),
        ("study", pa.int64()),
        ("status", pa.string()),
        *((METRICS[name].column, pa.float64()) for name in CURVE_METRICS),
        ("best_val_error", pa.float64()),
        ("best_val_step", pa.int64()),
        ("steps_to_target", pa.int64()),
        ("total_steps", pa.int64()),
        ("resumed_from_step", pa.int64()),
        ("wall_time_s", pa.float64()),
        ("train_time_s", pa.float64()),
        ("error", pa.string()),
    ]
)
"""Columns of every ``trials`` part file, partition columns excluded; ``hp_<name>`` then
``tuned_<name>`` float64 columns follow (:func:`trial_schema`)."""

CURVE_SCHEMA = pa.schema(
    [
        ("trial_id", pa.string()),
        ("attempt", pa.int64()),
        ("step", pa.int64()),
        ("learning_rate", pa.float64()),
        *((name, pa.float64()) for name in CURVE_METRICS),
        ("wall_time_s", pa.float64()),
    ]
)
"""Columns of every ``curves`` part file, partition columns excluded."""

REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "trials": ("trial_id", "attempt", "status"),
    "curves": ("trial_id", "attempt", "step"),
}
"""Columns without which a part file is foreign to its table (readers skip it)."""

ROW_KEYS: dict[str, tuple[str, ...]] = {
    "trials": ("trial_id", "attempt"),
    "curves": ("trial_id", "attempt", "step"),
}
"""What identifies one row of each table: a trial's attempt has one trials row and one curves
row per evaluated step. Readers keep one row per key (the last one read, in part-file path
order) when a driver wrote a row twice."""

TABLES: dict[str, pa.Schema] = {"trials": TRIAL_BASE_SCHEMA, "curves": CURVE_SCHEMA}
"""The two tables of an experiment and their fixed columns."""


def trial_schema(hp_names: Iterable[str] = (), tuned_names: Iterable[str] = ()) -> pa.Schema:
    """The trials schema of one search: base columns, ``hp_<name>`` then ``tuned_<name>``,
    each in sorted order."""
    schema = TRIAL_BASE_SCHEMA
    for name in sorted(hp_names):
        schema = schema.append(pa.field(f"{HP_PREFIX}{name}", pa.float64()))
    for name in sorted(tuned_names):
        schema = schema.append(pa.field(f"{TUNED_PREFIX}{name}", pa.float64()))
    return schema


def _check_tables() -> None:
    """The metric table and the schemas agree (checked once at import, also under ``python -O``)."""
    trial_columns = set(TRIAL_BASE_SCHEMA.names)
    for m in METRICS.values():
        if m.column not in trial_columns or m.name not in CURVE_SCHEMA.names:
            raise RuntimeError(f"metric {m.name!r} has no column in the trials or curves schema")
    if set(CURVE_METRICS) != set(METRICS):
        raise RuntimeError(f"CURVE_METRICS {CURVE_METRICS} and METRICS {tuple(METRICS)} differ")


_check_tables()
