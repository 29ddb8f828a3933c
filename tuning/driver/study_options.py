"""How the driver runs a plan: one typed options object, built from an experiment config.

:meth:`StudyOptions.from_config` takes what the config says (resources, retries, reporting,
plugins, reruns, probes, adaptive searches, bundle sizes); the caller adds where Ray runs (:class:`tuning.driver.ray_env.RayTarget`)
and whether progress is shown, and may change the rest with :func:`dataclasses.replace`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from optcompare.schema import FINAL_STAGE
from tuning.driver.capacity import GIB
from tuning.driver.ray_env import RayTarget
from tuning.plan.adaptive_search import AdaptiveSearch, adaptive_searches
from tuning.planners.adaptive import AdaptivePlanner
from tuning.planners.planners import Planners
from tuning.planners.probes import plan_probes
from tuning.planners.reruns import RerunPlanner
from tuning.planners.stages import StagePlanner
from tuning.spec.rerun_rules import RerunRule, rerun_rules
from tuning.spec.stages import Stage, StageSlot, final_layout

if TYPE_CHECKING:
    from tuning.plan.trial import PlannedTrial
    from tuning.spec.config import ExperimentConfig
    from tuning.spec.protocol import Protocol

__all__ = ["StudyOptions"]


@dataclass(frozen=True)
class StudyOptions:
    """Everything :func:`tuning.driver.run_study.run_study` needs besides the plan and the results root."""

    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    max_concurrent_trials: int | None = None
    """At most this many trials at once (None: as many as fit)."""
    memory_per_trial: float | None = None
    """GiB of Ray's ``memory`` resource per planned trial (None: none reserved)."""

    @property
    def memory_per_trial_bytes(self) -> float:
        """``memory_per_trial`` in bytes, Ray's unit (0: none reserved)."""
        return 0.0 if self.memory_per_trial is None else self.memory_per_trial * GIB
    max_failures: int = 2
    """Retries of each planned trial whose bundle failed, per run."""
    report_every_s: float = 10.0
    """Seconds between a worker's reports of buffered rows."""
    plugins: tuple[str, ...] = ()
    """Modules each worker imports first (user optimizers and workloads)."""
    reruns: Mapping[str, RerunRule] = field(default_factory=dict)
    """Protocols that rerun each search's best trial, by name."""
    probes: Mapping[str, str] = field(default_factory=dict)
    """Protocol name -> selection metric, for the protocols whose searches end in inclusion
    probes (:mod:`tuning.planners.probes`; every protocol when the config says ``probes: true``)."""
    seed: int = 0
    """The experiment seed (seeds of planned reruns and later stages derive from it)."""
    staged: tuple[Protocol, ...] = ()
    """Protocols with stages (:mod:`tuning.planners.stages`), bound to the study's optimizers."""
    trials_per_search: int = 0
    """The config's ``trials_per_search`` (what staged protocols split into stages)."""
    adaptive: tuple[AdaptiveSearch, ...] = ()
    """The adaptive searches (:mod:`tuning.planners.adaptive`), asked during the run."""
    bundle_sizes: Mapping[str, int | str] = field(default_factory=dict)
    """Workload name -> bundle size or ``"auto"`` (:mod:`tuning.driver.bundle_probe`)."""
    ray: RayTarget = field(default_factory=RayTarget)
    progress: bool = True
    """Show live progress and notices."""
    trials_per_fit: int = 1000
    """Planned trials per Tune run: Tune keeps every trial of a run in driver memory (tens of KB
    each) until the run ends, so chunks bound the driver's memory for studies of any size."""
    flush_seconds: float = 5.0
    """The sink's flush interval (:class:`tuning.store.sink.ResultSink`)."""

    @classmethod
    def from_config(
        cls, config: ExperimentConfig, *, ray: RayTarget | None = None, progress: bool = True
    ) -> StudyOptions:
        """The options ``config`` sets, run on ``ray`` (default: a fresh in-process Ray)."""

        return cls(
            cpus_per_trial=config.resources.cpus_per_trial,
            gpus_per_trial=config.resources.gpus_per_trial,
            max_concurrent_trials=config.resources.max_concurrent_trials,
            memory_per_trial=config.resources.memory_per_trial,
            max_failures=config.max_failures,
            report_every_s=config.report_every_s,
            plugins=tuple(config.plugins),
            reruns=rerun_rules(config.protocols),
            probes={p.name: p.select for p in config.protocols} if config.probes else {},
            seed=config.seed,
            staged=tuple(p for p in config.protocols if p.stages),
            trials_per_search=config.trials_per_search,
            adaptive=tuple(adaptive_searches(config)),
            bundle_sizes={entry.name: entry.bundle_size for entry in config.workloads},
            ray=ray or RayTarget(),
            progress=progress,
        )

    def planners(
        self, plan: Iterable[PlannedTrial], on_refined: Callable[[dict[str, Any]], None] | None = None
    ) -> Planners:
        """The planners of a run of ``plan`` (the trials planned up front): the adaptive
        searches' studies, none asked yet (resume restores them from the rows), and the planners
        of trials that depend on results (later stages, reruns and probes).

        Adaptive searches have no planned trial: reruns and probes track each through its
        template, as a one-stage search of ``budget`` trials at indices 0 .. budget - 1."""
        plan = list(plan)
        finals = dict(final_layout(self.staged, self.trials_per_search))
        for search in self.adaptive:
            finals[search.track.key.protocol] = StageSlot(Stage(FINAL_STAGE, 1.0), 0, search.budget)
        tracked = plan + [search.template for search in self.adaptive]
        stages = StagePlanner(plan, self.staged, self.trials_per_search, self.seed, on_refined)
        reruns = RerunPlanner(tracked, self.reruns, self.seed, finals)
        seeds = {name: rule.seeds for name, rule in self.reruns.items()}
        probes = plan_probes(tracked, self.probes, seeds, finals)
        return Planners(stages, reruns, probes, AdaptivePlanner(self.adaptive))

    @property
    def worker_threads(self) -> int:
        """Torch threads of each trial: its whole CPUs, at least one."""
        return max(1, int(self.cpus_per_trial))

    @property
    def worker_device(self) -> str | None:
        """``cpu`` for trials that reserve no GPU, else None (the worker picks its device).
        Ray leaves CUDA_VISIBLE_DEVICES alone for zero-GPU tasks: without this a CPU trial on a
        GPU node would pick the GPU it never reserved."""
        return "cpu" if self.gpus_per_trial == 0 else None

