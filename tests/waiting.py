"""Waiting on a condition, never a fixed sleep: a test on a busy machine waits longer, a test
on a quiet one no longer than it must."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

POLL_S = 0.05


def wait_for(predicate: Callable[[], T], timeout: float, what: str, *, poll_s: float = POLL_S) -> T:
    """The first truthy value of ``predicate()``, polled every ``poll_s`` seconds; an
    AssertionError naming ``what`` if none came within ``timeout`` seconds (generous: the bound
    is for a machine 3-4x slower than usual, not the expected time)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(poll_s)
