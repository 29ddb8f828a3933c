"""Shared fixtures: an isolated data cache for the whole session (inherited by Ray workers)."""

from __future__ import annotations

import os

import pytest


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
