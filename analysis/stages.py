"""Which stage of a staged protocol the analysis looks at (``stage``; the command line's
``--stage``).

A protocol may search in stages (experiment.json ``stages``: protocol -> its stage names in
order, e.g. ``["initial", "final"]``; a one-stage protocol, or an experiment without the key,
has the single stage ``final``). Every trials row carries its ``stage``
(:func:`analysis.load.with_stage_and_study`); reruns and probes carry their protocol's last
stage, since they derive from that stage's best trial.

A selection keeps, per protocol:

- ``final`` (the default): the rows of its last stage, the search whose space was refined from
  the earlier ones: what the paper ranks;
- ``initial``: the rows of its first stage (a one-stage protocol's only stage);
- ``all``: every row, the stages pooled into one search per (workload, protocol, optimizer)
  (trial indices continue across stages, so no trial id repeats);
- a stage's own name: the rows of that stage; protocols without such a stage drop out.

Rankings, verdicts, speed and figures then see only the kept rows, and the curves only the
kept trials.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from optcompare.errors import ParameterError
from optcompare.schema import FINAL_STAGE, STAGE_SELECTIONS

from .load import Experiment, with_stage_and_study

__all__ = ["DEFAULT_STAGE", "check_stage", "select_stage", "select_stage_rows", "stage_names"]

DEFAULT_STAGE = STAGE_SELECTIONS[0]
"""``final``: each protocol's last stage."""

POSITION = {"final": -1, "initial": 0}
"""The selections that name a position in each protocol's list of stages."""


def stage_names(meta: Mapping[str, Any], protocols: Sequence[str] = ()) -> dict[str, list[str]]:
    """Protocol -> its stage names in order, from experiment.json ``stages``; a protocol it
    lacks (or an experiment without the key, or a malformed entry) has ``["final"]``.
    ``protocols`` adds protocols seen in the rows but not in experiment.json."""
    recorded = meta.get("stages")
    out: dict[str, list[str]] = {}
    if isinstance(recorded, Mapping):
        for protocol, names in recorded.items():
            if isinstance(names, list) and names and all(isinstance(n, str) for n in names):
                out[str(protocol)] = list(names)
    for protocol in protocols:
        out.setdefault(protocol, [FINAL_STAGE])
    return out


def _allowed(meta: Mapping[str, Any], trials: pa.Table) -> list[str]:
    """The selections ``stage`` may name: :data:`STAGE_SELECTIONS`, then every stage name of
    experiment.json and of the rows, in order of first appearance."""
    named = [n for names in stage_names(meta).values() for n in names]
    if "stage" in trials.column_names:
        named += [str(v) for v in pc.unique(trials.column("stage")).to_pylist() if v is not None]
    return list(dict.fromkeys([*STAGE_SELECTIONS, *named]))


def check_stage(
    stage: object, meta: Mapping[str, Any], trials: pa.Table, where: str = "this experiment"
) -> str:
    """``stage`` when it is a selection of :data:`STAGE_SELECTIONS` or a stage of the
    experiment (``where`` names it); ParameterError quoting it and listing what is allowed
    otherwise."""
    allowed = _allowed(meta, trials)
    if not isinstance(stage, str) or stage not in allowed:
        raise ParameterError(
            "stage", f"{{name}} {stage!r} is not a stage of {where}; choose one of {', '.join(allowed)}"
        )
    return stage


def _kept_stage(stage: str, names: Sequence[str]) -> str | None:
    """The stage a protocol with stages ``names`` keeps under selection ``stage`` (not ``all``)."""
    if stage in POSITION:
        return names[POSITION[stage]]
    return stage if stage in names else None


def select_stage_rows(
    trials: pa.Table, meta: Mapping[str, Any], stage: str = DEFAULT_STAGE, where: str = "this experiment"
) -> pa.Table:
    """The rows of ``trials`` that selection ``stage`` keeps (module doc); ``stage`` is checked
    first (:func:`check_stage`; ``where`` names the experiment in its error)."""
    trials = with_stage_and_study(trials)
    stage = check_stage(stage, meta, trials, where)
    if stage == "all" or trials.num_rows == 0:
        return trials
    protocols = [str(p) for p in pc.unique(trials.column("protocol")).to_pylist()]
    kept = {
        p: _kept_stage(stage, names)
        for p, names in stage_names(meta, protocols).items()
        if p in protocols
    }
    wanted = [p for p, s in kept.items() if s is not None]
    pairs = pc.binary_join_element_wise(
        pc.cast(trials.column("protocol"), pa.string()), trials.column("stage"), "\x1f"
    )
    value_set = pa.array([f"{p}\x1f{kept[p]}" for p in wanted], pa.string())
    return trials.filter(pc.is_in(pairs, value_set=value_set))


def select_stage(experiment: Experiment, stage: str = DEFAULT_STAGE) -> Experiment:
    """``experiment`` with the trials of selection ``stage`` (:func:`select_stage_rows`) and
    the curves of those trials only."""
    trials = select_stage_rows(experiment.trials, experiment.meta, stage, experiment.path)
    if stage == "all":
        return replace(experiment, trials=trials)
    curves = experiment.curves
    if curves.num_rows:
        kept_ids = pc.unique(trials.column("trial_id")) if trials.num_rows else pa.array([], pa.string())
        curves = curves.filter(pc.is_in(curves.column("trial_id"), value_set=kept_ids))
    return replace(experiment, trials=trials, curves=curves)
