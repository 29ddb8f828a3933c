"""A watchdog inside each worker: a trial whose training loop stops making steps is killed.

The training loop calls :meth:`Watchdog.beat` after every step (:mod:`workloads.run`); a thread
wakes every ``poll_s`` seconds and, when no beat came for the timeout, calls ``on_stall`` with
the error message, which (in a Ray worker, :func:`tuning.worker.ray_entry.ray_trainable`) reports the
message in-band and ends the worker process: a stuck data loader or a deadlocked collective
cannot be interrupted from Python, a dead process can. The driver then retries the trial's
bundle like any failed one (``max_failures``), with the message as its error.

The timeout is ``stall_timeout_s`` when the workload entry sets it, else the default

    timeout = max(STALL_FLOOR_S, STALL_INTERVALS x the longest evaluation interval measured so far)

(STALL_FLOOR_S = 600 s, STALL_INTERVALS = 10): generous, so a slow but healthy trial is never
killed. The watch starts at the first beat: loading data before training does not count.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["STALL_FLOOR_S", "STALL_INTERVALS", "Watchdog", "stall_message"]

STALL_FLOOR_S = 600.0
"""The default timeout's lower bound (seconds)."""
STALL_INTERVALS = 10
"""The default timeout in measured evaluation intervals."""


def stall_message(silent_s: float, timeout_s: float, step: int) -> str:
    """The error of a trial the watchdog ended."""
    return (
        f"stalled: no training step for {silent_s:.0f} s (stall timeout {timeout_s:g} s) after "
        f"step {step}; the trial was killed and is retried"
    )


class Watchdog:
    """Calls ``on_stall(message)`` once if :meth:`beat` is not called for the timeout."""

    def __init__(
        self,
        on_stall: Callable[[str], None],
        timeout_s: float | None = None,
        *,
        floor_s: float = STALL_FLOOR_S,
        poll_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``timeout_s`` None: the default rule of the module docstring, with ``floor_s``."""
        self.on_stall = on_stall
        self.fixed = timeout_s
        self.floor = floor_s
        self.clock = clock
        self.poll = poll_s if poll_s is not None else min(5.0, (timeout_s or floor_s) / 10)
        self.last: float | None = None
        self.step = 0
        self.longest_interval = 0.0
        self.fired = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def timeout_s(self) -> float:
        if self.fixed is not None:
            return self.fixed
        return max(self.floor, STALL_INTERVALS * self.longest_interval)

    def beat(self, step: int) -> None:
        """The loop finished update ``step``: cheap (two attribute writes)."""
        self.last = self.clock()
        self.step = step

    def evaluation_interval(self, seconds: float) -> None:
        """A measured time between two evaluations (it raises the default timeout)."""
        self.longest_interval = max(self.longest_interval, float(seconds))

    def check(self) -> bool:
        """Fire if the loop has been silent for the timeout; return whether it fired now."""
        if self.fired or self.last is None:
            return False
        silent = self.clock() - self.last
        if silent < self.timeout_s:
            return False
        self.fired = True
        self.on_stall(stall_message(silent, self.timeout_s, self.step))
        return True

    def __enter__(self) -> Watchdog:
        self._thread = threading.Thread(target=self._watch, name="optcompare-watchdog", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.poll + 1)

    def _watch(self) -> None:
        while not self._stop.wait(self.poll):
            if self.check():
                return
