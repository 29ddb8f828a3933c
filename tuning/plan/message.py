"""What a run plans, in numbers that multiply out: the lines ``optcompare run`` prints first.

Per protocol, the trials planned up front are counted from the plan itself, grouped by the
trials each search has (a grid protocol's searches can differ), as
``searches x studies x trials = total``; a staged protocol plans only its first stage up front
(:func:`tuning.plan.resolve.resolve_plan`). What comes later is stated with its own arithmetic: each
later stage (its slot of ``trials_per_search``, :func:`tuning.planners.stages.stage_layout`), the reruns
of each search's best (``rerun_best``), the adaptive searches (asked as slots free), and the
inclusion probes (one per inclusion pair and study at most, planned as narrow searches finish).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from optcompare.schema import is_adaptive
from tuning.plan.trial import PlannedTrial
from tuning.spec.config import ExperimentConfig
from tuning.spec.protocol import Protocol
from tuning.spec.stages import stage_layout

__all__ = ["plan_lines"]


def _count(n: int, noun: str) -> str:
    """``1 search``, ``2 searches``, ``1 trial``, ``3 trials``."""
    plural = {"search": "searches"}.get(noun, noun + "s")
    return f"{n} {noun if n == 1 else plural}"


def _times(searches: int, studies: int, trials: int, unit: str = "trial") -> str:
    """``S searches x N studies x K trials`` (the studies factor only when there are several)."""
    several = f" x {studies} studies" if studies > 1 else ""
    return f"{_count(searches, 'search')}{several} x {_count(trials, unit)}"


def _reruns(protocol: Protocol, searches: int, studies: int, later: list[str]) -> int:
    """Append the line of ``protocol``'s reruns (``rerun_best``) to ``later``; their count."""
    if not protocol.rerun_seeds:
        return 0
    count = searches * studies * protocol.rerun_seeds
    later.append(f"  {protocol.name} reruns of each search's best: "
                 f"{_times(searches, studies, protocol.rerun_seeds, 'seed')} = {count}")
    return count


def plan_lines(config: ExperimentConfig, plan: Sequence[PlannedTrial], experiment_dir: str) -> list[str]:
    """The plan message (module doc): a first line with the total planned up front, one line per
    protocol, then one per kind of trial planned later."""
    studies = config.studies
    per_search = Counter((t.workload, t.protocol, t.optimizer, t.study) for t in plan)
    lines = [f"experiment {experiment_dir}: {len(plan)} trials planned up front"]
    later: list[str] = []
    later_total = 0
    for protocol in config.protocols:
        searches = len(config.workloads) * len(config.optimizers)
        if is_adaptive(protocol.search):
            count = searches * studies * config.trials_per_search
            later.append(f"  {protocol.name} (adaptive, {protocol.search}): {_times(searches, studies, config.trials_per_search)} "
                         f"= {count}, asked as slots free")
            later_total += count
            later_total += _reruns(protocol, searches, studies, later)
            continue
        sizes = Counter(n for (w, p, o, s), n in per_search.items() if p == protocol.name)
        terms = [f"{_times(k // studies, studies, n)}" for n, k in sorted(sizes.items(), reverse=True)]
        total = sum(n * k for n, k in sizes.items())
        slots = stage_layout(protocol.stages, config.trials_per_search) if protocol.stages else ()
        stage = f" (stage {slots[0].stage.name})" if slots else ""
        lines.append(f"  {protocol.name}{stage}: {' + '.join(terms)} = {total}")
        for slot in slots[1:]:
            count = searches * studies * slot.count
            later.append(f"  {protocol.name} stage {slot.stage.name}: {_times(searches, studies, slot.count)} = {count}, "
                         "planned as the stage before it finishes")
            later_total += count
        later_total += _reruns(protocol, searches, studies, later)
    if later:
        lines.append(f"planned later, {later_total} trials at most:")
        lines += later
    if config.probes:
        lines.append("and inclusion probes (at most one per inclusion pair, workload, protocol and study), "
                     "planned as the narrow searches finish")
    return lines
