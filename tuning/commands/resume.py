"""Resume a study whose driver stopped (crash, SIGKILL, Ctrl-C): the plan minus finished trials.

The Parquet results are the truth about what finished. ``resume`` re-derives the plan from the
config and protocol texts recorded in ``experiment.json`` (so later edits to files on disk do not
change it), checks it against the recorded plan digest, and runs every planned trial that has no
trials row yet. A trial that had started continues from its latest checkpoint in Tune's storage
(:func:`latest_checkpoints`) when it saved one, else restarts from scratch, either way with the
next ``attempt`` number, so its old and new curve rows stay distinguishable (a continued
attempt's curve holds the rows before the checkpoint too). Failed trials count as
finished unless ``retry_failed`` (except in a stage that a later stage was already refined
from: those rows made that refinement, so they stay). Later stages of staged protocols, reruns of best trials and
inclusion probes are re-planned from the finished rows, by replaying each finished trial through
the same planners the driver uses (a stage's refined space comes out bitwise as it was: the
rows hold the same numbers); a refinement that differs from the one experiment.json recorded is
refused, and one that was never recorded (the driver died first) is recorded. A search whose
reruns, or a pair whose probe, already has a row is closed.

Adaptive searches (:mod:`tuning.planners.adaptive`) have no plan to re-derive: each study is rebuilt from
its rows (the same distributions, every finished trial told in ask order,
:meth:`tuning.planners.adaptive.AdaptivePlanner.restore`) and asks on where it stopped; with one slot the
points it asks are those the uninterrupted study would have asked. A trial that was running when
the driver stopped left no row and no record of its point: its index is asked again (a new
point, so it starts from scratch, not from its old checkpoint).

What the rows cannot say is reported, not silently worked around: a part file that cannot be
read is named on stderr (its trials have no row, so they run again), and so are rows written
twice (two drivers ran at once: one row per trial attempt is kept, :mod:`analysis.load`).
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from analysis.load import load_results
from optcompare.errors import InputError
from optcompare.schema import (
    FAILED,
    FIRST_STUDY,
    METRICS,
    PROBE_PHASE,
    RERUN_PHASE,
    SELECT_METRICS,
    TUNED_PREFIX,
    SearchKey,
)
from tuning.commands.lost_ground_lines import lost_ground_lines
from tuning.driver.driver_guard import hold_lease, stop_signals
from tuning.driver.ray_env import RayTarget, start_ray
from tuning.driver.run_study import run_study
from tuning.driver.signals import StopRequest
from tuning.driver.study_options import StudyOptions
from tuning.driver.study_summary import StudySummary
from tuning.plan.resolve import resolve_plan
from tuning.plan.tracks import Track
from tuning.plan.trial import PlannedTrial
from tuning.planners.bundles import RunState, Saved
from tuning.spec.config import ExperimentConfig, parse_config
from tuning.spec.plugins import load_plugins
from tuning.spec.protocol import Protocol, parse_protocol
from tuning.store.experiment import (
    TUNE_STORE,
    check_checkpoint_store,
    plan_digest,
    record_refined,
    refined_recorder,
)
from tuning.store.sink import open_filesystem
from tuning.worker.trainable import CHECKPOINT_META

if TYPE_CHECKING:
    from analysis.load import Experiment

__all__ = ["ResumeState", "load_resume_state", "resume_experiment"]

SUMMARY_COLUMNS = (
    "status", "phase", "stage", "study", "trial_index", *(METRICS[name].column for name in SELECT_METRICS)
)
"""Columns of the finished rows that resume reads besides ``tuned_<name>``: what re-planning
reruns needs, and rebuilding adaptive studies."""


@dataclass
class ResumeState:
    """What is left of a study: its config, the pending trials, and the state the driver's run
    continues from (its planners, attempt numbers and checkpoints)."""

    config: ExperimentConfig
    experiment_dir: str
    pending: list[PlannedTrial]
    finished: int
    run: RunState
    """The planners rebuilt from the rows (the adaptive searches' asked trials to run again are
    in ``pending``), each trial's next attempt number, and the latest checkpoint of each pending
    trial that saved one (it continues from it)."""
    refined: list[dict[str, Any]]
    """Every refinement of staged protocols re-derived from the rows (experiment.json's
    ``refined`` once recorded)."""
    skipped: tuple[str, ...] = ()
    """``"path: reason"`` of each part file that could not be read (its trials run again)."""
    repeated: dict[str, int] = field(default_factory=dict)
    """Rows dropped per table as repeats of a trial attempt (or curve step) already read."""


def row_warnings(skipped: tuple[str, ...], repeated: dict[str, int]) -> list[str]:
    """The warnings resume prints about the rows it read: each unreadable part file, and the
    rows written twice."""
    lines = [f"warning: skipped unreadable file {entry}; its trials have no row and run again" for entry in skipped]
    doubled = {table: n for table, n in repeated.items() if n}
    if doubled:
        counts = ", ".join(f"{n} {table} rows" for table, n in doubled.items())
        lines.append(
            f"warning: {counts} repeat a trial attempt already read (two drivers ran this experiment "
            "at once); one row per trial attempt is kept, the last one written"
        )
    return lines


def _config_from_record(record: dict[str, Any], experiment_dir: str) -> ExperimentConfig:
    entries = record.get("protocol_entries")
    if not entries or record.get("config") is None:
        raise InputError(
            f"{experiment_dir}/experiment.json lacks the recorded config or protocol texts "
            "(written by an older optcompare?); it cannot be resumed"
        )
    source = f"{experiment_dir}/experiment.json: config"

    def recorded_protocol(entry: str, base_dir: Path, where: str) -> Protocol:
        del base_dir
        if entry not in entries:
            raise InputError(f"{where}: protocol {entry!r} is not recorded in experiment.json")
        where_recorded = f"{experiment_dir}/experiment.json: protocol_entries.{entry}"
        return parse_protocol(entries[entry], where_recorded)

    load_plugins(record["config"].get("plugins") or [], where=f"{source}: plugins")
    base_dir = Path(record.get("config_source") or ".").parent
    config = parse_config(record["config"], source, base_dir, protocol_loader=recorded_protocol)
    return with_recorded_targets(config, record)


def with_recorded_targets(config: ExperimentConfig, record: dict[str, Any]) -> ExperimentConfig:
    """``config`` with each workload's ``target_value`` as experiment.json recorded it, so a
    resumed experiment measures steps to target against the target it started with even when
    the workload's default has changed since."""
    recorded: dict[object, Any] = {
        w.get("name"): w.get("target_value") for w in record.get("workloads") or [] if isinstance(w, dict)
    }
    entries = [
        w.model_copy(update={"target_value": float(recorded[w.name])})
        if isinstance(recorded.get(w.name), (int, float)) and not isinstance(recorded.get(w.name), bool) else w
        for w in config.workloads
    ]
    return config.model_copy(update={"workloads": entries})


def _latest_rows(experiment: Experiment) -> tuple[dict[str, dict[str, Any]], dict[str, int]]:
    """(latest trials row per trial id, highest attempt seen per trial id in trials or curves)."""
    trials, curves = experiment.trials, experiment.curves
    latest: dict[str, dict[str, Any]] = {}
    attempts: dict[str, int] = {}
    if trials.num_rows:
        wanted = ("trial_id", "attempt", *SUMMARY_COLUMNS)
        columns = [c for c in trials.column_names if c in wanted or c.startswith(TUNED_PREFIX)]
        for row in trials.select(columns).to_pylist():
            tid = row["trial_id"]
            attempts[tid] = max(attempts.get(tid, -1), row["attempt"])
            if tid not in latest or row["attempt"] >= latest[tid]["attempt"]:
                latest[tid] = row
    if curves.num_rows:
        for tid, attempt in zip(
            curves.column("trial_id").to_pylist(), curves.column("attempt").to_pylist(), strict=True
        ):
            attempts[tid] = max(attempts.get(tid, -1), attempt)
    return latest, attempts


def load_resume_state(experiment_dir: str, *, retry_failed: bool = False) -> ResumeState:
    """Work out what is left to run; nothing is started or written."""

    experiment = load_results(experiment_dir)  # InputError when it is not an experiment
    for line in row_warnings(experiment.skipped, experiment.repeated):
        print(line, file=sys.stderr, flush=True)
    record = experiment.meta
    config = _config_from_record(record, experiment_dir)
    plan = resolve_plan(config)
    if record.get("plan_digest") is not None and plan_digest(plan) != record["plan_digest"]:
        raise InputError(
            f"{experiment_dir}: the plan derived now differs from the one recorded when the study "
            f"started (optcompare {(record.get('versions') or {}).get('optcompare', '?')}; a plugin or "
            "the optcompare version changed); resume with the same versions, or start a new "
            "experiment"
        )
    latest, attempts = _latest_rows(experiment)

    # A stage that was refined from stays as it was: retrying its failed trials would change
    # the rows its successor's space came from (and plan that stage a second time).
    refined_from = {
        (r.get("workload"), r.get("protocol"), r.get("optimizer"), r.get("study"), r.get("from_stage"))
        for r in record.get("refined") or [] if isinstance(r, dict)
    }

    def finished(trial_id: str) -> bool:
        row = latest.get(trial_id)
        if row is None:
            return False
        if not (retry_failed and row["status"] == FAILED):
            return True
        study = FIRST_STUDY if row.get("study") is None else int(row["study"])
        return (*SearchKey.of_trial_id(trial_id), study, row.get("stage")) in refined_from

    options = StudyOptions.from_config(config)
    planners = options.planners(plan)
    asked_done, asked_to_run = planners.adaptive.restore(latest.values(), finished)
    # A search whose reruns already have rows is closed: retrying one of its failed trials must
    # not plan its reruns a second time (perhaps from a different best trial).
    for tid, row in latest.items():
        if row.get("phase") == RERUN_PHASE:
            study = row.get("study")
            planners.reruns.close_search(Track(SearchKey.of_trial_id(tid), FIRST_STUDY if study is None else int(study)))
        if row.get("phase") == PROBE_PHASE and finished(tid):
            planners.probes.close_probe(tid)
    # Replay every finished trial through the planners, as the driver told them
    # (Planners.replay), in plan order; what they plan joins the queue (finished: replayed in turn; unfinished: to run).
    queue: deque[PlannedTrial] = deque([*plan, *asked_done])
    pending: list[PlannedTrial] = list(asked_to_run)
    while queue:
        trial = queue.popleft()
        if not finished(trial.trial_id):
            pending.append(trial)
            continue
        row = latest[trial.trial_id]
        summary = None if row["status"] == FAILED else {k: (math.nan if v is None else v) for k, v in row.items()}
        queue.extend(planners.replay(trial, summary))
    _check_refined(experiment_dir, record.get("refined") or [], planners.stages.records)
    # Every id seen before continues with the next attempt number, finished or not.
    offsets = {tid: a + 1 for tid, a in attempts.items()}
    done = sum(1 for tid in latest if finished(tid))
    # An adaptive trial asked again has a new point: its old checkpoint does not apply.
    pending_ids = {t.trial_id for t in pending} - {t.trial_id for t in asked_to_run if t.trial_id not in latest}
    saved = {tid: s for tid, s in latest_checkpoints(experiment_dir).items() if tid in pending_ids}
    for tid, checkpoint in saved.items():  # a continuation is a new attempt, rows on disk or not
        offsets[tid] = max(offsets.get(tid, 0), checkpoint.attempt + 1, 1)
    return ResumeState(
        config, experiment_dir, pending, done, RunState(planners, offsets, saved),
        list(planners.stages.records), skipped=experiment.skipped, repeated=dict(experiment.repeated),
    )


def latest_checkpoints(experiment_dir: str) -> dict[str, Saved]:
    """Trial id -> its latest checkpoint (highest step) in Tune's storage of the experiment
    (``_tune/*/*/checkpoint_*/meta.json``, written by :func:`tuning.worker.trainable.execute_bundle`);
    unreadable metadata is skipped."""
    from pyarrow import fs as pafs

    filesystem, root = open_filesystem(experiment_dir)
    base = f"{root.rstrip('/')}/{TUNE_STORE}"
    if filesystem.get_file_info(base).type != pafs.FileType.Directory:
        return {}  # none yet (or not a directory: check_checkpoint_store says so)
    found: dict[str, Saved] = {}
    for info in filesystem.get_file_info(pafs.FileSelector(base, recursive=True)):
        directory, _, name = info.path.rpartition("/")
        if name != CHECKPOINT_META or not directory.rpartition("/")[2].startswith("checkpoint_"):
            continue
        try:
            with filesystem.open_input_stream(info.path) as stream:
                meta = json.loads(stream.read())
            step, ids = int(meta["step"]), list(meta["trial_ids"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        attempts = meta.get("attempts") if isinstance(meta.get("attempts"), dict) else {}
        for trial_id in ids:
            if trial_id not in found or step > found[trial_id].step:
                found[trial_id] = Saved(step, directory, int(attempts.get(trial_id, -1)))
    return found


REFINED_KEY = ("workload", "protocol", "optimizer", "study", "stage")
"""What identifies a refinement in experiment.json's ``refined`` list."""


def _check_refined(experiment_dir: str, recorded: list[dict[str, Any]], derived: list[dict[str, Any]]) -> None:
    """InputError if a re-derived refinement differs from the one recorded for the same search,
    study and stage (the rows or the rule changed under the study)."""
    by_key = {tuple(r.get(k) for k in REFINED_KEY): r for r in recorded if isinstance(r, dict)}
    for refinement in derived:
        key = tuple(refinement[k] for k in REFINED_KEY)
        before = by_key.get(key)
        if before is not None and json.loads(json.dumps(refinement)) != before:
            raise InputError(
                f"{experiment_dir}: the refined space of {'/'.join(map(str, key[:3]))} study {key[3]} "
                f"stage {key[4]!r} re-derived from the rows differs from the one experiment.json "
                "recorded; a part file of its earlier stage was changed or lost. Restore it, or "
                "start a new experiment"
            )


def resume_experiment(
    experiment_dir: str,
    *,
    retry_failed: bool = False,
    ray: RayTarget | None = None,
    progress: bool = True,
) -> tuple[ResumeState, StudySummary]:
    """Run what is left of ``experiment_dir`` on ``ray`` (default: a fresh in-process Ray);
    return (state, study summary).

    Holds the experiment's lease from before the rows are read to the end
    (:mod:`tuning.store.lease`: :class:`~tuning.store.lease.LeaseHeld` if another driver runs it; a stale
    lease is taken over and the orphaned Ray processes of its dead driver are stopped) and
    stops cleanly at SIGINT or SIGTERM (:mod:`tuning.driver.signals`)."""

    started = time.perf_counter()
    if not _has_experiment_file(experiment_dir):
        load_resume_state(experiment_dir, retry_failed=retry_failed)  # says why it is not one
    with hold_lease(experiment_dir) as lease:
        state = load_resume_state(experiment_dir, retry_failed=retry_failed)
        check_checkpoint_store(experiment_dir)  # before Ray starts: the store must be writable
        target = ray or RayTarget()
        started_ray = start_ray(target, announce=progress)
        try:
            with stop_signals(lease, started_ray=started_ray) as stop:
                return state, _run_resumed(state, experiment_dir, target, progress, started, stop)
        finally:
            if started_ray:
                import ray as ray_module

                ray_module.shutdown()


def _has_experiment_file(experiment_dir: str) -> bool:
    """Whether ``experiment_dir`` holds an ``experiment.json`` (before its lease is taken: a
    directory that is not an experiment gets no lease file)."""
    from pyarrow import fs as pafs

    try:
        filesystem, root = open_filesystem(experiment_dir)
        return filesystem.get_file_info(f"{root.rstrip('/')}/experiment.json").type == pafs.FileType.File
    except (OSError, ValueError):
        return False


def _run_resumed(
    state: ResumeState, experiment_dir: str, ray: RayTarget, progress: bool, started: float,
    stop: StopRequest,
) -> StudySummary:
    planners = state.run.planners
    print(
        f"experiment {experiment_dir}: {state.finished} trials finished, "
        f"{len(state.pending)} to run (plus trials still to be asked by adaptive searches: "
        f"{planners.adaptive.max_asks}, of later stages still to be planned: "
        f"{planners.stages.max_stage_trials}, reruns: {planners.reruns.max_reruns}, "
        f"probes: {planners.probes.max_probes})",
        flush=True,
    )
    if state.refined:
        record_refined(experiment_dir, state.refined, replace=True)
    state.run.planners.stages.on_refined = refined_recorder(experiment_dir)
    summary = run_study(
        state.pending,
        experiment_dir,
        StudyOptions.from_config(state.config, ray=ray, progress=progress),
        state=state.run,
        started_at=started,
        stop=stop,
    )
    print(summary.line(), flush=True)
    for line in summary.hung_lines()[:20]:
        print(line, flush=True)
    for line in lost_ground_lines(experiment_dir, any(p.stages for p in state.config.protocols)):
        print(line, flush=True)
    return summary
