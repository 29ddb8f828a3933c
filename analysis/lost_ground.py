"""Refinement that lost ground: a later stage whose best is worse than the stage it was refined
from.

A staged protocol (docs/method.md, section 6.4) searches a later stage in a space refined from
the earlier stage's best trials. Refinement is meant to look closer where the first stage did
well, so its best should not be worse. For each search (workload, protocol, optimizer, study)
and each consecutive pair of its stages, with b_s the best completed search trial of stage s by
the protocol's selection metric:

    lost ground  when  b_later - b_earlier > tau

with tau the seed-noise tolerance of the probes (:func:`analysis.probes.seed_spread`): the
spread max - min of the selection metric over the completed reruns of the later stage's best
(``rerun_best``, two or more: the noise that changing only the seed produces at that point,
``measured``), else ``tolerance`` (default :data:`analysis.probes.DEFAULT_TOLERANCE`, 0.01
absolute; a guess at seed noise for the error rates of small workloads, so the flag is
*indicative*). The earlier stage's best is not rerun, and both bests are the minimum of the
values that selected them, so each is biased low by about the same winner's curse; the flag
compares like with like, not the two points' true errors. The result also gives the later stage's
median over its completed trials, which shows a refined space where most trials fail (the
median at chance, 0.9 for ten classes). Only ``phase = search`` rows count (not reruns or
probes); diverged and failed trials have no value and are left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from optcompare.schema import METRICS
from optcompare.searches import RERUN_PHASE, SEARCH_PHASE

from .load import with_stage_and_study
from .probes import DEFAULT_TOLERANCE, seed_spread
from .selection import select_for
from .stages import stage_names

__all__ = ["LostGround", "lost_ground"]


@dataclass(frozen=True)
class LostGround:
    """A later stage whose best is worse than its earlier stage's beyond ``tolerance``."""

    workload: str
    protocol: str
    optimizer: str
    study: int
    select: str
    earlier: str
    earlier_best: float
    later: str
    later_best: float
    later_median: float
    tolerance: float
    measured: bool = False
    """True when ``tolerance`` is the spread of the later best's reruns, False for the default guess."""

    @property
    def sentence(self) -> str:
        study = f" (study {self.study})" if self.study else ""
        noise = "seed spread of its reruns" if self.measured else "default; no reruns: indicative"
        return (
            f"{self.workload}/{self.protocol}/{self.optimizer}{study}: refinement lost ground: "
            f"{self.later} stage best {self.select} {self.later_best:.4g} (median {self.later_median:.4g}) "
            f"against {self.earlier_best:.4g} in the {self.earlier} stage (tolerance {self.tolerance:g}, {noise})"
        )


def lost_ground(
    trials: pa.Table, meta: Mapping[str, Any], select: str | Mapping[str, str] | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
) -> tuple[LostGround, ...]:
    """Every search and consecutive pair of stages where refinement lost ground (module doc);
    ``select`` None uses each protocol's recorded ``select``."""
    if trials.num_rows == 0:
        return ()
    trials = with_stage_and_study(trials)
    selects = select if select is not None else (meta.get("select") or {})
    frame = trials.select(
        [c for c in ("workload", "protocol", "optimizer", "study", "stage", "phase", "status", "trial_id", "attempt")
         if c in trials.column_names]
        + sorted({METRICS[m].column for m in METRICS if METRICS[m].select and METRICS[m].column in trials.column_names})
    ).to_pandas()
    if "attempt" in frame:
        frame = frame.sort_values("attempt").drop_duplicates("trial_id", keep="last")
    reruns = frame.iloc[0:0]
    if "phase" in frame:  # a null or missing phase reads as a search trial (optcompare.searches)
        phase = frame["phase"].fillna(SEARCH_PHASE)
        reruns = frame[phase == RERUN_PHASE]
        frame = frame[phase == SEARCH_PHASE]
    names = stage_names(meta, sorted(frame["protocol"].astype(str).unique()))
    out = []
    for (workload, protocol, optimizer, study), search in frame.groupby(
        ["workload", "protocol", "optimizer", "study"], observed=True, sort=True
    ):
        stages = names.get(str(protocol), [])
        if len(stages) < 2:
            continue
        metric = select_for(selects, str(protocol))
        column = METRICS[metric].column
        completed = search[search["status"] == "completed"]
        values = {s: completed.loc[completed["stage"] == s, column].dropna().to_numpy() for s in stages}
        mine = reruns[(reruns["workload"] == workload) & (reruns["protocol"] == protocol)
                      & (reruns["optimizer"] == optimizer) & (reruns["study"] == study)
                      & (reruns["status"] == "completed")]
        for earlier, later in zip(stages, stages[1:], strict=False):
            if not (len(values[earlier]) and len(values[later])):
                continue
            spread = mine.loc[mine["stage"] == later, column].to_numpy(dtype=float)
            tau, measured = seed_spread(spread, tolerance)
            before, after = float(values[earlier].min()), float(values[later].min())
            if after - before > tau:
                out.append(LostGround(
                    str(workload), str(protocol), str(optimizer), int(study), metric, earlier, before,
                    later, after, float(np.median(values[later])), tau, measured,
                ))
    return tuple(out)
