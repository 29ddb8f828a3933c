"""Live progress of a study: trials done/running/failed, elapsed and remaining time, and the best
validation error so far per search.

On a terminal: a rich progress bar above a table of searches (the 12 most recently active).
Otherwise (CI, logs): one line per 10% of trials and, at the end, the table as plain text.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from optcompare.schema import DIVERGED, FAILED, METRICS, PARTITION_KEYS, SearchKey

if TYPE_CHECKING:
    from rich.console import Group

__all__ = ["PROGRESS_METRIC", "SearchProgress", "StudyProgress"]

MAX_ROWS = 12
"""Searches shown in the live table (the most recently active)."""
PROGRESS_METRIC = METRICS["val_error"]
"""The metric whose best value per search the display shows."""


@dataclass
class SearchProgress:
    """Counters of one search (workload, protocol, optimizer)."""

    done: int = 0
    failed: int = 0
    diverged: int = 0
    best: float = math.inf
    last_update: float = 0.0


class StudyProgress:
    """Collects trial outcomes and renders them (rich on a terminal, plain lines otherwise)."""

    def __init__(self, total: int, enabled: bool, *, live: bool | None = None) -> None:
        self.total = total
        self.enabled = enabled
        self.finished = self.failed = self.diverged = 0
        self.running: dict[str, str] = {}
        """Running trial id -> the Ray task (bundle) that trains it: a bundle trains several."""
        self.searches: dict[SearchKey, SearchProgress] = {}
        self.start = time.monotonic()
        self._next_line = 0.1
        self._live = None
        if enabled and (sys.stdout.isatty() if live is None else live):
            from rich.live import Live

            self._live = Live(self._render(), refresh_per_second=2, transient=False)
            self._live.start()

    # ------------------------------------------------------------------ bookkeeping
    def started(self, trial_id: str, task: str | None = None) -> None:
        """Trial ``trial_id`` started in Ray task ``task`` (its bundle; None: a task of its own)."""
        self.running[trial_id] = trial_id if task is None else task
        self._refresh()

    def finished_trial(self, trial_id: str, key: SearchKey, status: str, value: float) -> None:
        """Record one finished trial (``status`` completed, diverged or failed; ``value`` its
        :data:`PROGRESS_METRIC`)."""
        self.running.pop(trial_id, None)
        self.finished += 1
        search = self.searches.setdefault(key, SearchProgress())
        search.done += 1
        search.last_update = time.monotonic()
        if status == FAILED:
            self.failed += 1
            search.failed += 1
        elif status == DIVERGED:
            self.diverged += 1
            search.diverged += 1
        elif value < search.best:
            search.best = value
        self._refresh()

    def add_planned(self, count: int) -> None:
        self.total += count

    # ------------------------------------------------------------------ rendering
    def _eta(self) -> str:
        elapsed = time.monotonic() - self.start
        if not self.finished:
            return f"elapsed {elapsed:.0f} s"
        remaining = elapsed / self.finished * (self.total - self.finished)
        return f"elapsed {elapsed:.0f} s, about {remaining:.0f} s left"

    def running_text(self) -> str:
        """``N running`` when each running trial is a task of its own, else ``T tasks (N trials)
        running``: a bundle is one task on one slot that trains several trials."""
        tasks, trials = len(set(self.running.values())), len(self.running)
        if tasks == trials:
            return f"{trials} running"
        return f"{tasks} task{'s' if tasks != 1 else ''} ({trials} trials) running"

    def headline(self) -> str:
        return (
            f"{self.finished}/{self.total} trials finished, {self.running_text()}, "
            f"{self.failed} failed, {self.diverged} diverged; {self._eta()}"
        )

    def rows(self, limit: int | None = MAX_ROWS) -> list[tuple[str, str, str, str, str]]:
        """(workload, protocol, optimizer, done, best :data:`PROGRESS_METRIC`) of the most
        recent searches."""
        ordered = sorted(self.searches.items(), key=lambda kv: -kv[1].last_update)
        picked = ordered if limit is None else ordered[:limit]
        return [
            (w, p, o, f"{s.done}" + (f" ({s.failed} failed)" if s.failed else ""),
             "-" if math.isinf(s.best) else f"{s.best:.4f}")
            for (w, p, o), s in sorted(picked, key=lambda kv: kv[0])
        ]

    def _render(self) -> Group:
        from rich.console import Group
        from rich.table import Table

        table = Table(box=None, pad_edge=False)
        for column in (*PARTITION_KEYS, "done", f"best {PROGRESS_METRIC.name}"):
            table.add_column(column)
        for row in self.rows():
            table.add_row(*row)
        hidden = len(self.searches) - MAX_ROWS
        caption = f"... and {hidden} more searches" if hidden > 0 else ""
        return Group(f"[bold]{self.headline()}", table, caption)

    def _refresh(self) -> None:
        if self._live is not None:
            self._live.update(self._render())
        elif self.enabled and self.total and self.finished >= self._next_line * self.total:
            print(f"  {self.headline()}", flush=True)
            while self._next_line * self.total <= self.finished:
                self._next_line += 0.1

    def close(self) -> None:
        if self._live is not None:
            self._live.update(self._render())
            self._live.stop()
        elif self.enabled and self.searches:
            print(f"  best {PROGRESS_METRIC.name} per search: " + "; ".join(
                f"{w}/{p}/{o} {best}" for w, p, o, _, best in self.rows(limit=None)
            ), flush=True)
