"""Workloads: what a trial trains and how it is measured.

Public API: :class:`Workload`, :class:`Split`, :func:`get`, :func:`get_class`, :func:`names`,
:func:`register`, :func:`train`, :class:`EvalRow`, :class:`TrialOutcome`,
:func:`pick_device`, :data:`IGNORE_INDEX`.
"""

from .base import IGNORE_INDEX, Split, Workload
from .loop import EvalRow, TrialOutcome, pick_device, train
from .registry import get, get_class, names, register

__all__ = [
    "IGNORE_INDEX",
    "EvalRow",
    "Split",
    "TrialOutcome",
    "Workload",
    "get",
    "get_class",
    "names",
    "pick_device",
    "register",
    "train",
]
