"""Experiment configs (YAML): workloads x protocols x optimizers, trials per search, seed, resources.

Example (every key; the shipped ``tuning/configs/demo.yaml`` uses a subset)::

    name: demo
    workloads: [mnist1d-mlp]            # or [{name: mnist1d-mlp, steps: 3000, eval_every: 250, data_dir: ...}]
    optimizers: [sgd, momentum, nesterov, rmsprop, adam, nadam]
    protocols: [choi-full, lr-only]     # shipped names or protocol YAML paths (relative to this file)
    trials_per_search: 16
    seed: 0
    resources: {cpus_per_trial: 1, gpus_per_trial: 0, max_concurrent_trials: null}
    max_failures: 2
    report_every_s: 10
    plugins: [mylab.optimizers]         # modules that register optimizers (see tuning/plugins.py)
    bundle_size: auto                   # trials per vectorised bundle: an integer, or auto (probe)
    mixed_precision: false              # bf16 autocast on CUDA; needs gpus_per_trial > 0

``bundle_size`` and ``mixed_precision`` set every workload's default; a workload entry may
override either. A key may appear only once in a mapping (see :mod:`tuning.yaml_io`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optimizers
import workloads
from optcompare.errors import InputError

from .plugins import load_plugins
from .protocol import Protocol, load_protocol
from .yaml_io import read_yaml

__all__ = ["ExperimentConfig", "Resources", "WorkloadEntry", "load_config", "parse_config"]

TOP_KEYS = {
    "name", "description", "workloads", "optimizers", "protocols", "trials_per_search", "seed",
    "resources", "max_failures", "report_every_s", "plugins", "bundle_size", "mixed_precision",
}
EXPERIMENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
"""Experiment names: one path segment, safe in local paths and URIs (the results directory)."""
EXPERIMENT_NAME_RULE = (
    "a directory-safe experiment name (letters, digits, '.', '_', '-'; starting with a letter or "
    "digit)"
)
WORKLOAD_KEYS = {"name", "steps", "eval_every", "data_dir", "options", "bundle_size", "mixed_precision"}
RESOURCE_KEYS = {"cpus_per_trial", "gpus_per_trial", "max_concurrent_trials"}


@dataclass(frozen=True)
class WorkloadEntry:
    name: str
    steps: int
    eval_every: int
    data_dir: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    """Constructor options of the workload (e.g. ``loader_workers`` for ImageNet)."""
    bundle_size: int | str = 1
    """Trials per bundle (an integer >= 1) or ``"auto"`` (see :mod:`tuning.bundle_probe`)."""
    mixed_precision: bool = False
    """Train in mixed precision (carried to each trial as ``PlannedTrial.mixed_precision``)."""


@dataclass(frozen=True)
class Resources:
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    max_concurrent_trials: int | None = None


@dataclass(frozen=True)
class ExperimentConfig:
    """A validated experiment config with its protocols loaded."""

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
    raw: dict[str, Any] = field(repr=False)


def _int(source: str, key: str, value: Any, minimum: int) -> int:  # noqa: ANN401
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InputError(f"{source}: {key}: expected an integer >= {minimum}, got {value!r}")
    return value


def _number(source: str, key: str, value: Any, minimum: float) -> float:  # noqa: ANN401
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= minimum:
        raise InputError(f"{source}: {key}: expected a number >= {minimum:g}, got {value!r}")
    if not math.isfinite(value):
        raise InputError(f"{source}: {key}: expected a finite number, got {value!r}")
    return float(value)


def _names_list(source: str, key: str, value: Any) -> list[str]:  # noqa: ANN401
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise InputError(f"{source}: {key}: expected a non-empty list of names, got {value!r}")
    duplicates = sorted({v for v in value if value.count(v) > 1})
    if duplicates:
        raise InputError(f"{source}: {key}: {duplicates[0]!r} is listed twice")
    return value


def _bool(source: str, key: str, value: Any) -> bool:  # noqa: ANN401
    if not isinstance(value, bool):
        raise InputError(f"{source}: {key}: expected true or false, got {value!r}")
    return value


def _first_unknown(keys: Any, allowed: Any) -> object | None:  # noqa: ANN401
    """The first key (in a stable order, whatever the keys' types) not in ``allowed``."""
    unknown = sorted((k for k in keys if k not in allowed), key=repr)
    return unknown[0] if unknown else None


def _bundle_size(source: str, key: str, value: Any) -> int | str:  # noqa: ANN401
    if value == "auto":
        return "auto"
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"{source}: {key}: expected an integer >= 1 or 'auto', got {value!r}")
    return value


def _workload_entry(
    source: str,
    index: int,
    item: Any,  # noqa: ANN401
    base_dir: Path,
    bundle_size: int | str = 1,
    mixed_precision: bool = False,
) -> WorkloadEntry:
    where = f"workloads[{index}]"
    if isinstance(item, str):
        item = {"name": item}
    if not isinstance(item, dict) or "name" not in item:
        raise InputError(f"{source}: {where}: expected a name or {{name, steps, eval_every, data_dir}}")
    unknown = _first_unknown(item, WORKLOAD_KEYS)
    if unknown is not None:
        raise InputError(f"{source}: {where}: unknown key {unknown!r}; allowed: {', '.join(sorted(WORKLOAD_KEYS))}")
    name = item["name"]
    if not isinstance(name, str) or name not in workloads.names():
        raise InputError(
            f"{source}: {where}.name: unknown workload {name!r}; valid choices: {', '.join(workloads.names())}"
        )
    cls = workloads.get_class(name)
    steps = _int(source, f"{where}.steps", item.get("steps", cls.step_budget), 1)
    every = _int(source, f"{where}.eval_every", item.get("eval_every", cls.eval_interval), 1)
    data_dir = item.get("data_dir")
    if data_dir is not None:
        if not isinstance(data_dir, str) or not data_dir or "\0" in data_dir:
            raise InputError(
                f"{source}: {where}.data_dir: expected a directory path (a string, relative to the "
                f"config file), got {data_dir!r}"
            )
        data_dir = str((base_dir / data_dir).resolve())
    options = item.get("options")
    options = {} if options is None else options
    if not isinstance(options, dict) or not all(isinstance(k, str) for k in options):
        raise InputError(
            f"{source}: {where}.options: expected a mapping option name -> value of constructor "
            f"options, got {options!r}"
        )
    try:
        workload = workloads.get(name, data_dir, **options)
    except InputError as err:
        raise InputError(f"{source}: {where}: {err}") from None
    except (TypeError, ValueError) as err:
        raise InputError(f"{source}: {where}.options: {err}") from None
    try:
        workload.check_data()  # missing data fails here, before anything runs
    except InputError as err:
        raise InputError(f"{source}: {where}: {err}") from None
    size = _bundle_size(source, f"{where}.bundle_size", item.get("bundle_size", bundle_size))
    mixed = _bool(source, f"{where}.mixed_precision", item.get("mixed_precision", mixed_precision))
    return WorkloadEntry(name, steps, every, data_dir, dict(options), size, mixed)


def load_config(path: str | Path) -> ExperimentConfig:
    """Read and validate an experiment config; InputError names the file, field and fix."""
    path = Path(path)
    source = str(path)
    if not path.is_file():
        raise InputError(f"{source}: config file not found; give the path of an experiment YAML file")
    return parse_config(read_yaml(path), source, path.parent)


ProtocolLoader = Callable[[str, Path, str], Protocol]
"""(entry as written in the config, base directory, error prefix) -> Protocol."""


def parse_config(
    raw: Any,  # noqa: ANN401
    source: str,
    base_dir: Path,
    protocol_loader: ProtocolLoader = load_protocol,
) -> ExperimentConfig:
    """Validate a config already read; relative paths resolve against ``base_dir``.
    ``protocol_loader`` lets resume use the protocol texts recorded in experiment.json."""
    if not isinstance(raw, dict):
        raise InputError(f"{source}: expected a mapping with keys {', '.join(sorted(TOP_KEYS))}")
    unknown = _first_unknown(raw, TOP_KEYS)
    if unknown is not None:
        raise InputError(f"{source}: unknown key {unknown!r}; allowed: {', '.join(sorted(TOP_KEYS))}")
    for key in ("name", "workloads", "optimizers", "protocols", "trials_per_search"):
        if key not in raw:
            raise InputError(f"{source}: missing required key {key!r}")
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise InputError(f"{source}: description: expected a string (quote it), got {description!r}")
    plugins = raw.get("plugins")
    plugins = [] if plugins is None else plugins
    if not isinstance(plugins, list) or not all(isinstance(p, str) for p in plugins):
        raise InputError(f"{source}: plugins: expected a list of module names, got {plugins!r}")
    load_plugins(plugins, where=f"{source}: plugins")
    name = raw["name"]
    if not isinstance(name, str) or not EXPERIMENT_NAME.fullmatch(name):
        raise InputError(f"{source}: name: expected {EXPERIMENT_NAME_RULE}, got {name!r}")
    if not isinstance(raw["workloads"], list) or not raw["workloads"]:
        raise InputError(f"{source}: workloads: expected a non-empty list")
    bundle_size = _bundle_size(source, "bundle_size", raw.get("bundle_size", 1))
    mixed_precision = _bool(source, "mixed_precision", raw.get("mixed_precision", False))
    entries = [
        _workload_entry(source, i, item, base_dir, bundle_size, mixed_precision)
        for i, item in enumerate(raw["workloads"])
    ]
    names = [e.name for e in entries]
    for i, entry_name in enumerate(names):
        if entry_name in names[:i]:
            raise InputError(
                f"{source}: workloads[{i}]: workload {entry_name!r} is listed twice (also "
                f"workloads[{names.index(entry_name)}]); list each workload once"
            )
    opt_names = _names_list(source, "optimizers", raw["optimizers"])
    for opt in opt_names:
        if opt not in optimizers.names():
            raise InputError(
                f"{source}: optimizers: unknown optimizer {opt!r}; valid choices: {', '.join(optimizers.names())}"
            )
    protocols = [
        protocol_loader(p, base_dir, f"{source}: protocols[{i}]")
        for i, p in enumerate(_names_list(source, "protocols", raw["protocols"]))
    ]
    protocol_names = [p.name for p in protocols]
    for i, protocol_name in enumerate(protocol_names):
        if protocol_name in protocol_names[:i]:
            first = protocol_names.index(protocol_name)
            raise InputError(
                f"{source}: protocols: protocols[{first}] ({raw['protocols'][first]}) and "
                f"protocols[{i}] ({raw['protocols'][i]}) share the name {protocol_name!r}; "
                "protocol names must differ (they name the results)"
            )
    for protocol in protocols:
        for opt in opt_names:
            protocol.for_optimizer(opt)
    resources_raw = raw.get("resources")
    resources_raw = {} if resources_raw is None else resources_raw
    if not isinstance(resources_raw, dict):
        raise InputError(f"{source}: resources: expected a mapping with {', '.join(sorted(RESOURCE_KEYS))}")
    unknown = _first_unknown(resources_raw, RESOURCE_KEYS)
    if unknown is not None:
        raise InputError(f"{source}: resources: unknown key {unknown!r}; allowed: {', '.join(sorted(RESOURCE_KEYS))}")
    max_conc = resources_raw.get("max_concurrent_trials")
    resources = Resources(
        cpus_per_trial=_number(source, "resources.cpus_per_trial", resources_raw.get("cpus_per_trial", 1), 0.01),
        gpus_per_trial=_number(source, "resources.gpus_per_trial", resources_raw.get("gpus_per_trial", 0), 0.0),
        max_concurrent_trials=None if max_conc is None else _int(source, "resources.max_concurrent_trials", max_conc, 1),
    )
    for i, entry in enumerate(entries):
        if entry.mixed_precision and resources.gpus_per_trial == 0:
            raise InputError(
                f"{source}: workloads[{i}] ({entry.name}): mixed_precision needs GPU trials (bf16 "
                "autocast on CUDA); set resources.gpus_per_trial > 0 or mixed_precision: false"
            )
    return ExperimentConfig(
        name=name,
        description=description,
        workloads=entries,
        optimizers=opt_names,
        protocols=protocols,
        trials_per_search=_int(source, "trials_per_search", raw["trials_per_search"], 1),
        seed=_int(source, "seed", raw.get("seed", 0), 0),
        resources=resources,
        max_failures=_int(source, "max_failures", raw.get("max_failures", 2), 0),
        report_every_s=_number(source, "report_every_s", raw.get("report_every_s", 10.0), 0.0),
        plugins=plugins,
        source=source,
        raw=raw,
    )
