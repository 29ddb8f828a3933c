"""Which metric selects a search's best trial: one for every protocol, or the one each
protocol records in experiment.json (``select``). Every command uses these two functions, so a
flag and a recorded ``select`` mean the same thing in ``rank``, ``summary``, ``report``,
``importance`` and the demo."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from optcompare import schema

__all__ = ["select_for", "selection"]


def select_for(select: str | Mapping[str, str], protocol: str) -> str:
    """The selection metric of ``protocol``: ``select`` itself, or its entry for the protocol
    (the first of :data:`optcompare.schema.SELECT_METRICS`, ``val_error``, when the mapping
    lacks it)."""
    if isinstance(select, str):
        return select
    return select.get(protocol, schema.SELECT_METRICS[0])


def selection(meta: Mapping[str, Any], select: str | None = None) -> str | dict[str, str]:
    """The selection metric: ``select`` for every protocol when given, else protocol -> the
    ``select`` experiment.json records for it (an unknown name counts as the default
    ``val_error``; :func:`select_for` gives the default to unrecorded ones), or the default
    itself when experiment.json records none."""
    if select is not None:
        return select
    recorded = meta.get("select")
    if not isinstance(recorded, Mapping) or not recorded:
        return schema.SELECT_METRICS[0]
    return {p: (m if m in schema.METRICS else schema.SELECT_METRICS[0]) for p, m in recorded.items()}
