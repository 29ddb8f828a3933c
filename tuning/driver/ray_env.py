"""Where a study's Ray runs: the process environment Ray and Tune read, and starting or joining Ray.

Tune's default file loggers are off (they double the per-trial overhead on a 2-core machine,
and the Parquet sink is the record; see benchmarks/README.md), as are usage statistics and
Tune's own progress tables and error dumps (the driver reports progress and failures itself).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from optcompare.errors import ParameterError
from tuning.driver.ray_internals import local_ray_setup

__all__ = ["RayTarget", "bounded_pending_trials", "prepare_ray_environment", "start_ray"]

RAY_ENVIRONMENT = {
    "RAY_USAGE_STATS_ENABLED": "0",  # no telemetry calls home
    "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1",
    "RAY_DEDUP_LOGS": "1",
    "RAY_AIR_NEW_OUTPUT": "0",  # with verbose=0: no Tune tables on stdout
    "TUNE_PRINT_ALL_TRIAL_ERRORS": "0",  # failures are summarised by the driver
    "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "1000",
    # The driver handles SIGINT itself (tuning/driver/signals.py): Tune's handler ended one Tune run
    # and left the driver to start the next.
    "TUNE_DISABLE_SIGINT_HANDLER": "1",
}
"""Set (unless the user set them) before ray.tune is imported."""

QUIET_LOGGERS = ("ray.tune.analysis.experiment_analysis", "ray.tune.search.searcher")
"""Loggers whose warnings about a searcher without a metric are noise here."""

PENDING_TRIALS = "TUNE_MAX_PENDING_TRIALS_PG"

REACH_TIMEOUT_S = 10.0
"""How long ``start_ray`` waits for a TCP connection to a ``HOST:PORT`` address before it calls
the cluster unreachable. Ray's own client retries a dead address for minutes (20 attempts of
its GCS client, measured at over 7 minutes with Ray 2.60) before it raises."""


@dataclass(frozen=True)
class RayTarget:
    """The Ray a study runs on: a fresh in-process one (no ``address``) with ``num_cpus`` CPUs
    (None: all) and, if ``dashboard``, its dashboard on 127.0.0.1; or the cluster at ``address``
    (``"auto"``, ``HOST:PORT`` or ``ray://...``)."""

    address: str | None = None
    num_cpus: int | None = None
    dashboard: bool = True

    @property
    def joined(self) -> bool:
        """Whether the study joins a cluster (which may grow) rather than starting its own Ray."""
        return bool(self.address)


def prepare_ray_environment() -> None:
    """Set :data:`RAY_ENVIRONMENT` (keeping values the user set) and quiet :data:`QUIET_LOGGERS`."""
    for name, value in RAY_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)


def start_ray(target: RayTarget = RayTarget(), *, announce: bool = False) -> bool:
    """Initialise Ray on ``target`` unless it already is; return whether this call started it.

    A fresh in-process Ray uses ``address="local"``, never a cluster that happens to run on this
    machine; every process of it listens on 127.0.0.1 only, and runs in a process session of its
    own, so a signal to the driver's process group reaches the driver alone
    (:func:`tuning.driver.ray_internals.local_ray_setup`); ``announce`` prints its dashboard's URL. A cluster that cannot be reached is an
    :class:`~optcompare.errors.ParameterError` that says how to start one.
    """
    prepare_ray_environment()
    import ray

    if ray.is_initialized():
        return False
    if target.num_cpus is not None and target.num_cpus < 1:
        raise ParameterError("num_cpus", f"{{name}} must be at least 1, got {target.num_cpus}")
    kwargs: dict[str, Any] = {"logging_level": logging.WARNING}
    if target.joined:
        _check_reachable(target.address)
        kwargs["address"] = target.address
    else:
        kwargs.update(address="local", include_dashboard=target.dashboard, num_cpus=target.num_cpus)
        if target.dashboard:
            kwargs["dashboard_host"] = "127.0.0.1"
    try:
        with contextlib.nullcontext() if target.joined else local_ray_setup():
            context = ray.init(**kwargs)
    except ConnectionError as exc:
        raise _unreachable(target.address, str(exc)) from exc
    if announce and not target.joined and target.dashboard and context.dashboard_url:
        print(f"Ray dashboard (this machine only): http://{context.dashboard_url}", flush=True)
    return True


def _unreachable(address: str | None, reason: str) -> ParameterError:
    return ParameterError(
        "address",
        f"cannot reach a Ray cluster at {{name}} {address!r} ({reason}); start one with "
        "'ray start --head --dashboard-host=127.0.0.1' or 'ray up cluster.yaml', or leave out "
        "{name} to run on this machine",
    )


def _check_reachable(address: str | None) -> None:
    """For a ``HOST:PORT`` address, a TCP connection within :data:`REACH_TIMEOUT_S`, else the
    :class:`~optcompare.errors.ParameterError` of an unreachable cluster at once. ``auto``,
    ``ray://`` and other schemes are left to Ray."""
    text = address or ""
    host, sep, port = text.rpartition(":")
    if not sep or not host or "://" in text or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=REACH_TIMEOUT_S).close()
    except OSError as exc:
        raise _unreachable(address, f"no connection to {host}:{port} within {REACH_TIMEOUT_S:g} s: {exc}") from exc


@contextmanager
def bounded_pending_trials(limit: int | None) -> Iterator[None]:
    """While inside, let Tune queue at most ``limit`` trials beyond those running (None: Tune's
    default). Tune lets a custom searcher queue as many trials as ``max_concurrent_trials``,
    which on a joined cluster is unbounded: the bound keeps the queue to what shows an
    autoscaler demand beyond the cluster. A value the user set wins and stays."""
    previous = os.environ.get(PENDING_TRIALS)
    if limit is not None and previous is None:
        os.environ[PENDING_TRIALS] = str(limit)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(PENDING_TRIALS, None)
