"""The Ray Tune entry of a trial: :func:`ray_trainable` runs a bundle in this worker
(:func:`tuning.worker.trainable.execute_bundle`) or, for a data-parallel trial, as a Ray Train job
(:func:`tuning.worker.data_parallel.run_trainer`); a stalled loop ends the worker
(:func:`end_stalled_worker`)."""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tuning.plan.trial import BundleTask
from tuning.worker.bundle_report import BundleReport
from tuning.worker.data_parallel import run_trainer
from tuning.worker.trainable import STALL_EXIT_CODE, execute_bundle, read_checkpoint

__all__ = ["STALL_REPORT_WAIT_S", "end_stalled_worker", "ray_trainable"]


def ray_trainable(config: dict[str, Any]) -> None:
    """The Ray Tune function trainable: :func:`execute_bundle` reporting through ``tune.report``.

    An exception is first reported as a ``failure`` ("Type: message", so the driver records a
    readable error whatever Tune kept of it), then re-raised: the driver requeues the members
    that have not finished (see :mod:`tuning.planners.bundles`). A stalled loop ends the worker
    (:func:`end_stalled_worker`). A data-parallel trial (``workers`` above 1) runs as a Ray
    Train job started from here (:func:`tuning.worker.data_parallel.run_trainer`)."""
    from ray import tune

    try:
        if BundleTask.workers_of(config) > 1:
            run_trainer(config)  # the Train workers report, through Ray Train (TuneReportCallback)
        else:
            execute_bundle(
                config, tune.report, on_stall=end_stalled_worker(tune.report),
                report_checkpoint=_report_checkpoint, read_checkpoint=read_checkpoint,
            )
    except Exception as err:
        try:
            tune.report(BundleReport(failure=f"{type(err).__name__}: {err}"[:2000]).as_result())
        finally:
            raise


STALL_REPORT_WAIT_S = 10.0
"""How long a stalled worker waits for its failure report to go out before it exits."""


def end_stalled_worker(report: Callable[[dict[str, Any]], None]) -> Callable[[str], None]:
    """The watchdog's action in a Ray worker: report a ``failure`` with the message (from a helper
    thread, waiting at most :data:`STALL_REPORT_WAIT_S`), then end the process: the stuck loop
    cannot be interrupted, the driver sees the worker die and retries the bundle."""

    def on_stall(message: str) -> None:
        sent = threading.Event()

        def send() -> None:
            try:
                report(BundleReport(failure=message).as_result())
            finally:
                sent.set()

        threading.Thread(target=send, name="optcompare-stall-report", daemon=True).start()
        sent.wait(STALL_REPORT_WAIT_S)
        os._exit(STALL_EXIT_CODE)

    return on_stall


def _report_checkpoint(payload: dict[str, Any], files: Mapping[str, bytes]) -> None:
    """``tune.report(payload, checkpoint=...)`` of a directory holding ``files``: Tune copies it
    into its storage (the experiment's ``_tune``) before the report returns."""
    from ray import tune

    with tempfile.TemporaryDirectory(prefix="optcompare-checkpoint-") as directory:
        for name, data in files.items():
            (Path(directory) / name).write_bytes(data)
        tune.report(payload, checkpoint=tune.Checkpoint.from_directory(directory))
