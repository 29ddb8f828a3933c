"""Inclusion probes: does a wider optimizer, imitating a narrower one's best trial, match it?

A probe (``phase = probe``, :mod:`tuning.planners.probes`) is a trial of the wide optimizer of an
inclusion ``narrow <= wide`` at ``imitate``'s hyperparameters for the narrow search's best
trial, with that trial's seed and schedule; it lives in the wide optimizer's partition. It is
matched to its narrow search by that seed (training seeds are 31-bit SHA-256 digests of the
search's names and the trial index, distinct across a study's searches).

Per (workload, protocol, narrow, wide) :func:`probe_results` reports, in the reported metric r
(``test_error`` by default), the narrow best's r_n, the probe's r_p and the wide search's best
r_w (best completed trial by the protocol's selection metric, ties lowest trial index). The
verdict is ``realised`` when |r_p - r_n| <= tau, else ``not realised``, with the seed-noise
tolerance

- tau = max - min of r over the narrow best's completed reruns (``rerun_best``, two or more):
  the spread that changing only the seed produces at that point; the verdict assumes the probe's
  difference would be of that size if the inclusion held;
- otherwise tau = DEFAULT_TOLERANCE (0.01 absolute), a documented guess at seed noise for error
  rates of small workloads, and the verdict is marked *indicative*.

An exact inclusion (e.g. sgd <= momentum at momentum = 0) reproduces the narrow trajectory up to
floating-point reassociation, so |r_p - r_n| is then about the noise of a rerun at most.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from optcompare.schema import HP_PREFIX, METRICS, SearchKey
from optcompare.searches import PROBE_PHASE, RERUN_PHASE, Search, group_searches

from .checks import check_metric
from .selection import select_for

__all__ = ["DEFAULT_TOLERANCE", "ProbeResult", "probe_results", "seed_spread"]

DEFAULT_TOLERANCE = 0.01
"""Seed-noise tolerance (absolute, in the reported metric) without reruns of the narrow best."""

REALISED = "realised"
NOT_REALISED = "not realised"


@dataclass(frozen=True)
class ProbeResult:
    """One probe: the narrow best, its imitation by the wide optimizer, the wide search's best."""

    workload: str
    protocol: str
    narrow: str
    wide: str
    narrow_best: float
    probe: float
    """The probe's reported metric (NaN when it did not complete)."""
    wide_best: float
    tolerance: float
    noise_from_reruns: bool
    """True: ``tolerance`` is the spread of the narrow best's reruns; False: the default."""
    verdict: str
    """``realised`` or ``not realised``."""
    study: int = 0
    """The study (``studies:``) whose searches the probe and its narrow best belong to."""
    probe_trial_id: str = ""
    hparams: Mapping[str, float] = field(default_factory=dict, compare=False)
    """The probe's ``hp_<name>`` values (the imitation: optimizer and schedule
    hyperparameters), NaN-free; what :mod:`analysis.causes` places in the wide space."""

    @property
    def sentence(self) -> str:
        """The verdict as a sentence with its numbers."""
        gap = abs(self.probe - self.narrow_best)
        noise = (
            f"the spread of the narrow best's reruns, {self.tolerance:.3g}" if self.noise_from_reruns
            else f"the default tolerance {self.tolerance:g} (no reruns: indicative)"
        )
        if not math.isfinite(self.probe):
            return f"{self.narrow} <= {self.wide}: not realised, the probe did not complete"
        relation = "within" if self.verdict == REALISED else "outside"
        return (
            f"{self.narrow} <= {self.wide}: {self.verdict}; {self.wide} imitating the best {self.narrow} "
            f"trial reaches {self.probe:.4g} vs {self.narrow_best:.4g} (|difference| {gap:.3g}, "
            f"{relation} {noise})"
        )


def _best_row(search: Search, select: str) -> int | None:
    """Row of the best completed trial by ``select`` (ties: lowest trial index)."""
    values = search.column(METRICS[select].column)
    eligible = search.completed & np.isfinite(values)
    if not eligible.any():
        return None
    rows = np.flatnonzero(eligible)
    index = search.column("trial_index")[rows]
    return int(rows[np.lexsort((index, values[rows]))[0]])


def seed_spread(values: np.ndarray, default: float = DEFAULT_TOLERANCE) -> tuple[float, bool]:
    """(tau, measured): max - min of the finite ``values`` of one point's seed reruns when there
    are two or more (measured), else ``default`` (a guess: indicative)."""
    values = values[np.isfinite(values)]
    if len(values) >= 2:
        return float(values.max() - values.min()), True
    return default, False


def _tolerance(reruns: Search | None, column: str) -> tuple[float, bool]:
    if reruns is None:
        return DEFAULT_TOLERANCE, False
    return seed_spread(reruns.column(column)[reruns.completed])


def probe_results(
    trials: pa.Table, select: str | Mapping[str, str] = "val_error", report: str = "test_error"
) -> list[ProbeResult]:
    """One result per probe row (latest attempt) whose narrow search is found; sorted by
    (workload, protocol, wide, narrow, study). Each study's probes are matched within that
    study's searches (every study probes its own best trials, :mod:`tuning.planners.probes`)."""
    column = METRICS[check_metric(report, "report")].column
    if "phase" not in trials.column_names or trials.num_rows == 0:
        return []
    if "study" in trials.column_names:
        studies = sorted(s for s in pc.unique(trials.column("study")).to_pylist() if s is not None)
        if len(studies) > 1:
            out = [
                replace(result, study=int(study))
                for study in studies
                for result in _probe_results(trials.filter(pc.equal(trials.column("study"), study)), select, column)
            ]
            return sorted(out, key=lambda r: (r.workload, r.protocol, r.wide, r.narrow, r.study))
    return _probe_results(trials, select, column)


def _probe_results(trials: pa.Table, select: str | Mapping[str, str], column: str) -> list[ProbeResult]:
    """:func:`probe_results` within one study's rows, reporting ``column``."""
    probes = group_searches(trials, phases=(PROBE_PHASE,))
    if not probes:
        return []
    searches = group_searches(trials)
    reruns = group_searches(trials, phases=(RERUN_PHASE,))
    out = []
    for (workload, protocol, wide), probe in probes.items():
        chosen = select_for(select, protocol)
        wide_search = searches.get(SearchKey(workload, protocol, wide))
        wide_row = None if wide_search is None else _best_row(wide_search, chosen)
        wide_best = math.nan if wide_search is None or wide_row is None else float(wide_search.column(column)[wide_row])
        for key, search in searches.items():
            if (key.workload, key.protocol) != (workload, protocol) or key.optimizer == wide:
                continue
            row = _best_row(search, chosen)
            if row is None:
                continue
            seed = search.column("seed")[row]
            matches = np.flatnonzero(probe.column("seed") == seed)
            if len(matches) == 0:
                continue
            at = matches[0]
            value = float(probe.column(column)[at]) if probe.completed[at] else math.nan
            hparams = {
                name[len(HP_PREFIX):]: float(values[at])
                for name, values in probe.columns.items()
                if name.startswith(HP_PREFIX) and math.isfinite(values[at])
            }
            narrow_best = float(search.column(column)[row])
            tolerance, from_reruns = _tolerance(reruns.get(key), column)
            realised = math.isfinite(value) and abs(value - narrow_best) <= tolerance
            out.append(
                ProbeResult(
                    workload, protocol, key.optimizer, wide, narrow_best, value, wide_best,
                    tolerance, from_reruns, REALISED if realised else NOT_REALISED,
                    probe_trial_id=str(probe.trial_id[at]), hparams=hparams,
                )
            )
    return sorted(out, key=lambda r: (r.workload, r.protocol, r.wide, r.narrow))
