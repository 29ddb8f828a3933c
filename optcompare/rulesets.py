"""Rulesets a protocol may follow: how a published benchmark scores the searches it runs.

A protocol file's ``ruleset:`` block names a score from :data:`RULESET_SCORES` and the budget
the ruleset prescribes (``trials_per_study``, ``studies``). ``optcompare run`` warns when a
config's ``trials_per_search`` or ``studies`` differ from it, and the analysis
(:mod:`analysis.rulesets`) computes the named score for that protocol next to its own rankings.
"""

from __future__ import annotations

__all__ = ["MEDIAN_STUDY_BEST_STEPS", "RULESET_SCORES"]

MEDIAN_STUDY_BEST_STEPS = "median_study_best_steps"
"""AlgoPerf's external-tuning score, counted in steps: per study, the fewest steps to the
workload's target of any of the study's trials (+inf when none reached it); the score of a
workload is the median of those over the studies."""

RULESET_SCORES: dict[str, str] = {
    MEDIAN_STUDY_BEST_STEPS: "median over studies of each study's fewest steps to the target (AlgoPerf external tuning)",
}
"""Score name -> what it is, in a few words (``optcompare list`` and error messages)."""
