"""What the study benchmarks (demo_study.py, reproduce_study.py, modern_study.py) record of a run, in one place."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any


def run_record(benchmark: str, config: str, summary: Any) -> dict[str, Any]:  # noqa: ANN401 - a StudySummary
    """The header and counts of a benchmark record of one study run: when, where, which versions,
    trials planned and finished by status, slots and bundle sizes."""
    from tuning.store.experiment import package_versions

    return {
        "benchmark": benchmark,
        "config": config,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "versions": package_versions(),
        "trials_planned": summary.planned,
        "trials_finished": summary.finished,
        "completed": summary.completed,
        "diverged": summary.diverged,
        "failed": summary.failed,
        "slots": summary.slots,
        "bundle_sizes": summary.bundle_sizes,
    }


def rewrite_record(out: Path, key: str, value: Any) -> None:  # noqa: ANN401 - JSON data
    """Set ``key`` of the record at ``out`` to ``value`` (what ``--analyse-only`` recomputes from
    the record's experiment), write it back and print the value."""
    record = json.loads(out.read_text())
    record[key] = value
    out.write_text(json.dumps(record, indent=2, default=str) + "\n")
    print(json.dumps(value, indent=2, default=str))
