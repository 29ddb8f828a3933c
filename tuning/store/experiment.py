"""Create an experiment directory ``RESULTS/NAME`` and its ``experiment.json``: the resolved
config and protocol texts, the plan's size and digest, and package versions, which is what
``resume`` re-derives the plan from (the results layout: :mod:`optcompare.schema`,
docs/architecture.md).

Nothing is half-created: :func:`check_results_root` writes and deletes a probe in the results
root before Ray starts (an unwritable root is an InputError, exit 2), and
:func:`create_experiment` writes experiment.json first, then probes the checkpoint store, and
removes the new directory again when either fails, so a failed start leaves no directory that
``run`` would call taken and ``resume`` would not recognise."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import platform
import uuid
from collections.abc import Callable, Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

from pyarrow import fs as pafs

import optimizers
import workloads
from optcompare.errors import InputError, ParameterError
from optcompare.experiment_record import read_experiment_record
from tuning.plan.space_inclusion import PairCoverage, config_space_inclusion
from tuning.plan.trial import PlannedTrial
from tuning.spec.config import (
    EXPERIMENT_NAME,
    EXPERIMENT_NAME_RULE,
    ExperimentConfig,
    WorkloadEntry,
)
from tuning.spec.stages import stage_names
from tuning.store.sink import open_filesystem, write_json_atomic

__all__ = [
    "TUNE_STORE",
    "check_checkpoint_store",
    "check_results_root",
    "check_experiment_name",
    "create_experiment",
    "ensure_new_experiment",
    "experiment_exists",
    "experiment_record",
    "package_versions",
    "plan_digest",
    "record_refined",
    "refined_recorder",
]

TUNE_STORE = "_tune"
"""The directory of ``RESULTS/NAME`` where Ray Tune (and Ray Train, ``_tune/train``) keep their
state and the trials' checkpoints."""
WRITE_PROBE = ".optcompare-write-probe"

VERSIONED = (
    "optcompare", "torch", "ray", "numpy", "scipy", "pyarrow", "pandas", "duckdb", "mnist1d",
)
"""Packages whose versions ``experiment.json`` records (``not installed`` for one that is absent,
e.g. pandas, which only the tests need)."""


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def plan_digest(plan: list[PlannedTrial]) -> str:
    """SHA-256 of every planned trial's id, seed and hyperparameters: resume checks that the
    plan it re-derives is the plan that was started."""
    digest = hashlib.sha256()
    for t in plan:
        values = sorted({**t.hparams, **t.schedule_params}.items())
        digest.update(f"{t.trial_id}|{t.seed}|{values!r}|{t.steps}|{t.eval_every}\n".encode())
    return digest.hexdigest()


def target_of(entry: WorkloadEntry) -> float:
    """The target in force for a workload entry: its ``target_value``, else its class's."""

    return float(workloads.get_class(entry.name).target_value if entry.target_value is None else entry.target_value)


def experiment_record(
    config: ExperimentConfig, plan: list[PlannedTrial], name: str,
    space_inclusion: list[PairCoverage] | None = None,
) -> dict[str, Any]:
    """What ``experiment.json`` holds: the resolved config, protocols, plan size, versions, and
    the space-inclusion check of every protocol (``space_inclusion``, computed here unless
    given: :func:`tuning.plan.space_inclusion.config_space_inclusion`)."""

    searches = []
    for protocol in config.protocols:
        for opt in config.optimizers:
            search = protocol.for_optimizer(opt)
            searches.append(
                {
                    "protocol": protocol.name,
                    "optimizer": opt,
                    "schedule": search.schedule,
                    "space": search.space,
                    "fixed": search.fixed,
                }
            )
    return {
        "name": name,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "config_source": str(Path(config.source).resolve()),
        "config": config.raw,
        "protocols": {p.name: p.raw for p in config.protocols},
        "protocol_entries": dict(
            zip(config.raw["protocols"], (p.raw for p in config.protocols), strict=True)
        ),
        "workloads": [
            {
                "name": w.name,
                "steps": w.steps,
                "eval_every": w.eval_every,
                "data_dir": w.data_dir,
                "target_metric": workloads.get_class(w.name).target_metric,
                "target_value": target_of(w),
                "target_spread": (
                    workloads.get_class(w.name).target_spread
                    if target_of(w) == workloads.get_class(w.name).target_value else None
                ),
            }
            for w in config.workloads
        ],
        "optimizers": config.optimizers,
        "searches": searches,
        "inclusions": [
            {"narrow": inc.narrow, "wide": inc.wide, "exact": inc.exact}
            for inc in optimizers.list_inclusions()
            if inc.narrow in config.optimizers or inc.wide in config.optimizers
        ],
        "select": {p.name: p.select for p in config.protocols},
        "space_inclusion": [
            c.record() for c in (space_inclusion if space_inclusion is not None else config_space_inclusion(config))
        ],
        "stages": {p.name: stage_names(p) for p in config.protocols},
        "studies": config.studies,
        "refined": [],
        "trials_per_search": config.trials_per_search,
        "plan_size": len(plan),
        "plan_digest": plan_digest(plan),
        "seed": config.seed,
        "trial_seeds": "sha256(seed/workload/protocol/optimizer/index/train) & 0x7fffffff",
        "versions": package_versions(),
    }


def check_experiment_name(name: str, where: str) -> str:
    """Return ``name`` if it matches :data:`tuning.spec.config.EXPERIMENT_NAME` (one path segment
    that is safe in local paths and URIs); otherwise an :class:`InputError` naming ``where``."""
    if not isinstance(name, str) or not EXPERIMENT_NAME.fullmatch(name):
        raise InputError(f"{where}: expected {EXPERIMENT_NAME_RULE}, got {name!r}")
    return name


def _location(results_root: str, name: str) -> tuple[pafs.FileSystem, str]:
    """(filesystem, path) of ``RESULTS/NAME`` (:func:`tuning.store.sink.open_filesystem`)."""
    filesystem, root = open_filesystem(results_root)
    return filesystem, f"{root.rstrip('/')}/{name}"


def experiment_exists(results_root: str, name: str) -> bool:
    """Whether ``RESULTS/NAME`` exists (as a file or directory)."""
    filesystem, path = _location(results_root, name)
    return filesystem.get_file_info(path).type != pafs.FileType.NotFound


def ensure_new_experiment(results_root: str, name: str) -> None:
    """An :class:`~optcompare.errors.ParameterError` (``name``) if ``RESULTS/NAME`` already
    exists: a new study never touches an existing one. The message says whether it can be
    resumed (it has experiment.json) or not."""
    if experiment_exists(results_root, name):
        filesystem, path = _location(results_root, name)
        if filesystem.get_file_info(f"{path}/experiment.json").type == pafs.FileType.File:
            hint = f"continue it with 'optcompare resume {path}'"
        else:
            hint = (
                "it is not an experiment that can be resumed (no experiment.json); move it aside "
                "or remove it if it holds nothing you need"
            )
        raise ParameterError("name", f"{path} already exists; choose another {{name}}, or {hint}")


def check_results_root(results_root: str, name: str) -> None:
    """Write and delete a probe file in the results root, or, when it does not exist yet, in its
    nearest existing parent (local paths; on an object store under the root itself): an
    :class:`InputError` naming the experiment's checkpoint store and the root, before Ray
    starts, when ``RESULTS`` (local or a URI) cannot be written. Nothing is created."""
    filesystem, root = open_filesystem(results_root)
    root = root.rstrip("/")
    if "://" not in results_root:
        while root and filesystem.get_file_info(root).type == pafs.FileType.NotFound:
            parent = os.path.dirname(root)
            if parent == root:
                break
            root = parent
    probe = f"{root}/{WRITE_PROBE}-{uuid.uuid4().hex[:8]}"
    try:
        with filesystem.open_output_stream(probe) as stream:
            stream.write(b"optcompare")
        filesystem.delete_file(probe)
    except OSError as err:
        with contextlib.suppress(OSError):  # created, then the write failed (a full disk)
            filesystem.delete_file(probe)
        store = f"{results_root.rstrip('/')}/{name}/{TUNE_STORE}"
        raise InputError(
            f"the checkpoint store {store} cannot be written: the results root {results_root} "
            f"cannot be written ({err}); give a results directory (or URI) this user can write to"
        ) from None


def create_experiment(
    results_root: str, name: str, config: ExperimentConfig, plan: list[PlannedTrial],
    space_inclusion: list[PairCoverage] | None = None,
) -> str:
    """Make ``RESULTS/NAME`` with its experiment.json (:func:`experiment_record`); refuse to
    touch an existing one."""
    check_experiment_name(name, "experiment name")
    ensure_new_experiment(results_root, name)
    filesystem, path = _location(results_root, name)
    shown = path if "://" not in results_root else f"{results_root.rstrip('/')}/{name}"
    record = experiment_record(config, plan, name, space_inclusion)
    try:
        try:
            write_json_atomic(filesystem, f"{path}/experiment.json", record)
        except OSError as err:
            raise InputError(
                f"{shown}/experiment.json cannot be written ({err}); give a results directory "
                "(or URI) with space this user can write to"
            ) from None
        check_checkpoint_store(shown)
    except InputError:
        with contextlib.suppress(OSError):  # nothing of the new experiment stays behind
            filesystem.delete_dir(path)
        raise
    return shown


def check_checkpoint_store(experiment_dir: str) -> None:
    """Create ``EXPERIMENT/_tune`` (:data:`TUNE_STORE`, local or a URI) and write and delete a
    file in it: :class:`InputError` before any trial starts if the store where Tune, Train and
    the trials' checkpoints write cannot be written."""
    filesystem, root = open_filesystem(experiment_dir)
    store = f"{root.rstrip('/')}/{TUNE_STORE}"
    try:
        filesystem.create_dir(store, recursive=True)
        with filesystem.open_output_stream(f"{store}/{WRITE_PROBE}") as stream:
            stream.write(b"optcompare")
        filesystem.delete_file(f"{store}/{WRITE_PROBE}")
    except OSError as err:
        with contextlib.suppress(OSError):  # created, then the write failed (a full disk)
            filesystem.delete_file(f"{store}/{WRITE_PROBE}")
        raise InputError(
            f"the checkpoint store {experiment_dir.rstrip('/')}/{TUNE_STORE} cannot be written ({err}); "
            "give a results directory (or URI) this user can write to"
        ) from None


def record_refined(experiment_dir: str, records: Iterable[dict[str, Any]], *, replace: bool = False) -> None:
    """Append ``records`` (refinements of staged protocols, :class:`tuning.planners.stages.StagePlanner`)
    to ``experiment.json``'s ``refined`` list, or make them the list (``replace``); the file is
    rewritten atomically. Only the study's driver writes it while the study runs. A directory
    without experiment.json (the driver run as a library on a bare directory) records nothing."""

    filesystem, root = open_filesystem(experiment_dir)
    root = root.rstrip("/")
    path = f"{root}/experiment.json"
    if filesystem.get_file_info(path).type == pafs.FileType.NotFound:
        return
    record = read_experiment_record(filesystem, root, experiment_dir.rstrip("/"))
    kept = [] if replace else list(record.get("refined") or [])
    record["refined"] = kept + list(records)
    write_json_atomic(filesystem, path, record)


def refined_recorder(experiment_dir: str) -> Callable[[dict[str, Any]], None]:
    """A callback that appends one refinement to ``experiment_dir``'s experiment.json."""
    return lambda refinement: record_refined(experiment_dir, [refinement])
