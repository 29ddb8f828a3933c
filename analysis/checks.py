"""The analysis functions' arguments, checked once where they enter the library.

Each check raises :class:`~optcompare.errors.ParameterError` (an ``InputError``: exit status 2)
naming the parameter, the bad value and the fix; the command line shows the same message with
its flag (``--budget``) in place of the parameter's name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from optcompare.errors import ParameterError
from optcompare.schema import METRICS

__all__ = ["check_budgets", "check_metric", "check_resamples", "check_select"]


def check_budgets(budgets: Iterable[int], parameter: str = "budget") -> tuple[int, ...]:
    """The distinct budgets (trials per search) in ascending order; each must be an integer >= 1."""
    values = list(budgets)
    if not values:
        raise ParameterError(parameter, "{name} is empty; give at least one number of trials per search")
    if not all(_is_integer(v) for v in values):
        bad = next(v for v in values if not _is_integer(v))
        raise ParameterError(parameter, f"{{name}} must be an integer number of trials, got {bad!r}")
    low = min(int(v) for v in values)
    if low < 1:
        raise ParameterError(parameter, f"{{name}} must be >= 1, got {low}")
    return tuple(sorted({int(v) for v in values}))


def check_resamples(n_resamples: int, parameter: str = "n_resamples") -> int:
    """The number of bootstrap resamples B; an integer >= 1."""
    if not _is_integer(n_resamples) or int(n_resamples) < 1:
        raise ParameterError(parameter, f"{{name}} must be >= 1, got {n_resamples!r}")
    return int(n_resamples)


def _is_integer(value: object) -> bool:
    """An int (numpy's too) or an integral float; not a bool or a string."""
    if isinstance(value, (bool, str, bytes)):
        return False
    try:
        return int(value) == value  # type: ignore[call-overload]  # any object; int() raises for the wrong ones
    except (TypeError, ValueError, OverflowError):
        return False


def check_metric(name: str, parameter: str, choices: Sequence[str] = tuple(METRICS)) -> str:
    """``name`` when it is one of ``choices`` (metric names of :data:`optcompare.schema.METRICS`)."""
    if name not in choices:
        raise ParameterError(
            parameter, f"unknown metric {name!r} for {{name}}; valid choices: {', '.join(choices)}"
        )
    return name


def check_select(select: str | Mapping[str, str], parameter: str = "select") -> None:
    """A selection metric, or a mapping protocol -> selection metric, of known metrics."""
    for name in [select] if isinstance(select, str) else select.values():
        check_metric(name, parameter)
