"""Analysis: read Parquet results, bootstrap best-of-K, rank optimizers. No torch or ray needed.

Public API: :func:`load_experiment`, :func:`best_of_k`, :func:`expected_best_of_k`,
:func:`rank_optimizers`.
"""

from .bootstrap import BudgetCurve, best_of_k, expected_best_of_k
from .load import Loaded, load_experiment, load_table
from .ranking import METRICS, OptimizerScore, Ranking, rank_optimizers

__all__ = [
    "METRICS",
    "BudgetCurve",
    "Loaded",
    "OptimizerScore",
    "Ranking",
    "best_of_k",
    "expected_best_of_k",
    "load_experiment",
    "load_table",
    "rank_optimizers",
]
