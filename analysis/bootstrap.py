"""Bootstrap over search budgets (docs/method.md).

From ``n`` finished trials of one search, estimate what a search of ``K`` trials finds: draw K
trials with replacement, keep the one with the lowest selection metric, record its reported
metric; repeat ``n_resamples`` times. With trial indices ``i_1 .. i_K`` drawn uniformly from
``{0 .. n - 1}`` in resample ``b``, and ``V`` the valid (completed, finite selection value)
trials among them, the sample is

    s_b(K) = report[argmin_{i in V} (select[i], i)]   if V is not empty, else worst,

and a curve reports the mean and the 5th / 95th percentiles of ``s_b(K)`` over ``b``.

All budgets come from one draw of ``K_max`` indices per resample: the best of the first K draws
is a running minimum, so every K costs one pass. Draws are generated budget-major (draw k of
every resample, then draw k + 1), so for a given seed the samples at budget K are the same
whichever other budgets are requested. The draws are taken in blocks of at most
:data:`CHUNK_DRAWS` numbers (a block holds consecutive draw rows of every resample), so memory
stays bounded for large ``K_max * n_resamples``; the generator's stream, and so every sample, is
the same as with one block.

Trials that did not complete (diverged, failed, or a non-finite selection metric) stay in the
pool, because they spent budget, but are never selected while a completed trial is in the draw;
a draw with no completed trial scores ``worst`` (error 1.0, loss +inf).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from optcompare.errors import InputError

from .checks import check_budgets, check_resamples

__all__ = ["CHUNK_DRAWS", "BudgetCurve", "best_of_k", "expected_best_of_k"]

CHUNK_DRAWS = 1 << 22
"""Most trial indices drawn at once by :func:`best_of_k` (32 MiB of int64)."""


@dataclass(frozen=True)
class BudgetCurve:
    """Bootstrapped best-trial metric per budget: ``samples[i]`` has one value per resample."""

    budgets: np.ndarray
    mean: np.ndarray
    p05: np.ndarray
    p95: np.ndarray
    samples: np.ndarray
    """Shape (len(budgets), n_resamples)."""

    @classmethod
    def of_samples(
        cls, budgets: np.ndarray, samples: np.ndarray, percentile_method: str = "linear"
    ) -> BudgetCurve:
        """The curve of ``samples`` (one row per budget): their mean and 5th / 95th percentiles
        (``np.percentile`` with ``percentile_method``) over each row."""
        return cls(
            budgets=budgets,
            mean=samples.mean(axis=1),
            p05=np.percentile(samples, 5, axis=1, method=percentile_method),  # type: ignore[call-overload]  # method: a checked str, numpy types a Literal
            p95=np.percentile(samples, 95, axis=1, method=percentile_method),  # type: ignore[call-overload]  # as p05
            samples=samples,
        )

    def index_of(self, budget: int) -> int:
        """Row of ``budget`` in ``samples``; InputError when it was not bootstrapped."""
        hits = np.flatnonzero(self.budgets == budget)
        if len(hits) == 0:
            raise InputError(
                f"budget {budget} was not bootstrapped (budgets: {self.budgets.tolist()}); "
                "include it in the budgets passed to the bootstrap"
            )
        return int(hits[0])


def _selection_order(select: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Trial indices best first: valid trials by ``select`` (ties by index), invalid last."""
    key = np.where(valid & np.isfinite(select), select, np.inf)
    return np.lexsort((np.arange(len(key)), key))


def _check(select: np.ndarray, report: np.ndarray, valid: np.ndarray) -> None:
    if not (select.shape == report.shape == valid.shape) or select.ndim != 1:
        raise InputError(
            f"select, report and valid must be 1-D of equal length, got shapes "
            f"{select.shape}, {report.shape}, {valid.shape}"
        )
    if len(select) == 0:
        raise InputError("no trials to bootstrap: a search needs at least one finished trial")


def _best_ranks(gen: np.random.Generator, rank_of: np.ndarray, ks: np.ndarray, n_resamples: int) -> np.ndarray:
    """best[i, b] = min over draws d < ks[i] of rank_of[draw d of resample b]: a running minimum
    over blocks of draw rows (module doc), recorded at each budget in ``ks`` (ascending)."""
    rows = max(1, CHUNK_DRAWS // n_resamples)
    best = np.full(n_resamples, len(rank_of), dtype=np.int64)
    out = np.empty((len(ks), n_resamples), dtype=np.int64)
    done = 0
    i = 0
    while i < len(ks):
        block = rank_of[gen.integers(0, len(rank_of), size=(min(rows, int(ks[-1]) - done), n_resamples))]
        running = np.minimum.accumulate(np.vstack([best[None, :], block]), axis=0)
        while i < len(ks) and ks[i] <= done + len(block):
            out[i] = running[ks[i] - done]
            i += 1
        best = running[-1]
        done += len(block)
    return out


def best_of_k(
    select: Sequence[float] | np.ndarray,
    report: Sequence[float] | np.ndarray,
    valid: Sequence[bool] | np.ndarray,
    budgets: Sequence[int],
    *,
    n_resamples: int = 1000,
    worst: float = 1.0,
    rng: np.random.Generator | int | None = 0,
    percentile_method: str = "linear",
) -> BudgetCurve:
    """Bootstrapped reported metric of the best-by-``select`` trial for each budget K.

    For resample b and budget K: draw K trial indices uniformly with replacement, keep the
    drawn trial with the lowest ``select`` among valid ones (ties: lowest index), score its
    ``report``; score ``worst`` when no valid trial was drawn. ``mean``, ``p05``, ``p95`` are
    over resamples (``np.percentile`` with ``percentile_method``; use ``"inverted_cdf"`` when
    ``worst`` is infinite, so percentiles are order statistics rather than inf - inf).
    """
    select_a = np.asarray(select, dtype=float)
    report_a = np.asarray(report, dtype=float)
    valid_a = np.asarray(valid, dtype=bool) & np.isfinite(select_a)
    _check(select_a, report_a, valid_a)
    ks = np.asarray(check_budgets(budgets, "budgets"))
    n_resamples = check_resamples(n_resamples)
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    order = _selection_order(select_a, valid_a)
    rank_of = np.empty(len(order), dtype=np.int64)
    rank_of[order] = np.arange(len(order))
    # Reported value of the trial at each selection rank; invalid trials score `worst`.
    value_at_rank = np.where(valid_a[order], report_a[order], worst)
    best_rank = _best_ranks(gen, rank_of, ks, n_resamples)  # (len(ks), n_resamples)
    return BudgetCurve.of_samples(ks, value_at_rank[best_rank], percentile_method)


def expected_best_of_k(
    select: Sequence[float], report: Sequence[float], valid: Sequence[bool], k: int, worst: float = 1.0
) -> float:
    """Exact expectation of the bootstrap mean for budget ``k`` (no sampling).

    With trials sorted best first, the i-th (0-based) is the best of K draws with probability
    ((n - i) / n)^K - ((n - i - 1) / n)^K.
    """
    select_a = np.asarray(select, dtype=float)
    report_a = np.asarray(report, dtype=float)
    valid_a = np.asarray(valid, dtype=bool) & np.isfinite(select_a)
    _check(select_a, report_a, valid_a)
    order = _selection_order(select_a, valid_a)
    n = len(order)
    i = np.arange(n)
    weights = ((n - i) / n) ** k - ((n - i - 1) / n) ** k
    values = np.where(valid_a[order], report_a[order], worst)
    return float(np.dot(weights, values))
