"""``optcompare refine``: the refined protocol of a finished experiment's searches, read from its results (:func:`refine_experiment`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from analysis.load import load_results, with_stage_and_study
from optcompare.errors import InputError, ParameterError
from optcompare.schema import SearchKey
from optcompare.searches import group_searches
from tuning.plan.refine import RefinedProtocol, TooFewTrials, refine_protocol
from tuning.spec.plugins import load_plugins
from tuning.spec.protocol import parse_protocol
from tuning.spec.refine_rule import (
    RefineRule,
)
from tuning.spec.stages import stage_names

if TYPE_CHECKING:
    from analysis.load import Experiment
    from tuning.spec.protocol import Protocol
    from tuning.spec.search import SearchSpec

__all__ = [
    "refine_experiment",
]


def _recorded_protocol(experiment: Experiment, protocol: str) -> Protocol:
    """``protocol`` as experiment.json recorded it (with the config's plugins loaded), parsed."""

    where = f"{experiment.path}/experiment.json"
    recorded = experiment.meta.get("protocols")
    if not isinstance(recorded, dict) or not recorded:
        raise InputError(f"{where} records no protocol texts (an older optcompare?); it cannot be refined")
    if protocol not in recorded:
        raise ParameterError(
            "protocol", f"{{name}} {protocol!r} is not in {experiment.path}; its protocols: {', '.join(recorded)}"
        )
    config = experiment.meta.get("config")
    if isinstance(config, dict):
        load_plugins(config.get("plugins") or [], where=f"{where}: config.plugins")
    return parse_protocol(recorded[protocol], f"{where}: protocols.{protocol}")


def _workload(experiment: Experiment, workload: str | None) -> str:
    """``workload``, checked against the experiment's; the only one when None."""
    names = [w["name"] for w in experiment.meta.get("workloads", []) if isinstance(w, dict) and "name" in w]
    if workload is None and len(names) == 1:
        return names[0]
    if workload is None:
        listed = ", ".join(names) or "(none)"
        raise ParameterError("workload", f"{experiment.path} has workloads {listed}; choose one with {{name}}")
    if workload not in names:
        raise ParameterError(
            "workload", f"{{name}} {workload!r} is not in {experiment.path}; its workloads: {', '.join(names)}"
        )
    return workload


def _stage_space(
    experiment: Experiment, spec: SearchSpec, key: SearchKey, stage: str, first_stage: str, study: int
) -> dict[str, dict[str, Any]]:
    """The space stage ``stage`` of search ``key`` (study ``study``) searched: the protocol's for
    the first stage, else the refined space experiment.json recorded for it."""
    if stage == first_stage:
        return dict(spec.space)
    for record in experiment.meta.get("refined") or []:
        if (
            isinstance(record, dict)
            and (record.get("workload"), record.get("protocol"), record.get("optimizer")) == tuple(key)
            and record.get("study") == study and record.get("stage") == stage
        ):
            return {c["name"]: dict(c["new"]) for c in record.get("coordinates", [])}
    raise InputError(
        f"{experiment.path}/experiment.json records no refined space for {key.prefix()} study {study} "
        f"stage {stage!r} (its earlier stage has not finished?); refine from stage {first_stage!r}"
    )


def refine_experiment(
    experiment_dir: str,
    protocol: str,
    *,
    workload: str | None = None,
    rule: RefineRule | None = None,
    stage: str | None = None,
    study: int = 0,
) -> RefinedProtocol:
    """Refine ``protocol`` as ``experiment_dir`` recorded it, from that experiment's search rows
    on ``workload`` (needed when it has several), by ``rule`` (default :class:`RefineRule`).
    Every optimizer the experiment ran under the protocol is refined; one without two completed
    trials is :class:`TooFewTrials`. Errors name the parameters.

    A staged protocol is refined from the rows of one stage (``stage``, default its last) of
    one study (``study``, default 0), starting from the space that stage searched; the result
    is a one-stage protocol in the refined spaces (its ``stages`` dropped)."""

    experiment = load_results(experiment_dir, curves=False)
    parsed = _recorded_protocol(experiment, protocol)
    workload = _workload(experiment, workload)
    names = stage_names(parsed)
    stage = names[-1] if stage is None else stage
    if stage not in names:
        raise ParameterError("stage", f"{{name}} {stage!r} is not a stage of protocol {protocol!r}; its stages: {', '.join(names)}")
    trials = _rows_of(experiment.trials, stage, study)
    ran = [s.get("optimizer") for s in experiment.meta.get("searches", []) if s.get("protocol") == protocol]
    groups = group_searches(trials)
    searches = {}
    for opt in dict.fromkeys(str(o) for o in ran):
        key = SearchKey(workload, protocol, opt)
        if key not in groups:
            raise TooFewTrials(key, 0)
        searches[opt] = groups[key]
    if parsed.stages:
        bound = parsed.bound(searches)
        spaces = {
            opt: _stage_space(experiment, bound.searches[opt], SearchKey(workload, protocol, opt), stage, names[0], study)
            for opt in searches
        }
        staged = {k: v for k, v in parsed.raw.items() if k != "stages"}
        parsed = parsed.model_copy(
            update={
                "raw": staged, "stages": (),
                "searches": {o: bound.searches[o].model_copy(update={"space": spaces[o]}) for o in spaces},
            }
        )
    return refine_protocol(
        parsed, searches, rule or RefineRule(), experiment=experiment.name, workload=workload
    )


def _rows_of(trials: Any, stage: str, study: int) -> Any:  # noqa: ANN401 - a pyarrow table
    """The rows of ``trials`` in ``stage`` and ``study`` (rows without the columns read as the
    readers fill them, :func:`analysis.load.with_stage_and_study`)."""
    import pyarrow.compute as pc

    trials = with_stage_and_study(trials)
    keep = pc.and_(pc.equal(trials.column("stage"), stage), pc.equal(trials.column("study"), study))
    return trials.filter(keep)
