"""The score of a protocol that follows a published ruleset (``ruleset:`` in its file,
:mod:`optcompare.rulesets`), computed from its trials as the ruleset computes it.

``median_study_best_steps`` (AlgoPerf's external tuning). For workload w, optimizer o and study
s (the trials rows' ``study``), with T_{o,w,s} the study's trials (latest attempts, search phase)
and n_t the steps to the target of trial t (its ``steps_to_target``: the first evaluated step at
or below the workload's target; +inf when it never got there),

    b_{o,w,s} = min_{t in T_{o,w,s}} n_t        (+inf when no trial of the study reached it)
    v_{o,w}   = median_s b_{o,w,s}              (numpy's median: +inf when more than half of
                                                 the studies missed; with an even number of
                                                 studies, the mean of the middle two)

as ``get_workloads_time_to_target`` of AlgoPerf's scoring/performance_profile.py, with steps in
place of its wall-clock seconds (trials share machines here, so time to target is not
comparable between them). As there, a trial that reached the target counts whatever its status
afterwards: one that diverged later still reached it (AlgoPerf reads each trial's evaluations),
where ``rank``'s speed ranking counts completed trials only. The performance profile over
workloads is then :func:`analysis.profiles.performance_profile` of v (AlgoPerf's convention:
ratios to the best optimizer of each workload, a workload nobody solved a miss for all).

What it assumes. No resampling: the ruleset's score is one number per (o, w) from the studies
that ran, and its spread is shown as the per-study values b. A config whose trials per study or
studies differ from the ruleset's gets a warning here (and from ``run``), saying the score is not
the ruleset's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from optcompare.rulesets import MEDIAN_STUDY_BEST_STEPS, RULESET_SCORES
from optcompare.searches import Search

from .ask_order import study_rows
from .load import recorded_protocols
from .profiles import TAU_MAX, PerformanceProfile, performance_profile

__all__ = [
    "RulesetResult",
    "RulesetScore",
    "median_study_best_steps",
    "protocol_rulesets",
    "ruleset_results",
]


@dataclass(frozen=True)
class RulesetScore:
    """One (workload, optimizer) of a ruleset protocol: each study's best steps to target
    (``per_study``, study order; +inf: missed), its trial count (``trials``), and the score."""

    workload: str
    optimizer: str
    studies: tuple[int, ...]
    per_study: tuple[float, ...]
    trials: tuple[int, ...]
    score: float

    @property
    def text(self) -> str:
        """``score [study 0, study 1, ...]``, ``miss`` where the target was not reached (the
        cell the summary and the report show)."""
        return f"{_steps(self.score)} [{', '.join(_steps(v) for v in self.per_study)}]"


def _steps(value: float) -> str:
    return f"{value:g}" if math.isfinite(value) else "miss"


@dataclass(frozen=True)
class RulesetResult:
    """A ruleset protocol's scores over its workloads, their profile, and what differs from the
    ruleset's budget (``warnings``)."""

    protocol: str
    score_name: str
    trials_per_study: int
    studies: int
    scores: tuple[RulesetScore, ...]
    profile: PerformanceProfile
    warnings: tuple[str, ...]

    @property
    def meaning(self) -> str:
        """What the score is, in a few words (:data:`optcompare.rulesets.RULESET_SCORES`)."""
        return RULESET_SCORES[self.score_name]

    @property
    def workloads(self) -> tuple[str, ...]:
        """The profile's workloads, then those it left out (``drop_unsolved``)."""
        return self.profile.workloads + self.profile.left_out

    def rows(self) -> list[tuple[str, tuple[str, ...], float]]:
        """(optimizer, its :attr:`RulesetScore.text` on each of :attr:`workloads` ("-": it did
        not run there), its profile score), best profile score first."""
        cells = {(s.optimizer, s.workload): s.text for s in self.scores}
        return [
            (o.optimizer, tuple(cells.get((o.optimizer, w), "-") for w in self.workloads), o.score)
            for o in self.profile.optimizers
        ]

    def score_of(self, optimizer: str) -> float:
        """The optimizer's score of the ruleset's profile (NaN when it ran none of the protocol's
        workloads)."""
        return next((o.score for o in self.profile.optimizers if o.optimizer == optimizer), math.nan)

    def as_dict(self) -> dict[str, Any]:
        """The result as JSON-ready data (an infinite value is a missed target)."""
        return {
            "protocol": self.protocol,
            "score": self.score_name,
            "meaning": self.meaning,
            "trials_per_study": self.trials_per_study,
            "studies": self.studies,
            "scores": [
                {"workload": s.workload, "optimizer": s.optimizer, "score": s.score,
                 "per_study": dict(zip(s.studies, s.per_study, strict=True)),
                 "trials": dict(zip(s.studies, s.trials, strict=True))}
                for s in self.scores
            ],
            "profile": self.profile.as_dict(),
            "warnings": list(self.warnings),
        }


def median_study_best_steps(search: Search) -> RulesetScore:
    """b and v of one search (module doc): its trials split by study."""
    steps = search.column("steps_to_target")
    reached = np.where(np.isfinite(steps), steps, math.inf)
    rows = study_rows(search)
    studies = tuple(rows)
    per_study = tuple(float(reached[r].min()) for r in rows.values())
    score = float(np.median(per_study))
    return RulesetScore(
        search.workload, search.optimizer, studies, per_study, tuple(len(r) for r in rows.values()), score
    )


SCORES = {MEDIAN_STUDY_BEST_STEPS: median_study_best_steps}
"""Score name (:data:`optcompare.rulesets.RULESET_SCORES`) -> how one search is scored."""


def protocol_rulesets(meta: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """Protocol -> its ``ruleset:`` block as experiment.json records it (one experiment's or
    several merged, :func:`analysis.load.recorded_protocols`); protocols without one, or whose
    score this version does not know, are left out."""
    return {
        p: raw["ruleset"]
        for p, raw in recorded_protocols(meta).items()
        if isinstance(raw.get("ruleset"), Mapping) and raw["ruleset"].get("score") in SCORES
    }


def _budget_warnings(protocol: str, rule: Mapping[str, Any], scores: Sequence[RulesetScore]) -> list[str]:
    want_trials, want_studies = rule.get("trials_per_study"), rule.get("studies")
    out = []
    for s in scores:
        off = [f"study {st}: {n} trials" for st, n in zip(s.studies, s.trials, strict=True) if n != want_trials]
        if len(s.studies) != want_studies or off:
            found = f"{len(s.studies)} studies" + (f" ({'; '.join(off)})" if off else "")
            out.append(
                f"{protocol}: {s.workload}/{s.optimizer} has {found} where the ruleset has {want_studies} "
                f"studies of {want_trials} trials: its {rule['score']} score is not the ruleset's"
            )
    return out


def ruleset_results(
    searches: Mapping[Any, Search],
    rulesets: Mapping[str, Mapping[str, Any]],
    *,
    tau_max: float = TAU_MAX,
    drop_unsolved: bool = False,
    points: int | None = None,
) -> tuple[RulesetResult, ...]:
    """The ruleset score of every search of a protocol in ``rulesets`` (protocol -> its
    ``ruleset:`` block, :func:`protocol_rulesets`) and its profile over workloads (module doc);
    protocols in name order."""
    out = []
    for protocol in sorted(rulesets):
        rule = rulesets[protocol]
        score_search = SCORES[rule["score"]]
        mine = [s for s in searches.values() if s.protocol == protocol]
        if not mine:
            continue
        scores = tuple(sorted((score_search(s) for s in mine), key=lambda r: (r.workload, r.optimizer)))
        values: dict[str, dict[str, float]] = {}
        for s in scores:
            values.setdefault(s.workload, {})[s.optimizer] = s.score
        profile = performance_profile(
            values, protocol=protocol, quantity=str(rule["score"]), tau_max=tau_max,
            drop_unsolved=drop_unsolved, points=points,
        )
        out.append(RulesetResult(
            protocol, str(rule["score"]), int(rule["trials_per_study"]), int(rule["studies"]), scores, profile,
            tuple(_budget_warnings(protocol, rule, scores)),
        ))
    return tuple(out)
