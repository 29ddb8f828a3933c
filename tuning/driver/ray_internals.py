"""Every private Ray attribute optcompare relies on, in one place.

``pyproject.toml`` allows ``ray>=2.50,<3``; private attributes may move in any release.
tests/tuning/test_ray_internals.py checks each one exists on the installed Ray (without starting
it) and fails by name when a version drops one, instead of a study failing half-way.

- :func:`session_dir`: the running Ray session's directory (``/tmp/ray/session_...``), which
  resume uses to recognise the processes of a Ray a killed driver started
  (:mod:`tuning.driver.ray_processes`). Public Ray has no call for it.
- :func:`trial_actor`: the Ray actor that runs a Tune trial, which the driver kills when the
  trial is hung (:mod:`tuning.driver.tune_callbacks`); Tune offers no public way to stop a trial that
  no longer reports.
- :func:`local_ray_setup`: how a study's own Ray starts (:func:`tuning.driver.ray_env.start_ray`):
  every process listens on loopback only, and each process Ray's services start runs in a POSIX
  session of its own. Ray has no public option for either: ``ray.init`` resolves a node address
  of 127.0.0.1 to the machine's network address (``services.resolve_ip_for_localhost``) unless
  ``ray_constants.ENABLE_RAY_CLUSTER`` is off (Ray's own setting for macOS and Windows, read
  from ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER``), and it starts its processes with
  ``services.ConsolePopen`` in the driver's process group.
- :func:`memory_kills_as_worker_deaths`: a trial whose worker Ray's memory monitor kills fails
  like any dead worker. Tune's actor manager (``RayActorManager._actor_task_failed``) knows
  only ``RayActorError`` and ``RayTaskError``; the ``OutOfMemoryError`` of a memory kill made it
  raise "Caught unexpected exception", which ended the study. :func:`latest_trial_error` reads
  the error Tune recorded for a trial where Tune writes it first (``Trial.error_file``, on this
  machine; ``Trial.get_error`` reads the copy in the storage, which is synced later).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = [
    "LOOPBACK_ENV", "MEMORY_KILLED", "latest_trial_error", "local_ray_setup", "memory_kills_as_worker_deaths",
    "session_dir", "trial_actor",
]

LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
"""The environment variable Ray reads ``ray_constants.ENABLE_RAY_CLUSTER`` from (at import): "0"
makes every Ray process take 127.0.0.1 as its node address and bind its servers there."""


def session_dir() -> str:
    """The session directory of the Ray this process is connected to
    (``ray._private.worker.global_worker.node.get_session_dir_path()``)."""
    import ray

    return str(ray._private.worker.global_worker.node.get_session_dir_path())


def trial_actor(trial: Any) -> Any | None:  # noqa: ANN401 - a Tune Trial and its Ray actor handle
    """The actor running Tune ``trial`` (``trial.temporary_state.ray_actor``); None when it has
    none (not started, or already gone)."""
    return getattr(getattr(trial, "temporary_state", None), "ray_actor", None)


@contextmanager
def local_ray_setup() -> Iterator[None]:
    """While inside (around ``ray.init`` of a study's own Ray; module docstring):

    - loopback: ``ray_constants.ENABLE_RAY_CLUSTER`` is False in this process and
      :data:`LOOPBACK_ENV` is "0" in the environment the Ray processes inherit, so the node
      address is 127.0.0.1 and the GCS server, the raylet, the agents and the workers listen
      there (Ray binds a gRPC server to 127.0.0.1 when the node address is 127.0.0.1, to every
      interface otherwise);
    - own sessions: ``services.ConsolePopen`` starts each process with ``start_new_session``,
      so a signal to the driver's process group (``kill -TERM -PGID``, systemd, a job
      scheduler) reaches the driver only, which then stops its Ray itself. Ray's kernel
      fate-sharing (PR_SET_PDEATHSIG) still ends them if the driver is killed; where there is
      none (macOS), Ray's reaper ends them by process group, so they keep the driver's.

    Both are undone on the way out: a later joined cluster in this process is unaffected."""
    from ray._private import ray_constants, services
    from ray._private.utils import detect_fate_sharing_support

    # Without kernel fate-sharing (macOS), Ray's reaper ends the processes by their process group:
    # sessions of their own would leave them running after the driver dies.
    own_sessions = detect_fate_sharing_support()

    class OwnSession(services.ConsolePopen):
        def __init__(self, *args: Any, **kwargs: Any) -> None:  # noqa: ANN401 - Popen's
            kwargs.setdefault("start_new_session", True)
            super().__init__(*args, **kwargs)

    popen, cluster, env = services.ConsolePopen, ray_constants.ENABLE_RAY_CLUSTER, os.environ.get(LOOPBACK_ENV)
    if own_sessions:
        services.ConsolePopen = OwnSession  # type: ignore[misc]  # a class patched while Ray starts
    ray_constants.ENABLE_RAY_CLUSTER = False
    os.environ[LOOPBACK_ENV] = "0"
    try:
        yield
    finally:
        services.ConsolePopen = popen  # type: ignore[misc]  # put back
        ray_constants.ENABLE_RAY_CLUSTER = cluster
        if env is None:
            os.environ.pop(LOOPBACK_ENV, None)
        else:
            os.environ[LOOPBACK_ENV] = env


MEMORY_KILLED = "killed by Ray's memory monitor"
"""How the error of a trial whose worker Ray's memory monitor killed begins (then ``: `` and
Ray's own message)."""


@contextmanager
def memory_kills_as_worker_deaths() -> Iterator[None]:
    """While inside (around the driver's Tune runs), an actor task that fails with
    ``ray.exceptions.OutOfMemoryError`` (Ray's memory monitor killed its worker) reaches Tune as
    the ``RayActorError`` of a dead worker whose message is :data:`MEMORY_KILLED`, then Ray's
    message: Tune ends the trial, the driver records and retries it like any dead worker's
    (module docstring). Patches ``RayActorManager._actor_task_failed``; undone on the way out."""
    from ray.air.execution._internal.actor_manager import RayActorManager
    from ray.exceptions import OutOfMemoryError, RayActorError

    original = RayActorManager._actor_task_failed

    def _actor_task_failed(self: Any, tracked_actor_task: Any, exception: Exception) -> None:  # noqa: ANN401
        if isinstance(exception, OutOfMemoryError):
            exception = RayActorError(error_msg=f"{MEMORY_KILLED}: {exception}")
        original(self, tracked_actor_task, exception)

    RayActorManager._actor_task_failed = _actor_task_failed  # type: ignore[method-assign]  # patched while Tune runs
    try:
        yield
    finally:
        RayActorManager._actor_task_failed = original  # type: ignore[method-assign]  # put back


def latest_trial_error(trial: Any) -> str:  # noqa: ANN401 - a Tune Trial
    """The text of the latest failure Tune recorded for ``trial`` ("" when none): the last
    ``Failure # N`` entry of its local error file (``trial.error_file``, appended by
    ``Trial.handle_error`` before the callbacks run)."""
    path = getattr(trial, "error_file", None)
    try:
        text = Path(path).read_text(errors="replace") if path else ""
    except OSError:
        return ""
    return text.rpartition("Failure # ")[2]
