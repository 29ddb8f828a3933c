"""Score an external table of results with the same profile code: a CSV of (submission or
optimizer, workload, value), e.g. the steps to target of a published AlgoPerf leaderboard.

The CSV has a header row naming three columns: ``submission`` or ``optimizer`` (who), then
``workload`` and ``value`` (lower is better: steps or seconds to target, or a final error).
An empty value, ``inf``, ``nan`` or ``-`` is a missed target (r = +inf). Extra columns are
ignored. A (who, workload) pair given twice, a negative or unreadable value, or a missing column
is an :class:`~optcompare.errors.InputError` that names the line, the value and the fix; nothing
is scored from a table with an error.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping
from pathlib import Path

from optcompare.errors import InputError

from .profiles import TAU_MAX, PerformanceProfile, performance_profile

__all__ = ["MISSED", "profile_table", "read_profile_table"]

WHO_COLUMNS = ("submission", "optimizer")
"""Accepted names of the first column (who produced the value)."""

MISSED = frozenset({"", "inf", "+inf", "infinity", "nan", "-"})
"""Cell texts (lower case, stripped) that mean a missed target."""


def _number(text: str, where: str) -> float:
    if text.strip().lower() in MISSED:
        return math.inf
    try:
        value = float(text)
    except ValueError:
        raise InputError(
            f"{where}: value {text!r} is not a number; write the steps (or time) to target, or "
            "leave it empty (or inf) for a missed target"
        ) from None
    if math.isnan(value) or value < 0:
        raise InputError(f"{where}: value {text!r} is negative; profiles need values >= 0 (lower is better)")
    return value


def read_profile_table(path: str | Path) -> dict[str, dict[str, float]]:
    """workload -> who -> value of the CSV at ``path`` (module doc)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as err:
        raise InputError(f"cannot read {path}: {err.strerror or err}") from None
    reader = csv.DictReader(text.splitlines())
    header = [h.strip() for h in reader.fieldnames or []]
    who = next((c for c in WHO_COLUMNS if c in header), None)
    missing = [c for c in ("workload", "value") if c not in header]
    if who is None or missing:
        need = ["submission (or optimizer)"] if who is None else []
        raise InputError(
            f"{path}: the header {','.join(header) or '(empty)'} lacks {', '.join(need + missing)}; "
            "the first line must name the columns submission,workload,value"
        )
    reader.fieldnames = header
    values: dict[str, dict[str, float]] = {}
    for row in reader:
        where = f"{path}, line {reader.line_num}"
        name, workload = (row.get(who) or "").strip(), (row.get("workload") or "").strip()
        if not name or not workload:
            raise InputError(f"{where}: empty {who if not name else 'workload'}; every row names both")
        by_who = values.setdefault(workload, {})
        if name in by_who:
            raise InputError(f"{where}: {name} on {workload} is given twice; keep one row per pair")
        by_who[name] = _number(row.get("value") or "", where)
    if not values:
        raise InputError(f"{path} has a header but no rows")
    return values


def profile_table(
    values: str | Path | Mapping[str, Mapping[str, float | None]],
    *,
    quantity: str = "value",
    tau_max: float = TAU_MAX,
    drop_unsolved: bool = False,
    points: int | None = None,
) -> PerformanceProfile:
    """The performance profile of an external table (a CSV path, or workload -> who -> value)
    by :func:`analysis.profiles.performance_profile`; its ``protocol`` is the file's name."""
    name = Path(values).name if isinstance(values, (str, Path)) else "table"
    table = read_profile_table(values) if isinstance(values, (str, Path)) else values
    return performance_profile(
        table, protocol=name, quantity=quantity, tau_max=tau_max, drop_unsolved=drop_unsolved, points=points
    )
