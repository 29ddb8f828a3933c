"""Shared fixtures: an isolated data cache for the whole session (inherited by Ray workers)."""

from __future__ import annotations

import os
import sys

import pytest
from plugin_fixtures import PLUGIN_MODULE, PLUGIN_SOURCE
from s3_server import s3_results, s3_server  # noqa: F401 - fixtures for the s3:// tests


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory):
    """Point OPTCOMPARE_CACHE at a session directory so tests never touch ~/.cache."""
    cache = tmp_path_factory.mktemp("optcompare-cache")
    old = os.environ.get("OPTCOMPARE_CACHE")
    os.environ["OPTCOMPARE_CACHE"] = str(cache)
    yield cache
    if old is None:
        os.environ.pop("OPTCOMPARE_CACHE", None)
    else:
        os.environ["OPTCOMPARE_CACHE"] = old


@pytest.fixture
def install_plugin(tmp_path, monkeypatch):
    """``install_plugin(name, source)`` writes a plugin module where this process and Ray workers
    (through PYTHONPATH) import it; registrations are undone after the test."""
    import optimizers.inclusions as inclusions
    import optimizers.registry as registry
    import tuning.plugins as plugins
    import workloads.registry as workload_registry

    monkeypatch.syspath_prepend(str(tmp_path))
    # Ray workers are fresh processes: they find the module through PYTHONPATH.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")])))
    specs = dict(registry._REGISTRY)
    incs = dict(inclusions._INCLUSIONS)
    workload_entries = dict(workload_registry._REGISTRY)
    loaded = set(plugins._LOADED)
    written: list[str] = []

    def install(name: str, source: str) -> str:
        (tmp_path / f"{name}.py").write_text(source)
        written.append(name)
        return name

    yield install
    registry._REGISTRY.clear()
    registry._REGISTRY.update(specs)
    inclusions._INCLUSIONS.clear()
    inclusions._INCLUSIONS.update(incs)
    workload_registry._REGISTRY.clear()
    workload_registry._REGISTRY.update(workload_entries)
    plugins._LOADED.clear()
    plugins._LOADED.update(loaded)
    for name in written:
        sys.modules.pop(name, None)


@pytest.fixture
def user_plugin(install_plugin):
    """The plain-adagrad plugin of tests/plugin_fixtures.py, installed."""
    return install_plugin(PLUGIN_MODULE, PLUGIN_SOURCE)
