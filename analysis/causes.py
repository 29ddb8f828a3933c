"""Why an inclusion pair breaks: the cause the data support, next to every violated verdict.

A violated ``narrow <= wide`` (the wide optimizer ranked worse at budget K) has one of these
causes; the first that the recorded data support is given:

- **(a) no imitation** under the protocol: experiment.json's space-inclusion check
  (``space_inclusion``, :mod:`tuning.plan.space_inclusion`) found the pair *not expressible*, e.g. a
  fixed momentum of 0.9 where SGD needs 0, beta2 = 0 against a cap, or a decaying rate where
  RMSProp's imitation needs a constant one. No budget can help;
- **(b) outside the wide space**: the probe (the narrow best imitated by the wide optimizer,
  :mod:`analysis.probes`) needs a coordinate of the wide search outside its initial space, or
  outside the final space a staged protocol refined (experiment.json ``refined``), with the
  coordinate, its value and the bounds. Widening the range by the covering rule
  (docs/method.md, section 6.5) would let a search reach it. Only the spaces of the stage
  selection the verdict ranks count (``stage``: the last space for ``final``, the protocol's
  for ``initial``, a named stage's, or every one for ``all``, where the point must lie outside
  them all): a point that a ranked space holds could have been reached;
- **(c) a budget finding**: the probe lies inside the wide space and is realised (within seed
  noise of the narrow best), yet the wide search's best at K trials is worse. A larger budget or
  a refined space should close the gap;
- **(d) the probe is not realised**: the imitation itself did not reach the narrow best (a limit
  inclusion at finite epsilon, or float32 arithmetic), so the inclusion does not hold exactly on
  this workload as trained;
- **(e) none of the above**: e.g. no probe ran (``probes: false``), so (b) to (d) cannot be told
  apart; an experiment written before the check has no record for (a).

Coordinates are written as the wide search writes them (:func:`optcompare.coordinates.coordinate`'s
inverse) and held by :func:`optcompare.space.holds`: both are pure functions of the shared
package, which the tuning package uses too. Only the first study's searches and
probes are used.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from optcompare.coordinates import coordinate
from optcompare.space import holds

from .inclusion import InclusionVerdict
from .probes import REALISED, ProbeResult
from .refined import show_space

__all__ = ["CAUSES", "BreakCause", "break_causes"]

CAUSES = {
    "a": "no imitation under this protocol",
    "b": "the imitation lies outside the wide space",
    "c": "a budget finding",
    "d": "the probe is not realised",
    "e": "none of the above",
}
"""The causes in the order they are tried (module docstring)."""


@dataclass(frozen=True)
class BreakCause:
    """The cause of one violated verdict: its letter and a sentence with the numbers."""

    workload: str
    protocol: str
    narrow: str
    wide: str
    code: str
    detail: str

    @property
    def sentence(self) -> str:
        return f"cause ({self.code}) {CAUSES[self.code]}: {self.detail}"


def _coverage_records(meta: Mapping[str, Any]) -> dict[tuple[str, str, str], Mapping[str, Any]] | None:
    recorded = meta.get("space_inclusion")
    if not isinstance(recorded, list):
        return None
    return {
        (r["protocol"], r["narrow"], r["wide"]): r
        for r in recorded
        if isinstance(r, Mapping) and all(isinstance(r.get(k), str) for k in ("protocol", "narrow", "wide"))
    }


def _spaces(meta: Mapping[str, Any], workload: str, protocol: str, wide: str) -> list[tuple[str, str, Mapping[str, Any], Mapping[str, Any]]]:
    """(stage, label, space, fixed) of the wide search: its initial space (the protocol's first
    stage), then each refined one."""
    out: list[tuple[str, str, Mapping[str, Any], Mapping[str, Any]]] = []
    names = (meta.get("stages") or {}).get(protocol) or ["final"]
    fixed: Mapping[str, Any] = {}
    for s in meta.get("searches") or []:
        if isinstance(s, Mapping) and (s.get("protocol"), s.get("optimizer")) == (protocol, wide):
            fixed = s.get("fixed") or {}
            out.append((str(names[0]), "protocol's (initial)", s.get("space") or {}, fixed))
    for r in meta.get("refined") or []:
        if not isinstance(r, Mapping) or (r.get("workload"), r.get("protocol"), r.get("optimizer")) != (workload, protocol, wide):
            continue
        if r.get("study", 0) != 0:
            continue
        refined = {c["name"]: c["new"] for c in r.get("coordinates") or [] if isinstance(c, Mapping) and "name" in c and isinstance(c.get("new"), Mapping)}
        if refined:
            # refining changes the searched coordinates only: the fixed values stay the protocol's
            out.append((str(r.get("stage", "final")), f"{r.get('stage', 'final')} (refined)", refined, fixed))
    return out


def _ranked(spaces: list[tuple[str, str, Mapping[str, Any], Mapping[str, Any]]], stage: str) -> list[tuple[str, str, Mapping[str, Any], Mapping[str, Any]]]:
    """The spaces whose rows stage selection ``stage`` ranks (module docstring)."""
    if stage == "all":
        return spaces
    if stage == "initial":
        return spaces[:1]
    if stage == "final":
        return spaces[-1:]
    return [s for s in spaces if s[0] == stage]


def _outside(hparams: Mapping[str, float], space: Mapping[str, Any], fixed: Mapping[str, Any]) -> list[str]:
    """Each coordinate of ``space`` or ``fixed`` that does not hold the point ``hparams``."""
    out = []
    for name, dim in [*space.items(), *((k, {"feasible_points": [v]}) for k, v in fixed.items())]:
        coord = coordinate(name)
        if coord.target not in hparams or not isinstance(dim, Mapping):
            continue
        try:
            value = float(coord.inverse(hparams[coord.target], hparams))
        except (KeyError, ZeroDivisionError):
            continue
        if not holds(dim, value):
            out.append(f"{name} = {value:.4g} outside {show_space(dim)}")
    return out


def _cause(v: InclusionVerdict, record: Mapping[str, Any] | None, probe: ProbeResult | None,
           meta: Mapping[str, Any], stage: str = "final") -> tuple[str, str]:
    if record is not None and record.get("status") == "not expressible":
        return "a", str(record.get("message", "the space-inclusion check found no imitation"))
    if probe is None:
        why = "no probe ran (probes: false?), so a space, a budget and arithmetic cannot be told apart"
        if record is None:
            why += "; no space-inclusion record either (an experiment written before the check)"
        elif record.get("status") != "covered":
            why += f"; the check: {record.get('message')}"
        return "e", why
    spaces = _spaces(meta, v.workload, v.protocol, v.wide)
    outside = [
        f"in the {label} space: " + ", ".join(found)
        for _, label, space, fixed in spaces
        if (found := _outside(probe.hparams, space, fixed))
    ]
    # A point that a space the verdict ranks holds (refined, perhaps covering) could be reached,
    # so only a point outside every ranked space is cause (b).
    ranked = _ranked(spaces, stage)
    ranked_outside = bool(ranked) and all(_outside(probe.hparams, space, fixed) for _, _, space, fixed in ranked)
    if outside and ranked_outside:
        return "b", (
            f"{v.wide} imitating the best {v.narrow} trial (probe {probe.probe_trial_id}) needs "
            + "; ".join(outside)
        )
    if probe.verdict == REALISED:
        return "c", (
            f"the probe lies inside {v.wide}'s space and reaches {probe.probe:.4g} (narrow best "
            f"{probe.narrow_best:.4g}); {v.wide}'s search reached {probe.wide_best:.4g} with all its "
            f"trials and {v.wide_mean:.4g} at K = {v.budget} (bootstrap mean): at this budget it does "
            "not find that region"
        )
    return "d", f"{probe.sentence} (a limit inclusion at finite epsilon, or float32 arithmetic)"


def break_causes(
    verdicts: Iterable[InclusionVerdict], meta: Mapping[str, Any], probes: Sequence[ProbeResult],
    stage: str = "final",
) -> tuple[BreakCause, ...]:
    """The cause of every violated verdict, in the verdicts' order, for verdicts ranked from the
    rows of stage selection ``stage`` (module docstring)."""
    records = _coverage_records(meta)
    by_pair = {(p.workload, p.protocol, p.narrow, p.wide): p for p in probes if p.study == 0}
    out = []
    for v in verdicts:
        if not v.violated:
            continue
        record = None if records is None else records.get((v.protocol, v.narrow, v.wide))
        code, detail = _cause(v, record, by_pair.get((v.workload, v.protocol, v.narrow, v.wide)), meta, stage)
        out.append(BreakCause(v.workload, v.protocol, v.narrow, v.wide, code, detail))
    return tuple(out)
