"""An inclusion probe's trial: the wide optimizer's imitation of a narrow optimizer's trial (:func:`express_imitation`, :func:`probe_trial`)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, NamedTuple

from optcompare.errors import InputError
from optcompare.schema import PROBE_PHASE, trial_id
from optimizers import get_spec, imitate, make_schedule
from tuning.plan.trial import PlannedTrial

__all__ = [
    "ExpressedImitation",
    "LR_RAMP",
    "PROBE_EPSILON",
    "SCHEDULE_MATCH",
    "express_imitation",
    "probe_trial",
]

PROBE_EPSILON = 1e8
"""Epsilon of the limit inclusions' imitations (module docstring)."""


SCHEDULE_MATCH = 1e-12
"""Relative tolerance of W(t) = c * S(t) (rounding of the mapping's arithmetic)."""


LR_RAMP = "lr_ramp"
"""The schedule parameter carrying the first-moment ramp 1 - b^(t+1) (optimizers.schedules)."""


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

    own = dict(schedule_params)
    structure = get_spec(wide).structure
    if structure is None or structure.momentum_key is None:
        return [own]
    project = {torch: name for name, torch in get_spec(wide).torch_keys.items()}
    ramp = float(wide_hparams.get(project.get(structure.momentum_key, structure.momentum_key), 0.0))
    return [own] if ramp == 0.0 else [own, {**own, LR_RAMP: ramp}]
