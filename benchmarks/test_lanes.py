"""How long the test lanes take: ``make test-fast`` and ``make test`` (or, with
``--fresh-clone``, ``.ci/run`` on a fresh clone of HEAD, which also creates the venv), each phase
timed, with pytest's counts and the slowest tests.

    .venv/bin/python benchmarks/test_lanes.py                 # both lanes in this checkout
    .venv/bin/python benchmarks/test_lanes.py --fresh-clone   # also .ci/run on a fresh clone

Writes benchmarks/results/test_lanes.json (``--out`` elsewhere). The budgets (README, "Tests"):
``make test-fast`` within 2 minutes, ``make test`` within 10 once ``.venv`` exists, ``.ci/run``
on a fresh clone within 14, on a normal day of this 2-core machine (its speed varies 3-4x from
day to day: compare lanes measured in one record).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SUMMARY = re.compile(r"^=+ (?P<counts>.*?) in (?P<seconds>[\d.]+)s")
DURATION = re.compile(r"^(?P<seconds>[\d.]+)s (?P<phase>call|setup|teardown)\s+(?P<test>\S+)")
BUDGETS_S = {"test-fast": 120.0, "test": 600.0, "ci-fresh-clone": 840.0}


def _counts(text: str) -> dict[str, int]:
    return {word: int(number) for number, word in re.findall(r"(\d+) (\w+)", text)}


def run_lane(name: str, command: list[str], cwd: Path, log: Path) -> dict[str, Any]:
    """Run ``command`` in ``cwd`` (output to ``log``); its wall time, exit code, each pytest
    phase's counts and seconds, and the slowest tests it printed."""
    started = time.perf_counter()
    with log.open("w") as out:
        code = subprocess.run(command, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, check=False).returncode
    wall = time.perf_counter() - started
    phases, slowest = [], []
    for line in log.read_text(errors="replace").splitlines():
        if match := SUMMARY.match(line):
            phases.append({"counts": _counts(match["counts"]), "pytest_s": float(match["seconds"])})
        elif match := DURATION.match(line):
            slowest.append({"test": match["test"], "phase": match["phase"], "s": float(match["seconds"])})
    return {
        "lane": name, "command": " ".join(command), "exit_code": code, "wall_s": round(wall, 1),
        "budget_s": BUDGETS_S[name], "within_budget": code == 0 and wall <= BUDGETS_S[name],
        "pytest_phases": phases, "slowest": slowest[:25], "log": str(log),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fresh-clone", action="store_true", help="also run .ci/run on a fresh clone of HEAD")
    parser.add_argument("--skip-lanes", action="store_true", help="only the fresh clone")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "test_lanes.json"))
    args = parser.parse_args(argv)
    logs = Path(tempfile.mkdtemp(prefix="optcompare-test-lanes-"))
    lanes = []
    if not args.skip_lanes:
        for name in ("test-fast", "test"):
            lanes.append(run_lane(name, ["make", name], ROOT, logs / f"{name}.log"))
            print(json.dumps({k: lanes[-1][k] for k in ("lane", "exit_code", "wall_s", "pytest_phases")}), flush=True)
    if args.fresh_clone:
        clone = logs / "clone"
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
        lanes.append(run_lane("ci-fresh-clone", [".ci/run"], clone, logs / "ci.log"))
        print(json.dumps({k: lanes[-1][k] for k in ("lane", "exit_code", "wall_s", "pytest_phases")}), flush=True)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False)
    record = {
        "benchmark": "test_lanes",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "commit": commit.stdout.strip(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "load_average_at_end": os.getloadavg()},
        "lanes": lanes,
    }
    Path(args.out).write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0 if all(lane["exit_code"] == 0 for lane in lanes) else 1


if __name__ == "__main__":
    sys.exit(main())
