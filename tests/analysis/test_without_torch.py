"""The analysis commands run where torch and ray cannot be imported: analysis reads only the
Parquet results and their schema (optcompare.schema; docs/architecture.md)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.analysis.synthetic import trial, write_experiment

BLOCKER = """
import importlib.abc, sys

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("torch", "ray"):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)", name=name)
        return None

sys.meta_path.insert(0, Block())
for mod in [m for m in sys.modules if m.partition(".")[0] in ("torch", "ray")]:
    del sys.modules[mod]
"""


def _run(*args: str) -> subprocess.CompletedProcess:
    code = BLOCKER + (
        "import torch\n" if args == ("probe",) else
        f"from optcompare.cli import main\nsys.exit(main({list(args)!r}))\n"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_rank_query_and_report_run_with_torch_and_ray_unimportable(tmp_path):
    probe = _run("probe")
    assert probe.returncode != 0 and "blocked by the test" in probe.stderr  # the blocker works
    exp = write_experiment(tmp_path / "exp", {
        ("w", "p", "sgd"): [trial(0.3, tuned={"learning_rate": 0.01}), trial(0.4, tuned={"learning_rate": 0.1})],
        ("w", "p", "adam"): [trial(0.2, tuned={"learning_rate": 0.02}), trial(float("nan"), status="diverged")],
    })
    rank = _run("rank", str(exp), "--format", "json", "--resamples", "20", "--budget", "1,2")
    assert rank.returncode == 0, rank.stderr
    assert [p["budget"] for p in json.loads(rank.stdout)] == [1, 2]
    query = _run("query", str(exp), "select count(*) as n from trials", "--format", "json")
    assert query.returncode == 0, query.stderr
    assert json.loads(query.stdout) == [{"n": 4}]
    out = tmp_path / "out"
    report = _run("report", str(exp), "--out", str(out), "--resamples", "20")
    assert report.returncode == 0, report.stderr
    assert (out / "index.html").stat().st_size > 1000
