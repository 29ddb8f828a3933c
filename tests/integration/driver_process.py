"""Helpers of the tests that drive a real ``optcompare`` process: start it, wait for rows on
disk, read its lease, count rows and duplicates from the Parquet files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq

from tests.integration.scaffold import study_yaml
from tuning.store.lease import LEASE_FILE

SLOW_PLUGIN = "tests.plugins.slow_sgd"


def slow_study_yaml(name: str, *, steps: int, trials: int) -> str:
    """A study of ``trials`` slow-sgd trials (10 ms per step: ``steps`` / 100 seconds each)."""
    return study_yaml(
        name, plugins=[SLOW_PLUGIN], workload={"name": "mnist1d-mlp", "steps": steps, "eval_every": 100},
        optimizers=["slow-sgd"], trials=trials, report_every_s=0,
    )


RAY_STARTING = ("run", "resume")
"""The commands that start a Ray of their own (without ``--address``)."""


def start(args: list[str], log: Path, env: dict[str, str] | None = None, *, dashboard: bool = False) -> subprocess.Popen:
    """``python -m optcompare ARGS`` in a session of its own (so a test can signal its group
    as Ctrl-C does), output to ``log``; ``env`` adds environment variables (e.g. Ray's).
    ``run`` and ``resume`` start their Ray without its dashboard unless ``dashboard`` (the
    dashboard costs each driver about 3 CPU-seconds and 2 s to start, measured on 2 cores)."""
    if args[0] in RAY_STARTING and not dashboard:
        args = [*args, "--no-dashboard"]
    out = log.open("w")
    return subprocess.Popen(
        [sys.executable, "-m", "optcompare", *args], start_new_session=True,
        stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )


def rows(experiment: Path, table: str, columns: list[str]) -> list[tuple]:
    """Every row of ``table`` (its visible part files), as tuples of ``columns``."""
    found: list[tuple] = []
    for part in (experiment / table).rglob("part-*.parquet"):
        data = pq.read_table(part, columns=columns).to_pydict()
        found += list(zip(*(data[c] for c in columns), strict=True))
    return found


def trial_ids(experiment: Path) -> list[str]:
    return [r[0] for r in rows(experiment, "trials", ["trial_id"])]


def cut_off(experiment: Path) -> set[str]:
    """Trials with curve rows on disk but no trials row: running, or interrupted mid-run."""
    finished = set(trial_ids(experiment))
    return {r[0] for r in rows(experiment, "curves", ["trial_id"])} - finished


def doubled(experiment: Path) -> tuple[int, int]:
    """(trials with more than one trials row, curve rows beyond the first per (trial_id,
    attempt, step))."""
    trials = Counter(trial_ids(experiment))
    curves = Counter(rows(experiment, "curves", ["trial_id", "attempt", "step"]))
    return sum(1 for c in trials.values() if c > 1), sum(c - 1 for c in curves.values())


def lease_with_ray(experiment: Path) -> dict | None:
    """The lease record once it carries the driver's Ray session (None before)."""
    try:
        record = json.loads((experiment / LEASE_FILE).read_text())
    except (OSError, ValueError):
        return None
    return record if "ray" in record else None


LOOPBACK = ("127.0.0.1", "::1", "::ffff:127.0.0.1")
"""The addresses of this machine only."""


def listening_sockets(pids: list[int]) -> set[tuple[str, str, int]]:
    """(process name, address, port) of every TCP socket that one of ``pids`` listens on."""
    import psutil

    wanted = set(pids)
    found: set[tuple[str, str, int]] = set()
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status != psutil.CONN_LISTEN or conn.pid not in wanted:
            continue
        try:
            name = psutil.Process(conn.pid).name()
        except psutil.Error:
            continue
        found.add((name, conn.laddr.ip, conn.laddr.port))
    return found


def process_tree(pid: int) -> list[int]:
    """``pid`` and every process below it."""
    import psutil

    try:
        root = psutil.Process(pid)
        return [pid, *(p.pid for p in root.children(recursive=True))]
    except psutil.Error:
        return []
