"""The processes of the Ray a driver started in-process: recorded in its lease, and stopped after
the driver died.

A driver killed by SIGKILL leaves Ray's agents behind (``ray::DashboardAgent``,
``ray::RuntimeEnvAgent``: children of the raylet, re-parented to init when it goes). The driver
records its Ray's node id, session directory and process ids (each with its start time) in its
lease (:func:`session_record`); the next ``run``/``resume`` that takes the stale lease over on
the same host stops exactly those processes (:func:`stop_session`): a process counts only if its
environment carries that node id (``RAY_NODE_ID``, which Ray sets in every process of a node) or
its pid and start time are the recorded ones, or it runs below such a process (the workers the
raylet started later), and it belongs to this user. Reads ``/proc``
(Linux); elsewhere nothing is found and nothing is stopped.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from typing import Any

from tuning.driver.ray_internals import session_dir

__all__ = ["session_record", "stop_session"]

TERM_WAIT_S = 3.0
"""How long stopped processes get between SIGTERM and SIGKILL (Ray's agents ignore SIGTERM)."""


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, start time in clock ticks) of ``pid`` from ``/proc``; None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
        return int(fields[1]), float(fields[19])
    except (OSError, IndexError, ValueError):
        return None


def _pids() -> list[int]:
    try:
        return [int(name) for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return []


def _children() -> dict[int, list[tuple[int, float]]]:
    """Parent pid -> (pid, start time) of its children, for every process."""
    children: dict[int, list[tuple[int, float]]] = {}
    for pid in _pids():
        info = _stat(pid)
        if info is not None:
            children.setdefault(info[0], []).append((pid, info[1]))
    return children


def _descendants(roots: list[int], children: dict[int, list[tuple[int, float]]] | None = None) -> list[tuple[int, float]]:
    """(pid, start time) of every process below ``roots``."""
    children = _children() if children is None else children
    found, queue = [], list(roots)
    while queue:
        for child in children.get(queue.pop(), []):
            found.append(child)
            queue.append(child[0])
    return found


def _node_id_of(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/environ", "rb") as environ:
            for entry in environ.read().split(b"\0"):
                if entry.startswith(b"RAY_NODE_ID="):
                    return entry.split(b"=", 1)[1].decode()
    except OSError:
        return None
    return None


def session_record() -> dict[str, Any]:
    """What identifies the processes of the in-process Ray this driver started: host, node id,
    session directory, and (pid, start time) of every process below this one."""
    import ray

    return {
        "host": socket.gethostname(),
        "node_id": ray.get_runtime_context().get_node_id(),
        "session_dir": session_dir(),
        "pids": [list(p) for p in _descendants([os.getpid()])],
    }


def session_processes(record: dict[str, Any]) -> list[int]:
    """The live processes of the recorded Ray session on this host (module docstring), and the
    processes below them (the workers the raylet started after the record was taken)."""
    if record.get("host") != socket.gethostname():
        return []
    recorded = {int(p): float(t) for p, t in record.get("pids") or []}
    node_id = record.get("node_id")
    children = _children()
    seeds = []
    for pid in _pids():
        info = _stat(pid)
        if pid == os.getpid() or info is None:
            continue
        if recorded.get(pid) == info[1] or (node_id and _node_id_of(pid) == node_id):
            seeds.append(pid)
    below = [pid for pid, _ in _descendants(seeds, children)]
    return sorted(set(seeds) | set(below) - {os.getpid()})


def stop_session(record: dict[str, Any], *, wait_s: float = TERM_WAIT_S) -> list[int]:
    """Stop the live processes of the recorded Ray session: SIGTERM, then SIGKILL for those
    still there after ``wait_s`` (0: SIGKILL at once); return their pids."""
    pids = session_processes(record)
    first = signal.SIGKILL if wait_s <= 0 else signal.SIGTERM
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, first)
    if wait_s > 0 and pids:
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline and any(_stat(p) for p in pids):
            time.sleep(0.1)
        for pid in pids:
            if _stat(pid) is not None:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
    return pids
