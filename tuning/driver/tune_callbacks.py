"""The driver's two hooks into Ray Tune: :class:`PlanSearcher` hands out bundles of planned trials
from the :class:`~tuning.planners.bundles.TrialBook`, and :class:`SinkCallback` routes what the bundles
report into the Parquet sink, the book, the reruns and probes, the progress
display and the study summary.

Importing this module imports ray.tune (after :func:`tuning.driver.ray_env.prepare_ray_environment`).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from typing import Any

from optcompare.schema import FAILED, SearchKey
from tuning.driver.progress import PROGRESS_METRIC, StudyProgress
from tuning.driver.ray_env import prepare_ray_environment
from tuning.driver.ray_internals import MEMORY_KILLED, latest_trial_error, trial_actor
from tuning.driver.signals import GRACE_S, StopRequest
from tuning.driver.study_summary import StudySummary
from tuning.plan.trial import BundleTask, PlannedTrial, WorkerSettings
from tuning.planners.bundles import TrialBook
from tuning.store.rows import failed_summary, hp_columns, search_key, trial_row
from tuning.store.sink import ResultSink
from tuning.worker.bundle_report import BundleReport

prepare_ray_environment()

from ray.tune import Callback, Stopper  # noqa: E402 - reads the environment set just above
from ray.tune.search import Searcher  # noqa: E402

__all__ = [
    "HUNG_FLOOR_S", "HUNG_FRACTION", "PlanSearcher", "SinkCallback", "StopRequested", "hung_after_s",
    "memory_kill_message",
]

HUNG_FLOOR_S = 30.0
HUNG_FRACTION = 0.5


def memory_kill_message(error: str) -> str | None:
    """The error of a bundle whose worker Ray's memory monitor killed (its Tune error carries
    :data:`~tuning.driver.ray_internals.MEMORY_KILLED`): ``killed by Ray's memory monitor at U GB
    of T GB; lower bundle_size or raise resources.memory_per_trial`` (U and T: the node's memory
    in use and in all, as Ray's message gives them); None for any other error."""
    if MEMORY_KILLED not in error:
        return None
    found = re.search(r"was ([\d.]+) ?GB(?: used)? / ([\d.]+) ?GB", error)  # Ray 2.60's wording
    at = f" at {found[1]} GB of {found[2]} GB" if found else ""
    return f"{MEMORY_KILLED}{at}; lower bundle_size or raise resources.memory_per_trial"


def hung_after_s(time_limit_s: float) -> float:
    """Seconds after its start at which the driver ends a bundle with a time limit that still
    holds its slot (its worker hung where the loop cannot check the limit, or was lost):

        hung_after = limit + max(HUNG_FLOOR_S, HUNG_FRACTION x limit)

    (HUNG_FLOOR_S = 30 s, HUNG_FRACTION = 0.5): the margin covers starting the worker and
    loading data, which the trial's own clock does not count."""
    return time_limit_s + max(HUNG_FLOOR_S, HUNG_FRACTION * time_limit_s)


def hung_message(held_s: float, limit_s: float) -> str:
    """The error of the members of a bundle the driver ended for holding its slot."""
    return (
        f"hung: held its slot {held_s:.0f} s, past its time limit of {limit_s:g} s; ended by "
        "the driver, not retried"
    )

NO_FINAL_RESULT = "the bundle ended without a final result for this trial"
NO_ERROR_MESSAGE = "the worker died without an error message"
TRAIN_CHECKPOINT_PATH = "checkpoint_path"
"""The metric under which ``ray.tune.integration.ray_train.TuneReportCallback`` passes the path of
a checkpoint Ray Train persisted (data-parallel trials, :mod:`tuning.worker.data_parallel`)."""


class SinkCallback(Callback):
    """Routes each bundle's reported rows into the sink per planned trial, keeps the study's
    counters and hands failed bundles' unfinished members back to the book for retry.

    A worker's report holds ``curve`` (evaluation rows, each with its ``trial_id``) and
    ``finals`` (``{trial_id: summary}`` of members that finished), or ``failure`` (the error
    message of a bundle that raised, reported just before it re-raises).
    """

    def __init__(
        self, book: TrialBook, sink: ResultSink, summary: StudySummary, progress: StudyProgress,
        delete_checkpoint: Callable[[str], None] | None = None,
        delete_train_runs: Callable[[str], None] | None = None,
        stop: StopRequest | None = None, clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stop = stop or StopRequest()
        """Once requested, bundles that end are not recorded (their members stay unfinished,
        ``resume`` runs them)."""
        self.clock = clock
        self.running: dict[str, tuple[Any, float, float, float]] = {}
        """Bundle -> (Tune trial, start, hung-after deadline, time limit) of running bundles with a
        time limit."""
        self.hung: dict[str, str] = {}
        """Bundles the driver ended for holding their slot past their time limit -> the error."""
        self.delete_checkpoint = delete_checkpoint
        """Removes a checkpoint directory in Tune's storage (None: checkpoints are kept)."""
        self.delete_train_runs = delete_train_runs
        """Removes a data-parallel trial's Ray Train run directories, given its trial id (None:
        kept): with its final row, the checkpoints of every attempt go, also one that was
        persisted by a worker killed before its report reached the driver."""
        self.book = book
        self.sink = sink
        self.summary = summary
        self.progress = progress
        self.failures: dict[str, str] = {}
        """Last in-band error message of each bundle."""
        self.checkpointing: dict[str, dict[str, int]] = {}
        """Bundle -> {trial id: step} of the checkpoint its last report carried (Tune hands the
        checkpoint itself to :meth:`on_checkpoint` after :meth:`on_trial_result`)."""

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:  # noqa: ANN401
        self.sink.maybe_flush()
        self._end_hung_bundles()

    def _end_hung_bundles(self) -> None:
        """Kill the worker of each bundle past its hung-after deadline (:func:`hung_after_s`):
        Tune then reports the trial's error and its members are recorded as failed."""
        now = self.clock()
        for bundle_id, (trial, started, deadline, limit) in list(self.running.items()):
            if now < deadline:
                continue
            del self.running[bundle_id]
            self.hung[bundle_id] = hung_message(now - started, limit)
            actor = trial_actor(trial)
            if actor is not None:
                import ray

                ray.kill(actor, no_restart=True)

    def on_trial_start(
        self, iteration: int, trials: list, trial: Any, **info: Any  # noqa: ANN401
    ) -> None:
        self.summary.task_started()
        bundle_id = BundleTask.id_of(trial.config)
        bundle = self.book.in_flight.get(bundle_id)
        if bundle is None:  # not the book's (cannot happen: the searcher hands out the book's)
            return
        limit = bundle.members[0].time_limit_s
        if limit is not None:
            started = self.clock()
            self.running[bundle_id] = (trial, started, started + hung_after_s(limit), limit)
        for member in bundle.members:
            self.progress.started(member.trial_id, bundle_id)

    def on_trial_result(
        self, iteration: int, trials: list, trial: Any, result: dict, **info: Any  # noqa: ANN401
    ) -> None:
        bundle_id = BundleTask.id_of(trial.config)
        # Consume the payload and drop it from the result in place: Tune keeps each trial's
        # last result (and per-metric statistics of it) in driver memory until the end.
        report = BundleReport.pop_from(result)
        if report.failure is not None:
            self.failures[bundle_id] = report.failure
            return
        rows_by_trial: dict[str, list[dict[str, Any]]] = {}
        for row in report.curve:
            rows_by_trial.setdefault(row["trial_id"], []).append(row)
        for trial_id, rows in rows_by_trial.items():
            planned = self.book.member(bundle_id, trial_id)
            if planned is None or trial_id in self.book.done:
                continue
            attempt = self.book.attempt(trial_id)
            rows_with_attempt = [{**row, "attempt": attempt} for row in rows]
            self.sink.add_curve_rows(search_key(planned), rows_with_attempt)
        for trial_id, trial_summary in report.finals.items():
            planned = self.book.member(bundle_id, trial_id)
            if planned is not None and self.book.mark_finished(trial_id):
                self._record(planned, dict(trial_summary))
        if report.checkpointed is not None:
            self.checkpointing[bundle_id] = report.checkpointed
        if TRAIN_CHECKPOINT_PATH in result:  # a data-parallel trial's, persisted by Ray Train
            self._note_checkpoint(bundle_id, str(result.pop(TRAIN_CHECKPOINT_PATH)))

    def on_checkpoint(
        self, iteration: int, trials: list, trial: Any, checkpoint: Any, **info: Any  # noqa: ANN401
    ) -> None:
        """Tune persisted a bundle's checkpoint: note it for its members' retries and delete the
        one it replaces (Tune keeps every checkpoint, ``num_to_keep=None``: keeping one per trial
        through Tune would force an experiment-state snapshot at every checkpoint)."""
        self._note_checkpoint(BundleTask.id_of(trial.config), str(checkpoint.path))

    def _note_checkpoint(self, bundle_id: str, path: str) -> None:
        """The checkpoint at ``path`` holds the members its report named: note it, release the
        ones it replaces."""
        for trial_id, step in self.checkpointing.pop(bundle_id, {}).items():
            replaced = self.book.checkpointed(trial_id, int(step), path)
            if replaced is not None and replaced.path != path:
                self._release(replaced.path)

    def _task_ended(self, trial: Any) -> str:  # noqa: ANN401 - a Tune Trial
        """What every ended Tune trial does (completed or failed): count it, stop watching it for
        a hang; its bundle id."""
        self.summary.task_ended()
        bundle_id = BundleTask.id_of(trial.config)
        self.running.pop(bundle_id, None)
        return bundle_id

    def on_trial_complete(
        self, iteration: int, trials: list, trial: Any, **info: Any  # noqa: ANN401
    ) -> None:
        bundle_id = self._task_ended(trial)
        ended = self.book.bundle_ended(bundle_id)
        if self.stop.requested:  # stopped by the driver: unfinished members are for resume
            return
        for planned in ended:
            self._record_failed(planned, NO_FINAL_RESULT)

    def on_trial_error(
        self, iteration: int, trials: list, trial: Any, **info: Any  # noqa: ANN401
    ) -> None:
        bundle_id = self._task_ended(trial)
        hung = self.hung.pop(bundle_id, None)
        error = hung or self.failures.pop(bundle_id, None) or str(trial.get_error() or "")
        lines = error.strip().splitlines()
        memory = None if hung else memory_kill_message(latest_trial_error(trial))
        bundle = self.book.in_flight.get(bundle_id)
        size = len(bundle.members) if bundle is not None else 1
        last_line = (
            f"{memory} (this attempt ran in a bundle of {size})" if memory
            else lines[-1] if lines else NO_ERROR_MESSAGE
        )
        if self.stop.requested and hung is None:  # stopped by the driver: for resume
            self.book.bundle_ended(bundle_id)
            return
        unfinished = [m for m in bundle.members if m.trial_id not in self.book.done] if bundle is not None else []
        for member in unfinished:
            self.summary.note_hung(f"{member.trial_id}: {last_line}")
        exhausted = self.book.bundle_failed(bundle_id, retry=hung is None, shrink=memory is not None)
        retried = [m for m in unfinished if m not in exhausted]
        if memory is not None and retried:
            self.summary.note_memory_kill(
                f"{', '.join(m.trial_id for m in retried)}: {memory}; retried in bundles of at most "
                f"{max(1, size // 2)} (was {size})"
            )
        for planned in exhausted:
            self._record_failed(planned, last_line)

    def _tell_planners(self, planned: PlannedTrial, trial_summary: dict[str, Any] | None) -> None:
        """Tell the book's planners; probes they give up leave the planned count."""
        before = len(self.book.probes.not_planned)
        self.book.record_result(planned, trial_summary)
        dropped = len(self.book.probes.not_planned) - before
        if dropped:
            self.summary.planned -= dropped
            self.summary.probes_not_planned += dropped
            self.progress.add_planned(-dropped)

    def _record(self, planned: PlannedTrial, trial_summary: dict[str, Any]) -> None:
        """A member trained to its end (completed or diverged)."""
        self.summary.train_time_s += float(trial_summary.get("train_time_s", 0.0))
        status = trial_summary["status"]
        error = trial_summary.get("error")
        self.summary.count(status, None if error is None else f"{planned.trial_id}: {error}")
        key = self._write(planned, trial_summary)
        self._tell_planners(planned, trial_summary)
        value = trial_summary.get(PROGRESS_METRIC.column)
        self.progress.finished_trial(
            planned.trial_id, key, status, math.nan if value is None else float(value)
        )

    def _record_failed(self, planned: PlannedTrial, message: str) -> None:
        """A member is out of attempts (or its bundle ended without its final result)."""
        if not self.book.mark_finished(planned.trial_id):
            return
        self.summary.count(FAILED, f"{planned.trial_id}: {message}")
        key = self._write(planned, failed_summary(message))
        self._tell_planners(planned, None)
        self.progress.finished_trial(planned.trial_id, key, FAILED, math.nan)

    def _release(self, path: str) -> None:
        """Delete the checkpoint at ``path`` once no trial refers to it (a bundle's members
        share one)."""
        if self.delete_checkpoint is not None and self.book.unreferenced(path):
            self.delete_checkpoint(path)

    def _write(self, planned: PlannedTrial, trial_summary: dict[str, Any]) -> SearchKey:
        """Buffer ``planned``'s trials row at its current attempt (its checkpoint, no longer
        needed, is deleted); return its search."""
        saved = self.book.forget_checkpoint(planned.trial_id)
        if saved is not None:
            self._release(saved.path)
        if planned.workers > 1 and self.delete_train_runs is not None:
            self.delete_train_runs(planned.trial_id)
        key = search_key(planned)
        row = trial_row(planned, self.book.attempt(planned.trial_id), trial_summary)
        self.sink.add_trial_row(key, row, *hp_columns(planned))
        return key


class PlanSearcher(Searcher):
    """Hands out bundles from the book: retries, then up to ``fresh_budget`` planned trials or
    points asked of adaptive searches (:mod:`tuning.planners.adaptive`: a bundle of B asks B points
    when Tune has a free slot), then reruns and probes as they are planned; waits while bundles run (their failures come back as
    retries), then reports FINISHED.

    Each suggestion is a bundle's Tune config: a :class:`~tuning.plan.trial.BundleTask` as data
    (``bundle_id``, ``members``, and the ``worker`` settings shared by every bundle).
    """

    def __init__(
        self, book: TrialBook, worker: WorkerSettings, fresh_budget: int, stop: StopRequest | None = None,
    ) -> None:
        super().__init__(metric=None, mode=None)
        self.book = book
        self.worker = worker
        self.fresh_left = fresh_budget
        self.stop = stop or StopRequest()
        """Once requested, no more bundles are handed out."""

    def suggest(  # type: ignore[override]  # ray's stub omits Searcher.FINISHED (a str)
        self, trial_id: str
    ) -> dict | str | None:
        if self.stop.requested:
            return Searcher.FINISHED
        bundle = self.book.next_bundle(fresh_allowed=self.fresh_left)
        if bundle is not None:
            self.fresh_left -= bundle.fresh
            task = BundleTask(
                bundle_id=bundle.bundle_id, members=list(bundle.members), worker=self.worker,
                restore=self.book.restore_of(bundle),
                attempts=dict(zip((m.trial_id for m in bundle.members), bundle.attempts, strict=True)),
            )
            return task.model_dump()
        if self.book.in_flight:
            return None
        # Only a run with plan budget left waits for reruns and probes of searches still running
        # elsewhere.
        if self.fresh_left > 0 and self.book.followups_outstanding():
            return None
        return Searcher.FINISHED

    def on_trial_complete(
        self, trial_id: str, result: dict | None = None, error: bool = False
    ) -> None:
        """Nothing to do here: the callback tells the book (and through it each adaptive
        search's Optuna study) per planned trial, as each member of a bundle finishes, which
        Tune's per-bundle result could not."""

    def save(self, checkpoint_path: str) -> None:
        """State lives in the Parquet results (resume = plan minus finished; adaptive studies
        are rebuilt from their rows)."""

    def restore(self, checkpoint_path: str) -> None:
        """See :meth:`save`."""


class StopRequested(Stopper):
    """Ends the Tune run once a stop was requested (:mod:`tuning.driver.signals`) and the running
    bundles have finished or had their :data:`~tuning.driver.signals.GRACE_S` to report."""

    def __init__(self, stop: StopRequest, book: TrialBook, grace_s: float | None = None) -> None:
        self.stop = stop
        self.book = book
        self.grace_s = GRACE_S if grace_s is None else grace_s

    def __call__(self, trial_id: str, result: dict) -> bool:
        return False

    def stop_all(self) -> bool:
        return self.stop.requested and (not self.book.in_flight or self.stop.grace_over(self.grace_s))
