"""The inclusion pairs of a study's optimizers (:func:`inclusion_pairs`): each narrow optimizer with the wide ones that include it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from optcompare.errors import InputError
from optimizers import inclusion_path

__all__ = [
    "ProbePair",
    "inclusion_pairs",
]


class ProbePair(NamedTuple):
    """``narrow <= wide``: the narrow optimizer's best trial is imitated by ``wide``."""

    narrow: str
    wide: str


def inclusion_pairs(optimizer_names: Iterable[str]) -> list[ProbePair]:
    """Every ordered pair of ``optimizer_names`` with an inclusion path, wide-major in the
    names' order."""

    names = list(dict.fromkeys(optimizer_names))
    pairs = []
    for wide in names:
        for narrow in names:
            if narrow == wide:
                continue
            try:
                inclusion_path(narrow, wide)
            except InputError:
                continue
            pairs.append(ProbePair(narrow, wide))
    return pairs
