"""Inclusion probes: a narrower optimizer's best trial trained again as its imitation by a wider one.

For every pair ``narrow <= wide`` of the study's optimizers with a registered inclusion path
(:func:`optimizers.inclusion_path`, chains included), in every (workload, protocol) that
searches both, :class:`ProbePlanner` waits until both searches have finished, takes the narrow
search's best completed trial (the protocol's selection metric, ties: lowest trial index; the
machinery reruns use, :class:`tuning.reruns.SearchBests`) and plans one trial of ``wide`` at

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

import math
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from optcompare.errors import InputError
from optcompare.schema import PROBE_PHASE, SearchKey, trial_id

from .plan import PlannedTrial
from .reruns import SearchBests
from .stages import StageSlot, Track

__all__ = [
    "PROBE_EPSILON", "ExpressedImitation", "ProbePair", "ProbePlanner", "express_imitation",
    "inclusion_pairs", "plan_probes", "probe_trial",
]

PROBE_EPSILON = 1e8
"""Epsilon of the limit inclusions' imitations (module docstring)."""

SCHEDULE_MATCH = 1e-12
"""Relative tolerance of W(t) = c * S(t) (rounding of the mapping's arithmetic)."""

LR_RAMP = "lr_ramp"
"""The schedule parameter carrying the first-moment ramp 1 - b^(t+1) (optimizers.schedules)."""


class ProbePair(NamedTuple):
    """``narrow <= wide``: the narrow optimizer's best trial is imitated by ``wide``."""

    narrow: str
    wide: str


def inclusion_pairs(optimizer_names: Iterable[str]) -> list[ProbePair]:
    """Every ordered pair of ``optimizer_names`` with an inclusion path, wide-major in the
    names' order."""
    from optimizers import inclusion_path

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


class ExpressedImitation(NamedTuple):
    """An imitation written as a trial of the wide optimizer: its hyperparameters (the learning
    rate is ``c * eta_0``) and the named schedule's parameters (the narrow ones, perhaps with
    ``lr_ramp``), as a worker builds them (module docstring)."""

    hparams: dict[str, float]
    schedule_params: dict[str, Any]
    exact: bool


def express_imitation(
    narrow: str, wide: str, hparams: Mapping[str, float], schedule: str,
    schedule_params: Mapping[str, Any], steps: int, *, epsilon: float = PROBE_EPSILON,
) -> ExpressedImitation:
    """``wide``'s imitation of ``narrow`` at ``hparams`` under the named ``schedule`` with
    ``schedule_params`` over ``steps`` updates, as a named schedule times a constant (module
    docstring); InputError saying why when the imitation does not exist (it needs a constant
    rate) or no named schedule expresses it."""
    from optimizers import imitate, make_schedule

    lr = float(hparams["learning_rate"])
    narrow_schedule = make_schedule(schedule, lr, steps, **schedule_params)
    imitation = imitate(narrow, wide, dict(hparams), narrow_schedule, epsilon=epsilon, horizon=steps)
    for params in _candidate_schedule_params(schedule_params, wide, imitation.hparams):
        try:
            named = make_schedule(schedule, lr, steps, **params)
        except InputError:
            continue
        scale = imitation.schedule(0) / named(0)
        if all(
            math.isclose(imitation.schedule(t), scale * named(t), rel_tol=SCHEDULE_MATCH)
            for t in range(steps)
        ):
            return ExpressedImitation({**imitation.hparams, "learning_rate": scale * lr}, params, imitation.exact)
    raise InputError(
        f"{narrow} <= {wide}: the imitation's learning rate is not {schedule} (with or without "
        f"{LR_RAMP}) times a constant, so no trial of {wide} can express it"
    )


def probe_trial(
    best: PlannedTrial, wide: str, index: int, *, epsilon: float = PROBE_EPSILON
) -> PlannedTrial | None:
    """``best`` imitated by ``wide`` at trial index ``index``; None when the imitation does not
    exist for this trial (e.g. it needs a constant rate) or its schedule is not a named
    schedule times a constant (module docstring, :func:`express_imitation`)."""
    try:
        expressed = express_imitation(
            best.optimizer, wide, best.hparams, best.schedule, best.schedule_params, best.steps, epsilon=epsilon
        )
    except InputError:
        return None
    return best.model_copy(
        update={
            "trial_id": trial_id(best.workload, best.protocol, wide, index, best.study),
            "optimizer": wide,
            "trial_index": index,
            "tuned": {},
            "hparams": expressed.hparams,
            "schedule_params": expressed.schedule_params,
            "phase": PROBE_PHASE,
        }
    )


def _candidate_schedule_params(
    schedule_params: Mapping[str, Any], wide: str, wide_hparams: Mapping[str, float]
) -> list[dict[str, Any]]:
    """The schedule parameters an imitation may take, in order: the narrow trial's own, then
    (when ``wide`` has a non-zero first moment) the same with ``lr_ramp`` = its coefficient b."""
    from optimizers import get_spec

    own = dict(schedule_params)
    structure = get_spec(wide).structure
    if structure is None or structure.momentum_key is None:
        return [own]
    project = {torch: name for name, torch in get_spec(wide).torch_keys.items()}
    ramp = float(wide_hparams.get(project.get(structure.momentum_key, structure.momentum_key), 0.0))
    return [own] if ramp == 0.0 else [own, {**own, LR_RAMP: ramp}]


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
        ``finals`` as for :class:`~tuning.reruns.SearchBests` (staged protocols probe their
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
