"""The test session: its isolation from the machine, the lanes, and the shared fixtures.

Isolation, set up before anything runs (:func:`pytest_configure`) and undone at the end:

- ``OPTCOMPARE_CACHE``: a session data cache, so tests never touch ``~/.cache``;
- ``RAY_TMPDIR``: a session Ray directory, so every Ray the tests start (in this process or in a
  driver subprocess) keeps its sessions there, never in the user's ``/tmp/ray``;
- ``RAY_ADDRESS`` is removed: no test follows it onto a cluster it did not start;
- ``PYTHONPATH`` starts with the repository root, so Ray workers import ``tests.plugins``;
- ``OPTCOMPARE_FAULT_DIR``: the session's fault directory (see :mod:`tests.plugins`).

Lanes (README, "Tests"): ``make test-fast`` runs ``-m "not slow and not ray"``; ``make test``
runs everything, in one session. A test is marked ``ray`` by asking for :func:`shared_ray` or
:func:`own_ray` (the mark follows the fixture), and ``slow`` by hand when it needs more than 2
seconds. A test without the ``ray`` mark runs with no Ray connected in its process and cannot
start one (:func:`no_ray_unless_marked`), so a test that does without the fixture fails, in
either lane.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.plugins import FAULT_DIR_VARIABLE
from tests.s3_server import s3_results, s3_server  # noqa: F401 - fixtures for the s3:// tests

REPO_ROOT = Path(__file__).resolve().parents[1]
RAY_FIXTURES = ("shared_ray", "own_ray")
SLOW_S = 2.0
"""A test that needs more than this many seconds is marked ``slow``."""
SHARED_RAY_CPUS = 1
"""CPUs of each xdist worker's shared Ray: one trial at a time. Each concurrent trial of a Tune
run is a fresh worker process that imports torch (about 2 CPU-seconds), the suite's studies are
tiny, and the slow lane runs on 2 workers of a 2-core machine that it keeps 80-86% busy: with
one slot the lane took 543 s against 558 s with two, the same day (docs/decisions.md, "Tests:
two lanes, one shared Ray")."""
DURATIONS_FILE = REPO_ROOT / "tests" / "durations.json"
"""Seconds each slow test's call took in a recorded run, by node id: the order of ``make
test``'s session (:func:`pytest_collection_modifyitems`). Rewritten by a run with ``OPTCOMPARE_RECORD_DURATIONS``
set to its path (README, "Tests"); a test it lacks goes last in its group."""
RECORD_VARIABLE = "OPTCOMPARE_RECORD_DURATIONS"
IDLE_TIMEOUT_S = 60.0
"""How long the shared Ray may take to free every CPU after a test (generous: a busy machine)."""

_saved_environment: dict[str, str | None] = {}
_session_dirs: list[str] = []


def _set_environment(name: str, value: str | None) -> None:
    _saved_environment.setdefault(name, os.environ.get(name))
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def _session_dir(prefix: str) -> str:
    # Short paths under /tmp: Ray's socket paths live below RAY_TMPDIR and must stay under the
    # 107-byte limit of a Unix socket name.
    path = tempfile.mkdtemp(prefix=prefix, dir="/tmp" if os.path.isdir("/tmp") else None)
    _session_dirs.append(path)
    return path


def pytest_configure(config: pytest.Config) -> None:
    # xdist workers inherit the controller's environment: they share its directories.
    if os.environ.get("OPTCOMPARE_TEST_SESSION") is None:
        _set_environment("OPTCOMPARE_TEST_SESSION", str(os.getpid()))
        _set_environment("OPTCOMPARE_CACHE", _session_dir("oc-cache-"))
        _set_environment("RAY_TMPDIR", _session_dir("oc-ray-"))
        _set_environment(FAULT_DIR_VARIABLE, _session_dir("oc-faults-"))
        _set_environment("RAY_ADDRESS", None)
        path = os.environ.get("PYTHONPATH")
        _set_environment("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO_ROOT), path])))
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker is not None:  # one fault directory per xdist worker: each runs its own studies
        faults = Path(os.environ[FAULT_DIR_VARIABLE]) / worker
        faults.mkdir(exist_ok=True)
        _set_environment(FAULT_DIR_VARIABLE, str(faults))


def pytest_unconfigure(config: pytest.Config) -> None:
    _SharedRay.instance().stop()
    for name, value in _saved_environment.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    for path in _session_dirs:
        shutil.rmtree(path, ignore_errors=True)


@pytest.hookimpl(tryfirst=True)  # before -m deselects by the marks set here
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark ``ray`` every test that uses Ray. Order: the tests that need no Ray in this process
    (``own_ray``), then those on the shared one, which so starts once per worker, then those
    without Ray (before the first of them, a worker stops its shared Ray). Within each, the longest
    first, by :data:`DURATIONS_FILE`: xdist hands each worker its next tests ahead of time, so a
    long test left for the end ran on one worker while the other sat idle (88 s of 589 on
    2026-12-07); the many short tests last even out the two workers' ends."""
    for item in items:
        if set(RAY_FIXTURES) & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.ray)

    def group(item: pytest.Item) -> int:
        names = getattr(item, "fixturenames", ())
        return 1 if "shared_ray" in names else 0 if "own_ray" in names else 2

    recorded = _recorded_seconds()
    items.sort(key=lambda item: (group(item), -recorded.get(item.nodeid, 0.0)))


def _recorded_seconds() -> dict[str, float]:
    """:data:`DURATIONS_FILE`, or nothing if it is missing or unreadable (the order is a hint)."""
    try:
        return {str(k): float(v) for k, v in json.loads(DURATIONS_FILE.read_text()).items()}
    except (OSError, ValueError, AttributeError, TypeError):
        return {}


_ungrouped: set[str] = set()
"""Node ids of tests whose ``xdist_group`` mark ``--dist loadgroup`` ignores (see below)."""


def pytest_collection_finish(session: pytest.Session) -> None:
    """Under ``--dist loadgroup``, a test with an ``xdist_group`` mark must carry its group in
    its node id, which is what the scheduler reads. pytest 9.2 with pytest-xdist 3.8 dropped it
    silently (xdist writes ``item._nodeid``, which pytest 9.2 no longer reads), and the gloo jobs
    ran side by side on two workers; constraints.txt pins pytest 9.1.1. Such tests now fail,
    saying so (an error raised here, in an xdist worker, would only read "no active workers")."""
    if getattr(session.config.option, "loadgroup", False):  # set on xdist workers only
        _ungrouped.update(item.nodeid for item in session.items if item.get_closest_marker("xdist_group") and "@" not in item.nodeid)


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.nodeid in _ungrouped:
        pytest.fail(
            "--dist loadgroup ignores this test's xdist_group mark: this pytest and pytest-xdist do not "
            "work together (pytest 9.2 with xdist 3.8); install the versions of constraints.txt",
            pytrace=False,
        )


class _SharedRay:
    """The session's one in-process Ray (:data:`SHARED_RAY_CPUS` CPUs, no dashboard, on 127.0.0.1,
    its own ports and ``RAY_TMPDIR``), started when a test first asks for it. ``optcompare run``
    and ``resume`` find it running (``ray.is_initialized()``) and use it, as on a Ray the user
    started; they leave it running."""

    _instance: _SharedRay | None = None

    def __init__(self) -> None:
        self.started_here = False

    @classmethod
    def instance(cls) -> _SharedRay:
        if cls._instance is None:
            cls._instance = cls()
        return cls._instance

    def start(self) -> None:
        from tuning.driver.ray_env import RayTarget, prepare_ray_environment, start_ray

        prepare_ray_environment()
        import ray

        if ray.is_initialized():
            if self.started_here:
                return
            raise RuntimeError("a Ray the test session did not start is connected in this process")
        # As a study starts its own: on 127.0.0.1 only, its processes in sessions of their own.
        start_ray(RayTarget(num_cpus=SHARED_RAY_CPUS, dashboard=False))
        self.started_here = True

    def stop(self) -> None:
        if not self.started_here:
            return
        import ray

        ray.shutdown()
        self.started_here = False

    def wait_idle(self) -> str | None:
        """None once every CPU is free again; else what is still held after the bound."""
        import ray

        deadline = time.monotonic() + IDLE_TIMEOUT_S
        while True:
            total = ray.cluster_resources().get("CPU", 0.0)
            free = ray.available_resources().get("CPU", 0.0)
            if free >= total:
                return None
            if time.monotonic() > deadline:
                return f"{total - free:g} of {total:g} CPUs still held {IDLE_TIMEOUT_S:g} s after the test"
            time.sleep(0.2)


@pytest.fixture(autouse=True)
def no_ray_unless_marked(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """A test without the ``ray`` mark runs with no Ray connected in this process (the shared one
    is stopped if an earlier test of this worker started it) and ``ray.init`` raises."""
    if request.node.get_closest_marker("ray") is not None:
        return
    _SharedRay.instance().stop()
    import ray

    def refuse(*args: Any, **kwargs: Any) -> None:  # noqa: ANN401
        raise RuntimeError(
            "this test started Ray without the ray mark: ask for the shared_ray or own_ray fixture "
            "(tests/conftest.py), which marks it `ray`"
        )

    monkeypatch.setattr(ray, "init", refuse)


@pytest.fixture
def shared_ray() -> Iterator[None]:
    """The session's shared in-process Ray, running. After the test every CPU must be free
    again: a test that leaves work behind fails, and the next one gets a fresh Ray."""
    shared = _SharedRay.instance()
    shared.start()
    yield
    held = shared.wait_idle()
    if held is not None:
        shared.stop()
        pytest.fail(f"the test left work in the shared Ray: {held}")


@pytest.fixture
def own_ray() -> Iterator[None]:
    """No Ray connected in this process: the test starts its own (a cluster, a driver process, or
    ``optcompare run`` starting and stopping one), on its own ports. Its own Ray is gone after."""
    _SharedRay.instance().stop()
    yield
    import ray

    if ray.is_initialized():
        ray.shutdown()
        pytest.fail("the test left its own Ray connected")


@pytest.fixture
def fault_dir() -> Iterator[Path]:
    """``$OPTCOMPARE_FAULT_DIR``, empty: where the fault plugins of :mod:`tests.plugins` keep their
    once-per-study markers. Emptied again after the test."""
    path = Path(os.environ[FAULT_DIR_VARIABLE])

    def empty() -> None:
        for child in path.iterdir():
            if child.is_dir():
                shutil.rmtree(child)
            else:
                child.unlink()

    empty()
    yield path
    empty()


@pytest.fixture
def isolated_registries() -> Iterator[None]:
    """Optimizers, inclusions and workloads registered during the test (and the plugin modules it
    loaded) are removed afterwards."""
    import optimizers.inclusions as inclusions
    import optimizers.registry as registry
    import tuning.spec.plugins as plugins
    import workloads.registry as workload_registry

    saved = [(table, dict(table)) for table in (registry._REGISTRY, inclusions._INCLUSIONS, workload_registry._REGISTRY)]
    loaded = set(plugins._LOADED)
    yield
    for table, entries in saved:
        table.clear()
        table.update(entries)
    plugins._LOADED.clear()
    plugins._LOADED.update(loaded)
    for name in [m for m in sys.modules if m.startswith("tests.plugins.")]:
        del sys.modules[name]


@pytest.fixture
def use_plugin(isolated_registries: None) -> Callable[[str], str]:
    """``use_plugin(name)``: the module name ``tests.plugins.NAME`` for a config's ``plugins:``
    list (checked to exist); what it registers is undone after the test."""

    def use(name: str) -> str:
        if not (REPO_ROOT / "tests" / "plugins" / f"{name}.py").is_file():
            raise ValueError(f"no plugin module tests/plugins/{name}.py")
        return f"tests.plugins.{name}"

    return use


@pytest.fixture
def user_plugin(use_plugin: Callable[[str], str]) -> str:
    """The plain-adagrad plugin (tests/plugins/plain_adagrad.py), a user's plugin."""
    return use_plugin("plain_adagrad")


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:  # noqa: ANN401
    """Name the tests that took more than 2 s without the ``slow`` mark (they belong there, or
    in a faster form: the fast lane must stay within 2 minutes). With ``RECORD_VARIABLE`` set,
    write the calls over 2 s to the file it names (:data:`DURATIONS_FILE`'s format)."""
    unmarked = []
    slow: dict[str, float] = {}
    for report in terminalreporter.stats.get("passed", []) + terminalreporter.stats.get("failed", []):
        if report.when == "call" and report.duration > SLOW_S:
            slow[report.nodeid.split("@")[0]] = round(report.duration, 1)  # without xdist's "@group"
            if "slow" not in report.keywords:
                unmarked.append((report.duration, report.nodeid))
    if os.environ.get(RECORD_VARIABLE):  # merged into what the file holds: a lane updates its own tests
        record = Path(os.environ[RECORD_VARIABLE])
        merged = {**(_recorded_seconds() if record == DURATIONS_FILE else {}), **slow}
        record.write_text(json.dumps(dict(sorted(merged.items())), indent=1) + "\n")
    if unmarked:
        terminalreporter.section(f"tests over {SLOW_S:g} s without the slow mark")
        for duration, nodeid in sorted(unmarked, reverse=True):
            terminalreporter.write_line(f"{duration:6.1f} s  {nodeid}")
