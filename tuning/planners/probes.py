"""Inclusion probes: a narrower optimizer's best trial trained again as its imitation by a wider one.

For every pair ``narrow <= wide`` of the study's optimizers with a registered inclusion path
(:func:`optimizers.inclusion_path`, chains included), in every (workload, protocol) that
searches both, :class:`ProbePlanner` waits until both searches have finished, takes the narrow
search's best completed trial (the protocol's selection metric, ties: lowest trial index; the
machinery reruns use, :class:`tuning.planners.reruns.SearchBests`) and plans one trial of ``wide`` at

    hparams = imitate(narrow, wide, narrow hparams, narrow schedule, epsilon = PROBE_EPSILON)

with the narrow trial's seed, schedule, steps and evaluation interval, ``phase = probe``, in the
wide optimizer's partition, at trial index ``N_wide + R + j``: N_wide planned search trials,
R reruns of the protocol (``rerun_best``, 0 without), j the pair's position among the probes
into the same wide search (in the study's optimizer order). The index depends on nothing that
finishes in some order, so resume re-plans the same ids.

A worker builds a trial's learning rate from a named schedule (:mod:`optimizers.schedules`),
so a probe is planned only when the imitation's schedule W(t) is a named schedule S(t) times a
constant c, checked at every step t < steps to 1e-12 relative: W(t) = c * S(t), its learning
rate is then c * eta_0. S is first the narrow schedule N itself; failing that, N with the
schedule parameter ``lr_ramp = b``, S(t) = N(t) * (1 - b^(t+1)), b the wide optimizer's
first-moment coefficient in the imitation's hyperparameters (its structure's ``momentum_key``:
beta1 for adam and nadam); the probe's schedule parameters then gain ``lr_ramp = b``. The
constant covers the exact inclusions (sgd <= momentum, sgd <= nesterov: c = 1, no ``lr_ramp``;
momentum <= rmsprop with a constant rate) and chains from sgd into adam or nadam (beta1 = 0:
c = E). The ramp covers Adam's and NAdam's imitation of heavy-ball and Nesterov momentum,
alpha_t = eta_t * E * (1 - beta1^(t+1)) / (1 - beta1): c = E / (1 - beta1), b = beta1. Not
probed (:func:`probe_trial` returns None): momentum <= rmsprop under a decaying rate (it needs a
constant rate), and a narrow trial whose schedule already carries an ``lr_ramp`` other than b.
Where an
imitation is planned, epsilon = PROBE_EPSILON = 1e8 (imitate's default): exact inclusions
ignore it; for limit inclusions check_inclusion's gap is of order |g| / epsilon (momentum <= adam
on its float64 check problem, learning rate 0.1, momentum 0.9: 3.9e-4 at epsilon 1e2, 3.9e-10 at
1e8).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

from optcompare.schema import SearchKey, trial_id
from tuning.plan.probe_trials import (
    PROBE_EPSILON,
    probe_trial,
)
from tuning.plan.tracks import Track
from tuning.plan.trial import PlannedTrial
from tuning.planners.reruns import SearchBests
from tuning.spec.probe_pairs import ProbePair, inclusion_pairs
from tuning.spec.stages import StageSlot

__all__ = [
    "ProbePlanner",
    "plan_probes",
]

















class ProbePlanner:
    """Plans each pair's probe once both of its searches have finished (module docstring)."""

    def __init__(
        self,
        plan: Iterable[PlannedTrial],
        pairs: Iterable[ProbePair],
        selects: Mapping[str, str],
        rerun_seeds: Mapping[str, int] | None = None,
        *,
        epsilon: float = PROBE_EPSILON,
        finals: Mapping[str, StageSlot] | None = None,
    ) -> None:
        """``selects``: protocol name -> selection metric, for the protocols that probe;
        ``rerun_seeds``: protocol name -> reruns per search (their indices come first);
        ``finals`` as for :class:`~tuning.planners.reruns.SearchBests` (staged protocols probe their
        last stage's best). Each study probes its own searches."""
        self.epsilon = epsilon
        self.searches = SearchBests(plan, selects, finals)
        size = self.searches.size
        taken: dict[Track, int] = {}
        self.open: dict[tuple[Track, Track], str] = {}
        """(narrow search, wide search) -> the probe's trial id, for probes not yet planned."""
        groups = dict.fromkeys((t.key.workload, t.key.protocol, t.study) for t in size)
        for workload, protocol, study in groups:
            for narrow, wide in pairs:
                low = Track(SearchKey(workload, protocol, narrow), study)
                high = Track(SearchKey(workload, protocol, wide), study)
                if low not in size or high not in size:
                    continue
                offset = taken.get(high, 0)
                taken[high] = offset + 1
                index = size[high] + (rerun_seeds or {}).get(protocol, 0) + offset
                self.open[(low, high)] = trial_id(workload, protocol, wide, index, study)
        self.ready: deque[PlannedTrial] = deque()
        self.not_planned: list[str] = []
        """Probe ids given up: no completed narrow trial, or no named schedule expresses the
        imitation (:func:`probe_trial`)."""

    @property
    def max_probes(self) -> int:
        """Probes still to come at most."""
        return len(self.open)

    def outstanding(self) -> bool:
        """Whether more probes may still be planned."""
        return bool(self.open)

    def record(self, trial: PlannedTrial, summary: dict[str, Any] | None) -> list[PlannedTrial]:
        """Note a finished trial (``summary`` None when it failed); return probes planned now."""
        key = self.searches.record(trial, summary)
        if key is None:
            return []
        planned = []
        for low, high in [pair for pair in self.open if key in pair]:
            if not (self.searches.finished(low) and self.searches.finished(high)):
                continue
            probe_id = self.open.pop((low, high))
            best = self.searches.best(low)
            index = int(probe_id.rsplit("/", 1)[1])
            probe = None if best is None else probe_trial(best, high.key.optimizer, index, epsilon=self.epsilon)
            if probe is not None:
                planned.append(probe)
            else:
                self.not_planned.append(probe_id)
        self.ready.extend(planned)
        return planned

    def close_probe(self, probe_id: str) -> None:
        """Plan no probe with id ``probe_id``: it already ran (resume)."""
        self.open = {pair: tid for pair, tid in self.open.items() if tid != probe_id}

    def take(self) -> PlannedTrial | None:
        """The next planned probe, if any."""
        return self.ready.popleft() if self.ready else None


def plan_probes(
    plan: Iterable[PlannedTrial], selects: Mapping[str, str], rerun_seeds: Mapping[str, int],
    finals: Mapping[str, StageSlot] | None = None,
) -> ProbePlanner:
    """The probes of ``plan``'s optimizers under the protocols in ``selects`` (empty: none)."""
    plan = list(plan)
    pairs = inclusion_pairs(t.optimizer for t in plan) if selects else []
    return ProbePlanner(plan, pairs, selects, rerun_seeds, finals=finals)
