"""Final stages that keep the inclusions reachable (a stage's ``refine: {cover_inclusions: true}``).

A staged protocol refines each search from its own earlier stage only (:mod:`tuning.plan.refine`).
So a wide optimizer's refined space may lose the region where it imitates a narrow optimizer's
best trials: momentum's refinement moves its rate range down while SGD does best at rates near 3,
which momentum = 0 reaches only if the range still holds them. With ``cover_inclusions`` a wide
search's next space is

    S_wide' = hull( R_wide , { x_wide(t) : t in B_narrow, narrow <= wide } )   clipped at validity

- R_wide: its own refined space (the stage's rule on its own rows);
- B_narrow: the best trials of each narrow search's same stage, by the same rule (best q or k of
  its completed trials, :func:`tuning.plan.refine.best_trials`), for every narrow optimizer with an
  inclusion path to the wide one (:func:`tuning.planners.probes.inclusion_pairs`, chains included) in the
  same workload, protocol and study;
- x_wide(t): the imitation of t by the wide optimizer as a probe would run it
  (:func:`tuning.plan.probe_trials.express_imitation`), written in the coordinates of R_wide
  (:func:`tuning.plan.space_inclusion.value_in_coordinate`: ``one_minus_momentum = 1`` for
  momentum = 0; ``effective_learning_rate`` = the rate when the rule is decoupled);
- hull: per range coordinate [min(a, v...), max(b, v...)] (a point list gains no new points: a
  value between its points is not covered and is recorded so);
- clipped: a value outside the coordinate's valid interval (:func:`tuning.plan.refine.validity_limits`)
  stops at a closed limit and is not covered past an open one (recorded).

Covering stays inside the protocol's own space for the wide optimizer: a narrow best whose
imitation lies outside it (beta2 = 0 against the protocol's cap of 0.1, a fixed or default value;
what :mod:`tuning.plan.space_inclusion` finds not expressible) adds nothing, and the record says why.
(A first version widened refined ranges past the protocol's to such values: NAdam's epsilon up to
100 and one_minus_beta2 to 1 on mnist1d-cnn, and its final stage lost ground, 0.165 -> 0.398.) Limit inclusions use epsilon = the largest epsilon of the wide
search's *protocol* space (its range's top, fixed value or default), the same as the
space-inclusion check: the covering rule widens ranges to the imitation, it does not stretch
Adam's epsilon range to the probes' 1e8 (which would put the whole search at epsilon values no
tuned trial would otherwise try). Under the shipped protocols the Adam and NAdam pairs need
beta2 = 0 and are not covered at all.

Deterministic: the result depends only on the rows of the finished stages, and is recorded in
experiment.json's ``refined`` entry (``cover_inclusions``: per narrow optimizer its best trial
ids, and per moved bound the trial that moved it), which resume re-derives and compares.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import optimizers
from optcompare.errors import InputError
from optcompare.intervals import Interval
from tuning.plan.probe_trials import PROBE_EPSILON, express_imitation
from tuning.plan.space_inclusion import holders, largest_epsilon, value_in_coordinate

if TYPE_CHECKING:
    from tuning.plan.trial import PlannedTrial
    from tuning.spec.search import SearchSpec

__all__ = ["cover_space"]


def cover_space(
    wide: SearchSpec,
    refined: Mapping[str, Mapping[str, Any]],
    protocol_search: SearchSpec,
    narrow_bests: Mapping[str, Sequence[PlannedTrial]],
    limits: Mapping[str, Interval],
) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """``refined`` (the wide search's own refined space; ``wide`` is its spec with that space)
    widened to hold the imitations of ``narrow_bests`` (narrow optimizer -> its best trials, in
    order), and the record of what moved (module docstring). ``protocol_search`` is the wide
    optimizer's search in the protocol (its epsilon is the imitations')."""
    inexact = {
        n: not all(i.exact for i in optimizers.inclusion_path(n, wide.optimizer)) for n in narrow_bests
    }
    epsilon = largest_epsilon(protocol_search)
    space = {k: dict(v) for k, v in refined.items()}
    schedule_spec = optimizers.SCHEDULES[wide.schedule]
    schedule_defaults = {k: d for k, (_, _, d) in schedule_spec.optional.items()}
    wide_holders = holders(wide)
    protocol_holders = holders(protocol_search)
    moved: dict[str, dict[str, Any]] = {}
    narrow_records: dict[str, Any] = {}
    for narrow, bests in narrow_bests.items():
        record: dict[str, Any] = {"best_trial_ids": [t.trial_id for t in bests]}
        if inexact[narrow]:
            record["epsilon"] = epsilon
        points: list[tuple[str, dict[str, float]]] = []
        why = None
        for trial in bests:
            try:
                expressed = express_imitation(
                    trial.optimizer, wide.optimizer, trial.hparams, trial.schedule, trial.schedule_params,
                    trial.steps, epsilon=epsilon if inexact[narrow] else PROBE_EPSILON,
                )
            except InputError as err:
                why = str(err)
                break
            outside = _outside_protocol(expressed, protocol_holders, protocol_search, schedule_defaults)
            if outside is not None:
                why = outside
                break
            values = {}
            for target, name, holder in wide_holders:
                value = value_in_coordinate(
                    target, name, expressed.hparams, expressed.schedule_params, wide.schedule_params, schedule_defaults
                )
                if holder.kind == "range":
                    values[holder.coordinate] = value
                elif not holder.holds(value):
                    why = f"needs {holder.coordinate} = {value:.4g}, which the search holds as {holder.phrase()}"
                    break
            if why is not None:
                break
            points.append((trial.trial_id, values))
        if why is not None:
            narrow_records[narrow] = {**record, "covered": False, "why": why}
            continue
        for trial_id, values in points:
            for name, value in values.items():
                _widen(space, name, value, limits.get(name, Interval()), trial_id, moved)
        narrow_records[narrow] = {**record, "covered": True}
    return space, {"narrow": narrow_records, "moved": moved}


def _outside_protocol(
    expressed: Any, protocol_holders: Sequence[Any], protocol_search: SearchSpec,  # noqa: ANN401
    schedule_defaults: Mapping[str, float],
) -> str | None:
    """Why the imitation lies outside the protocol's own space for the wide optimizer (what the
    space-inclusion check calls not expressible there), or None: covering stays inside the
    protocol's space, it never widens a range past the protocol's (beta2 = 0 against a cap)."""
    for target, name, holder in protocol_holders:
        value = value_in_coordinate(
            target, name, expressed.hparams, expressed.schedule_params, protocol_search.schedule_params, schedule_defaults
        )
        if not holder.holds(value):
            return f"needs {holder.coordinate} = {value:.4g}, outside the protocol's {holder.phrase()}"
    return None


def _widen(
    space: dict[str, dict[str, Any]], name: str, value: float, limit: Interval, trial_id: str,
    moved: dict[str, dict[str, Any]],
) -> None:
    """Extend ``space[name]`` (a range) to hold ``value``, clipped at ``limit``; note the move."""
    dim = space[name]
    if not math.isfinite(value):
        return
    if value not in limit:
        if (value < limit.low and not limit.low_closed) or (value > limit.high and not limit.high_closed):
            return
        value = min(max(value, limit.low), limit.high)
    if dim.get("scaling") == "log" and value <= 0:
        return
    for bound, outside in (("min", value < dim["min"]), ("max", value > dim["max"])):
        if outside:
            first = moved.setdefault(name, {}).get(bound, {}).get("from", dim[bound])
            moved[name][bound] = {"from": first, "to": value, "trial": trial_id}
            dim[bound] = value
