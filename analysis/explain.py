"""What the tool can see behind a broken inclusion: the evidence next to each violated verdict.

An inclusion ``narrow <= wide`` says the wide optimizer can do whatever the narrow one does
(docs/method.md, inclusions), so a wide optimizer ranked worse at budget K says something about
the search, not the optimizers: the paper's reading is that the wide optimizer's best
hyperparameters lie where the search rarely looks. For each violated verdict this module
gathers the facts that bear on that reading, from the analysis already computed:

- the dimension of each search: how many coordinates the protocol tunes for the wide and the
  narrow optimizer (the report's search-space diagnostics have one entry per tuned coordinate
  with a known range), and how many trials each search has. A quasi-random search of n points
  in d dimensions covers each coordinate's range with about n^(1/d) distinct levels per
  coordinate (n = 16, d = 6: about 1.6), against n levels for a one-dimensional search;
- fixed values: a protocol that tunes only the wide optimizer's learning rate (``lr-only``)
  keeps its other hyperparameters at fixed values, so an imitation of the narrow optimizer that
  needs other values (Adam imitating momentum needs a large epsilon) is not in its space at all;
- the boundary: the tuned coordinates of the wide search whose best trial sits in the outer
  ``edge`` (5%) of its range, where the optimum may lie outside (:mod:`analysis.diagnostics`).

It explains nothing by itself; it lists evidence. Seed noise is not among it: the verdict's
bootstrap is over trials, and a trial's seed-to-seed spread needs reruns (``rerun_best``).
"""

from __future__ import annotations

from dataclasses import dataclass

from optcompare.schema import SearchKey

from .diagnostics import HyperparameterDiagnostic
from .inclusion import InclusionVerdict
from .ranking import Ranking

__all__ = ["LEARNING_RATE_COORDINATES", "SearchShape", "ViolationEvidence", "violation_evidence"]

LEARNING_RATE_COORDINATES = ("learning_rate", "learning_rate_over_epsilon")
"""Tuned coordinates that set only the learning rate (optcompare.coordinates)."""


@dataclass(frozen=True)
class SearchShape:
    """How big a search's space is against its trials: ``dims`` tuned coordinates (``tuned``),
    ``n_trials`` trials, so about ``levels = n_trials ** (1 / dims)`` distinct levels per
    coordinate."""

    optimizer: str
    tuned: tuple[str, ...]
    n_trials: int

    @property
    def dims(self) -> int:
        return len(self.tuned)

    @property
    def learning_rate_only(self) -> bool:
        """Only a learning rate is tuned: every other hyperparameter stays at a fixed value, so
        an imitation that needs other values is outside the search space."""
        return bool(self.tuned) and set(self.tuned) <= set(LEARNING_RATE_COORDINATES)

    @property
    def levels(self) -> float:
        return float(self.n_trials) ** (1.0 / self.dims) if self.dims else float(self.n_trials)


@dataclass(frozen=True)
class ViolationEvidence:
    """One violated verdict and what the analysis shows about its two searches."""

    verdict: InclusionVerdict
    wide: SearchShape
    narrow: SearchShape
    boundary: tuple[tuple[str, str], ...]
    """(coordinate, ``lower`` or ``upper``) where the wide search's best trial sits at an end."""


def _shape(
    key: SearchKey, diagnostics: dict[SearchKey, list[HyperparameterDiagnostic]],
    trials: dict[SearchKey, int],
) -> SearchShape:
    return SearchShape(key.optimizer, tuple(d.name for d in diagnostics.get(key, [])), trials.get(key, 0))


def violation_evidence(
    verdicts: tuple[InclusionVerdict, ...] | list[InclusionVerdict],
    diagnostics: tuple[HyperparameterDiagnostic, ...] | list[HyperparameterDiagnostic],
    rankings: tuple[Ranking, ...] | list[Ranking],
) -> list[ViolationEvidence]:
    """The evidence next to each violated verdict, in the verdicts' order."""
    by_search: dict[SearchKey, list[HyperparameterDiagnostic]] = {}
    for d in diagnostics:
        by_search.setdefault(SearchKey(d.workload, d.protocol, d.optimizer), []).append(d)
    trials = {
        SearchKey(r.workload, r.protocol, o.optimizer): o.n_trials for r in rankings for o in r.optimizers
    }
    out = []
    for v in verdicts:
        if not v.violated:
            continue
        wide = SearchKey(v.workload, v.protocol, v.wide)
        narrow = SearchKey(v.workload, v.protocol, v.narrow)
        boundary = tuple(
            (d.name, d.near_boundary) for d in by_search.get(wide, []) if d.near_boundary is not None
        )
        out.append(ViolationEvidence(v, _shape(wide, by_search, trials), _shape(narrow, by_search, trials), boundary))
    return out
