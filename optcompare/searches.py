"""Trials rows grouped into searches: one (workload, protocol, optimizer), latest attempts only.

A trial that was retried has one ``trials`` row per finished attempt; only the row with the
highest ``attempt`` counts (on equal attempts, the row read last). Within a search, trials are
ordered by ``trial_index`` then ``trial_id``, so results do not depend on part-file order.
Rows are filtered by their ``phase`` column first: by default only ``search`` trials (the
planned search points; a null or missing phase counts as ``search``) make up a search, and the
``rerun`` trials of protocols that retrain the best point with new seeds are left out.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from optcompare.errors import InputError
from optcompare.schema import (
    COMPLETED,
    PARTITION_KEYS,
    PROBE_PHASE,
    REQUIRED_COLUMNS,
    RERUN_PHASE,
    SEARCH_PHASE,
    TUNED_PREFIX,
    SearchKey,
)

__all__ = [
    "COMPLETED", "PROBE_PHASE", "RERUN_PHASE", "SEARCH_PHASE", "Search", "SearchKey",
    "group_searches", "search_rng",
]

# ``phase``: SEARCH_PHASE (a planned search point; a null or missing phase reads as this),
# RERUN_PHASE (a search's best point with a new seed), PROBE_PHASE (an inclusion probe,
# :mod:`analysis.probes`); re-exported for the modules that filter by phase.

_SEP = "\x1f"


@dataclass(frozen=True, eq=False)
class Search:
    """The latest attempt of each trial of one search, as numpy columns.

    ``columns`` holds every numeric trials column as float64 (null -> NaN), e.g.
    ``final_val_error``, ``steps_to_target``, ``hp_learning_rate``, ``tuned_one_minus_beta1``.
    """

    workload: str
    protocol: str
    optimizer: str
    trial_id: np.ndarray
    status: np.ndarray
    columns: dict[str, np.ndarray] = field(repr=False)

    @property
    def key(self) -> SearchKey:
        return SearchKey(self.workload, self.protocol, self.optimizer)

    @property
    def n_trials(self) -> int:
        return len(self.trial_id)

    @property
    def completed(self) -> np.ndarray:
        """True for trials whose status is ``completed``."""
        return self.status == COMPLETED

    def column(self, name: str) -> np.ndarray:
        """A numeric column as float64; all NaN when the search's files lack it."""
        if name in self.columns:
            return self.columns[name]
        return np.full(self.n_trials, np.nan)

    def tuned_names(self) -> list[str]:
        """Names of the tuned coordinates with at least one value (``tuned_<name>`` columns)."""
        return sorted(
            c[len(TUNED_PREFIX) :]
            for c, v in self.columns.items()
            if c.startswith(TUNED_PREFIX) and np.isfinite(v).any()
        )


def search_rng(seed: int, key: SearchKey) -> np.random.Generator:
    """The bootstrap generator of one search: seeded by ``seed`` and the search's name, so the
    searches of a study are resampled independently and reproducibly."""
    name = _SEP.join(key).encode()
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, zlib.crc32(name)])


def _numeric(column: pa.ChunkedArray) -> np.ndarray | None:
    kind = column.type
    if not (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)):
        return None
    return pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)


def _numeric_or_nan(column: pa.ChunkedArray) -> np.ndarray:
    """``column`` as float64, or all NaN when it is not numeric."""
    values = _numeric(column)
    return np.full(len(column), np.nan) if values is None else values


def _sort_rank(values: pa.Array) -> np.ndarray:
    """Rank of each dictionary value in lexicographic order."""
    order = np.asarray(pc.sort_indices(values))
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return rank


def group_searches(trials: pa.Table, phases: tuple[str, ...] = (SEARCH_PHASE,)) -> dict[SearchKey, Search]:
    """Searches of a trials table, keyed and sorted by (workload, protocol, optimizer).

    Only rows whose ``phase`` is in ``phases`` count (null or no ``phase`` column: ``search``).
    A table without rows (an experiment with no finished trial yet) has no searches, whatever
    its columns; a table with rows must have the partition columns, ``trial_id``, ``attempt``
    and ``status``.
    """
    if "phase" in trials.column_names:
        phase = pc.fill_null(pc.cast(trials.column("phase"), pa.string()), SEARCH_PHASE)
        trials = trials.filter(pc.is_in(phase, value_set=pa.array(list(phases), pa.string())))
    if trials.num_rows == 0:
        return {}
    missing = [c for c in (*PARTITION_KEYS, *REQUIRED_COLUMNS["trials"]) if c not in trials.column_names]
    if missing:
        raise InputError(
            f"trials table lacks column(s) {', '.join(missing)}; read it with analysis.load_results"
        )
    strings = [pc.cast(pc.fill_null(trials.column(c), ""), pa.string()) for c in PARTITION_KEYS]
    search_enc = pc.binary_join_element_wise(*strings, _SEP).combine_chunks().dictionary_encode()
    tid = pc.cast(pc.fill_null(trials.column("trial_id"), ""), pa.string())
    trial_enc = pc.binary_join_element_wise(*strings, tid, _SEP).combine_chunks().dictionary_encode()
    search_code = _sort_rank(search_enc.dictionary)[np.asarray(search_enc.indices)]
    trial_code = _sort_rank(trial_enc.dictionary)[np.asarray(trial_enc.indices)]
    attempt = np.nan_to_num(_numeric_or_nan(trials.column("attempt")), nan=-1.0)
    rows = np.arange(trials.num_rows)
    order = np.lexsort((rows, attempt, trial_code))
    sorted_codes = trial_code[order]
    latest = order[np.r_[sorted_codes[1:] != sorted_codes[:-1], True]]
    if "trial_index" in trials.column_names:
        index = np.nan_to_num(_numeric_or_nan(trials.column("trial_index"))[latest], nan=np.inf)
    else:
        index = np.zeros(len(latest))
    latest = latest[np.lexsort((trial_code[latest], index, search_code[latest]))]
    taken = trials.take(pa.array(latest))
    numeric = {}
    for name in taken.column_names:
        if name in PARTITION_KEYS:
            continue
        values = _numeric(taken.column(name))
        if values is not None:
            numeric[name] = values
    codes = search_code[latest]
    bounds = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1], True])
    keys = search_enc.dictionary.to_pylist()
    by_rank = {int(r): keys[i] for i, r in enumerate(_sort_rank(search_enc.dictionary))}
    trial_ids = np.asarray(taken.column("trial_id").to_pylist(), dtype=object)
    status = np.asarray(pc.fill_null(taken.column("status"), "").to_pylist(), dtype=object)
    searches: dict[SearchKey, Search] = {}
    for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
        w, p, o = by_rank[int(codes[start])].split(_SEP)
        part = slice(int(start), int(stop))
        searches[SearchKey(w, p, o)] = Search(
            w, p, o, trial_ids[part], status[part], {k: v[part] for k, v in numeric.items()}
        )
    return searches
