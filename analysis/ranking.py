"""Optimizer rankings per (workload, protocol) at a search budget, from bootstrapped best trials."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pyarrow as pa

from .bootstrap import best_of_k

__all__ = ["METRICS", "OptimizerScore", "Ranking", "rank_optimizers"]

METRICS: dict[str, tuple[str, float]] = {
    "val_error": ("final_val_error", 1.0),
    "test_error": ("final_test_error", 1.0),
    "train_loss": ("final_train_loss", math.inf),
    "val_loss": ("final_val_loss", math.inf),
    "test_loss": ("final_test_loss", math.inf),
}
"""Metric name -> (trials column, worst value scored by a draw with no completed trial)."""


@dataclass(frozen=True)
class OptimizerScore:
    optimizer: str
    rank: int
    n_trials: int
    mean: float
    p05: float
    p95: float


@dataclass(frozen=True)
class Ranking:
    workload: str
    protocol: str
    optimizers: list[OptimizerScore]

    def as_dict(self) -> dict:
        return asdict(self)


def _latest_attempts(table: pa.Table) -> dict[str, np.ndarray]:
    """Columns as numpy, keeping only the last attempt of each trial id."""
    cols = table.to_pydict()
    latest: dict[tuple, int] = {}
    for i, (w, p, o, tid, att) in enumerate(
        zip(cols["workload"], cols["protocol"], cols["optimizer"], cols["trial_id"], cols["attempt"], strict=True)
    ):
        key = (w, p, o, tid)
        if key not in latest or att >= cols["attempt"][latest[key]]:
            latest[key] = i
    keep = sorted(latest.values())
    return {k: np.asarray([v[i] for i in keep], dtype=object) for k, v in cols.items()}


def rank_optimizers(
    trials: pa.Table,
    *,
    budget: int | None = None,
    select: str = "val_error",
    report: str = "test_error",
    n_resamples: int = 1000,
    seed: int = 0,
) -> tuple[int, list[Ranking]]:
    """(budget used, rankings): optimizers of each (workload, protocol) by bootstrapped mean.

    ``budget`` defaults to the smallest number of trials of any search, so every optimizer is
    compared at a budget it actually ran. Lower is better; ties keep alphabetical order.
    """
    for name in (select, report):
        if name not in METRICS:
            raise ValueError(f"unknown metric {name!r}; valid choices: {', '.join(METRICS)}")
    if trials.num_rows == 0:
        raise ValueError("the experiment has no finished trials yet; run or resume it first")
    cols = _latest_attempts(trials)
    groups: dict[tuple[str, str], dict[str, np.ndarray]] = {}
    for w, p, o in sorted(set(zip(cols["workload"], cols["protocol"], cols["optimizer"], strict=True))):
        mask = (cols["workload"] == w) & (cols["protocol"] == p) & (cols["optimizer"] == o)
        groups.setdefault((w, p), {})[o] = mask
    if budget is None:
        budget = min(int(m.sum()) for g in groups.values() for m in g.values())
    if budget < 1:
        raise ValueError(f"budget must be >= 1, got {budget}")
    select_col, _ = METRICS[select]
    report_col, worst = METRICS[report]
    rankings = []
    for (w, p), by_opt in groups.items():
        scores = []
        for o, mask in by_opt.items():
            valid = cols["status"][mask] == "completed"
            curve = best_of_k(
                np.asarray(cols[select_col][mask], dtype=float),
                np.asarray(cols[report_col][mask], dtype=float),
                valid.astype(bool),
                [budget],
                n_resamples=n_resamples,
                worst=worst,
                rng=seed,
            )
            scores.append((float(curve.mean[0]), o, int(mask.sum()), float(curve.p05[0]), float(curve.p95[0])))
        scores.sort(key=lambda s: (s[0], s[1]))
        rankings.append(
            Ranking(
                w,
                p,
                [OptimizerScore(o, r + 1, n, mean, lo, hi) for r, (mean, o, n, lo, hi) in enumerate(scores)],
            )
        )
    return budget, rankings
