"""Each protocol's ``rerun_best`` rule (:func:`rerun_rules`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from tuning.spec.protocol import Protocol

__all__ = [
    "RerunRule",
    "rerun_rules",
]


class RerunRule(NamedTuple):
    """How a protocol reruns each search's best trial: ``seeds`` new seeds, best by ``select``
    (a metric name of :data:`optcompare.schema.SELECT_METRICS`)."""

    seeds: int
    select: str


def rerun_rules(protocols: Iterable[Protocol]) -> dict[str, RerunRule]:
    """Protocol name -> its :class:`RerunRule`, for the protocols that rerun (``rerun_best``)."""
    return {p.name: RerunRule(p.rerun_seeds, p.select) for p in protocols if p.rerun_seeds}
