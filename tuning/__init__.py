"""Tuning: search spaces and protocols as data, quasi-random points, plans, the Ray Tune driver,
and the Parquet result sink.

Public API: :func:`sample`, :func:`load_protocol`, :func:`load_config`, :func:`resolve_plan`,
:func:`run_study` with its :class:`StudyOptions` and :class:`RayTarget`, :func:`start_ray`,
:func:`resume_experiment`, :func:`submit_study`, :class:`ResultSink`, :func:`load_plugins`,
:class:`RerunPlanner` and :class:`ProbePlanner` (reruns and inclusion probes planned from results);
refining a search space from a finished study: :class:`RefineRule`, :func:`refine_search`,
:func:`refine_protocol`, :func:`refine_experiment`, :func:`write_refined_protocol`.
Every name is imported on first use, so ``import tuning`` stays free of torch, ray and scipy:
a trial's worker process imports ``tuning.worker`` only, and scipy.stats (``sample``'s Halton
sequence) alone would add about 1.6 s to each worker's start.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "sample": "tuning.plan.quasirandom",
    "load_protocol": "tuning.spec.protocol",
    "Protocol": "tuning.spec.protocol",
    "load_config": "tuning.spec.config",
    "ExperimentConfig": "tuning.spec.config",
    "resolve_plan": "tuning.plan.resolve",
    "PlannedTrial": "tuning.plan.trial",
    "run_study": "tuning.driver.run_study",
    "StudyOptions": "tuning.driver.study_options",
    "RayTarget": "tuning.driver.ray_env",
    "start_ray": "tuning.driver.ray_env",
    "StudySummary": "tuning.driver.study_summary",
    "ResultSink": "tuning.store.sink",
    "create_experiment": "tuning.store.experiment",
    "acquire": "tuning.store.lease",
    "LeaseHeld": "tuning.store.lease",
    "StudyInterrupted": "tuning.driver.signals",
    "resume_experiment": "tuning.commands.resume",
    "load_resume_state": "tuning.commands.resume",
    "submit_study": "tuning.commands.submit",
    "RerunPlanner": "tuning.planners.reruns",
    "ProbePlanner": "tuning.planners.probes",
    "load_plugins": "tuning.spec.plugins",
    "RefineRule": "tuning.spec.refine_rule",
    "refine_search": "tuning.plan.refine",
    "refine_protocol": "tuning.plan.refine",
    "refine_experiment": "tuning.commands.refine_experiment",
    "write_refined_protocol": "tuning.plan.refine",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:  # noqa: ANN401
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tuning' has no attribute {name!r}")
