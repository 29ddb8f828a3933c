"""A 10,000-trial study end to end on this machine, and a 100,000-trial plan.

    .venv/bin/python benchmarks/scale.py [--trials 10000] [--small 500] [--kill-at 5000] [--plan-trials 100000]

Every command runs as ``python -m optcompare`` in a process of its own (as a user runs it), on an
in-process Ray with 2 CPUs, 1 CPU per trial; the trial is ``mnist1d-mlp`` for 10 steps with one
evaluation (the shortest real trial, so the driver's own costs dominate). Measured:

- ``run`` of ``--trials`` trials: wall time; per-trial overhead = (wall x slots - the trials' own
  wall time) / trials, against the same of a ``--small``-trial run; the driver's RSS (psutil,
  every 0.5 s) when the trials rows on disk first reach 1k, 5k and 10k, its peak and final RSS
  and the growth per 1,000 trials between the first and the last mark; the size of Tune's state
  (``_tune``) and the number of Parquet part files;
- ``resume`` after a SIGKILL of a second run once ``--kill-at`` trials rows are on disk: its
  time until it prints its plan (rows read, plan rebuilt) and until the study is complete;
- ``plan`` of ``--plan-trials`` trials (``--out`` to a Parquet file): time and peak RSS;
- ``rank``, ``summary`` and ``report`` on the first run's results: time and peak RSS each.

Peak RSS of a finished command is its ``ru_maxrss`` (``os.wait4``). Writes
benchmarks/results/scale.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
STEPS = 10
MARKS = (1000, 5000, 10000)


def _config(path: Path, name: str, trials: int) -> Path:
    path.write_text(
        f"name: {name}\nworkloads: [{{name: mnist1d-mlp, steps: {STEPS}, eval_every: {STEPS}}}]\n"
        f"optimizers: [sgd]\nprotocols: [lr-only]\ntrials_per_search: {trials}\n"
    )
    return path


def _rows(experiment: Path) -> int:
    """Trials rows on disk (from the part files' footers)."""
    total = 0
    for part in (experiment / "trials").rglob("part-*.parquet"):
        try:
            total += pq.ParquetFile(part).metadata.num_rows
        except Exception:  # noqa: BLE001 - a file being written: counted next time
            continue
    return total


def _start(args: list[str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "optcompare", *args], stdout=log.open("w"), stderr=subprocess.STDOUT,
        cwd=HERE.parent, env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True,
    )


_PEAK_MB: dict[int, float] = {}


def _ended(proc: subprocess.Popen, *, block: bool = False) -> bool:
    """Whether ``proc`` has ended (reaped here with ``os.wait4``, which also gives its peak RSS;
    ``Popen.poll`` would reap it first and lose that)."""
    if proc.returncode is not None:
        return True
    pid, status, usage = os.wait4(proc.pid, 0 if block else os.WNOHANG)
    if pid == 0:
        return False
    proc.returncode = os.waitstatus_to_exitcode(status)
    _PEAK_MB[proc.pid] = usage.ru_maxrss / 1024
    return True


def _finish(proc: subprocess.Popen) -> tuple[int, float]:
    """(exit status, peak RSS in MB) of ``proc`` once it ends."""
    _ended(proc, block=True)
    return int(proc.returncode), _PEAK_MB[proc.pid]


def _command(args: list[str], log: Path) -> dict:
    started = time.perf_counter()
    rc, peak = _finish(_start(args, log))
    if rc != 0:
        raise RuntimeError(f"optcompare {' '.join(args)} exited {rc}:\n{log.read_text()[-3000:]}")
    return {"seconds": time.perf_counter() - started, "peak_rss_mb": peak}


def _trial_wall(experiment: Path) -> float:
    import pyarrow.dataset as ds

    table = ds.dataset(experiment / "trials", format="parquet", partitioning="hive").to_table(columns=["wall_time_s"])
    return float(sum(table.column("wall_time_s").to_pylist()))


def _du_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def run_study(root: Path, name: str, trials: int, marks: tuple[int, ...] = ()) -> dict:
    """``optcompare run`` of ``trials`` trials under ``root``, sampling the driver's RSS."""
    config = _config(root / f"{name}.yaml", name, trials)
    experiment = root / "r" / name
    log = root / f"{name}.log"
    started = time.perf_counter()
    proc = _start(["run", str(config), "--results", str(root / "r"), "--num-cpus", "2", "--quiet"], log)
    driver = psutil.Process(proc.pid)
    at: dict[int, float] = {}
    samples: list[float] = []
    while not _ended(proc):
        try:
            rss = driver.memory_info().rss / 2**20
        except psutil.Error:
            break
        samples.append(rss)
        if marks and len(at) < len(marks) and experiment.exists():
            done = _rows(experiment)
            for mark in marks:
                if mark not in at and done >= mark:
                    at[mark] = rss
        time.sleep(0.5)
    rc, peak = _finish(proc)
    wall = time.perf_counter() - started
    if rc != 0:
        raise RuntimeError(f"run of {trials} trials exited {rc}:\n{log.read_text()[-3000:]}")
    finished = _rows(experiment)
    slots = 2
    result = {
        "trials": finished, "wall_s": wall, "slots": slots, "trial_wall_s": _trial_wall(experiment),
        "driver_peak_rss_mb": peak, "driver_final_rss_mb": samples[-1] if samples else None,
        "driver_rss_mb_at_trials": {str(k): v for k, v in sorted(at.items())},
        "tune_state_mb": _du_mb(experiment / "_tune") if (experiment / "_tune").exists() else 0.0,
        "trials_part_files": len(list((experiment / "trials").rglob("part-*.parquet"))),
        "curves_part_files": len(list((experiment / "curves").rglob("part-*.parquet"))),
        "summary_line": next((ln for ln in log.read_text().splitlines() if ln.startswith("trials: ")), None),
    }
    result["overhead_per_trial_s"] = (wall * slots - result["trial_wall_s"]) / max(1, finished)
    if len(at) >= 2:
        first, last = min(at), max(at)
        result["driver_rss_growth_mb_per_1000_trials"] = (at[last] - at[first]) / (last - first) * 1000
    return result


def resume_after_kill(root: Path, trials: int, kill_at: int) -> dict:
    """SIGKILL a run once ``kill_at`` trials rows are on disk, then time ``resume``."""
    name = "killed"
    config = _config(root / f"{name}.yaml", name, trials)
    experiment = root / "r" / name
    proc = _start(["run", str(config), "--results", str(root / "r"), "--num-cpus", "2", "--quiet"], root / "killed.log")
    while not _ended(proc) and (not experiment.exists() or _rows(experiment) < kill_at):
        time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)
    _finish(proc)
    before = _rows(experiment)
    log = root / "resume.log"
    started = time.perf_counter()
    resume = _start(["resume", str(experiment), "--num-cpus", "2", "--quiet"], log)
    ready = None
    while not _ended(resume):
        if ready is None and " to run " in log.read_text():
            ready = time.perf_counter() - started
        time.sleep(0.2)
    rc, peak = _finish(resume)
    total = time.perf_counter() - started
    if rc != 0:
        raise RuntimeError(f"resume exited {rc}:\n{log.read_text()[-3000:]}")
    if ready is None and " to run " in log.read_text():
        ready = total
    return {
        "killed_at_rows": before, "resume_ready_s": ready, "resume_total_s": total, "resume_peak_rss_mb": peak,
        "rows_after": _rows(experiment),
        "status_line": next((ln for ln in log.read_text().splitlines() if " to run " in ln), None),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=10000)
    parser.add_argument("--small", type=int, default=500)
    parser.add_argument("--kill-at", type=int, default=5000)
    parser.add_argument("--plan-trials", type=int, default=100000)
    parser.add_argument("--keep", help="keep the results in this directory (default: a temporary one)")
    args = parser.parse_args(argv)
    root = Path(args.keep or tempfile.mkdtemp(prefix="optcompare-scale-"))
    root.mkdir(parents=True, exist_ok=True)
    record: dict = {
        "benchmark": "scale",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "trial": f"mnist1d-mlp, {STEPS} steps, one evaluation, 1 CPU; 2 CPUs in all",
    }
    try:
        record["small"] = run_study(root, "small", args.small)
        print(json.dumps({"small": record["small"]}), flush=True)
        record["large"] = run_study(root, "large", args.trials, tuple(m for m in MARKS if m <= args.trials))
        print(json.dumps({"large": record["large"]}), flush=True)
        record["overhead_ratio_large_over_small"] = (
            record["large"]["overhead_per_trial_s"] / record["small"]["overhead_per_trial_s"]
        )
        experiment = str(root / "r" / "large")
        record["rank"] = _command(["rank", experiment, "--format", "json"], root / "rank.log")
        record["summary"] = _command(["summary", experiment], root / "summary.log")
        record["report"] = _command(["report", experiment, "--out", str(root / "report")], root / "report.log")
        print(json.dumps({k: record[k] for k in ("rank", "summary", "report")}), flush=True)
        plan = _config(root / "plan.yaml", "plan", args.plan_trials)
        record["plan"] = {"trials": args.plan_trials, **_command(
            ["plan", str(plan), "--out", str(root / "plan.parquet")], root / "plan.log"
        )}
        print(json.dumps({"plan": record["plan"]}), flush=True)
        record["resume"] = resume_after_kill(root, args.trials, args.kill_at)
        print(json.dumps({"resume": record["resume"]}), flush=True)
    finally:
        out = HERE / "results" / "scale.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(record, indent=2) + "\n")
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
