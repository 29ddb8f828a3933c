"""Data-parallel trials: a Tune trial that trains its one planned trial on N Ray Train workers.

Ray 2.60 composes Tune and Train (Train V2) this way: the Tune trial is a driver function that
builds a ``ray.train.torch.TorchTrainer`` and calls ``fit()``; the trainer starts its own worker
group (N workers with the resources of ``ScalingConfig``) and sets up the process group (gloo on
CPU, NCCL on GPU); what the workers pass to ``ray.train.report`` reaches Tune through
``ray.tune.integration.ray_train.TuneReportCallback`` (rank 0's metrics, with the checkpoint's
path in storage as the ``checkpoint_path`` metric). So:

- :func:`run_trainer` runs in the Tune trial. The trial itself asks Ray for almost nothing (one
  byte of memory, :data:`DRIVER_RESOURCES`): the workers hold the trial's resources, N times
  ``cpus_per_trial`` / ``gpus_per_trial`` (the driver caps concurrency accordingly,
  :mod:`tuning.driver.run_study`). Each Train run gets a fresh name, so Train never resumes one by itself
  (a retry or a resume continues from the checkpoint the driver names, as for any trial).
  Train does not retry (``max_failures=0``): retries are per planned trial, by the
  :class:`~tuning.planners.bundles.TrialBook`.
- :func:`train_worker` runs on each Train worker: :func:`tuning.worker.trainable.execute_bundle` with a
  :class:`~workloads.parallel.DataParallel` of the worker's rank. ``ray.train.report`` is a
  barrier: every rank reports at the same points (rank 0's clock decides), every rank's rows are
  the same, rank 0's reach the driver; checkpoints are written by rank 0 only, into the Train
  run's storage (the experiment's ``_tune/train``: local, or the results URI), and restore on
  any number of workers.
- A stalled worker (the watchdog, :mod:`tuning.worker.watchdog`) cannot report (the others would wait
  at the barrier): it writes its message to ``STALLED`` in the run's storage and ends its
  process; :func:`run_trainer` raises that message when the Train run fails, so the trial is
  retried with "stalled" as its error.
- A trial's Train runs are named after its trial id (:func:`train_run_prefix`); when its final
  row is written the driver deletes them all (:func:`train_run_remover`), checkpoints of every
  attempt included.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tuning.plan.trial import BundleTask
from tuning.worker.trainable import STALL_EXIT_CODE, execute_bundle, read_checkpoint
from workloads.parallel import DataParallel

__all__ = ["DRIVER_RESOURCES", "STALL_FILE", "run_trainer", "train_run_prefix", "train_run_remover", "train_worker"]

DRIVER_RESOURCES = {"memory": 1}
"""What the Tune trial of a data-parallel trial reserves: Tune needs a non-empty request, and the
trial only waits for its Train run (Ray's memory resource is in bytes)."""
STALL_FILE = "STALLED"
"""The file a stalled Train worker leaves in its run's storage directory, holding its message."""


def train_run_prefix(trial_id: str) -> str:
    """How the names of a trial's Ray Train runs begin (one run per attempt; a random suffix
    follows)."""
    return trial_id.replace("/", "_") + "-"


def train_run_remover(train_storage: str) -> Callable[[str], None]:
    """Deletes every Ray Train run directory of a trial (by trial id) under ``train_storage``."""
    from pyarrow import fs as pafs

    filesystem, root = _filesystem(train_storage)

    def remove(trial_id: str) -> None:
        prefix = train_run_prefix(trial_id)
        with contextlib.suppress(FileNotFoundError, OSError):
            for info in filesystem.get_file_info(pafs.FileSelector(root, allow_not_found=True)):
                if info.type == pafs.FileType.Directory and info.base_name.startswith(prefix):
                    filesystem.delete_dir(info.path)

    return remove


def _filesystem(storage: str) -> tuple[Any, str]:  # noqa: ANN401
    """(pyarrow filesystem, path) of a local path or URI."""
    from pyarrow import fs as pafs

    if "://" in storage:
        return pafs.FileSystem.from_uri(storage)
    return pafs.LocalFileSystem(), os.path.abspath(storage)


def run_trainer(config: Mapping[str, Any]) -> None:
    """Train the data-parallel trial ``config`` (a :class:`~tuning.plan.trial.BundleTask` of one
    member with ``workers`` above 1) as a Ray Train run and wait for it (module docstring)."""
    import ray.train
    from ray.train.torch import TorchConfig, TorchTrainer
    from ray.tune.integration.ray_train import TuneReportCallback

    task = BundleTask.model_validate(config)
    (member,) = task.members
    settings = task.worker
    if settings.train_storage is None:
        raise ValueError(f"bundle {task.bundle_id}: a data-parallel trial needs WorkerSettings.train_storage")
    use_gpu = settings.gpus > 0
    resources = {
        "CPU": settings.cpus, **({"GPU": settings.gpus} if use_gpu else {}),
        **({"memory": settings.memory} if settings.memory is not None else {}),
    }
    name = f"{train_run_prefix(member.trial_id)}{uuid.uuid4().hex[:8]}"
    filesystem, root = _filesystem(settings.train_storage)
    stall_file = f"{root.rstrip('/')}/{name}/{STALL_FILE}"
    trainer = TorchTrainer(
        train_worker,
        train_loop_config={"task": dict(config), "stall_file": stall_file},
        scaling_config=ray.train.ScalingConfig(num_workers=member.workers, use_gpu=use_gpu, resources_per_worker=resources),
        torch_config=TorchConfig(backend="nccl" if use_gpu else "gloo"),
        run_config=ray.train.RunConfig(
            name=name,
            storage_path=settings.train_storage,
            callbacks=[TuneReportCallback()],  # type: ignore[list-item]  # mypy sees Train v1's RunConfig
            failure_config=ray.train.FailureConfig(max_failures=0),
            checkpoint_config=ray.train.CheckpointConfig(num_to_keep=None),  # the driver deletes replaced ones
        ),
    )
    try:
        trainer.fit()
    except Exception:
        message = _stall_message(filesystem, stall_file)
        if message is not None:
            raise RuntimeError(message) from None
        raise


def _stall_message(filesystem: Any, path: str) -> str | None:  # noqa: ANN401
    from pyarrow import fs as pafs

    if filesystem.get_file_info(path).type != pafs.FileType.File:
        return None
    with filesystem.open_input_stream(path) as stream:
        return stream.read().decode(errors="replace").strip() or None


def train_worker(loop_config: dict[str, Any]) -> None:
    """One Train worker's part of a data-parallel trial (module docstring)."""
    import ray.train
    import ray.train.torch

    context = ray.train.get_context()
    rank = context.get_world_rank()
    parallel = DataParallel(rank, context.get_world_size(), device=ray.train.torch.get_device())
    config = loop_config["task"]
    config = {**config, "worker": {**config.get("worker", {}), "device": str(parallel.device)}}

    def report(payload: dict[str, Any]) -> None:
        ray.train.report(payload)

    def report_checkpoint(payload: dict[str, Any], files: Mapping[str, bytes]) -> None:
        if not files:  # ranks above 0 meet rank 0 at the barrier without a checkpoint
            ray.train.report(payload)
            return
        with tempfile.TemporaryDirectory(prefix="optcompare-checkpoint-") as directory:
            for file_name, data in files.items():
                (Path(directory) / file_name).write_bytes(data)
            ray.train.report(payload, checkpoint=ray.train.Checkpoint.from_directory(directory))

    def on_stall(message: str) -> None:
        try:
            filesystem, path = _filesystem(loop_config["stall_file"])
            filesystem.create_dir(path.rsplit("/", 1)[0], recursive=True)
            with filesystem.open_output_stream(path) as stream:
                stream.write(message.encode())
        finally:
            print(f"optcompare: rank {rank}: {message}", file=sys.stderr, flush=True)
            os._exit(STALL_EXIT_CODE)

    execute_bundle(
        config, report, on_stall=on_stall, report_checkpoint=report_checkpoint,
        read_checkpoint=read_checkpoint, parallel=parallel,
    )
