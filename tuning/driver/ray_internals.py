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
"""

from __future__ import annotations

from typing import Any

__all__ = ["session_dir", "trial_actor"]


def session_dir() -> str:
    """The session directory of the Ray this process is connected to
    (``ray._private.worker.global_worker.node.get_session_dir_path()``)."""
    import ray

    return str(ray._private.worker.global_worker.node.get_session_dir_path())


def trial_actor(trial: Any) -> Any | None:  # noqa: ANN401 - a Tune Trial and its Ray actor handle
    """The actor running Tune ``trial`` (``trial.temporary_state.ray_actor``); None when it has
    none (not started, or already gone)."""
    return getattr(getattr(trial, "temporary_state", None), "ray_actor", None)
