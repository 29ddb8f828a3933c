"""Experiment configs (YAML): workloads x protocols x optimizers, trials per search, seed, resources.

Example (every key; the shipped ``tuning/configs/demo.yaml`` uses a subset)::

    name: demo
    workloads: [mnist1d-mlp]            # or [{name: mnist1d-mlp, steps: 3000, eval_every: 250, data_dir: ...}]
    optimizers: [sgd, momentum, nesterov, rmsprop, adam, nadam]
    protocols: [choi-full, lr-only]     # shipped names or protocol YAML paths (relative to this file)
    trials_per_search: 16
    seed: 0
    resources: {cpus_per_trial: 1, gpus_per_trial: 0, max_concurrent_trials: null, memory_per_trial: null}
    max_failures: 2
    report_every_s: 10
    plugins: [mylab.optimizers]         # modules that register optimizers (see tuning/spec/plugins.py)
    bundle_size: auto                   # trials per vectorised bundle: an integer, or auto (probe)
    mixed_precision: false              # bf16 autocast on CUDA; needs gpus_per_trial > 0
    probes: false                       # inclusion probes (tuning/planners/probes.py); needs an inclusion pair
    studies: 1                          # independent repeats of every search (other Halton seeds)

``bundle_size`` and ``mixed_precision`` set every workload's default; a workload entry may
override either. A key may appear only once in a mapping (see :mod:`tuning.spec.yaml_io`).

The file is validated once, when read: its shape by :class:`ConfigFile`; then
:func:`parse_config` resolves what it names (workloads and their data, protocol files, each
protocol's search for each optimizer) into an :class:`ExperimentConfig`. Validation imports no
plugin: :func:`load_config` loads the plugins the file lists first (a plugin may register the
optimizers and workloads the file names), as resume does from experiment.json.

The plan is bounded: workloads x protocols x optimizers x studies x trials_per_search may be at
most :data:`MAX_PLANNED_TRIALS`, checked from the numbers alone before anything is resolved or
planned (a planned trial takes about 3 KB in the driver and 60 us to plan, so a plan of the
maximum is about 3 GB and a minute; larger ones would run the driver out of memory long before
a trial ran).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, ClassVar

from pydantic import BeforeValidator, Field, PlainValidator

import optimizers
import workloads
from optcompare.errors import InputError
from optcompare.validation import (
    Count,
    FieldError,
    Flag,
    Marks,
    StrictModel,
    Text,
    integer,
    located,
    number,
    reading,
    seconds,
)
from tuning.spec.plugins import load_plugins
from tuning.spec.probe_pairs import inclusion_pairs
from tuning.spec.protocol import Protocol, load_protocol
from tuning.spec.stages import check_layout
from tuning.spec.yaml_io import read_yaml_marked

__all__ = [
    "MAX_PLANNED_TRIALS",
    "ConfigFile",
    "ExperimentConfig",
    "Resources",
    "WorkloadEntry",
    "WorkloadFile",
    "load_config",
    "parse_config",
]

MAX_PLANNED_TRIALS = 1_000_000
"""The most trials a config may plan: workloads x protocols x optimizers x studies x
trials_per_search (module doc)."""

EXPERIMENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
"""Experiment names: one path segment, safe in local paths and URIs (the results directory)."""
EXPERIMENT_NAME_RULE = (
    "a directory-safe experiment name (letters, digits, '.', '_', '-'; starting with a letter or "
    "digit)"
)


def _check(rule: Callable[[Any], bool], message: str) -> PlainValidator:
    """``value`` if ``rule(value)``, else ValueError ``MESSAGE, got VALUE``."""

    def check(value: object) -> object:
        if not rule(value):
            raise ValueError(f"{message}, got {value!r}")
        return value

    return PlainValidator(check)


def _or_empty(empty: object) -> BeforeValidator:
    """``null`` reads as ``empty`` (an empty list or mapping)."""
    return BeforeValidator(lambda v: type(empty)() if v is None else v)


def _names(value: object) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ValueError(f"expected a non-empty list of names, got {value!r}")
    duplicates = sorted({v for v in value if value.count(v) > 1})
    if duplicates:
        raise ValueError(f"{duplicates[0]!r} is listed twice")
    return value


def _optimizer_names(value: object) -> list[str]:
    names = _names(value)
    for name in names:
        if name not in optimizers.names():
            raise ValueError(f"unknown optimizer {name!r}; valid choices: {', '.join(optimizers.names())}")
    return names


def _workload_name(name: object) -> str:
    if not isinstance(name, str) or name not in workloads.names():
        raise ValueError(f"unknown workload {name!r}; valid choices: {', '.join(workloads.names())}")
    return name


def _bundle_size(*, optional: bool) -> Any:  # noqa: ANN401 - a type
    """An integer >= 1 or ``"auto"`` (``None`` too when ``optional``: the config's default)."""

    def check(value: object) -> int | str | None:
        if (value is None and optional) or value == "auto":
            return value
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"expected an integer >= 1 or 'auto', got {value!r}")
        return value

    return Annotated[int | str | None if optional else int | str, PlainValidator(check)]


def _optional_flag(value: object) -> bool | None:
    if value is not None and not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return value


def _non_empty_list(value: object) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise ValueError(f"expected a non-empty list, got {value!r}")
    return value


def _named(value: object) -> object:
    """A bare workload name reads as ``{name: NAME}``."""
    return {"name": value} if isinstance(value, str) else value


Names = Annotated[list[str], PlainValidator(_names)]
Options = Annotated[
    dict[str, Any],
    _or_empty({}),
    _check(
        lambda v: isinstance(v, dict) and all(isinstance(k, str) for k in v),
        "expected a mapping option name -> value of constructor options",
    ),
]
DataDir = Annotated[
    str | None,
    _check(
        lambda v: v is None or (isinstance(v, str) and bool(v) and "\0" not in v),
        "expected a directory path (a string, relative to the config file)",
    ),
]


DEFAULT_CHECKPOINT_EVERY_S = 600.0
"""A workload entry's default ``checkpoint_every_s``."""


class WorkloadFile(StrictModel):
    """One ``workloads:`` entry as written (a bare name reads as ``{name: NAME}``)."""

    not_a_mapping: ClassVar[str] = "expected a name or {name, steps, eval_every, data_dir}"
    name: Annotated[str, PlainValidator(_workload_name)]
    steps: integer(1, optional=True) = None  # type: ignore[valid-type]  # pydantic type built by a call
    eval_every: integer(1, optional=True) = None  # type: ignore[valid-type]  # pydantic type built by a call
    data_dir: DataDir = None
    options: Options = Field(default_factory=dict)
    bundle_size: _bundle_size(optional=True) = None  # type: ignore[valid-type]  # pydantic type built by a call
    mixed_precision: Annotated[bool | None, PlainValidator(_optional_flag)] = None
    trial_time_limit_s: seconds() = None  # type: ignore[valid-type]  # pydantic type built by a call
    stall_timeout_s: seconds() = None  # type: ignore[valid-type]  # pydantic type built by a call
    checkpoint_every_s: number(0.0) = DEFAULT_CHECKPOINT_EVERY_S  # type: ignore[valid-type]  # pydantic type built by a call
    workers_per_trial: integer(1) = 1  # type: ignore[valid-type]  # pydantic type built by a call
    target_value: number(0.0, optional=True) = None  # type: ignore[valid-type]  # pydantic type built by a call


class Resources(StrictModel):
    cpus_per_trial: number(0.01) = 1.0  # type: ignore[valid-type]  # pydantic type built by a call
    gpus_per_trial: number(0.0) = 0.0  # type: ignore[valid-type]  # pydantic type built by a call
    max_concurrent_trials: integer(1, optional=True) = None  # type: ignore[valid-type]  # pydantic type built by a call
    memory_per_trial: number(0.001, optional=True) = None  # type: ignore[valid-type]  # pydantic type built by a call
    """GiB of Ray's ``memory`` resource each planned trial reserves (None: none); a bundle of B
    trials reserves B times this, so Ray places no more trials on a node than fit its memory."""


class ConfigFile(StrictModel):
    """An experiment config as written."""

    name: Annotated[
        str, _check(lambda v: isinstance(v, str) and bool(EXPERIMENT_NAME.fullmatch(v)), f"expected {EXPERIMENT_NAME_RULE}")
    ]
    description: Text = ""
    workloads: Annotated[list[Annotated[WorkloadFile, BeforeValidator(_named)]], BeforeValidator(_non_empty_list)]
    optimizers: Annotated[list[str], PlainValidator(_optimizer_names)]
    protocols: Names
    trials_per_search: Count
    seed: integer(0) = 0  # type: ignore[valid-type]  # pydantic type built by a call
    resources: Annotated[Resources, _or_empty({})] = Field(default_factory=Resources)
    max_failures: integer(0) = 2  # type: ignore[valid-type]  # pydantic type built by a call
    report_every_s: number(0.0) = 10.0  # type: ignore[valid-type]  # pydantic type built by a call
    plugins: Annotated[
        list[str],
        _or_empty([]),
        _check(lambda v: isinstance(v, list) and all(isinstance(p, str) for p in v), "expected a list of module names"),
    ] = Field(default_factory=list)
    bundle_size: _bundle_size(optional=False) = 1  # type: ignore[valid-type]  # pydantic type built by a call
    mixed_precision: Flag = False
    probes: Flag = False
    studies: Count = 1


class WorkloadEntry(StrictModel):
    """A workload of the experiment, resolved: budget, data directory, options, bundling."""

    name: str
    steps: int
    eval_every: int
    data_dir: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    """Constructor options of the workload (e.g. ``loader_workers`` for ImageNet)."""
    bundle_size: int | str = 1
    """Trials per bundle (an integer >= 1) or ``"auto"`` (see :mod:`tuning.driver.bundle_probe`)."""
    mixed_precision: bool = False
    """Train in mixed precision (carried to each trial as ``PlannedTrial.mixed_precision``)."""
    trial_time_limit_s: float | None = None
    """A trial still training this many seconds after it started stops as ``failed``, not retried."""
    stall_timeout_s: float | None = None
    """A trial whose training loop makes no step for this long is killed and retried (None:
    the watchdog's default, :mod:`tuning.worker.watchdog`)."""
    checkpoint_every_s: float = 600.0
    """Seconds of training between a trial's checkpoints (0: none; :mod:`tuning.worker.trainable`)."""
    workers_per_trial: int = 1
    """Data-parallel workers of each trial (:mod:`tuning.worker.data_parallel`); 1: one process."""
    target_value: float | None = None
    """The level of the workload's ``target_metric`` that steps to target measure: the config's
    ``target_value``, else the workload class's (set so by :func:`parse_config`; None, from a
    hand-built entry, also means the class's). experiment.json records it, and a resumed
    experiment keeps the recorded one."""


class ExperimentConfig(StrictModel):
    """A validated experiment config with its protocols loaded and bound to its optimizers."""

    name: str
    description: str
    workloads: list[WorkloadEntry]
    optimizers: list[str]
    protocols: list[Protocol]
    trials_per_search: int
    seed: int
    resources: Resources
    max_failures: int
    report_every_s: float
    plugins: list[str]
    source: str
    probes: bool = False
    """Train each inclusion's imitation of the narrow search's best trial (:mod:`tuning.planners.probes`)."""
    studies: int = 1
    """Independent repeats of every search (study ``s`` in 0..studies-1; :mod:`tuning.plan.resolve`)."""
    raw: dict[str, Any] = Field(repr=False)
    """The file as written (recorded in experiment.json, parsed again on resume)."""

    def ruleset_warnings(self) -> list[str]:
        """One warning per protocol whose ruleset's budget this config does not follow
        (:meth:`~tuning.spec.protocol.Protocol.ruleset_warnings`)."""
        return [w for p in self.protocols for w in p.ruleset_warnings(self.trials_per_search, self.studies)]


ProtocolLoader = Callable[[str, Path, str], Protocol]
"""(entry as written in the config, base directory, error prefix) -> Protocol."""


def _workload(config: ConfigFile, index: int, item: WorkloadFile, base_dir: Path) -> WorkloadEntry:
    """The entry resolved: class defaults, data_dir against ``base_dir``, data present."""
    where = ("workloads", index)
    cls = workloads.get_class(item.name)
    data_dir = None if item.data_dir is None else str((base_dir / item.data_dir).resolve())
    try:
        workload = workloads.get(item.name, data_dir, **item.options)
    except InputError as err:
        raise FieldError(where, str(err)) from None
    except (TypeError, ValueError) as err:
        raise FieldError((*where, "options"), str(err)) from None
    try:
        workload.check_data()  # missing data fails here, before anything runs
    except InputError as err:
        raise FieldError(where, str(err)) from None
    return WorkloadEntry(
        name=item.name,
        steps=cls.step_budget if item.steps is None else item.steps,
        eval_every=cls.eval_interval if item.eval_every is None else item.eval_every,
        data_dir=data_dir,
        options=dict(item.options),
        bundle_size=config.bundle_size if item.bundle_size is None else item.bundle_size,
        mixed_precision=config.mixed_precision if item.mixed_precision is None else item.mixed_precision,
        trial_time_limit_s=item.trial_time_limit_s,
        stall_timeout_s=item.stall_timeout_s,
        checkpoint_every_s=item.checkpoint_every_s,
        workers_per_trial=_checked_workers(item, workload, where, config.bundle_size if item.bundle_size is None else item.bundle_size),
        target_value=float(cls.target_value if item.target_value is None else item.target_value),
    )


def _checked_workers(item: WorkloadFile, workload: workloads.Workload, where: tuple, bundle_size: int | str) -> int:
    """``workers_per_trial``, refused (FieldError) with bundles, for a workload whose minibatch
    stream cannot be sharded, or when the workload's batch does not split evenly."""
    workers = item.workers_per_trial
    if workers == 1:
        return workers
    at = (*where, "workers_per_trial")
    if bundle_size != 1:
        raise FieldError(
            at, f"{workers} data-parallel workers per trial cannot be combined with bundle_size {bundle_size!r}; "
            "set bundle_size: 1 for this workload, or workers_per_trial: 1",
        )
    if not workload.shardable():
        raise FieldError(
            at, f"workload {item.name!r} streams its own minibatches, which cannot be split over {workers} "
            "data-parallel workers; use workers_per_trial: 1 for it",
        )
    if workload.batch_size % workers:
        raise FieldError(
            at, f"the batch of {workload.batch_size} examples of {item.name!r} does not split evenly over "
            f"{workers} workers; use a number of workers that divides {workload.batch_size}",
        )
    return workers


def _first_repeat(names: list[str]) -> tuple[int, int] | None:
    """(first index, repeated index) of the first name listed twice."""
    for i, name in enumerate(names):
        if name in names[:i]:
            return names.index(name), i
    return None


def _protocols(
    config: ConfigFile, source: str, base_dir: Path, loader: ProtocolLoader, marks: Marks | None
) -> list[Protocol]:
    """Each protocol loaded (its errors name its own file) and bound to the optimizers."""
    protocols = [
        loader(entry, base_dir, located(source, ("protocols", i), marks))
        for i, entry in enumerate(config.protocols)
    ]
    repeat = _first_repeat([p.name for p in protocols])
    if repeat is not None:
        first, i = repeat
        raise FieldError(
            ("protocols",),
            f"protocols[{first}] ({config.protocols[first]}) and protocols[{i}] ({config.protocols[i]}) "
            f"share the name {protocols[i].name!r}; protocol names must differ (they name the results)",
        )
    return [p.bound(config.optimizers) for p in protocols]


def _check_probe_pairs(names: list[str]) -> None:
    """``probes: true`` needs two optimizers with an inclusion path."""

    if not inclusion_pairs(names):
        raise FieldError(
            ("probes",),
            f"no two of the optimizers {names} have a registered inclusion path, so there is "
            "nothing to probe; add a pair such as sgd and momentum (sgd <= momentum), or set "
            "probes: false",
        )


def _check_stage_budgets(protocols: list[Protocol], trials_per_search: int) -> None:
    """Every staged protocol has enough trials per search for each of its stages."""

    for protocol in protocols:
        problem = protocol.stages and check_layout(protocol.name, protocol.stages, trials_per_search)
        if problem:
            raise FieldError(("trials_per_search",), problem)


def check_plan_size(config: ConfigFile) -> None:
    """FieldError (``trials_per_search``) naming the numbers when the config would plan more
    than :data:`MAX_PLANNED_TRIALS` trials (module doc); nothing is resolved first."""
    factors = {
        "workloads": len(config.workloads), "protocols": len(config.protocols),
        "optimizers": len(config.optimizers), "studies": config.studies,
        "trials_per_search": config.trials_per_search,
    }
    total = 1
    for count in factors.values():
        total *= count
    if total > MAX_PLANNED_TRIALS:
        product = " x ".join(f"{count} {name}" for name, count in factors.items())
        raise FieldError(
            ("trials_per_search",),
            f"the config plans {product} = {total} trials, more than the {MAX_PLANNED_TRIALS} "
            "a study may have; lower trials_per_search or studies, or split the study",
        )


def parse_config(
    raw: Any,  # noqa: ANN401
    source: str,
    base_dir: Path,
    protocol_loader: ProtocolLoader = load_protocol,
    *,
    marks: Marks | None = None,
) -> ExperimentConfig:
    """Validate a config already read; relative paths resolve against ``base_dir``.
    ``protocol_loader`` lets resume use the protocol texts recorded in experiment.json. The
    plugins the config lists must be loaded already (see :func:`load_config`)."""
    with reading(source, marks):
        config = ConfigFile.model_validate(raw)
        check_plan_size(config)
        entries = [_workload(config, i, item, base_dir) for i, item in enumerate(config.workloads)]
        repeat = _first_repeat([e.name for e in entries])
        if repeat is not None:
            first, i = repeat
            raise FieldError(
                ("workloads", i),
                f"workload {entries[i].name!r} is listed twice (also workloads[{first}]); list each workload once",
            )
        protocols = _protocols(config, source, base_dir, protocol_loader, marks)
        if config.probes:
            _check_probe_pairs(config.optimizers)
        _check_stage_budgets(protocols, config.trials_per_search)
        for i, entry in enumerate(entries):
            if entry.mixed_precision and config.resources.gpus_per_trial == 0:
                raise FieldError(
                    ("workloads", i),
                    "mixed_precision needs GPU trials (bf16 autocast on CUDA); set "
                    "resources.gpus_per_trial > 0 or mixed_precision: false",
                    label=f"workloads[{i}] ({entry.name})",
                )
    return ExperimentConfig(
        **config.model_dump(exclude={"workloads", "protocols", "bundle_size", "mixed_precision", "resources"}),
        workloads=entries,
        protocols=protocols,
        resources=config.resources,
        source=source,
        raw=raw,
    )


def load_config(path: str | Path) -> ExperimentConfig:
    """Read a config, load the plugins it lists, and validate it; InputError names the file,
    field and fix."""

    path = Path(path)
    source = str(path)
    if not path.is_file():
        raise InputError(f"{source}: config file not found; give the path of an experiment YAML file")
    raw, marks = read_yaml_marked(path)
    listed = raw.get("plugins") if isinstance(raw, dict) else None
    if isinstance(listed, list) and all(isinstance(p, str) for p in listed):
        load_plugins(listed, where=located(source, ("plugins",), marks))
    return parse_config(raw, source, path.parent, marks=marks)
