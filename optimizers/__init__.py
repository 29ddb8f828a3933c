"""The generalized optimizer family of Choi et al. (2019): presets, registry, schedules,
inclusions.

The update's equations are in :mod:`optimizers.update`, whose one function
(:func:`optimizers.update.apply_update`) serves the single-tensor, foreach and bundled paths;
docs/method.md sets them beside the paper.

Public API: :func:`create` (how the other packages build an optimizer), :func:`names`,
:func:`get_spec`, :func:`register` with :class:`OptimizerSpec`, :func:`register_preset` (a new preset of the
generalized update), :func:`make_schedule`, :func:`imitate`, :func:`limit_gap`, :func:`register_inclusion` with
:class:`Inclusion`, :func:`check_inclusion` (returning an :class:`InclusionCheck`), and
:class:`BundledUpdate` (many trials in one update) with :func:`bundle_structure`. Bad input
(an unknown name, a value out of range) raises ``optcompare.errors.InputError``, a ValueError.
"""

from . import library as _library  # noqa: F401 - registers adamw, nadamw, lion, schedule-free-adamw
from . import presets as _presets  # noqa: F401 - registers the six built-in optimizers
from .bundled import BundledUpdate, bundle_structure
from .generalized import GeneralizedOptimizer, UpdateStructure
from .inclusion_check import InclusionCheck, check_inclusion, trajectory_gap
from .inclusions import (
    Imitation,
    Inclusion,
    imitate,
    inclusion_path,
    limit_gap,
    list_inclusions,
    register_inclusion,
)
from .presets import register_preset
from .registry import (
    HPARAM_RANGES,
    Interval,
    OptimizerSpec,
    check_schedule,
    create,
    get_spec,
    names,
    register,
    validate_hparams,
)
from .schedules import SCHEDULES, make_schedule

__all__ = [
    "BundledUpdate",
    "HPARAM_RANGES",
    "SCHEDULES",
    "GeneralizedOptimizer",
    "Imitation",
    "Inclusion",
    "InclusionCheck",
    "Interval",
    "OptimizerSpec",
    "UpdateStructure",
    "bundle_structure",
    "check_inclusion",
    "check_schedule",
    "create",
    "get_spec",
    "imitate",
    "inclusion_path",
    "limit_gap",
    "list_inclusions",
    "make_schedule",
    "names",
    "register",
    "register_inclusion",
    "register_preset",
    "trajectory_gap",
    "validate_hparams",
]
