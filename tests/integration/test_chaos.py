"""A small version of benchmarks/chaos.py: random Ray worker kills, one driver SIGKILL and a
resume; every planned trial ends with exactly one trials row, no curve row twice."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

CHAOS = Path(__file__).resolve().parents[2] / "benchmarks" / "chaos.py"


@pytest.mark.slow
def test_chaos_loses_and_doubles_nothing(tmp_path, own_ray):
    spec = importlib.util.spec_from_file_location("optcompare_chaos_benchmark", CHAOS)
    chaos = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(chaos)
    counts = chaos.run_chaos(
        tmp_path, trials_per_search=8, interval_s=2.0, max_kills=4, kill_driver_at=0.3, timeout_s=400
    )
    assert counts["resume_status"] == 0, (tmp_path / "resume.log").read_text()[-3000:]
    assert counts["driver_kills"] == 1 and counts["run_status"] == -9
    assert counts["worker_kills"] >= 1, "no worker was killed: the counts below would be vacuous"
    assert (counts["lost"], counts["doubled"], counts["duplicate_curve_rows"]) == (0, 0, 0)
    assert counts["trials_rows"] == counts["trials_planned"] == 16
