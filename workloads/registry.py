"""Workload registry: name -> ``"module:Class"``, imported only when the workload is used."""

from __future__ import annotations

import importlib

from .base import Workload

_REGISTRY: dict[str, str] = {
    "mnist1d-mlp": "workloads.mnist1d_mlp:Mnist1dMlp",
}


def names() -> list[str]:
    """Registered workload names."""
    return list(_REGISTRY)


def register(name: str, target: str | type[Workload], *, overwrite: bool = False) -> None:
    """Register a workload class, or its ``"module:Class"`` path for lazy import."""
    if name in _REGISTRY and not overwrite:
        raise ValueError(f"workload {name!r} is already registered; pass overwrite=True")
    if isinstance(target, type):
        target = f"{target.__module__}:{target.__qualname__}"
    _REGISTRY[name] = target


def get_class(name: str) -> type[Workload]:
    """The workload class registered under ``name``; ValueError listing valid names otherwise."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown workload {name!r}; valid choices: {', '.join(names())}")
    module_name, _, attr = _REGISTRY[name].partition(":")
    return getattr(importlib.import_module(module_name), attr)


def get(name: str, data_dir: str | None = None) -> Workload:
    """An instance of workload ``name`` reading its data from ``data_dir``."""
    return get_class(name)(data_dir)
