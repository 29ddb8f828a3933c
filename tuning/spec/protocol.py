"""Tuning protocols as data: what is tuned, over which space, and what stays fixed.

A protocol file (YAML) names a learning-rate schedule and, per optimizer, a value for each
hyperparameter in *tuned coordinates* (:mod:`optcompare.coordinates`: ``one_minus_beta1``,
``learning_rate_over_epsilon``, or a hyperparameter's or schedule parameter's own name): a
number (fixed), ``{min, max, scaling}`` or ``{feasible_points}`` (searched, see
:mod:`optcompare.space`). Hyperparameters a protocol does not mention keep the optimizer's defaults.

Beyond the plain forms, a searched coordinate may carry:

- ``from_trials: N`` (quasi-random searches only): searched only when a search has at least N
  trials (the tuning playbook's budget ladder); below that it keeps the optimizer's default.
- ``num: K`` (grid searches only): a range becomes K grid points, evenly spaced in its scaling,
  ends included.

Top-level ``schedules: {OPTIMIZER: SCHEDULE}`` gives an optimizer a schedule other than the
protocol's ``schedule:`` (e.g. ``constant`` for ``schedule-free-adamw``, whose averaging replaces
a decay, in a protocol whose other optimizers decay); its entry then takes that schedule's
parameters.

Top-level ``search: quasirandom`` (scrambled Halton, ``trials_per_search`` points),
``search: grid`` (the Cartesian product of every coordinate's points, whatever
``trials_per_search`` says) or an Optuna sampler (``tpe``, ``gp``, ``cmaes``, ``random``,
``qmc``: an adaptive search, :mod:`tuning.planners.adaptive`, which asks ``trials_per_search`` points
during the run) with its options as data under ``sampler_options:`` (e.g.
``{n_startup_trials: 10}``; only adaptive searches take them), and ``rerun_best: {seeds: N}``: once a search's trials have all
finished, its best trial by ``select`` is trained again with N new seeds (DeepOBS).

Top-level ``ruleset: {score, trials_per_study, studies}`` says the protocol follows a published
benchmark's ruleset (:mod:`optcompare.rulesets`; e.g. AlgoPerf's external tuning): the analysis
computes its score, and a config whose budget differs from the ruleset's is warned.

The file is validated once, when read: its shape by :class:`ProtocolFile`, each entry against
its optimizer and the schedule by :func:`tuning.spec.search.bind_search`. An optimizer the protocol
does not list gets its registered default search space adapted to the protocol
(:func:`tuning.spec.default_search.default_search`); :meth:`Protocol.bound` resolves those for the
optimizers of a config, once.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, PlainValidator, ValidationError, WrapValidator

import optimizers
from optcompare.errors import InputError
from optcompare.rulesets import RULESET_SCORES
from optcompare.schema import SELECT_METRICS
from optcompare.validation import Count, FieldError, Flag, Marks, StrictModel, Text, one_of, reading
from tuning.spec.default_search import default_search
from tuning.spec.protocol_files import protocol_path
from tuning.spec.samplers import check_sampler
from tuning.spec.search import Entries, SearchKind, SearchSpec, bind_search
from tuning.spec.stages import Stage, StageFile, check_stages
from tuning.spec.yaml_io import read_yaml_marked

__all__ = [
    "Protocol",
    "ProtocolFile",
    "RulesetFile",
    "load_protocol",
    "parse_protocol",
]

def _protocol_name(name: object) -> str:
    optimizers.registry.check_name("protocol", name)  # ValueError: not a path component
    assert isinstance(name, str)  # check_name refuses anything else
    return name


def _rerun_best(value: object, handler: Any) -> Any:  # noqa: ANN401
    try:
        return handler(value)
    except ValidationError:
        raise ValueError(f"expected {{seeds: N}} with N >= 1, got {value!r}") from None


class RerunBest(StrictModel):
    """``rerun_best: {seeds: N}``."""

    seeds: Count


class RulesetFile(StrictModel):
    """``ruleset: {score, trials_per_study, studies}``: the protocol follows a published
    benchmark's ruleset (:mod:`optcompare.rulesets`)."""

    score: one_of(tuple(RULESET_SCORES))  # type: ignore[valid-type]  # pydantic type built by a call
    trials_per_study: Count
    studies: Count


class ProtocolFile(StrictModel):
    """A protocol file as written."""

    name: Annotated[str, PlainValidator(_protocol_name)]
    description: Text = ""
    schedule: one_of(lambda: tuple(optimizers.SCHEDULES))  # type: ignore[valid-type]  # pydantic type built by a call
    schedules: dict[str, one_of(lambda: tuple(optimizers.SCHEDULES))] | None = None  # type: ignore[valid-type]  # pydantic type built by a call
    """Per-optimizer schedules that replace ``schedule`` for the optimizers named (module doc)."""
    search: SearchKind = "quasirandom"
    select: one_of(SELECT_METRICS) = "val_error"  # type: ignore[valid-type]  # pydantic type built by a call
    optimizers: Entries
    rerun_best: Annotated[RerunBest, WrapValidator(_rerun_best)] | None = None
    stages: list[StageFile] | None = None
    sampler_options: dict[str, Any] | None = None
    """Options of the sampler ``search:`` names (checked against it by
    :func:`tuning.spec.samplers.check_sampler`)."""
    ruleset: RulesetFile | None = None
    """The published ruleset the protocol follows (its score is computed by the analysis)."""
    narrow_by_design: Flag = False
    """The protocol's spaces are narrow on purpose (a published narrow protocol): the
    space-inclusion check (:mod:`tuning.plan.space_inclusion`) classifies its pairs without warning."""


class Protocol(StrictModel):
    """A loaded, validated protocol: its searches per optimizer, in tuned coordinates."""

    name: str
    description: str = ""
    schedule: str
    schedules: dict[str, str] = Field(default_factory=dict)
    """``schedules:``: optimizers whose schedule is not ``schedule`` (:meth:`schedule_for`)."""
    search: str = "quasirandom"
    select: str = "val_error"
    searches: dict[str, SearchSpec]
    """The protocol's own entries (and, once :meth:`bound`, defaults for the other optimizers)."""
    source: str
    raw: dict[str, Any] = Field(repr=False)
    """The file as written (recorded in experiment.json, parsed again on resume)."""
    rerun_seeds: int = 0
    """``rerun_best.seeds``: reruns of each search's best trial (0: none)."""
    stages: tuple[Stage, ...] = ()
    """The protocol's stages (:mod:`tuning.planners.stages`); empty: one stage, called ``final``."""
    sampler_options: dict[str, Any] = Field(default_factory=dict)
    """An adaptive search's sampler options, validated, defaults filled in (empty otherwise)."""
    narrow_by_design: bool = False
    """``narrow_by_design:`` (:class:`ProtocolFile`)."""
    ruleset: RulesetFile | None = None
    """``ruleset:`` (:class:`ProtocolFile`)."""

    def ruleset_warnings(self, trials_per_search: int, studies: int) -> list[str]:
        """What differs from the ruleset's budget (none when it has no ruleset)."""
        if self.ruleset is None:
            return []
        rule = self.ruleset
        if (trials_per_search, studies) == (rule.trials_per_study, rule.studies):
            return []
        return [
            f"protocol {self.name!r} follows a ruleset of {rule.trials_per_study} trials per study and "
            f"{rule.studies} studies, this config runs {trials_per_search} and {studies}: its "
            f"{rule.score} score is not the ruleset's; set trials_per_search: {rule.trials_per_study} "
            f"and studies: {rule.studies} to follow it"
        ]

    def schedule_for(self, optimizer: str) -> str:
        """The schedule ``optimizer`` runs under in this protocol: its ``schedules:`` entry, else
        the protocol's ``schedule``."""
        return self.schedules.get(optimizer, self.schedule)

    def for_optimizer(self, optimizer: str) -> SearchSpec:
        """This protocol's search for ``optimizer``, else the optimizer's registered default
        search space adapted to this protocol (computed, not stored: see :meth:`bound`)."""
        if optimizer in self.searches:
            return self.searches[optimizer]
        fallback = default_search(self, optimizer) if optimizer in optimizers.names() else None
        if fallback is None:
            raise InputError(
                f"{self.source}: protocol {self.name!r} has no search space for optimizer "
                f"{optimizer!r} and the optimizer registers no default search space; "
                f"the protocol defines: {', '.join(self.searches)}; add an entry for "
                f"{optimizer!r} under optimizers: in {self.source}"
            )
        return fallback

    def bound(self, optimizer_names: Iterable[str]) -> Protocol:
        """This protocol with a search for each of ``optimizer_names`` (defaults resolved once);
        InputError if one has neither an entry nor a default space that fits."""
        searches = {opt: self.for_optimizer(opt) for opt in optimizer_names}
        return self.model_copy(update={"searches": {**self.searches, **searches}})


def _check_schedule_names(schedules: dict[str, str]) -> None:
    """FieldError at ``schedules.NAME`` for a name that is no registered optimizer."""
    for name in schedules:
        if name not in optimizers.names():
            raise FieldError(
                ("schedules", name), at_key=True, message=
                f"no optimizer {name!r}; registered: {', '.join(optimizers.names())} (a plugin's "
                "optimizer registers when the config's plugins: load)"
            )


def parse_protocol(raw: Any, source: str, *, marks: Marks | None = None) -> Protocol:  # noqa: ANN401
    """Validate a protocol already read (from a file, or from experiment.json on resume);
    InputError ``SOURCE[:LINE:COL]: field path: problem``."""
    with reading(source, marks):
        spec = ProtocolFile.model_validate(raw)
        sampler_options = check_sampler(spec.search, spec.sampler_options)
        if spec.stages is not None:
            check_stages(spec.stages, spec.search)
        schedules = spec.schedules or {}
        _check_schedule_names(schedules)
        searches = {
            opt: bind_search(opt, coords, schedules.get(opt, spec.schedule), spec.search)
            for opt, coords in spec.optimizers.items()
        }
    return Protocol(
        name=spec.name,
        description=spec.description,
        schedule=spec.schedule,
        schedules=schedules,
        search=spec.search,
        select=spec.select,
        searches=searches,
        source=source,
        raw=raw,
        rerun_seeds=spec.rerun_best.seeds if spec.rerun_best is not None else 0,
        stages=tuple(
            Stage(s.name, s.fraction, s.refine) for s in spec.stages or ()
        ),
        sampler_options=sampler_options,
        narrow_by_design=spec.narrow_by_design,
        ruleset=spec.ruleset,
    )


def load_protocol(name_or_path: str, base_dir: Path | None = None, where: str = "protocol") -> Protocol:
    """Load and validate a protocol; InputError names the file, field path and what is allowed."""
    path = protocol_path(name_or_path, base_dir, where)
    raw, marks = read_yaml_marked(path)
    return parse_protocol(raw, str(path), marks=marks)
