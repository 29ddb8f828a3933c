"""A staged protocol's ``stages:`` as read (:class:`StageFile`, :class:`Stage`) and how a search's trials split into them (:func:`stage_layout`); :mod:`tuning.planners.stages` plans the stages during a run."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, NamedTuple

from pydantic import PlainValidator, model_validator

from optcompare.errors import ParameterError
from optcompare.schema import (
    FINAL_STAGE,
)
from optcompare.validation import FieldError, Flag, StrictModel, integer
from tuning.spec.refine_rule import RefineRule

if TYPE_CHECKING:
    from tuning.spec.protocol import Protocol
    from tuning.spec.refine_rule import RefineRule

__all__ = [
    "RefineFile",
    "STAGE_NAME_RULE",
    "Stage",
    "StageFile",
    "StageSlot",
    "check_layout",
    "check_stages",
    "final_layout",
    "stage_layout",
    "stage_names",
    "stage_seed_parts",
]


STAGE_NAME_RULE = "a lowercase name of letters, digits, '_' or '-' (not 'all')"


def _stage_name(value: object) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[a-z][a-z0-9_-]*", value) or value == "all":
        raise ValueError(f"expected {STAGE_NAME_RULE}, got {value!r}")
    return value


def _fraction(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0 < value <= 1):
        raise ValueError(f"expected a number in (0, 1], got {value!r}")
    return float(value)


class RefineFile(StrictModel):
    """A stage's ``refine:`` (the parameters of :class:`tuning.plan.refine.RefineRule`)."""

    best_fraction: Annotated[float, PlainValidator(_fraction)] | None = None
    best_k: integer(2, optional=True) = None  # type: ignore[valid-type]  # pydantic type built by a call
    margin: float = 0.5
    edge: float = 0.05
    decoupled: Flag = False
    """Refine ``effective_learning_rate`` in place of ``learning_rate`` where a search tunes
    it with ``one_minus_momentum`` (:func:`tuning.plan.refine.decouple`)."""
    cover_inclusions: Flag = False
    """Widen a wide optimizer's refined space to hold the imitations of its narrow optimizers'
    best trials of the same stage (:mod:`tuning.plan.cover`); its next stage then waits for theirs."""

    @model_validator(mode="after")
    def _valid_rule(self) -> RefineFile:
        try:
            self.rule()
        except ParameterError as err:
            raise FieldError((err.parameter,), str(err).replace("{name}", err.parameter)) from None
        return self

    def rule(self) -> RefineRule:
        return RefineRule(self.best_fraction, self.best_k, self.margin, self.edge, self.decoupled)


class StageFile(StrictModel):
    """One entry of ``stages:``."""

    name: Annotated[str, PlainValidator(_stage_name)]
    fraction: Annotated[float, PlainValidator(_fraction)]
    refine: RefineFile | None = None


def check_stages(stages: list[StageFile], search: str) -> None:
    """The rules across stages (FieldError at ``stages...``): at least two, a quasi-random
    search, unique names, no ``refine`` on the first stage and one on every later stage,
    fractions summing to 1."""
    if search != "quasirandom":
        why = "a grid's points are the protocol itself" if search == "grid" else "a sampler adapts its points itself"
        raise FieldError(("stages",), f"only a quasirandom search has stages; this protocol's search is {search!r} ({why})")
    if len(stages) < 2:
        raise FieldError(("stages",), f"expected two or more stages, got {len(stages)} (a one-stage protocol needs no stages:)")
    names = [s.name for s in stages]
    for index, name in enumerate(names):
        if name in names[:index]:
            raise FieldError(("stages", index, "name"), f"stage {name!r} is named twice")
    if stages[0].refine is not None:
        raise FieldError(("stages", 0, "refine"), "the first stage searches the protocol's space; it has nothing to refine from")
    for index, stage in enumerate(stages[1:], start=1):
        if stage.refine is None:
            raise FieldError(("stages", index), f"stage {stage.name!r} needs refine: (how its space follows from stage {names[index - 1]!r})")
    total = math.fsum(s.fraction for s in stages)
    if abs(total - 1.0) > 1e-9:
        raise FieldError(("stages",), f"the stages' fractions must sum to 1, got {total:g}")


@dataclass(frozen=True)
class Stage:
    """A protocol's stage, as read: its name, fraction of the search's trials and refine rule
    (None for the first stage)."""

    name: str
    fraction: float
    refine: RefineFile | None = None

    def rule(self) -> RefineRule | None:
        """The refine rule of this stage (None for the first stage)."""
        return None if self.refine is None else self.refine.rule()


class StageSlot(NamedTuple):
    """A stage's trials in a search: indices ``first .. first + count - 1``."""

    stage: Stage
    first: int
    count: int  # type: ignore[assignment]  # the field shadows tuple.count on purpose


def stage_layout(stages: Iterable[Stage], trials_per_search: int) -> tuple[StageSlot, ...]:
    """Each stage's trial indices for ``trials_per_search`` trials (module docstring)."""
    slots, done, cumulative = [], 0, 0.0
    stages = list(stages)
    for index, stage in enumerate(stages):
        cumulative += stage.fraction
        end = trials_per_search if index == len(stages) - 1 else round(trials_per_search * cumulative)
        slots.append(StageSlot(stage, done, end - done))
        done = end
    return tuple(slots)


def check_layout(protocol: str, stages: Iterable[Stage], trials_per_search: int) -> str | None:
    """Why ``trials_per_search`` is too few for the stages (None when enough): every stage needs
    a trial, and every stage that is refined from needs two."""
    slots = stage_layout(stages, trials_per_search)
    for position, slot in enumerate(slots):
        need = 2 if position < len(slots) - 1 else 1
        if slot.count < need:
            counts = ", ".join(f"{s.stage.name} {s.count}" for s in slots)
            return (
                f"protocol {protocol!r} splits {trials_per_search} trials per search into {counts}; "
                f"stage {slot.stage.name!r} needs at least {need}: raise trials_per_search"
            )
    return None


def stage_seed_parts(study: int) -> tuple[str, ...]:
    """What a study adds to every derived seed: nothing for study 0 (its seeds are those of a
    one-study plan), ``("sS",)`` otherwise."""
    return (f"s{study}",) if study else ()


def stage_names(protocol: Protocol) -> list[str]:
    """``protocol``'s stage names in order (``[final]`` for a one-stage protocol)."""
    return [s.name for s in protocol.stages] if protocol.stages else [FINAL_STAGE]


def final_layout(protocols: Iterable[Protocol], trials_per_search: int) -> Mapping[str, StageSlot]:
    """Protocol name -> the slot of its last stage, for staged protocols."""
    return {p.name: stage_layout(p.stages, trials_per_search)[-1] for p in protocols if p.stages}
