"""A driver's first SIGINT or SIGTERM stops the study cleanly; a second one exits at once.

First signal (:class:`StopSignals`): the searcher hands out no more trials, the trials running
may report for :data:`GRACE_S` seconds (those that finish meanwhile are recorded), then Tune
stops them; the driver flushes the sink, releases the lease, shuts down the Ray it started and
exits 130 (SIGINT) or 143 (SIGTERM). If that has not happened :data:`EXIT_BOUND_S` seconds after
the signal (a stuck store, a Ray that does not stop), or at a second signal, the driver exits at
once with the same status after the *last-moment* actions (:func:`at_exit_now`: release the
lease, stop the Ray processes it started); rows not yet flushed are lost then, and ``resume``
reruns their trials. Ray Tune's own SIGINT handler is off (``TUNE_DISABLE_SIGINT_HANDLER``, see
:mod:`tuning.driver.ray_env`): it ended one Tune run and left the driver to start the next one.

A lost lease (another driver took over, :class:`tuning.store.lease.Lease`) stops the study the same
way, with exit status 1.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import TypeAlias

__all__ = [
    "EXIT_BOUND_S",
    "GRACE_S",
    "StopRequest",
    "StopSignals",
    "StudyInterrupted",
    "at_exit_now",
    "exit_status",
]

GRACE_S = 10.0
"""Seconds the running trials may still report after the first signal."""
EXIT_BOUND_S = 30.0
"""The driver has exited this many seconds after the first signal, whatever it was doing."""
SIGNALS = (signal.SIGINT, signal.SIGTERM)
LOST_LEASE_STATUS = 1


def exit_status(signum: int) -> int:
    """``128 + signum``: 130 for SIGINT, 143 for SIGTERM."""
    return 128 + signum


_LAST_MOMENT: list[Callable[[], object]] = []


def at_exit_now(action: Callable[[], object]) -> Callable[[], None]:
    """Register ``action`` to run when the driver exits at once (second signal, or the bound
    passed); return a function that unregisters it. Actions must be quick and thread-safe."""
    _LAST_MOMENT.append(action)
    return lambda: _LAST_MOMENT.remove(action) if action in _LAST_MOMENT else None


def _exit_now(status: int) -> None:
    for action in list(reversed(_LAST_MOMENT)):
        with contextlib.suppress(Exception):  # exiting anyway: each action is best effort
            action()
    sys.stderr.flush()
    sys.stdout.flush()
    os._exit(status)


class StudyInterrupted(Exception):  # noqa: N818 - reads as what happened
    """The study stopped early at a request (a signal or a lost lease); ``status`` is the
    process exit status the CLI returns, ``summary`` what ran."""

    def __init__(self, reason: str, status: int, summary: object = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.summary = summary


class StopRequest:
    """Whether (and why) the study should stop; set by a signal or a lost lease."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.reason: str | None = None
        self.status: int = 0
        self.at: float | None = None

    @property
    def requested(self) -> bool:
        return self.reason is not None

    def request(self, reason: str, status: int) -> bool:
        """Ask the study to stop; return False if it already was asked."""
        if self.reason is not None:
            return False
        self.reason, self.status, self.at = reason, status, self.clock()
        return True

    def grace_over(self, grace_s: float = GRACE_S) -> bool:
        """Whether the running trials' time to report has passed."""
        return self.at is not None and self.clock() - self.at >= grace_s

    def interrupted(self, summary: object = None) -> StudyInterrupted:
        return StudyInterrupted(self.reason or "stopped", self.status, summary)


_Handler: TypeAlias = "Callable[[int, FrameType | None], object] | int | signal.Handlers | None"
"""What ``signal.signal`` takes and returns: a function, ``SIG_DFL``/``SIG_IGN``, or None."""


class StopSignals:
    """While inside: SIGINT and SIGTERM set :attr:`stop` (the first) or exit at once (a second),
    and a timer exits at once :data:`EXIT_BOUND_S` after the first. The previous handlers come
    back at exit. Outside the main thread (Python allows handlers there only) nothing is
    installed; :attr:`stop` still works for a lost lease."""

    def __init__(self, stop: StopRequest | None = None, *, bound_s: float = EXIT_BOUND_S, grace_s: float = GRACE_S) -> None:
        self.stop = stop or StopRequest()
        self.bound_s = bound_s
        self.grace_s = grace_s
        self._previous: dict[int, _Handler] = {}
        self._timer: threading.Timer | None = None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        del frame
        name = signal.Signals(signum).name
        if not self.stop.request(f"stopped by {name}", exit_status(signum)):
            print(f"optcompare: {name} again: exiting now", file=sys.stderr, flush=True)
            _exit_now(self.stop.status)
        print(
            f"optcompare: {name} received: no more trials start; running trials report for up "
            f"to {self.grace_s:g} s, then the study stops (exit within {self.bound_s:g} s); "
            f"{name} again exits at once. Continue later with 'optcompare resume'",
            file=sys.stderr, flush=True,
        )
        self._timer = threading.Timer(self.bound_s, _exit_now, args=(self.stop.status,))
        self._timer.daemon = True
        self._timer.start()

    def lease_lost(self, message: str) -> None:
        """A :attr:`tuning.store.lease.Lease.on_lost` callback: stop as after a signal, exit 1."""
        if self.stop.request(message, LOST_LEASE_STATUS):
            print(f"optcompare: {message}; stopping", file=sys.stderr, flush=True)

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for signum in SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        # After a signal the bound holds until the process ends (Ray's shutdown comes after).
        if self._timer is not None and not self.stop.requested:
            self._timer.cancel()
