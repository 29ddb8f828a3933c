"""Plugins: modules that register optimizers (and inclusions, workloads) before a study runs.

Two ways in, both loaded in the driver before the config is validated and again in every Ray
worker before its first trial (a worker is a fresh process):

- entry points in the group ``optcompare.plugins`` of any installed distribution
  (``[project.entry-points."optcompare.plugins"] mine = "mypkg.optcompare_plugin"``); a loaded
  object that is callable is called once;
- module names listed under ``plugins:`` in the experiment config (importable on every node).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from importlib import metadata

from optcompare.errors import InputError

__all__ = ["ENTRY_POINT_GROUP", "load_plugins"]

ENTRY_POINT_GROUP = "optcompare.plugins"
_LOADED: set[str] = set()


def load_plugins(modules: Sequence[str] = (), *, where: str = "plugins") -> list[str]:
    """Import entry-point plugins and ``modules`` once per process; return what was loaded now."""
    loaded: list[str] = []
    for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
        key = f"entry-point:{entry.value}"
        if key in _LOADED:
            continue
        obj = entry.load()
        if callable(obj):
            obj()
        _LOADED.add(key)
        loaded.append(key)
    for i, module in enumerate(modules):
        if module in _LOADED:
            continue
        try:
            importlib.import_module(module)
        except ImportError as err:
            raise InputError(
                f"{where}[{i}]: cannot import plugin module {module!r} ({err}); install it or put it "
                "on PYTHONPATH on every node"
            ) from None
        _LOADED.add(module)
        loaded.append(module)
    return loaded
