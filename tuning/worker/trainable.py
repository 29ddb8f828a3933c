"""What runs inside a Ray worker: train one bundle of planned trials and report its rows in batches.

A bundle of one member runs :func:`workloads.train`; a larger one runs
:func:`workloads.bundle.train_bundle` (all members vectorised in one model). Either way the
worker reports per planned trial: curve rows carry their ``trial_id``, and each member's summary
is reported as soon as that member finishes (a diverged member of a bundle finishes early).

Reports cost a round trip to the driver (about 15-30 ms here), so rows are batched: a report goes
out when ``report_every_s`` seconds have passed since the last one, and a final report carries
what remains. Workloads (and their data) are cached per worker process, so a reused actor does
not reload them.

Checkpoints. A bundle whose ``checkpoint_every_s`` is above 0 saves its whole state as one
(:mod:`workloads.checkpoint`: every member's, keyed by trial id) every that many seconds, through Ray Tune's checkpoint API:
``tune.report(rows, checkpoint=Checkpoint.from_directory(dir))`` with ``state.pt`` and
``meta.json`` (trial ids, step), the rows buffered so far in the same report, so the driver's
record and the checkpoint agree. Tune persists the directory in its storage (the experiment's
``_tune``, beside the results, local or a URI). A task with ``restore`` continues from the
checkpoint it names (every member the same one: a retried bundle's unfinished members): it
replays their saved rows, then trains on (the driver records them under a new attempt).

Limits. The bundle's ``time_limit_s`` (the workload entry's ``trial_time_limit_s``) is the
training loop's: a trial past it finishes as ``failed`` with the reason, and is not retried.
A :class:`~tuning.worker.watchdog.Watchdog` watches the loop's steps; in a Ray worker a stall reports
its message and ends the process (:func:`ray_trainable`), so the driver retries the bundle.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import workloads
from tuning.plan.trial import BundleTask, PlannedTrial
from tuning.spec.plugins import load_plugins
from tuning.worker.bundle_report import ReportBuffer
from tuning.worker.watchdog import Watchdog
from workloads.bundle import BundleMember, train_bundle
from workloads.checkpoint import active_members, load_state, save_state
from workloads.run import Checkpointing

if TYPE_CHECKING:
    from workloads.parallel import DataParallel

__all__ = [
    "execute_bundle",
]

_WORKLOAD_CACHE: dict[tuple[str, str | None, str], Any] = {}


def _workload(member: PlannedTrial | Mapping[str, Any]) -> Any:  # noqa: ANN401
    """The member's workload, built once per worker process (a dict is read as a PlannedTrial)."""

    trial = member if isinstance(member, PlannedTrial) else PlannedTrial.model_validate(member)
    key = (trial.workload, trial.data_dir, repr(sorted(trial.workload_options.items())))
    if key not in _WORKLOAD_CACHE:
        _WORKLOAD_CACHE[key] = workloads.get(trial.workload, trial.data_dir, **trial.workload_options)
    return _WORKLOAD_CACHE[key]


CHECKPOINT_FILE = "state.pt"
CHECKPOINT_META = "meta.json"


def execute_bundle(
    config: Mapping[str, Any],
    report: Callable[[dict[str, Any]], None],
    on_stall: Callable[[str], None] | None = None,
    report_checkpoint: Callable[[dict[str, Any], dict[str, bytes]], None] | None = None,
    read_checkpoint: Callable[[str, str | None], bytes] | None = None,
    parallel: DataParallel | None = None,
) -> dict[str, dict[str, Any]]:
    """Train the bundle ``config`` (a :class:`~tuning.plan.trial.BundleTask` as data); return
    ``{trial_id: summary}``.

    ``report`` receives :class:`~tuning.worker.bundle_report.BundleReport` batches as Tune results
    (:meth:`~tuning.worker.bundle_report.BundleReport.as_result`), every ``report_every_s`` of the
    worker settings; the last one is ``final``. ``on_stall`` gets the watchdog's message if the
    loop stalls (None: no watchdog). ``report_checkpoint(payload, files)`` reports a batch with
    ``checkpointed`` ({trial_id: step}) together with the checkpoint's files (name -> bytes); ``read_checkpoint(path, storage)`` reads a checkpoint's
    ``state.pt`` back (None for either: no checkpoints). ``parallel``: this process is one rank
    of a data-parallel trial (:mod:`tuning.worker.data_parallel`); every rank reports at the same
    points (rank 0's clock decides), only rank 0 serialises checkpoints.
    """
    import torch

    task = BundleTask.model_validate(config)
    settings = task.worker
    load_plugins(list(settings.plugins))
    if settings.threads:
        torch.set_num_threads(settings.threads)
    members = task.members
    first = members[0]
    workload = _workload(first)
    ids = [m.trial_id for m in members]
    finals: dict[str, dict[str, Any]] = {}
    clock = time.monotonic if parallel is None else parallel.clock
    buffer = ReportBuffer(lambda batch: report(batch.as_result()), settings.report_every_s, clock)
    watchdog = Watchdog(on_stall or (lambda message: None), first.stall_timeout_s)
    last_eval = EvaluationClock()

    def on_eval(index: int, row: workloads.EvalRow) -> None:
        interval = last_eval.seen(row.step)
        if interval is not None:
            watchdog.evaluation_interval(interval)
        buffer.add_row(ids[index], row.as_dict())

    def on_finish(index: int, outcome: workloads.TrialOutcome) -> None:
        summary = outcome.summary()
        finals[ids[index]] = summary
        buffer.add_final(ids[index], summary)

    def save(step: int, state: dict[str, Any]) -> None:
        assert report_checkpoint is not None
        meta = {"trial_ids": ids, "step": step, "bundle_id": task.bundle_id, "attempts": task.attempts}
        serialise = parallel is None or parallel.rank == 0
        files = {CHECKPOINT_FILE: save_state(state), CHECKPOINT_META: json.dumps(meta).encode()} if serialise else {}
        saved = {trial_id: step for trial_id in active_members(state)}
        report_checkpoint(buffer.take(checkpointed=saved).as_result(), files)

    checkpointing = None
    if read_checkpoint is not None:
        paths = {task.restore[i] for i in ids if i in task.restore}
        if len(paths) > 1 or (paths and len(task.restore) != len(ids)):
            raise ValueError(f"bundle {task.bundle_id}: its members continue from different checkpoints: {task.restore}")
        every = first.checkpoint_every_s if first.checkpoint_every_s > 0 and report_checkpoint else math.inf
        if paths or every < math.inf:
            state = load_state(read_checkpoint(paths.pop(), settings.storage)) if paths else None
            checkpointing = Checkpointing(every, save, state, clock=clock, members=ids)
    common = {
        "steps": first.steps,
        "eval_every": first.eval_every,
        "device": settings.device,
        "mixed_precision": first.mixed_precision,
        "on_eval": on_eval,
        "time_limit_s": first.time_limit_s,
        "heartbeat": watchdog.beat,
        "target_value": first.target_value,
    }
    with watchdog if on_stall is not None else contextlib.nullcontext():
        if len(members) == 1:
            outcome = workloads.train(
                workload, first.optimizer, first.hparams, first.schedule, first.schedule_params, first.seed,
                **{**common, "on_eval": lambda row: on_eval(0, row)}, checkpointing=checkpointing, parallel=parallel,
            )
            on_finish(0, outcome)
        else:
            train_bundle(
                workload,
                first.optimizer,
                [BundleMember(m.hparams, m.schedule_params, m.seed) for m in members],
                first.schedule,
                on_finish=on_finish,
                checkpointing=checkpointing,
                **common,
            )
    report(buffer.take(final=True).as_result())
    return finals


class EvaluationClock:
    """When the last evaluation happened: :meth:`seen` returns the seconds since the previous
    evaluation step (None for another row of the same step: a bundle evaluates every member at
    one step), which the watchdog learns its stall limit from."""

    def __init__(self) -> None:
        self.step = 0
        self.at = time.monotonic()

    def seen(self, step: int) -> float | None:
        if step == self.step:
            return None
        now = time.monotonic()
        interval, self.step, self.at = now - self.at, step, now
        return interval


STALL_EXIT_CODE = 75
"""The exit status of a worker the watchdog ended."""






def read_checkpoint(path: str, storage: str | None) -> bytes:
    """The ``state.pt`` of the checkpoint at ``path`` (on the filesystem of the results root
    ``storage`` when it is a URI, else local)."""
    from pyarrow import fs as pafs

    filesystem = pafs.LocalFileSystem() if storage is None else pafs.FileSystem.from_uri(storage)[0]
    with filesystem.open_input_stream(f"{path.rstrip('/')}/{CHECKPOINT_FILE}") as stream:
        return stream.read()


