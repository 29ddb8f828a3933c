"""Run a plan with Ray Tune and stream its results into the Parquet sink.

Designed against the overheads measured on a 2-core machine (benchmarks/README.md): workers are
reused across trials (``reuse_actors=True``; a fresh process costs about 7 s), Tune's default
file loggers are off (:mod:`tuning.driver.ray_env`; they double the per-trial overhead, and the Parquet
sink is the record), and trials report in batches rather than per step. The driver keeps only
counters per trial.

The parts: :mod:`tuning.driver.ray_env` (start or join Ray), :mod:`tuning.driver.capacity` (slots),
:mod:`tuning.driver.bundle_probe` and :mod:`tuning.planners.bundles` (bundles and retries),
:mod:`tuning.driver.tune_callbacks` (Tune's searcher and callback), :mod:`tuning.store.rows` and
:mod:`tuning.store.sink` (rows and their files), :class:`tuning.driver.study_options.StudyOptions` (how to
run) and :class:`tuning.driver.study_summary.StudySummary` (what happened).
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from tuning.driver.bundle_probe import bundle_size_function, resolve_bundle_sizes
from tuning.driver.capacity import check_capacity, members_per_node, study_slots
from tuning.driver.progress import StudyProgress
from tuning.driver.ray_env import bounded_pending_trials, start_ray
from tuning.driver.ray_internals import memory_kills_as_worker_deaths
from tuning.driver.signals import StopRequest
from tuning.driver.study_options import StudyOptions
from tuning.driver.study_summary import StudySummary
from tuning.driver.tune_callbacks import PlanSearcher, SinkCallback, StopRequested
from tuning.plan.trial import BundleTask, PlannedTrial, WorkerSettings
from tuning.planners.bundles import RunState, TrialBook
from tuning.store.experiment import TUNE_STORE, refined_recorder
from tuning.store.sink import ResultSink, open_filesystem
from tuning.worker.data_parallel import DRIVER_RESOURCES, train_run_remover
from tuning.worker.ray_entry import ray_trainable

if TYPE_CHECKING:
    from ray.tune import PlacementGroupFactory

__all__ = ["run_study", "worker_settings"]

PENDING_TRIALS_FLOOR = 16
"""A joined cluster queues at most ``max(16, 2 x capacity)`` trials beyond those running."""


def run_study(
    trials: list[PlannedTrial],
    results_dir: str,
    options: StudyOptions | None = None,
    *,
    state: RunState | None = None,
    started_at: float | None = None,
    stop: StopRequest | None = None,
) -> StudySummary:
    """Run ``trials`` on Ray Tune as ``options`` say and write their rows under ``results_dir``.

    Starts Ray in-process (:func:`tuning.driver.ray_env.start_ray`) unless ``options.ray`` names a
    cluster or Ray is already initialised; shuts down only a Ray it started. Concurrency: as many
    trials as fit on the in-process Ray (``floor(CPU / cpus_per_trial)``,
    ``floor(GPU / gpus_per_trial)``), capped by ``max_concurrent_trials``; on a joined cluster
    only that cap applies, so an autoscaling cluster grows to the queued trials' demand.
    ``started_at`` (a ``time.perf_counter()`` value) lets the caller count its own set-up in the
    wall time. ``state`` is what the run starts from besides ``trials``
    (:class:`~tuning.planners.bundles.RunState`: its planners and, on resume, each trial's next
    attempt number and latest checkpoint); None: a fresh run with ``options.planners`` of
    ``trials``. Staged protocols (``options.staged``) plan each later stage when the stage before
    has finished and append each refinement to ``experiment.json``; protocols in
    ``options.reruns`` rerun each search's best trial; protocols in ``options.probes`` end in
    inclusion probes (:mod:`tuning.planners.probes`). Adaptive searches (``options.adaptive``,
    :mod:`tuning.planners.adaptive`) ask their points as slots free and count towards the
    concurrency like planned trials. The plan runs in chunks of ``options.trials_per_fit``
    trials (asked ones included), one Tune run each, which bounds the driver's memory.

    ``options.bundle_sizes`` maps workload names to a bundle size or ``"auto"`` (probed once per
    workload on a worker with one trial's resources, see :mod:`tuning.driver.bundle_probe`); workloads
    not named, and searches whose workload or optimizer cannot be bundled, run one trial per
    task. A failed bundle's unfinished members are retried (bundled again) up to
    ``options.max_failures`` times each.

    ``stop`` (:mod:`tuning.driver.signals`; set by a signal or a lost lease): once requested, no more
    trials start, the running ones report for a grace period and are then stopped (their
    members stay unfinished, for ``resume``), the sink is flushed, and
    :class:`~tuning.driver.signals.StudyInterrupted` is raised with the summary (after Ray, if this
    call started it, is shut down).
    """
    start = time.perf_counter() if started_at is None else started_at
    options = options or StudyOptions()
    stop = stop or StopRequest()
    summary = StudySummary(planned=len(trials))
    started_ray = start_ray(options.ray)
    try:
        state = state or RunState(options.planners(trials, refined_recorder(results_dir)))
        adaptive_planner = state.planners.adaptive
        # A data-parallel trial holds workers x the trial resources (tuning/worker/data_parallel.py).
        templates = [search.template for search in adaptive_planner.searches.values()]
        widest = max((t.workers for t in [*trials, *templates]), default=1)
        capacity = check_capacity(
            options.cpus_per_trial * widest, options.gpus_per_trial * widest, joined=options.ray.joined,
            progress=options.progress, memory_per_trial=options.memory_per_trial_bytes * widest,
        )
        slots = study_slots(
            capacity, joined=options.ray.joined, max_concurrent_trials=options.max_concurrent_trials
        )
        # Adaptive searches are sized as the quasi-random searches they stand in for would be.
        stand_ins = [t for search in adaptive_planner.searches.values() for t in search.stand_ins()]
        sizes = resolve_bundle_sizes(
            dict(options.bundle_sizes), [*trials, *stand_ins], cpus_per_trial=options.cpus_per_trial,
            gpus_per_trial=options.gpus_per_trial, slots=min(slots, max(1, capacity)),
            plugins=list(options.plugins), progress=options.progress,
            in_process=not options.ray.joined,
        )
        if options.memory_per_trial_bytes:
            # A bundle of B reserves B x memory_per_trial: no larger than the largest node holds.
            fits = members_per_node(options.memory_per_trial_bytes)
            sizes = {workload: min(size, fits) for workload, size in sizes.items()}
        summary.bundle_sizes = dict(sizes)
        size_of = bundle_size_function(sizes)
        book = state.book(trials, size_of, max_failures=options.max_failures)
        # Every bundle that may run, adaptive asks included: Tune lets the searcher keep as
        # many trials pending as max_concurrent_trials (its ConcurrencyLimiter), so adaptive
        # searches, asked one bundle per free slot, do not serialize the study.
        concurrency = max(1, min(slots, book.max_bundles(trials)))
        # Slots for the training fraction: the trials that may run at once (a joined cluster,
        # which may grow: the most that ran at once, set at the end).
        summary.slots = concurrency
        summary.planned += book.max_followups
        pending = (
            max(PENDING_TRIALS_FLOOR, 2 * capacity)
            if options.ray.joined and options.max_concurrent_trials is None
            else None
        )
        with bounded_pending_trials(pending), memory_kills_as_worker_deaths():
            _run_book(book, results_dir, options, concurrency, summary, len(trials), stop)
        if options.ray.joined:
            summary.slots = max(1, summary.peak_running)
        summary.wall_time_s = time.perf_counter() - start
    finally:
        if started_ray:
            import ray

            ray.shutdown()
    if stop.requested:
        summary.stopped = stop.reason
        raise stop.interrupted(summary)
    return summary


def worker_settings(options: StudyOptions) -> WorkerSettings:
    """What every bundle's task carries besides its members (read by
    :func:`tuning.worker.trainable.execute_bundle`)."""
    return WorkerSettings(
        report_every_s=options.report_every_s,
        threads=options.worker_threads,
        plugins=tuple(options.plugins),
        device=options.worker_device,
        cpus=options.cpus_per_trial,
        gpus=options.gpus_per_trial,
        memory=options.memory_per_trial_bytes or None,
    )


def trial_resources(options: StudyOptions) -> Callable[[dict], PlacementGroupFactory]:
    """The Ray resources of a Tune trial, by its config (a bundle task): the trial resources
    (with ``memory_per_trial``: B x that many GiB of Ray's ``memory`` resource for a bundle of B
    members), or, for a data-parallel trial, :data:`~tuning.worker.data_parallel.DRIVER_RESOURCES`
    (its Ray Train workers ask for theirs)."""
    from ray.tune import PlacementGroupFactory

    driver = PlacementGroupFactory([dict(DRIVER_RESOURCES)])
    by_size: dict[int, PlacementGroupFactory] = {}

    def resources(config: dict) -> PlacementGroupFactory:
        if BundleTask.workers_of(config) > 1:
            return driver
        size = BundleTask.size_of(config)
        if size not in by_size:
            wanted = {"CPU": options.cpus_per_trial, "GPU": options.gpus_per_trial}
            if options.memory_per_trial_bytes:
                wanted["memory"] = size * options.memory_per_trial_bytes
            by_size[size] = PlacementGroupFactory([wanted])
        return by_size[size]

    return resources


def checkpoint_remover(results_dir: str) -> Callable[[str], None]:
    """Deletes a checkpoint directory of Tune's storage under ``results_dir`` (local or a URI);
    a directory already gone is fine."""

    filesystem, _ = open_filesystem(results_dir)

    def remove(path: str) -> None:
        with contextlib.suppress(FileNotFoundError, OSError):
            filesystem.delete_dir(path)

    return remove


def _run_book(
    book: TrialBook, results_dir: str, options: StudyOptions, concurrency: int,
    summary: StudySummary, planned: int, stop: StopRequest,
) -> None:
    """Run Tune until ``book`` has no work left (or ``stop`` is requested),
    ``options.trials_per_fit`` planned trials per Tune run, writing rows to a sink under
    ``results_dir``."""
    from ray import tune

    sink = ResultSink(results_dir, flush_seconds=options.flush_seconds)
    progress = StudyProgress(planned, options.progress)
    progress.add_planned(book.max_followups)
    local = "://" not in results_dir
    storage = os.path.join(os.path.abspath(results_dir), TUNE_STORE) if local else f"{results_dir.rstrip('/')}/{TUNE_STORE}"
    callback = SinkCallback(
        book, sink, summary, progress, delete_checkpoint=checkpoint_remover(results_dir),
        delete_train_runs=train_run_remover(f"{storage}/train"), stop=stop,
    )
    worker = worker_settings(options).model_copy(
        update={"storage": None if local else results_dir, "train_storage": f"{storage}/train"}
    )
    trainable = tune.with_resources(ray_trainable, trial_resources(options))
    try:
        for index in itertools.count():
            if stop.requested or not book.has_work():
                break
            tuner = tune.Tuner(
                trainable,
                tune_config=tune.TuneConfig(
                    search_alg=PlanSearcher(book, worker, options.trials_per_fit, stop),
                    num_samples=-1,  # until the searcher says FINISHED
                    max_concurrent_trials=concurrency,
                    reuse_actors=True,
                ),
                run_config=tune.RunConfig(
                    name=f"tune-{index:04d}",
                    storage_path=storage,
                    callbacks=[callback],
                    verbose=0,
                    stop=StopRequested(stop, book),
                    # Retries are per planned trial, by the book (tuning/planners/bundles.py), not by Tune.
                    failure_config=tune.FailureConfig(max_failures=0),
                    # Keep every checkpoint: the callback deletes replaced ones (tuning/driver/tune_callbacks.py).
                    checkpoint_config=tune.CheckpointConfig(num_to_keep=None),
                ),
            )
            tuner.fit()
            del tuner  # let Tune's per-trial state of this chunk go
            # ... now: Tune's objects form reference cycles, and with a driver holding millions
            # of long-lived objects (torch, Ray) Python's generational collector seldom runs a
            # full collection, so each finished run's garbage would stay (measured: about
            # 23 MB per 1000 trials without this, flat with it).
            gc.collect()
    finally:
        sink.close()
        progress.close()
