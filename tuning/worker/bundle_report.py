"""What a worker reports to the driver about its bundle, in one place.

Ray Tune carries a report as a dict of plain values (``tune.report(dict)``; data-parallel
trials through ``ray.train.report``). :class:`BundleReport` is that dict's one definition: the
worker builds one and sends :meth:`BundleReport.as_result`; the driver's Tune callbacks read one
back with :meth:`BundleReport.pop_from`, which also removes its keys from the result (Tune keeps
every trial's last result in driver memory until the end). :class:`ReportBuffer` holds what a
running bundle has not reported yet and decides when to send it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["BundleReport", "ReportBuffer"]

CURVE = "curve"
FINALS = "finals"
CHECKPOINTED = "checkpointed"
FINAL = "final"
FAILURE = "failure"
KEYS = (CURVE, FINALS, CHECKPOINTED, FINAL, FAILURE)
"""The keys a report may hold in a Tune result."""


@dataclass
class BundleReport:
    """One report of a bundle: evaluation rows (each with its member's ``trial_id``), the
    summaries of members that finished since the last report, and, when the report goes with a
    checkpoint, the step each member's state was saved at. ``final`` marks the bundle's last
    report; a report with ``failure`` (the worker's error, or the watchdog's message) holds
    nothing else."""

    curve: list[dict[str, Any]] = field(default_factory=list)
    finals: dict[str, dict[str, Any]] = field(default_factory=dict)
    checkpointed: dict[str, int] | None = None
    final: bool = False
    failure: str | None = None

    def as_result(self) -> dict[str, Any]:
        """The dict Tune carries."""
        if self.failure is not None:
            return {FAILURE: self.failure}
        result: dict[str, Any] = {CURVE: self.curve, FINALS: self.finals}
        if self.checkpointed is not None:
            result[CHECKPOINTED] = self.checkpointed
        if self.final:
            result[FINAL] = True
        return result

    @classmethod
    def pop_from(cls, result: dict[str, Any]) -> BundleReport:
        """The report in a Tune ``result``, its keys removed from it (other keys, Tune's own and
        Ray Train's checkpoint path, stay)."""
        if FAILURE in result:
            return cls(failure=str(result.pop(FAILURE)))
        checkpointed = result.pop(CHECKPOINTED, None)
        return cls(
            curve=list(result.pop(CURVE, [])),
            finals=dict(result.pop(FINALS, {})),
            checkpointed=None if checkpointed is None else {str(k): int(v) for k, v in checkpointed.items()},
            final=bool(result.pop(FINAL, False)),
        )


class ReportBuffer:
    """A bundle's rows and final summaries not yet reported. :meth:`add_row` and
    :meth:`add_final` send them (``send(report)``) once ``every_s`` seconds of ``clock`` have
    passed since the last report; :meth:`take` hands them over for a report sent otherwise (with
    a checkpoint, or the last one) and restarts the interval."""

    def __init__(self, send: Callable[[BundleReport], None], every_s: float, clock: Callable[[], float]) -> None:
        self.send = send
        self.every_s = every_s
        self.clock = clock
        self.rows: list[dict[str, Any]] = []
        self.finals: dict[str, dict[str, Any]] = {}
        self.last = clock()

    def add_row(self, trial_id: str, row: dict[str, Any]) -> None:
        """An evaluation row of member ``trial_id``."""
        self.rows.append({"trial_id": trial_id, **row})
        self._maybe_send()

    def add_final(self, trial_id: str, summary: dict[str, Any]) -> None:
        """Member ``trial_id`` finished with ``summary``."""
        self.finals[trial_id] = summary
        self._maybe_send()

    def take(self, *, checkpointed: dict[str, int] | None = None, final: bool = False) -> BundleReport:
        """Everything pending as one report (emptying the buffer)."""
        report = BundleReport(list(self.rows), dict(self.finals), checkpointed, final)
        self.rows.clear()
        self.finals.clear()
        self.last = self.clock()
        return report

    def _maybe_send(self) -> None:
        if self.clock() - self.last >= self.every_s:
            self.send(self.take())
