"""Counts and timing of one study run, kept by the driver's Tune callback."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from optcompare.schema import DIVERGED, FAILED

__all__ = [
    "HUNG_PREFIXES",
    "StudySummary",
]

HUNG_PREFIXES = ("hung:", "stalled:", "time limit of ")
"""How the errors of trials that hung or ran out of time begin: ended by the driver for holding
their slot past their time limit (:func:`tuning.driver.tune_callbacks.hung_message`), killed by the
watchdog (:func:`tuning.worker.watchdog.stall_message`), or stopped at their time limit
(:func:`workloads.run.time_limit_message`)."""


@dataclass
class StudySummary:
    """Counts and timing of one study run."""

    planned: int
    """Trials planned, including reruns that may still be planned."""
    completed: int = 0
    diverged: int = 0
    failed: int = 0
    wall_time_s: float = 0.0
    """From the start of the run (or the caller's ``started_at``) to its end."""
    train_time_s: float = 0.0
    """Time inside training steps, summed over trials."""
    slots: int = 1
    """Trials that could run at once (a joined cluster: the most that ran at once)."""
    failures: list[str] = field(default_factory=list)
    """``trial_id: last line of its error`` of each failed trial."""
    bundle_sizes: dict[str, int] = field(default_factory=dict)
    """Bundle size used per workload (after ``auto`` was probed and caps applied)."""
    running: int = 0
    """Ray tasks (bundles) running now."""
    peak_running: int = 0
    """Most tasks that ran at once: the slots of a joined cluster, which may have grown."""
    hung: list[str] = field(default_factory=list)
    memory_kills: list[str] = field(default_factory=list)
    """``trial ids: error; retried in bundles of at most N`` of each bundle whose worker Ray's
    memory monitor killed and whose trials were retried."""
    """``trial_id: error`` of each trial that hung or ran out of time (:data:`HUNG_PREFIXES`),
    retried or not: every attempt that did."""
    stopped: str | None = None
    """Why the run stopped before the study's end (a signal, a lost lease); None: it did not."""
    probes_not_planned: int = 0
    """Probes counted in :attr:`planned` at the start and then given up (no completed narrow
    trial, or an imitation no named schedule expresses); :attr:`planned` no longer counts them."""

    @property
    def finished(self) -> int:
        return self.completed + self.diverged + self.failed

    @property
    def training_fraction(self) -> float:
        """``train_time_s / (wall_time_s * slots)``: the share of the slots' time spent in
        training steps (0 when nothing ran)."""
        denom = self.wall_time_s * self.slots
        return self.train_time_s / denom if denom > 0 else 0.0

    def count(self, status: str, error: str | None = None) -> None:
        """Count one finished trial that trained: ``completed``, ``diverged``, or ``failed``
        in the worker (a time limit, ``error`` says why)."""
        if status == DIVERGED:
            self.diverged += 1
        elif status == FAILED:
            self.failed += 1
            self.failures.append(error or "failed in the worker")
        else:
            self.completed += 1
        if status == FAILED and error:
            self.note_hung(error)

    def note_hung(self, entry: str) -> None:
        """Keep ``entry`` (``trial_id: error``) if its error says the trial hung or ran out of
        time (:data:`HUNG_PREFIXES`)."""
        _, _, error = entry.partition(": ")
        if error.startswith(HUNG_PREFIXES) and entry not in self.hung:
            self.hung.append(entry)

    def note_memory_kill(self, entry: str) -> None:
        """Keep ``entry`` (:attr:`memory_kills`) and say it at once on stderr: the study goes on."""
        self.memory_kills.append(entry)
        print(f"optcompare: {entry}", file=sys.stderr, flush=True)

    def task_started(self) -> None:
        self.running += 1
        self.peak_running = max(self.peak_running, self.running)

    def task_ended(self) -> None:
        self.running = max(0, self.running - 1)

    def line(self) -> str:
        skipped = (
            f"; {self.probes_not_planned} probes not planned (no completed narrow trial, or no "
            "named schedule expresses the imitation)" if self.probes_not_planned else ""
        )
        hung = (
            f"; {len(self.hung)} hung or out of time: "
            + ", ".join(entry.partition(": ")[0] for entry in self.hung[:10])
            + (" ..." if len(self.hung) > 10 else "") if self.hung else ""
        )
        stopped = f"; {self.stopped} before the study's end" if self.stopped else ""
        return (
            f"trials: {self.finished}/{self.planned} finished ({self.completed} completed, "
            f"{self.diverged} diverged, {self.failed} failed); wall time {self.wall_time_s:.1f} s; "
            f"training fraction {self.training_fraction:.2f} "
            f"({self.train_time_s:.1f} s training over {self.slots} slots){skipped}{hung}{stopped}"
        )

    def hung_lines(self) -> list[str]:
        """One line per trial that hung or ran out of time, with its error."""
        return [f"  hung or out of time: {entry}" for entry in self.hung]

    def memory_kill_lines(self) -> list[str]:
        """One line per bundle killed for memory whose trials were retried."""
        return [f"  killed for memory, retried: {entry}" for entry in self.memory_kills]


