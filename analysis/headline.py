"""The report's opening answer: does the inclusion hierarchy hold, per protocol and workload?

One :class:`HierarchyRow` per (protocol, workload) that was ranked, from the inclusion
verdicts (:mod:`analysis.inclusion`) and, where probe rows exist, the probes
(:mod:`analysis.probes`):

- ``holds`` when no checked pair is ``violated`` (an ``inconclusive`` pair is counted, not
  broken), ``broken`` when at least one is, ``not checked`` when no inclusion pair ran both
  optimizers there;
- ``broken_pairs``: each violated pair with its numbers, the wide and narrow optimizer's
  bootstrapped mean best-of-K metric and P(wide worse);
- ``probes``: each probe's result (``narrow <= wide: realised`` / ``not realised``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .inclusion import InclusionVerdict
from .probes import REALISED, ProbeResult
from .ranking import Ranking

__all__ = ["BROKEN", "HOLDS", "NOT_CHECKED", "HierarchyRow", "hierarchy_rows"]

HOLDS = "holds"
BROKEN = "broken"
NOT_CHECKED = "not checked"


@dataclass(frozen=True)
class HierarchyRow:
    """The answer for one (protocol, workload) (module doc)."""

    protocol: str
    workload: str
    status: str
    """``holds``, ``broken`` or ``not checked``."""
    n_checked: int
    n_inconclusive: int
    broken_pairs: tuple[str, ...]
    """Each violated pair with its means and P(wide worse), one phrase each."""
    probes: tuple[str, ...]

    @property
    def probe_summary(self) -> str:
        """``k of n realised: ...`` where probes ran; ``-`` otherwise."""
        if not self.probes:
            return "-"
        realised = sum(1 for p in self.probes if p.endswith(f": {REALISED}"))
        return f"{realised} of {len(self.probes)} realised: " + "; ".join(self.probes)


def _pair_text(v: InclusionVerdict) -> str:
    via = f" (via {', '.join(v.via)})" if v.via else ""
    return (
        f"{v.narrow} <= {v.wide}{via}: {v.wide} {v.wide_mean:.4g} vs {v.narrow} {v.narrow_mean:.4g}, "
        f"P(wide worse) = {v.p_wide_worse:.2f}"
    )


def hierarchy_rows(
    rankings: Sequence[Ranking], verdicts: Sequence[InclusionVerdict], probes: Sequence[ProbeResult] = ()
) -> tuple[HierarchyRow, ...]:
    """One row per (protocol, workload) of ``rankings``, sorted by protocol then workload."""
    rows = []
    for protocol, workload in sorted({(r.protocol, r.workload) for r in rankings}):
        mine = [v for v in verdicts if (v.protocol, v.workload) == (protocol, workload)]
        broken = tuple(_pair_text(v) for v in mine if v.violated)
        status = NOT_CHECKED if not mine else BROKEN if broken else HOLDS
        probe_texts = tuple(
            f"{p.narrow} <= {p.wide}: {p.verdict}"
            for p in probes
            if (p.protocol, p.workload) == (protocol, workload)
        )
        inconclusive = sum(1 for v in mine if v.verdict == "inconclusive")
        rows.append(HierarchyRow(protocol, workload, status, len(mine), inconclusive, broken, probe_texts))
    return tuple(rows)
