"""Workloads: what a trial trains and how it is measured.

Public API: :class:`Workload`, :class:`Split`, :data:`IGNORE_INDEX`; the registry
(:func:`get`, :func:`get_class`, :func:`names`, :func:`register`); training one trial
(:func:`train`) or a bundle of trials (:func:`train_bundle`, :class:`BundleMember`,
:func:`bundle_supported`); what training produces (:class:`EvalRow`, :class:`TrialOutcome`);
run settings (:func:`resolve_run`, :func:`pick_device`).
"""

from .base import IGNORE_INDEX, Split, Workload
from .bundle import BundleMember, bundle_supported, train_bundle
from .device import pick_device
from .loop import train
from .outcome import EvalRow, TrialOutcome
from .registry import get, get_class, names, register
from .run import RunSettings, resolve_run

__all__ = [
    "IGNORE_INDEX",
    "BundleMember",
    "EvalRow",
    "RunSettings",
    "Split",
    "TrialOutcome",
    "Workload",
    "bundle_supported",
    "get",
    "get_class",
    "names",
    "pick_device",
    "register",
    "resolve_run",
    "train",
    "train_bundle",
]
