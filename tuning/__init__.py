"""Tuning: search spaces and protocols as data, quasi-random points, plans, the Ray Tune driver,
and the Parquet result sink.

Public API: :func:`sample`, :func:`load_protocol`, :func:`load_config`, :func:`resolve_plan`,
:func:`run_study` with its :class:`StudyOptions` and :class:`RayTarget`, :func:`start_ray`,
:func:`resume_experiment`, :func:`submit_study`, :class:`ResultSink`, :func:`load_plugins`,
:class:`RerunPlanner` and :class:`ProbePlanner` (reruns and inclusion probes planned from results);
refining a search space from a finished study: :class:`RefineRule`, :func:`refine_search`,
:func:`refine_protocol`, :func:`refine_experiment`, :func:`write_refined_protocol`.
Names other than ``sample`` are imported on first use, so ``import tuning`` stays free of torch
and ray.
"""

from __future__ import annotations

import importlib
from typing import Any

from tuning.quasirandom import sample

_LAZY = {
    "load_protocol": "tuning.protocol",
    "Protocol": "tuning.protocol",
    "load_config": "tuning.config",
    "ExperimentConfig": "tuning.config",
    "resolve_plan": "tuning.plan",
    "PlannedTrial": "tuning.plan",
    "run_study": "tuning.driver",
    "StudyOptions": "tuning.study_options",
    "RayTarget": "tuning.ray_env",
    "start_ray": "tuning.ray_env",
    "StudySummary": "tuning.study_summary",
    "ResultSink": "tuning.sink",
    "create_experiment": "tuning.experiment",
    "acquire": "tuning.lease",
    "LeaseHeld": "tuning.lease",
    "StudyInterrupted": "tuning.signals",
    "resume_experiment": "tuning.resume",
    "load_resume_state": "tuning.resume",
    "submit_study": "tuning.submit",
    "RerunPlanner": "tuning.reruns",
    "ProbePlanner": "tuning.probes",
    "load_plugins": "tuning.plugins",
    "RefineRule": "tuning.refine",
    "refine_search": "tuning.refine",
    "refine_protocol": "tuning.refine",
    "refine_experiment": "tuning.refine",
    "write_refined_protocol": "tuning.refine",
}

__all__ = ["sample", *_LAZY]


def __getattr__(name: str) -> Any:  # noqa: ANN401
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tuning' has no attribute {name!r}")
