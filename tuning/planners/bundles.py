"""Bundles on the driver: which planned trials run together, and retries per planned trial.

A bundle is up to ``bundle_size`` planned trials, consecutive in plan order, that share
everything but their hyperparameters and seed (workload and its options, protocol, optimizer,
schedule, steps, evaluation interval, phase). Ray runs one task per bundle; a bundle of one is an
ordinary trial. :class:`TrialBook` hands out bundles and keeps the per-trial bookkeeping:

- a trial is *done* once its final row is recorded; a bundle that fails (an exception, a dead
  worker or node) requeues each member that is not done, with its attempt number raised by one,
  and records a member as ``failed`` once it has failed ``max_failures + 1`` times in this run
  (a resumed study gives each trial its retries again). Retries are bundled again with the
  other requeued members, except a member's last attempt, which runs alone: one member that
  fails every time (say it runs out of memory) would otherwise take its healthy bundle-mates
  down to ``failed`` with it. (With ``max_failures: 0`` a trial's only attempt is its last; it
  runs bundled.)
- attempts start from ``attempt_offsets`` (resume), so curve rows of every attempt stay apart;
- a trial's latest checkpoint (:meth:`TrialBook.checkpointed`, or ``checkpoints`` on resume) goes
  with its retry: retries bundle only with members of the same checkpoint (a bundle's checkpoint
  holds all its members; its retry continues the unfinished ones together); the book forgets a
  trial's checkpoint once its final row is recorded (:meth:`TrialBook.forget_checkpoint`), and
  a checkpoint no trial refers to any more may be deleted (:meth:`TrialBook.unreferenced`).

Adaptive searches (:mod:`tuning.planners.adaptive`) have no planned trials: when the plan's queue is
empty, the book asks the :class:`~tuning.planners.adaptive.AdaptivePlanner` for one bundle's worth of
points of the next search (B points at once for a bundle of B), capped like planned trials;
their retries go through the retry queue like any other trial's (same point, same trial id).

Pure bookkeeping, no Ray: the driver's searcher calls :meth:`TrialBook.next_bundle`, its
callback calls :meth:`TrialBook.mark_finished`, :meth:`TrialBook.bundle_ended` and
:meth:`TrialBook.bundle_failed`.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from tuning.plan.trial import PlannedTrial
from tuning.planners.adaptive import AdaptivePlanner
from tuning.planners.planners import FollowupPlanner, Planners
from tuning.planners.probes import ProbePlanner
from tuning.planners.reruns import RerunPlanner
from tuning.planners.stages import StagePlanner

__all__ = ["Bundle", "RunState", "Saved", "TrialBook", "bundle_key", "count_bundles"]


def bundle_key(trial: PlannedTrial) -> tuple:
    """What members of one bundle share."""
    return (
        trial.workload, trial.protocol, trial.optimizer, trial.phase, trial.schedule, trial.steps,
        trial.eval_every, trial.data_dir, repr(sorted(trial.workload_options.items())), trial.target_value,
    )


def count_bundles(trials: Iterable[PlannedTrial], size_of: Callable[[PlannedTrial], int]) -> int:
    """How many bundles :class:`TrialBook` forms from ``trials`` (no failures)."""
    count, key, room = 0, None, 0
    for trial in trials:
        k = bundle_key(trial)
        if k != key or room == 0:
            count, key, room = count + 1, k, size_of(trial)
        room -= 1
    return count


class Saved(NamedTuple):
    """A trial's latest checkpoint: after ``step`` updates, at ``path`` in Tune's storage, saved
    by attempt ``attempt`` (-1: not known)."""

    step: int
    path: str
    attempt: int = -1


@dataclass(frozen=True)
class Bundle:
    """Planned trials that train together, with the attempt number of each."""

    bundle_id: str
    members: tuple[PlannedTrial, ...]
    attempts: tuple[int, ...]
    fresh: int = 0
    """How many members came from the plan (not retries or reruns)."""


class TrialBook:
    """The queue of trials to run, formed into bundles, and their attempts (module docstring)."""

    def __init__(
        self,
        trials: Iterable[PlannedTrial],
        size_of: Callable[[PlannedTrial], int],
        planners: Planners | None = None,
        *,
        max_failures: int,
        attempt_offsets: dict[str, int] | None = None,
        checkpoints: dict[str, Saved] | None = None,
    ) -> None:
        self.pending: deque[PlannedTrial] = deque(trials)
        self.planners = planners or Planners()
        """The adaptive searches' studies (asked when the plan's queue is empty) and the
        planners of trials that depend on results (later stages, reruns, probes), told of each
        finished trial and drained in this order."""
        self.retry: deque[PlannedTrial] = deque()
        self.size_of = size_of
        self.max_failures = max_failures
        self.attempts: dict[str, int] = dict(attempt_offsets or {})
        self.failures: dict[str, int] = {}
        """Failures of each trial in this run: the retry budget is per run (a resumed trial gets
        ``max_failures`` retries again), while attempt numbers continue from ``attempt_offsets``."""
        self.in_flight: dict[str, Bundle] = {}
        self.done: set[str] = set()
        self.alone: set[str] = set()
        """Trials whose next attempt is their last in this run: they run in a bundle of one."""
        self.size_caps: dict[str, int] = {}
        """Trial id -> the largest bundle its next attempts may run in: a bundle killed for
        memory is retried at half its size (:meth:`bundle_failed` with ``shrink``)."""
        self._ids = itertools.count()
        self.checkpoints: dict[str, Saved] = dict(checkpoints or {})
        """Trial id -> its latest checkpoint (the step and where it is)."""

    @property
    def adaptive(self) -> AdaptivePlanner:
        return self.planners.adaptive

    @property
    def stages(self) -> StagePlanner:
        return self.planners.stages

    @property
    def reruns(self) -> RerunPlanner:
        return self.planners.reruns

    @property
    def probes(self) -> ProbePlanner:
        return self.planners.probes

    @property
    def followups(self) -> tuple[FollowupPlanner, ...]:
        return self.planners.followups

    def attempt(self, trial_id: str) -> int:
        return self.attempts.get(trial_id, 0)

    def has_work(self) -> bool:
        """Trials to hand out now, running, or reruns and probes that may still be planned."""
        return bool(
            self.pending or self.retry or self.in_flight or self.adaptive.has_asks()
            or any(f.ready for f in self.followups) or self.followups_outstanding()
        )

    def followups_outstanding(self) -> bool:
        """Whether reruns or probes may still be planned (their searches are unfinished)."""
        return any(f.outstanding() for f in self.followups)

    @property
    def max_followups(self) -> int:
        """Adaptive asks, later stages' trials, reruns and probes still to be planned, at most."""
        return self.adaptive.max_asks + self.planners.max_followups

    def max_bundles(self, trials: Iterable[PlannedTrial]) -> int:
        """Bundles that ``trials`` (the plan), the adaptive asks and the followups form at most
        (no failures; a followup counted as a bundle of its own)."""
        followups = self.planners.max_followups
        return count_bundles(trials, self.size_of) + self.adaptive.max_bundles(self.size_of) + followups

    def record_result(self, trial: PlannedTrial, summary: dict[str, Any] | None) -> None:
        """``trial`` finished (None: it failed): tell the planners (:meth:`Planners.record`)."""
        self.planners.record(trial, summary)

    def next_bundle(self, *, fresh_allowed: int | None = None) -> Bundle | None:
        """The next bundle to run: retries first, then later stages' trials (a search's next
        stage starts as soon as the stage before has finished), then the plan, then points
        asked of the adaptive searches, then planned reruns and probes.

        ``fresh_allowed`` caps how many trials may come from the plan or be asked (retries,
        later stages, reruns and probes are not capped); None: no cap."""
        queues = (
            (self.retry, False), (self.stages.ready, False), (self.pending, True),
            (self.adaptive.ready, True), (self.reruns.ready, False), (self.probes.ready, False),
        )
        for queue, capped in queues:
            if queue is self.adaptive.ready and not queue and (fresh_allowed is None or fresh_allowed > 0):
                self.adaptive.ask(self.size_of, fresh_allowed)
            if not queue:
                continue
            limit = self.size_of(queue[0])
            if capped and fresh_allowed is not None:
                limit = min(limit, fresh_allowed)
            if limit < 1:
                continue
            head = queue.popleft()
            members = [head]
            key = bundle_key(head)
            if head.trial_id in self.alone:
                limit = 1
            limit = min(limit, self.size_caps.get(head.trial_id, limit))
            path = self._restore_path(head)
            while (
                queue and len(members) < min(limit, self.size_caps.get(queue[0].trial_id, limit))
                and bundle_key(queue[0]) == key and queue[0].trial_id not in self.alone
                and self._restore_path(queue[0]) == path
            ):
                member = queue.popleft()
                members.append(member)
                limit = min(limit, self.size_caps.get(member.trial_id, limit))  # every member's cap holds
            bundle = Bundle(
                f"bundle-{next(self._ids):06d}",
                tuple(members),
                tuple(self.attempt(m.trial_id) for m in members),
                fresh=len(members) if capped else 0,
            )
            self.in_flight[bundle.bundle_id] = bundle
            return bundle
        return None

    def retry_size(self, trial: PlannedTrial) -> int:
        """The largest bundle ``trial``'s next attempt may run in."""
        size = 1 if trial.trial_id in self.alone else self.size_of(trial)
        return min(size, self.size_caps.get(trial.trial_id, size))

    def member(self, bundle_id: str, trial_id: str) -> PlannedTrial | None:
        bundle = self.in_flight.get(bundle_id)
        if bundle is None:
            return None
        return next((m for m in bundle.members if m.trial_id == trial_id), None)

    def checkpointed(self, trial_id: str, step: int, path: str) -> Saved | None:
        """``trial_id`` saved a checkpoint at ``step``; return the one it replaces, if any."""
        if trial_id in self.done:
            return None
        replaced = self.checkpoints.get(trial_id)
        self.checkpoints[trial_id] = Saved(step, path)
        return replaced

    def forget_checkpoint(self, trial_id: str) -> Saved | None:
        """Drop (and return) ``trial_id``'s checkpoint: its final row is written."""
        return self.checkpoints.pop(trial_id, None)

    def unreferenced(self, path: str) -> bool:
        """Whether no trial's latest checkpoint is at ``path`` (it may be deleted)."""
        return all(saved.path != path for saved in self.checkpoints.values())

    def _restore_path(self, trial: PlannedTrial) -> str | None:
        saved = self.checkpoints.get(trial.trial_id)
        return None if saved is None else saved.path

    def restore_of(self, bundle: Bundle) -> dict[str, str]:
        """Trial id -> checkpoint path, for the members of ``bundle`` that continue from one."""
        return {m.trial_id: self.checkpoints[m.trial_id].path for m in bundle.members if m.trial_id in self.checkpoints}

    def mark_finished(self, trial_id: str) -> bool:
        """Mark a trial done; return False if it already was (a late duplicate, not to record)."""
        if trial_id in self.done:
            return False
        self.done.add(trial_id)
        return True

    def bundle_ended(self, bundle_id: str) -> list[PlannedTrial]:
        """A bundle returned normally; its members without a final row (none, normally)."""
        bundle = self.in_flight.pop(bundle_id, None)
        if bundle is None:
            return []
        return [m for m in bundle.members if m.trial_id not in self.done]

    def bundle_failed(self, bundle_id: str, *, retry: bool = True, shrink: bool = False) -> list[PlannedTrial]:
        """A bundle failed: requeue its unfinished members that have attempts left; return
        those that have none (to be recorded as failed at their current attempt). ``retry``
        False: none is requeued (a bundle that hung past its time limit). ``shrink`` (its worker
        was killed for memory): the requeued members run in bundles of at most half its size
        (at least 1) from now on, the usual remedy (:meth:`retry_size`)."""
        bundle = self.in_flight.pop(bundle_id, None)
        if bundle is None:
            return []
        if shrink:
            cap = max(1, len(bundle.members) // 2)
            for member in bundle.members:
                self.size_caps[member.trial_id] = min(cap, self.size_caps.get(member.trial_id, cap))
        exhausted = []
        for member in bundle.members:
            if member.trial_id in self.done:
                continue
            failures = self.failures.get(member.trial_id, 0)
            if retry and failures < self.max_failures:
                self.failures[member.trial_id] = failures + 1
                self.attempts[member.trial_id] = self.attempt(member.trial_id) + 1
                if failures + 1 == self.max_failures:
                    self.alone.add(member.trial_id)
                self.retry.append(member)
            else:
                exhausted.append(member)
        return exhausted


@dataclass
class RunState:
    """What one run of the driver starts from besides its trials: its planners and, when it
    continues a study (resume), each trial's next attempt number and latest checkpoint."""

    planners: Planners = field(default_factory=Planners)
    attempt_offsets: dict[str, int] = field(default_factory=dict)
    """Trial id -> the attempt number its next attempt gets (every trial that ran before)."""
    checkpoints: dict[str, Saved] = field(default_factory=dict)
    """Trial id -> the latest checkpoint it continues from."""

    def book(self, trials: Iterable[PlannedTrial], size_of: Callable[[PlannedTrial], int], *, max_failures: int) -> TrialBook:
        """The book of a run of ``trials`` from this state."""
        return TrialBook(
            trials, size_of, self.planners, max_failures=max_failures,
            attempt_offsets=self.attempt_offsets, checkpoints=self.checkpoints,
        )
