"""The Optuna samplers a protocol's ``search:`` may name, with their options (:data:`SAMPLERS`, :func:`check_sampler`)."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from pydantic import ValidationError

from optcompare.schema import (
    ADAPTIVE_SEARCHES,
    is_adaptive,
)
from optcompare.validation import FieldError, Flag, StrictModel, integer, one_of

if TYPE_CHECKING:
    from optuna.samplers import BaseSampler

__all__ = [
    "CmaEsOptions",
    "GpOptions",
    "QmcOptions",
    "RandomOptions",
    "SAMPLERS",
    "Sampler",
    "TpeOptions",
    "check_sampler",
]



class TpeOptions(StrictModel):
    """``search: tpe`` (:class:`optuna.samplers.TPESampler`; Optuna's defaults)."""

    n_startup_trials: integer(0) = 10  # type: ignore[valid-type]  # pydantic type built by a call
    n_ei_candidates: integer(1) = 24  # type: ignore[valid-type]  # pydantic type built by a call
    multivariate: Flag = True
    group: Flag = False
    constant_liar: Flag = True


class GpOptions(StrictModel):
    """``search: gp`` (:class:`optuna.samplers.GPSampler`; needs torch and scipy)."""

    n_startup_trials: integer(0) = 10  # type: ignore[valid-type]  # pydantic type built by a call
    deterministic_objective: Flag = False


class CmaEsOptions(StrictModel):
    """``search: cmaes`` (:class:`optuna.samplers.CmaEsSampler`; needs the ``cmaes`` package)."""

    n_startup_trials: integer(0) = 1  # type: ignore[valid-type]  # pydantic type built by a call
    popsize: integer(1, optional=True) = None  # type: ignore[valid-type]  # pydantic type built by a call
    use_separable_cma: Flag = False
    with_margin: Flag = False
    lr_adapt: Flag = False


class RandomOptions(StrictModel):
    """``search: random`` (:class:`optuna.samplers.RandomSampler`): no options."""

    allowed_keys: ClassVar[str] = "none (the random sampler takes no options)"


class QmcOptions(StrictModel):
    """``search: qmc`` (:class:`optuna.samplers.QMCSampler`, Halton by default, scrambled so that
    each study draws its own sequence)."""

    qmc_type: one_of(("halton", "sobol")) = "halton"  # type: ignore[valid-type]  # pydantic type built by a call
    scramble: Flag = True


def _tpe(options: TpeOptions, seed: int) -> BaseSampler:
    from optuna.samplers import TPESampler

    return TPESampler(seed=seed, **options.model_dump())


def _gp(options: GpOptions, seed: int) -> BaseSampler:
    from optuna.samplers import GPSampler

    return GPSampler(seed=seed, warn_independent_sampling=False, **options.model_dump())


def _cmaes(options: CmaEsOptions, seed: int) -> BaseSampler:
    from optuna.samplers import CmaEsSampler

    return CmaEsSampler(seed=seed, warn_independent_sampling=False, **options.model_dump())


def _random(options: RandomOptions, seed: int) -> BaseSampler:
    del options
    from optuna.samplers import RandomSampler

    return RandomSampler(seed=seed)


def _qmc(options: QmcOptions, seed: int) -> BaseSampler:
    from optuna.samplers import QMCSampler

    return QMCSampler(
        seed=seed, warn_asynchronous_seeding=False, warn_independent_sampling=False,
        **options.model_dump(),
    )


class Sampler(NamedTuple):
    """One sampler a protocol's ``search:`` may name."""

    options: type[StrictModel]
    """Its ``sampler_options`` (unknown keys and wrong types refused)."""
    build: Callable[[Any, int], BaseSampler]
    """(validated options, seed) -> the Optuna sampler."""
    requires: tuple[str, ...] = ()
    """Python packages it imports when it samples."""
    stateful: bool = False
    """Keeps state in the study's storage (rebuilt by replaying each row through the sampler)."""
    finite_only: bool = False
    """Needs finite values (a diverged trial with an infinite worst value is told FAIL)."""
    seed_per_ask: bool = True
    """Ask ``i`` uses its own seed (QMC: one seed, one sequence)."""


SAMPLERS: dict[str, Sampler] = {
    "tpe": Sampler(TpeOptions, _tpe),
    "gp": Sampler(GpOptions, _gp, requires=("torch", "scipy")),
    "cmaes": Sampler(CmaEsOptions, _cmaes, requires=("cmaes",), stateful=True, finite_only=True),
    "random": Sampler(RandomOptions, _random),
    "qmc": Sampler(QmcOptions, _qmc, requires=("scipy",), stateful=True, seed_per_ask=False),
}
"""Sampler name -> how to build it; the names are :data:`optcompare.schema.ADAPTIVE_SEARCHES`."""


def check_sampler(search: str, options: Mapping[str, Any] | None) -> dict[str, Any]:
    """The validated ``sampler_options`` of ``search`` (defaults filled in); FieldError at
    ``search`` or ``sampler_options...``: options under a planned search, an unknown option or
    one of the wrong type, or a sampler whose packages are not installed."""
    if not is_adaptive(search):
        if options is not None:
            raise FieldError(
                ("sampler_options",),
                f"only an adaptive search ({', '.join(ADAPTIVE_SEARCHES)}) takes sampler_options; "
                f"this protocol's search is {search!r}. Remove sampler_options, or name a sampler "
                "under search:",
            )
        return {}
    sampler = SAMPLERS[search]
    missing = [name for name in sampler.requires if importlib.util.find_spec(name) is None]
    if missing:
        raise FieldError(
            ("search",),
            f"the {search!r} sampler needs the Python package {missing[0]!r}, which is not installed; "
            f"install it (pip install {missing[0]}) or choose another of {', '.join(ADAPTIVE_SEARCHES)}",
        )
    try:
        validated = sampler.options.model_validate({} if options is None else options)
    except ValidationError as err:
        raise _field_error(err, ("sampler_options",)) from None
    return validated.model_dump()


def _field_error(err: ValidationError, prefix: tuple[str, ...]) -> FieldError:
    """The first problem of ``err`` as a FieldError below ``prefix`` (the protocol's reader
    then names the file, line and field path)."""
    error = err.errors(include_url=False)[0]
    loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and p.startswith("<")))
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, FieldError):
        return FieldError((*prefix, *loc, *cause.path), cause.message, at_key=cause.at_key)
    if isinstance(cause, ValueError):
        return FieldError((*prefix, *loc), str(cause))
    return FieldError((*prefix, *loc), f"{error['msg']}, got {error.get('input')!r}")
