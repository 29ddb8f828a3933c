"""The generalized optimizer family of Choi et al. (2019): presets, registry, schedules.

Public API: :func:`create` (contract 1 of DESIGN.md), :func:`names`, :func:`get_spec`,
:func:`register`, :func:`make_schedule`.
"""

from . import presets as _presets  # noqa: F401 - registers the six built-in optimizers
from .generalized import GeneralizedOptimizer, UpdateStructure
from .registry import (
    HPARAM_RANGES,
    OptimizerSpec,
    create,
    get_spec,
    names,
    register,
    validate_hparams,
)
from .schedules import SCHEDULES, make_schedule

__all__ = [
    "HPARAM_RANGES",
    "SCHEDULES",
    "GeneralizedOptimizer",
    "OptimizerSpec",
    "UpdateStructure",
    "create",
    "get_spec",
    "make_schedule",
    "names",
    "register",
    "validate_hparams",
]
