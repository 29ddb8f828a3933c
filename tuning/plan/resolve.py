"""The experiment plan: every trial of every search, as data.

One search = (workload, protocol, optimizer). Trial ``i`` of a quasi-random search is Halton
point ``i`` of the search's space (after the protocol's budget ladder is applied for
``trials_per_search``); a grid search plans every grid point. The Halton seed and the training
seeds derive from the experiment seed and the search's names by SHA-256, so plans are identical
across runs, machines and Python versions. Trial ids are ``WORKLOAD/PROTOCOL/OPTIMIZER/INDEX``
with the index zero-padded to 5 digits (:func:`optcompare.schema.trial_id`).

Studies. With ``studies: S`` every search runs S times independently: study s > 0 adds ``sS``
to every derived seed (Halton and training) and to its trial ids (``W/P/O/sS/INDEX``); study 0
is exactly the one-study plan, so adding studies to a config keeps its first study's trials.

Adaptive searches (``search:`` an Optuna sampler, :mod:`tuning.planners.adaptive`) plan nothing up
front: :func:`tuning.plan.adaptive_search.adaptive_searches` describes each, and the driver asks its points during the run;
trial ``i`` (the ``i``-th ask) gets the id and training seed planned trial ``i`` would.

Stages. A staged protocol (:mod:`tuning.planners.stages`) plans only its first stage here (n_1 trials,
the first n_1 points of the same Halton sequence); its later stages depend on results and are
planned by :class:`tuning.planners.stages.StagePlanner` during the run.

Reruns (``rerun_best`` protocols) are not in the initial plan: they depend on results. Once a
search's trials have all finished, :func:`rerun_trials` plans its best trial again with new seeds,
at the indices following the search's last trial.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from optcompare.schema import FINAL_STAGE, RERUN_PHASE, is_adaptive, trial_id
from tuning.plan.quasirandom import sample
from tuning.plan.trial import PlannedTrial
from tuning.spec.config import ExperimentConfig, WorkloadEntry
from tuning.spec.protocol import Protocol
from tuning.spec.search import SearchSpec
from tuning.spec.stages import stage_layout, stage_seed_parts

__all__ = [
    "derive_seed",
    "rerun_trials",
    "resolve_plan",
    "search_points",
    "search_template",
    "trial_at",
]


def derive_seed(*parts: object) -> int:
    """A 31-bit seed from the SHA-256 of the parts joined by '/': stable everywhere."""
    digest = hashlib.sha256("/".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def search_points(search: SearchSpec, trials: int, seed: int) -> list[dict[str, Any]]:
    """The search's points: its grid, or ``trials`` Halton points after the budget ladder.

    A grid has no budget ladder (protocols refuse ``from_trials`` under ``search: grid``)."""
    if search.search == "grid":
        if search.ladder:
            raise ValueError(f"a grid search has no budget ladder, got from_trials {search.ladder}")
        return search.grid()
    active = search.for_budget(trials)
    return sample(active.space, trials, seed) if active.space else [{} for _ in range(trials)]


def resolve_plan(config: ExperimentConfig) -> list[PlannedTrial]:
    """All trials planned up front, in order: workloads, protocols, optimizers, studies, then
    trial index (a staged protocol: its first stage only; an adaptive protocol: none, its
    sampler asks each point during the run, :func:`tuning.plan.adaptive_search.adaptive_searches`)."""
    return [
        trial
        for entry in config.workloads
        for protocol in config.protocols
        if not is_adaptive(protocol.search)
        for opt in config.optimizers
        for study in range(config.studies)
        for trial in _search_trials(config, entry, protocol, opt, study)
    ]


def search_template(
    config: ExperimentConfig, entry: WorkloadEntry, protocol: Protocol, opt: str, study: int
) -> PlannedTrial:
    """What every trial of one search in one study shares (its point, index, id and seed are
    filled in by :func:`trial_at`)."""
    search = protocol.for_optimizer(opt)
    return PlannedTrial(
        trial_id=trial_id(entry.name, protocol.name, opt, 0, study),
        workload=entry.name,
        protocol=protocol.name,
        optimizer=opt,
        trial_index=0,
        seed=0,
        tuned={},
        hparams={},
        schedule=search.schedule,
        schedule_params={},
        steps=entry.steps,
        eval_every=entry.eval_every,
        data_dir=entry.data_dir,
        workload_options=entry.options,
        mixed_precision=entry.mixed_precision,
        time_limit_s=entry.trial_time_limit_s,
        stall_timeout_s=entry.stall_timeout_s,
        checkpoint_every_s=entry.checkpoint_every_s,
        workers=entry.workers_per_trial,
        target_value=entry.target_value,
        study=study,
    )


def trial_at(
    template: PlannedTrial, search: SearchSpec, index: int, point: Mapping[str, Any], experiment_seed: int,
    **update: Any,  # noqa: ANN401
) -> PlannedTrial:
    """Trial ``index`` of ``template``'s search at ``point`` (tuned coordinates): its id
    ``W/P/O[/sS]/INDEX``, training seed ``sha256(seed/W/P/O[/sS]/INDEX/train)`` and the
    hyperparameters ``search`` resolves the point to; ``update`` sets other fields (``stage``)."""
    names = (template.workload, template.protocol, template.optimizer)
    hparams, schedule_params = search.resolve(point)
    return template.model_copy(
        update={
            "trial_id": trial_id(*names, index, template.study),
            "trial_index": index,
            "seed": derive_seed(experiment_seed, *names, *stage_seed_parts(template.study), index, "train"),
            "tuned": dict(point),
            "hparams": hparams,
            "schedule_params": schedule_params,
            **update,
        }
    )


def _search_trials(
    config: ExperimentConfig, entry: WorkloadEntry, protocol: Protocol, opt: str, study: int
) -> list[PlannedTrial]:
    """The trials of one search in one study planned up front."""
    n = config.trials_per_search
    first = stage_layout(protocol.stages, n)[0] if protocol.stages else None
    search = protocol.for_optimizer(opt)
    names = (entry.name, protocol.name, opt)
    points = search_points(search, n, derive_seed(config.seed, *names, *stage_seed_parts(study), "halton"))
    template = search_template(config, entry, protocol, opt, study)
    stage = first.stage.name if first else FINAL_STAGE
    return [
        trial_at(template, search, index, point, config.seed, stage=stage)
        for index, point in enumerate(points[: first.count] if first else points)
    ]




def rerun_trials(best: PlannedTrial, first_index: int, seeds: int, experiment_seed: int) -> list[PlannedTrial]:
    """``seeds`` copies of ``best`` with new training seeds, at indices from ``first_index``."""
    names = (best.workload, best.protocol, best.optimizer)
    parts = stage_seed_parts(best.study)
    return [
        best.model_copy(
            update={
                "trial_id": trial_id(*names, first_index + r, best.study),
                "trial_index": first_index + r,
                "seed": derive_seed(experiment_seed, *names, *parts, best.trial_index, r, "rerun"),
                "phase": RERUN_PHASE,
            }
        )
        for r in range(seeds)
    ]
