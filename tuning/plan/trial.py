"""A planned trial: everything a worker needs to train it, and nothing else; and the bundle task
that carries planned trials to a worker.

A planned trial crosses to Ray workers as ``trial.model_dump()`` (plain, JSON-ready data) and is read back
there with ``PlannedTrial.model_validate(...)`` (:mod:`tuning.worker.trainable`). Hyperparameters
keep their Python values exactly (no int -> float coercion), so a plan re-derived on resume
hashes the same (``plan_digest`` in :mod:`tuning.store.experiment`). Importable without torch or ray.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field

from optcompare.schema import FINAL_STAGE, FIRST_STUDY, PHASES, SEARCH_PHASE
from optcompare.validation import Count, Real, StrictModel, integer, one_of

Index = integer(0)
"""A non-negative int, not a bool or a float (a planned trial crosses to workers unchanged)."""

__all__ = ["BundleTask", "PlannedTrial", "WorkerSettings"]


class PlannedTrial(StrictModel):
    """One planned trial of one search (workload, protocol, optimizer)."""

    trial_id: str
    workload: str
    protocol: str
    optimizer: str
    trial_index: Index  # type: ignore[valid-type]  # pydantic type built by a call
    seed: Index  # type: ignore[valid-type]  # pydantic type built by a call
    tuned: dict[str, Any]
    """The search point in tuned coordinates (e.g. one_minus_beta1)."""
    hparams: dict[str, Real]
    """The optimizer's hyperparameters derived from ``tuned`` plus fixed values and defaults."""
    schedule: str
    schedule_params: dict[str, Real]
    steps: Count
    eval_every: Count
    data_dir: str | None
    phase: one_of(PHASES) = SEARCH_PHASE  # type: ignore[valid-type]  # pydantic type built by a call
    """``search`` (a search point), ``rerun`` (the best search trial again, new seed) or
    ``probe`` (an inclusion probe)."""
    stage: str = FINAL_STAGE
    """The protocol stage this trial belongs to (:mod:`tuning.planners.stages`; ``final`` for a
    one-stage protocol, and for reruns and probes of a staged one: its last stage's name)."""
    study: Index = FIRST_STUDY  # type: ignore[valid-type]  # pydantic type built by a call
    """Which of the config's ``studies`` independent repeats of the search this trial is in."""
    workload_options: dict[str, Any] = Field(default_factory=dict)
    """Constructor options of the workload (from the config)."""
    mixed_precision: bool = False
    """Train in mixed precision (the config's ``mixed_precision``, per workload)."""
    time_limit_s: float | None = None
    """The workload entry's ``trial_time_limit_s``: past it the trial stops as ``failed``."""
    stall_timeout_s: float | None = None
    """The workload entry's ``stall_timeout_s`` (None: the watchdog's default)."""
    checkpoint_every_s: float = 0.0
    """Seconds of training between checkpoints (0: none; the workload entry's, 600 by default)."""
    workers: Count = 1
    """The workload entry's ``workers_per_trial``: above 1 the trial trains data-parallel on that
    many Ray Train workers (:mod:`tuning.worker.data_parallel`), each with the trial resources."""
    target_value: float | None = None
    """The workload entry's ``target_value`` (None: the workload class's)."""


class WorkerSettings(StrictModel):
    """How a worker trains every bundle of a study (the same for all of them)."""

    report_every_s: float = 10.0
    """Seconds between a worker's reports of buffered rows (a final report carries the rest)."""
    threads: int | None = None
    """Torch threads of the worker (None: torch's default)."""
    device: str | None = None
    """Device to train on (None: the worker picks one, the GPU it reserved if any)."""
    plugins: tuple[str, ...] = ()
    """Modules the worker imports first (user optimizers and workloads)."""
    storage: str | None = None
    """The results root as a URI (``s3://...``), where checkpoints live; None: a local path."""
    cpus: float = 1.0
    gpus: float = 0.0
    memory: float | None = None
    """Resources of one trial (``resources.cpus_per_trial`` / ``gpus_per_trial`` /
    ``memory_per_trial``, the last in bytes, None: none): what each worker of a data-parallel
    trial asks Ray Train for."""
    train_storage: str | None = None
    """Where data-parallel trials' Ray Train runs keep their checkpoints (the experiment's
    ``_tune/train``, a local path or URI); None: not set (no data-parallel trials)."""


class BundleTask(StrictModel):
    """One Ray trial's config: a bundle of planned trials (same workload, optimizer, schedule and
    budget) and the worker settings. Built by the driver's searcher, sent as ``model_dump()``,
    read back by the worker with ``model_validate`` (:mod:`tuning.worker.trainable`)."""

    bundle_id: str
    members: list[PlannedTrial]
    worker: WorkerSettings = WorkerSettings()
    restore: dict[str, str] = Field(default_factory=dict)
    """Trial id -> the path of the checkpoint it continues from (every member the same one)."""
    attempts: dict[str, int] = Field(default_factory=dict)
    """Trial id -> the attempt this task runs (written into its checkpoints' metadata)."""

    @staticmethod
    def id_of(config: Mapping[str, Any]) -> str:
        """The ``bundle_id`` of a task as Ray hands it back (``trial.config``, the
        ``model_dump()``), without validating the whole task."""
        return str(config["bundle_id"])

    @staticmethod
    def size_of(config: Mapping[str, Any]) -> int:
        """The members of a task given as its ``model_dump()``."""
        return len(config["members"])

    @staticmethod
    def workers_of(config: Mapping[str, Any]) -> int:
        """The data-parallel workers of a task given as its ``model_dump()`` (every member has
        the same: a bundle shares its workload entry)."""
        return int(config["members"][0].get("workers", 1))
