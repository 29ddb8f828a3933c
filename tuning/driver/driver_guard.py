"""What ``run`` and ``resume`` hold around a study: the experiment's lease (:mod:`tuning.store.lease`),
the stop signals (:mod:`tuning.driver.signals`) and the record of the Ray they started
(:mod:`tuning.driver.ray_processes`), each undone on the way out, whatever happens."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from tuning.driver.ray_processes import session_record, stop_session
from tuning.driver.signals import StopRequest, StopSignals, at_exit_now
from tuning.store.lease import Lease, acquire

__all__ = ["hold_lease", "stop_signals"]


def _say(message: str) -> None:
    print(f"optcompare: {message}", file=sys.stderr, flush=True)


@contextmanager
def hold_lease(experiment_dir: str) -> Iterator[Lease]:
    """Hold ``experiment_dir``'s lease while inside (:class:`tuning.store.lease.LeaseHeld` if another
    live driver holds it). Taking over a stale lease of a driver that ran on this host stops the
    processes of the Ray it had started."""

    with ExitStack() as stack:
        lease = stack.enter_context(acquire(experiment_dir))
        stack.callback(at_exit_now(lease.release))
        previous = (lease.previous or {}).get("ray")
        if isinstance(previous, dict):
            stopped = stop_session(previous)
            if stopped:
                _say(
                    f"stopped {len(stopped)} orphaned processes of the dead driver's Ray session "
                    f"{previous.get('session_dir')} (pids {', '.join(map(str, stopped))})"
                )
        yield lease


def _shutdown_ray() -> None:
    import ray

    ray.shutdown()


@contextmanager
def stop_signals(lease: Lease, *, started_ray: bool) -> Iterator[StopRequest]:
    """Install the stop signals (after Ray, which sets its own SIGTERM handler when it starts)
    and tie them to ``lease``. The Ray this driver started (``started_ray``) is recorded in the
    lease, shut down on the way out (still under the signals: a second one exits at once), and
    its processes are stopped if the driver has to exit at once."""

    with ExitStack() as stack:
        signals = stack.enter_context(StopSignals())
        if started_ray:
            stack.callback(_shutdown_ray)
            record = session_record()
            lease.update(ray=record)
            stack.callback(at_exit_now(lambda: stop_session(record, wait_s=0)))
        lease.on_lost = signals.lease_lost
        yield signals.stop
