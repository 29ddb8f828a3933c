"""README's "Running studies" table states the margins of the code's constants."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tuning.driver import signals, tune_callbacks
from tuning.store import lease, sink
from tuning.worker import watchdog

README = Path(__file__).resolve().parent.parent / "README.md"


def _section() -> str:
    text = README.read_text()
    start = text.index("## Running studies\n")
    return text[start : text.index("\n## ", start + 1)]


@pytest.mark.parametrize(("phrase", "value"), [
    ("max(30 s, 0.5 x the limit)", (tune_callbacks.HUNG_FLOOR_S, tune_callbacks.HUNG_FRACTION)),
    ("`HUNG_FLOOR_S` 30 s, `HUNG_FRACTION` 0.5", (tune_callbacks.HUNG_FLOOR_S, tune_callbacks.HUNG_FRACTION)),
    ("retried after 0.5 s, doubling to 8 s between tries, for 60 s", (sink.BACKOFF_FIRST_S, sink.BACKOFF_MAX_S, sink.RETRY_SECONDS)),
    ("report for up to 10 s", (signals.GRACE_S,)),
    ("or 30 s, exits at once", (signals.EXIT_BOUND_S,)),
    ("`GRACE_S` 10 s, `EXIT_BOUND_S` 30 s", (signals.GRACE_S, signals.EXIT_BOUND_S)),
    ("renewed every 10 s and taken over once it has had no heartbeat for 60 s", (lease.HEARTBEAT_S, lease.TIMEOUT_S)),
    ("`HEARTBEAT_S` 10 s, `TIMEOUT_S` 60 s", (lease.HEARTBEAT_S, lease.TIMEOUT_S)),
    ("default max(600 s, 10 evaluation intervals)", (watchdog.STALL_FLOOR_S, watchdog.STALL_INTERVALS)),
])
def test_each_margin_in_readme_is_the_constant(phrase, value):
    assert phrase in _section()
    numbers = tuple(float(n) for n in re.findall(r"\d+(?:\.\d+)?", phrase))
    assert numbers == tuple(float(v) for v in value)
