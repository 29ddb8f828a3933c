"""Inclusion verdicts per protocol, and where protocols disagree (docs/method.md, inclusions
and verdicts).

Choi et al. (2019) show that optimizers form an inclusion hierarchy: ``narrow <= wide`` when
the wide optimizer can imitate the narrow one with some hyperparameters (momentum with zero
momentum is SGD). A tuning protocol that searches every hyperparameter that matters should
never find the wide optimizer worse; where it does, the protocol, not the optimizer, ranks
them.

The rule. Fix a workload, a protocol, a budget K and a pair ``narrow <= wide`` of the inclusion
hierarchy. Let ``N_b`` and ``W_b`` be resample ``b`` (b = 1..B) of the bootstrapped best-of-K
reported metric (lower is better) of the narrow and the wide optimizer's searches. The searches
are resampled independently, so pairing resample b of one with resample b of the other gives B
draws of the pair, and

    p_wide_worse = (1/B) * #{b : W_b > N_b}        (ties count as "not worse")

estimates the probability that a K-trial search of the wide optimizer ends worse than one of
the narrow optimizer. The verdict, with ``alpha`` = 0.05 by default:

- ``violated``     if p_wide_worse >= 1 - alpha: the wide optimizer is worse in at least 95% of
                   paired resamples, i.e. worse beyond the bootstrap band; the protocol breaks
                   the hierarchy here;
- ``inconclusive`` if 1/2 < p_wide_worse < 1 - alpha: more often worse than not, within the band;
- ``holds``        if p_wide_worse <= 1/2: the wide optimizer is at least as good.

Only ``violated`` counts as breaking the hierarchy. A pair is checked only where both
optimizers were run under the protocol.

Implied pairs. Inclusion is transitive: from ``sgd <= momentum`` and ``momentum <= adam``
follows ``sgd <= adam``. :func:`summarize_hierarchy` checks the transitive closure of the
recorded pairs (:func:`transitive_pairs`), so a study of only ``sgd`` and ``adam`` gets a
verdict on ``sgd <= adam`` although ``momentum`` never ran. An implied pair names the
optimizers it was derived through in ``via`` (the shortest chain). ``optcompare run`` records
in experiment.json every registered pair with at least one end in the study, so every chain
with at most one optimizer outside the study is closed.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from optcompare.schema import SearchKey

from .bootstrap import BudgetCurve
from .ranking import Ranking

__all__ = [
    "DEFAULT_INCLUSIONS",
    "HierarchySummary",
    "InclusionPair",
    "InclusionVerdict",
    "RankFlip",
    "check_inclusions",
    "inclusion_pairs",
    "rank_flips",
    "summarize_hierarchy",
    "transitive_pairs",
]


@dataclass(frozen=True)
class InclusionPair:
    """``narrow <= wide``: the wide optimizer can imitate the narrow one (``exact`` when the
    imitation is exact for finite hyperparameters, False for a limit, None when unknown).
    ``via`` is empty for a recorded pair; for an implied one, the optimizers of the chain
    ``narrow <= via[0] <= ... <= wide`` (module doc)."""

    narrow: str
    wide: str
    exact: bool | None = None
    via: tuple[str, ...] = ()


DEFAULT_INCLUSIONS: tuple[InclusionPair, ...] = (
    InclusionPair("sgd", "momentum", True),
    InclusionPair("sgd", "nesterov", True),
    InclusionPair("momentum", "rmsprop", True),
    InclusionPair("momentum", "adam", False),
    InclusionPair("nesterov", "nadam", False),
)
"""The five inclusions of Choi et al. (2019) (``optimizers.inclusions`` gives each imitation):
SGD is momentum and Nesterov with zero momentum; momentum is RMSProp with rho = 1 and
epsilon = 0; momentum and Nesterov are the limits of Adam and NAdam as epsilon grows (inexact
for a finite epsilon). Used when experiment.json records no ``inclusions``."""


def inclusion_pairs(meta: Mapping[str, Any]) -> tuple[InclusionPair, ...]:
    """The pairs recorded in experiment.json ``inclusions``; :data:`DEFAULT_INCLUSIONS` when
    the key is absent (an older experiment). Malformed entries are ignored."""
    recorded = meta.get("inclusions")
    if not isinstance(recorded, list):
        return DEFAULT_INCLUSIONS
    pairs = []
    for item in recorded:
        if (
            isinstance(item, Mapping)
            and isinstance(item.get("narrow"), str)
            and isinstance(item.get("wide"), str)
        ):
            exact = item.get("exact")
            exact = exact if isinstance(exact, bool) else None
            pairs.append(InclusionPair(item["narrow"], item["wide"], exact))
    return tuple(pairs)


def _chain_exact(a: bool | None, b: bool | None) -> bool | None:
    """A chain is exact when every link is, a limit when one link is, else unknown."""
    if a is False or b is False:
        return False
    if a is None or b is None:
        return None
    return True


def transitive_pairs(pairs: Sequence[InclusionPair]) -> tuple[InclusionPair, ...]:
    """``pairs`` (duplicates and self-pairs dropped, order kept) followed by every pair they imply.

    ``narrow <= wide`` is implied when a chain of pairs leads from ``narrow`` to ``wide``; the
    implied pair holds the shortest such chain's intermediate optimizers in ``via`` (breadth
    first, links in the order given) and is exact only when every link is. Implied pairs come
    sorted by (narrow, wide).
    """
    direct: list[InclusionPair] = []
    for pair in pairs:
        if pair.narrow != pair.wide and all(
            (p.narrow, p.wide) != (pair.narrow, pair.wide) for p in direct
        ):
            direct.append(pair)
    links: dict[str, list[InclusionPair]] = {}
    for pair in direct:
        links.setdefault(pair.narrow, []).append(pair)
    known = {(p.narrow, p.wide) for p in direct}
    implied = []
    for start in sorted(links):
        reached = {start}
        queue: deque[tuple[str, tuple[str, ...], bool | None]] = deque([(start, (), True)])
        while queue:
            node, via, exact = queue.popleft()
            for link in links.get(node, []):
                if link.wide in reached:
                    continue
                reached.add(link.wide)
                chain_exact = _chain_exact(exact, link.exact)
                if (start, link.wide) not in known:
                    implied.append(InclusionPair(start, link.wide, chain_exact, via))
                queue.append((link.wide, (*via, link.wide), chain_exact))
    return (*direct, *sorted(implied, key=lambda p: (p.narrow, p.wide)))


@dataclass(frozen=True)
class InclusionVerdict:
    """The verdict on ``narrow <= wide`` in one (workload, protocol) at ``budget`` (module doc)."""

    workload: str
    protocol: str
    narrow: str
    wide: str
    budget: int
    narrow_mean: float
    narrow_p05: float
    narrow_p95: float
    wide_mean: float
    wide_p05: float
    wide_p95: float
    p_wide_worse: float
    verdict: str
    """``holds``, ``inconclusive`` or ``violated``."""
    via: tuple[str, ...] = ()
    """Empty for a recorded pair; the chain's intermediate optimizers for an implied one."""

    @property
    def violated(self) -> bool:
        return self.verdict == "violated"


def verdict_of(p_wide_worse: float, alpha: float = 0.05) -> str:
    """The verdict for a probability that the wide optimizer is worse (module doc)."""
    if p_wide_worse >= 1.0 - alpha:
        return "violated"
    if p_wide_worse > 0.5:
        return "inconclusive"
    return "holds"


def _band_at(curve: BudgetCurve, index: int) -> tuple[float, float, float]:
    """(mean, p05, p95) of a budget curve at one of its budgets."""
    return float(curve.mean[index]), float(curve.p05[index]), float(curve.p95[index])


def check_inclusions(
    curves: Mapping[SearchKey, BudgetCurve],
    budget: int,
    pairs: Sequence[InclusionPair] = DEFAULT_INCLUSIONS,
    *,
    alpha: float = 0.05,
) -> list[InclusionVerdict]:
    """Verdicts for every pair and every (workload, protocol) that ran both optimizers.

    ``curves`` are bootstrapped searches (:func:`analysis.ranking.bootstrap_searches`) that
    include ``budget``; all must share the number of resamples.
    """
    if not 0.0 < alpha < 0.5:
        raise ValueError(f"alpha must be in (0, 0.5), got {alpha}")
    groups = sorted({k[:2] for k in curves})
    verdicts = []
    for w, p in groups:
        for pair in pairs:
            narrow, wide = curves.get(SearchKey(w, p, pair.narrow)), curves.get(SearchKey(w, p, pair.wide))
            if narrow is None or wide is None:
                continue
            i, j = narrow.index_of(budget), wide.index_of(budget)
            n_s = np.nan_to_num(narrow.samples[i], nan=np.inf)
            w_s = np.nan_to_num(wide.samples[j], nan=np.inf)
            if n_s.shape != w_s.shape:
                raise ValueError(
                    "the two searches were bootstrapped with different numbers of resamples"
                )
            p_worse = float(np.mean(w_s > n_s))
            row = (w, p, pair.narrow, pair.wide, budget, *_band_at(narrow, i), *_band_at(wide, j))
            verdicts.append(InclusionVerdict(*row, p_worse, verdict_of(p_worse, alpha), pair.via))
    return verdicts


@dataclass(frozen=True)
class RankFlip:
    """Two optimizers of one workload ordered differently by different protocols.

    ``a_first`` lists the protocols ranking ``a`` above ``b``, ``b_first`` the reverse (by the
    bootstrapped mean at the ranking budget; ``a`` < ``b`` alphabetically). A protocol under
    which the two means are equal (a tie the ranking broke alphabetically) is in neither.
    """

    workload: str
    a: str
    b: str
    a_first: tuple[str, ...]
    b_first: tuple[str, ...]


def _ranked_above(protocols: Mapping[str, Mapping[str, float]], a: str, b: str) -> tuple[str, ...]:
    """The protocols (sorted) that ran both ``a`` and ``b`` and gave ``a`` the strictly lower
    mean."""
    return tuple(p for p, rk in sorted(protocols.items()) if a in rk and b in rk and rk[a] < rk[b])


def rank_flips(rankings: Sequence[Ranking]) -> list[RankFlip]:
    """Every pair of optimizers whose order differs between two protocols of a workload.

    The order is that of the bootstrapped means: ``a`` is above ``b`` when its mean is strictly
    lower, so tied pairs never flip (NaN compares as neither above nor below).
    """
    by_workload: dict[str, dict[str, dict[str, float]]] = {}
    for r in rankings:
        by_workload.setdefault(r.workload, {})[r.protocol] = {
            o.optimizer: o.mean for o in r.optimizers
        }
    flips = []
    for w, protocols in sorted(by_workload.items()):
        names = sorted({o for ranks in protocols.values() for o in ranks})
        for x, a in enumerate(names):
            for b in names[x + 1 :]:
                a_first, b_first = _ranked_above(protocols, a, b), _ranked_above(protocols, b, a)
                if a_first and b_first:
                    flips.append(RankFlip(w, a, b, a_first, b_first))
    return flips


@dataclass(frozen=True)
class HierarchySummary:
    """Which protocols break the inclusion hierarchy, and where rankings flip between protocols."""

    budget: int
    alpha: float
    verdicts: tuple[InclusionVerdict, ...]
    flips: tuple[RankFlip, ...]

    @property
    def breaking_protocols(self) -> tuple[str, ...]:
        """Protocols with at least one ``violated`` verdict (in any workload), sorted."""
        return tuple(sorted({v.protocol for v in self.verdicts if v.violated}))

    @property
    def consistent_protocols(self) -> tuple[str, ...]:
        """Protocols whose every checked pair holds or is inconclusive, sorted."""
        checked = {v.protocol for v in self.verdicts}
        return tuple(sorted(checked - set(self.breaking_protocols)))

    def violations(self) -> list[InclusionVerdict]:
        return [v for v in self.verdicts if v.violated]


def summarize_hierarchy(
    curves: Mapping[SearchKey, BudgetCurve],
    rankings: Sequence[Ranking],
    budget: int,
    pairs: Sequence[InclusionPair] = DEFAULT_INCLUSIONS,
    *,
    alpha: float = 0.05,
) -> HierarchySummary:
    """Verdicts (:func:`check_inclusions`) on the transitive closure of ``pairs``
    (:func:`transitive_pairs`) and rank flips (:func:`rank_flips`) at ``budget``."""
    checked = transitive_pairs(pairs)
    return HierarchySummary(
        budget,
        alpha,
        tuple(check_inclusions(curves, budget, checked, alpha=alpha)),
        tuple(rank_flips(rankings)),
    )
