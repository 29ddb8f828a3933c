"""Chaos: a study of tiny bundled trials while Ray worker processes are killed at random, plus one
SIGKILL of the driver and a ``resume``; then every planned trial must have exactly one trials
row and no (trial_id, attempt, step) curve row may appear twice.

    .venv/bin/python benchmarks/chaos.py                      # 200 trials, about 5-10 min on 2 cores
    .venv/bin/python benchmarks/chaos.py --trials-per-search 10 --out /tmp/chaos.json

The study: mnist1d-mlp, sgd and adam under lr-only, ``--trials-per-search`` trials each (default
100: 200 trials), 40 steps evaluated every 20, bundles of 4, ``max_failures`` 5, on an
in-process Ray with 2 CPUs. A chaos loop SIGKILLs one random Ray worker process (``ray::...``,
not Ray's agents) of the running driver's session every ``--interval`` seconds (default 4), at
most ``--max-kills`` times (default 40). Once ``--kill-driver-at`` of the trials (default 0.3)
have rows on disk, the driver is SIGKILLed; ``optcompare resume`` then finishes the study
under the same chaos. The counts come from the Parquet files.

Writes benchmarks/results/chaos.json: planned trials, trials rows, ``lost`` (planned trials
without a row), ``doubled`` (trials with more than one row), ``duplicate_curve_rows``,
``worker_kills``, ``driver_kills``, ``retries`` (attempts beyond each trial's first, from the
rows), ``failed`` (trials out of attempts), the exit statuses and the wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
NAME = "chaos"
CONFIG = (
    "name: {name}\nworkloads: [{{name: mnist1d-mlp, steps: 40, eval_every: 20}}]\n"
    "optimizers: [sgd, adam]\nprotocols: [lr-only]\ntrials_per_search: {trials}\n"
    "bundle_size: 4\nmax_failures: 5\nreport_every_s: 0\n"
)


def _rows(experiment: Path, table: str, columns: list[str]) -> list[tuple]:
    import pyarrow.parquet as pq

    found: list[tuple] = []
    for part in (experiment / table).rglob("part-*.parquet"):
        data = pq.read_table(part, columns=columns).to_pydict()
        found += list(zip(*(data[c] for c in columns), strict=True))
    return found


def _workers(experiment: Path) -> list[int]:
    """Live Ray worker processes (``ray::`` titles, not agents) of the session in the lease."""
    from tuning.driver.ray_processes import session_processes
    from tuning.store.lease import LEASE_FILE

    try:
        record = json.loads((experiment / LEASE_FILE).read_text()).get("ray")
    except (OSError, ValueError):
        return []
    workers = []
    for pid in session_processes(record or {}):
        try:
            title = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
        except OSError:
            continue
        if title.startswith("ray::") and "Agent" not in title:
            workers.append(pid)
    return workers


class Chaos(threading.Thread):
    """Kills a random worker of the current driver's Ray every ``interval_s``, ``max_kills`` in all."""

    def __init__(self, experiment: Path, interval_s: float, max_kills: int, seed: int) -> None:
        super().__init__(name="chaos", daemon=True)
        self.experiment, self.interval_s, self.max_kills = experiment, interval_s, max_kills
        self.random = random.Random(seed)
        self.kills = 0
        self.done = threading.Event()

    def run(self) -> None:
        while self.kills < self.max_kills and not self.done.wait(self.interval_s):
            workers = _workers(self.experiment)
            if workers:
                try:
                    os.kill(self.random.choice(workers), signal.SIGKILL)
                    self.kills += 1
                except OSError:
                    pass


def _driver(args: list[str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "optcompare", *args], start_new_session=True,
        stdout=log.open("w"), stderr=subprocess.STDOUT, cwd=ROOT,
    )


def run_chaos(
    workdir: Path, *, trials_per_search: int = 100, interval_s: float = 4.0, max_kills: int = 40,
    kill_driver_at: float = 0.3, seed: int = 0, timeout_s: float = 1500.0,
) -> dict:
    """Run the chaos study in ``workdir``; return its counts (module docstring)."""
    config = workdir / "chaos.yaml"
    config.write_text(CONFIG.format(name=NAME, trials=trials_per_search))
    results = workdir / "r"
    experiment = results / NAME
    planned = 2 * trials_per_search
    started = time.monotonic()
    chaos = Chaos(experiment, interval_s, max_kills, seed)
    chaos.start()
    driver = _driver(["run", str(config), "--results", str(results), "--num-cpus", "2", "--quiet",
                      "--no-dashboard"], workdir / "run.log")
    deadline = started + timeout_s
    while driver.poll() is None and time.monotonic() < deadline:
        if len(_rows(experiment, "trials", ["trial_id"])) >= kill_driver_at * planned:
            break
        time.sleep(0.5)
    driver_kills = 0
    if driver.poll() is None:
        os.kill(driver.pid, signal.SIGKILL)  # the driver only: resume stops its orphans
        driver_kills = 1
    run_status = driver.wait()
    resume = _driver(["resume", str(experiment), "--num-cpus", "2", "--quiet", "--no-dashboard"],
                     workdir / "resume.log")
    try:
        resume_status = resume.wait(timeout=max(60.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        os.killpg(resume.pid, signal.SIGKILL)
        resume_status = resume.wait()
    chaos.done.set()
    chaos.join()
    wall = time.monotonic() - started
    trials = _rows(experiment, "trials", ["trial_id", "attempt", "status"])
    per_trial = Counter(t[0] for t in trials)
    curves = Counter(_rows(experiment, "curves", ["trial_id", "attempt", "step"]))
    return {
        "trials_planned": planned,
        "trials_rows": len(trials),
        "lost": planned - len(per_trial),
        "doubled": sum(1 for c in per_trial.values() if c > 1),
        "duplicate_curve_rows": sum(c - 1 for c in curves.values()),
        "worker_kills": chaos.kills,
        "driver_kills": driver_kills,
        "retries": sum(int(t[1]) for t in trials),
        "failed": sum(1 for t in trials if t[2] == "failed"),
        "run_status": run_status,
        "resume_status": resume_status,
        "wall_time_s": round(wall, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials-per-search", type=int, default=100)
    parser.add_argument("--interval", type=float, default=4.0, help="seconds between worker kills")
    parser.add_argument("--max-kills", type=int, default=40)
    parser.add_argument("--kill-driver-at", type=float, default=0.3, help="fraction of trials on disk")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(HERE / "results" / "chaos.json"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="optcompare-chaos-") as workdir:
        counts = run_chaos(
            Path(workdir), trials_per_search=args.trials_per_search, interval_s=args.interval,
            max_kills=args.max_kills, kill_driver_at=args.kill_driver_at, seed=args.seed,
        )
        if counts["resume_status"] != 0:
            print((Path(workdir) / "resume.log").read_text()[-4000:], file=sys.stderr)
    record = {
        **counts,
        "config": {"trials_per_search": args.trials_per_search, "interval_s": args.interval,
                   "max_kills": args.max_kills, "kill_driver_at": args.kill_driver_at, "seed": args.seed},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(counts, indent=2))
    ok = counts["lost"] == counts["doubled"] == counts["duplicate_curve_rows"] == 0
    return 0 if ok and counts["resume_status"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
