"""Text of the result objects that ``optcompare rank``, ``summary``, ``query`` and
``importance`` print: JSON, CSV and tables. The statistics are computed elsewhere
(:mod:`analysis.ranking`, :mod:`analysis.across_workloads`, :mod:`analysis.query`,
:mod:`analysis.importance`); this module only lays them out.

JSON is strict (RFC 8259): a non-finite float (a loss of +inf, NaN) is written as ``null``.
Tables fit the terminal when stdout is one; otherwise (a pipe, a log file) each table is as
wide as its content, so that no row wraps (:func:`print_tables`).
"""

from __future__ import annotations

import csv
import io
import json
import math
import sys
from collections.abc import Iterable, Sequence
from typing import IO, TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from rich.table import Table

    from .across_workloads import CrossWorkloadSummary, ProtocolSummary
    from .causes import BreakCause
    from .experiment_rankings import ExperimentRankings
    from .explain import ViolationEvidence
    from .importance import ExperimentImportance
    from .inclusion import HierarchySummary
    from .profiles import PerformanceProfile
    from .query import QueryResult
    from .ranking import BudgetRankings
    from .rulesets import RulesetResult
    from .studies import StudiesAtBudget

__all__ = [
    "profile_csv",
    "profile_json",
    "profile_tables",
    "ruleset_table",
    "RANK_COLUMNS",
    "IMPORTANCE_COLUMNS",
    "dumps_strict",
    "importance_csv",
    "importance_json",
    "importance_tables",
    "print_tables",
    "query_csv",
    "query_json",
    "query_table",
    "rank_csv",
    "rank_json",
    "rank_tables",
    "summary_csv",
    "summary_json",
    "summary_tables",
    "verdict_lines",
]

RANK_COLUMNS = ("workload", "protocol", "rank", "optimizer", "n_trials", "mean", "p05", "p95",
                "budget", "select", "report", "n_resamples")
"""Leading columns of ``rank --format csv``; ``p_rank_1 .. p_rank_n`` follow."""

Justify = Literal["left", "right"]

RANK_TABLE_COLUMNS: tuple[tuple[str, Justify], ...] = (("rank", "right"), ("optimizer", "left"), ("trials", "right"),
                      ("mean", "right"), ("p05", "right"), ("p95", "right"),
                      ("P(rank 1..n)", "left"))
"""Header and justification of each column of a ranking table."""


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float (inf, NaN) replaced by None, in lists and dicts too."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def dumps_strict(value: Any, **kwargs: Any) -> str:
    """Strict JSON (RFC 8259): non-finite floats become null, never ``Infinity`` or ``NaN``."""
    return json.dumps(_finite(value), allow_nan=False, **kwargs)


def _csv(rows: Iterable[Sequence[Any]]) -> str:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue()


def _budget_document(result: ExperimentRankings, index: int) -> dict[str, Any]:
    """The JSON object of one budget: :meth:`BudgetRankings.as_dict`, plus ``stage`` when the
    rows are not the default final stage and ``studies`` (:meth:`StudiesAtBudget.as_dict`, with
    ``mixtures``) when the experiment has two or more studies."""
    document = result.by_budget[index].as_dict()
    if result.stage != "final":
        document["stage"] = result.stage
    if result.studies is not None:
        document["studies"] = {
            **result.studies.by_budget[index].as_dict(),
            "mixtures": list(result.studies.mixtures),
        }
    return document


def rank_json(result: ExperimentRankings) -> str:
    """One budget: its JSON object (:func:`_budget_document`); several: a list of them."""
    documents = [_budget_document(result, i) for i in range(len(result.by_budget))]
    return dumps_strict(documents[0] if len(documents) == 1 else documents, indent=2) + "\n"


def _ranking_rows(
    budget: BudgetRankings, rankings: Sequence[Any], n: int, study: Sequence[Any]
) -> list[list[Any]]:
    rows = []
    for r in rankings:
        for o in r.optimizers:
            probs = list(o.rank_probabilities)
            rows.append([r.workload, r.protocol, o.rank, o.optimizer, o.n_trials, o.mean, o.p05,
                         o.p95, budget.budget, budget.select_of(r.protocol), budget.report, budget.n_resamples,
                         *study, *probs, *[""] * (n - len(probs))])
    return rows


def rank_csv(result: ExperimentRankings) -> str:
    """One row per (budget, workload, protocol, optimizer) under one header: :data:`RANK_COLUMNS`,
    then ``p_rank_<r>`` (empty where a ranking has fewer optimizers). With two or more studies a
    ``study`` column precedes ``p_rank_1``: ``pooled`` for the pooled rankings, then the rows of
    each study's ranking with its number."""
    n = max((len(r.optimizers) for b in result.by_budget for r in b.rankings), default=0)
    studies = result.studies
    study_column = ["study"] if studies is not None else []
    rows: list[Sequence[Any]] = [[*RANK_COLUMNS, *study_column, *[f"p_rank_{i + 1}" for i in range(n)]]]
    for i, b in enumerate(result.by_budget):
        rows += _ranking_rows(b, b.rankings, n, ["pooled"] if studies is not None else [])
        for study, rankings in studies.by_budget[i].rankings if studies is not None else ():
            rows += _ranking_rows(b, rankings, n, [study])
    return _csv(rows)


def _budget_tables(budget: BudgetRankings, rankings: Sequence[Any] | None = None, label: str = "") -> list[Table]:
    from rich.table import Table

    tables = []
    for ranking in budget.rankings if rankings is None else rankings:
        table = Table(
            title=(
                f"{label}{ranking.workload} / {ranking.protocol}: {budget.report} of the best-by-"
                f"{budget.select_of(ranking.protocol)} trial, budget K={budget.budget}, B={budget.n_resamples}"
            )
        )
        for header, justify in RANK_TABLE_COLUMNS:
            table.add_column(header, justify=justify)
        for o in ranking.optimizers:
            table.add_row(str(o.rank), o.optimizer, str(o.n_trials), f"{o.mean:.4f}", f"{o.p05:.4f}",
                          f"{o.p95:.4f}", " ".join(f"{p:.2f}" for p in o.rank_probabilities))
        tables.append(table)
    return tables


def _study_tables(budget: BudgetRankings, studies: StudiesAtBudget, mixtures: Sequence[str]) -> list[Table]:
    """Each study's rankings, then one table of the spread and agreement per (workload, protocol)."""
    from rich.table import Table

    tables = [t for s, rankings in studies.rankings for t in _budget_tables(budget, rankings, f"study {s}: ")]
    agreement = {(a.workload, a.protocol): a for a in studies.agreement}
    for (w, p), a in agreement.items():
        mixed = " (pooled final-stage trials mix differently refined spaces)" if p in mixtures else ""
        table = Table(
            title=f"{w} / {p}: {budget.report} over {len(studies.studies)} studies at K={budget.budget}{mixed}",
            caption="studies agree" if a.agree else "studies disagree: " + "; ".join(a.differences),
        )
        for header in ("optimizer", *(f"study {s}" for s in studies.studies), "mean", "sd"):
            table.add_column(header, justify="left" if header == "optimizer" else "right")
        for row in (x for x in studies.spread if (x.workload, x.protocol) == (w, p)):
            table.add_row(row.optimizer, *(f"{m:.4f}" for m in row.means), f"{row.mean:.4f}", f"{row.sd:.4f}")
        tables.append(table)
    return tables


def rank_tables(result: ExperimentRankings) -> list[Table]:
    """One table per (budget, workload, protocol), budgets ascending; with two or more studies,
    after each budget's pooled tables, each study's and the spread and agreement
    (:func:`_study_tables`)."""
    tables = []
    for i, b in enumerate(result.by_budget):
        label = ("pooled: " if result.studies is not None else "") + (
            f"stage {result.stage}: " if result.stage != "final" else ""
        )
        tables += _budget_tables(b, None, label)
        if result.studies is not None:
            tables += _study_tables(b, result.studies.by_budget[i], result.studies.mixtures)
    return tables


SUMMARY_COLUMNS = ("protocol", "optimizer", "n_workloads", "mean_rank", "wins")
"""Leading columns of ``summary --format csv``; one ``score_<quantity>`` column per profile
(steps to target, then the reported metric), then :data:`SUMMARY_SETTINGS` follow."""

SUMMARY_SETTINGS = ("budget", "select", "report", "n_resamples", "tau_max", "convention")
"""The settings closing each row of ``summary --format csv``."""


def summary_json(summary: CrossWorkloadSummary) -> str:
    """The summary's JSON object (:meth:`CrossWorkloadSummary.as_dict`); an infinite ratio (a
    missed target) is null."""
    return dumps_strict(summary.as_dict(), indent=2) + "\n"


def _summary_rows(protocol: ProtocolSummary) -> list[tuple[Any, ...]]:
    """(optimizer, workloads, mean rank, wins, score of each profile, ruleset score) of one
    protocol, in the standings' order (the ruleset score NaN when it follows no ruleset)."""
    scores = [{o.optimizer: o.score for o in p.optimizers} for p in protocol.profiles]
    ruleset = protocol.ruleset
    return [(s.optimizer, s.n_workloads, s.mean_rank, s.wins, *(by.get(s.optimizer, math.nan) for by in scores),
             math.nan if ruleset is None else ruleset.score_of(s.optimizer))
            for s in protocol.standings]


def summary_csv(summary: CrossWorkloadSummary) -> str:
    """One row per (protocol, optimizer) under one header: :data:`SUMMARY_COLUMNS`, the profile
    scores, then :data:`SUMMARY_SETTINGS` (``select`` as the protocol's metric)."""
    from .selection import select_for  # on call: this module imports the standard library only

    quantities = [p.quantity for p in summary.protocols[0].profiles] if summary.protocols else []
    rows: list[Sequence[Any]] = [[*SUMMARY_COLUMNS, *(f"score_{q}" for q in quantities), "score_ruleset",
                                  *SUMMARY_SETTINGS]]
    for p in summary.protocols:
        settings = (summary.budget, select_for(summary.select, p.protocol), summary.report,
                    summary.n_resamples, summary.tau_max, summary.convention)
        rows.extend([p.protocol, *row[:-1], "" if math.isnan(row[-1]) else row[-1], *settings]
                    for row in _summary_rows(p))
    return _csv(rows)


def _verdict_table(summary: CrossWorkloadSummary) -> Table:
    from rich.table import Table

    table = Table(title=f"inclusion verdicts, K={summary.budget} (-: not checked)")
    for header in ("workload", "narrow <= wide", *summary.verdicts.protocols):
        table.add_column(header)
    for r in summary.verdicts.rows:
        via = f" (via {' <= '.join(r.via)})" if r.via else ""
        table.add_row(r.workload, f"{r.narrow} <= {r.wide}{via}", *(v or "-" for v in r.verdicts))
    return table


def _score_rule(summary: CrossWorkloadSummary) -> str:
    """How the scores were computed, in a few words."""
    rule = "exact integral" if summary.points is None else f"trapezoid on {summary.points} tau points"
    unsolved = ("unsolved workloads left out" if summary.drop_unsolved
                else "unsolved workloads count as misses, as in AlgoPerf")
    return f"{rule}; {unsolved}"


def summary_tables(summary: CrossWorkloadSummary) -> list[Table]:
    """Per protocol: each optimizer's workloads, mean rank, wins and profile scores (higher is
    better); then the inclusion verdicts of every workload."""
    from rich.table import Table

    tables = []
    for p in summary.protocols:
        table = Table(
            title=(f"{p.protocol} over {len(p.workloads)} workloads: mean rank by {summary.report} "
                   f"at K={summary.budget}, B={summary.n_resamples}; performance-profile scores "
                   f"(tau <= {summary.tau_max:g}, 1 = best everywhere; {_score_rule(summary)})"),
            caption="; ".join(q.convention_sentence for q in p.profiles if q.convention_sentence) or None,
        )
        ruleset = () if p.ruleset is None else (f"score {p.ruleset.score_name}",)
        for header in ("optimizer", "workloads", "mean rank", "wins",
                       *(f"score {q.quantity}" for q in p.profiles), *ruleset):
            table.add_column(header, justify="left" if header == "optimizer" else "right")
        for optimizer, n, mean_rank, wins, *scores in _summary_rows(p):
            shown = scores if p.ruleset is not None else scores[:-1]
            table.add_row(optimizer, str(n), f"{mean_rank:.2f}", str(wins), *(f"{s:.3f}" for s in shown))
        tables.append(table)
        if p.ruleset is not None:
            tables.append(ruleset_table(p.ruleset))
    if summary.verdicts.rows:
        tables.append(_verdict_table(summary))
    return tables


def ruleset_table(result: RulesetResult) -> Table:
    """One row per optimizer: on each workload its ruleset score and, in brackets, each study's
    value (miss: no trial of the study reached the target); then its profile score."""
    from rich.table import Table

    table = Table(
        title=(f"{result.protocol}: {result.meaning}, in steps to the target (AlgoPerf measures "
               f"wall-clock time; trials here share machines), ruleset {result.trials_per_study} "
               f"trials x {result.studies} studies"),
        caption="; ".join(result.warnings) or None,
    )
    for header in ("optimizer", *result.workloads, "profile score"):
        table.add_column(header, justify="left" if header == "optimizer" else "right")
    for optimizer, cells, score in result.rows():
        table.add_row(optimizer, *cells, f"{score:.3f}")
    return table


def query_json(result: QueryResult) -> str:
    """Rows as a JSON list of objects (non-finite floats as null; other values as ``str``)."""
    return dumps_strict(result.records(), indent=2, default=str) + "\n"


def query_csv(result: QueryResult) -> str:
    """A header of the column names, then every row (null as an empty field)."""
    return _csv([result.columns, *(["" if v is None else v for v in row] for row in result.rows)])


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def query_table(result: QueryResult, max_rows: int) -> Table:
    """The first ``max_rows`` rows, floats to 6 significant digits; the caption counts all rows."""
    from rich.table import Table

    table = Table(caption=f"{len(result.rows)} row(s)")
    for column in result.columns:
        table.add_column(column, overflow="fold")
    for row in result.rows[:max_rows]:
        table.add_row(*(_cell(v) for v in row))
    return table


def profile_json(profile: PerformanceProfile) -> str:
    """``optcompare profile --format json``: :meth:`PerformanceProfile.as_dict` (null: a miss)."""
    return dumps_strict(profile.as_dict(), indent=2) + "\n"


def profile_csv(profile: PerformanceProfile) -> str:
    """One row per submission: ``name, score, r_<workload>...`` (empty r: a miss), highest score first."""
    rows: list[Sequence[Any]] = [["name", "score", *(f"r_{w}" for w in profile.workloads)]]
    rows += [[o.optimizer, o.score, *(r if math.isfinite(r) else "" for r in o.ratios)] for o in profile.optimizers]
    return _csv(rows)


def profile_tables(profile: PerformanceProfile) -> list[Table]:
    """One table: each submission's score and ratio per workload (- : a miss), with the
    convention's sentence as caption."""
    from rich.table import Table

    rule = "exact integral" if profile.points is None else f"trapezoid on {profile.points} tau points"
    table = Table(
        title=(f"{profile.protocol}: performance-profile scores of {profile.quantity} over "
               f"{len(profile.workloads)} workloads (tau <= {profile.tau_max:g}, {rule}; 1 = best everywhere)"),
        caption=profile.convention_sentence or None,
    )
    for header in ("name", "score", *profile.workloads):
        table.add_column(header, justify="left" if header == "name" else "right")
    for o in profile.optimizers:
        table.add_row(o.optimizer, f"{o.score:.4f}", *(f"{r:.3g}" if math.isfinite(r) else "-" for r in o.ratios))
    return [table]


def print_tables(tables: Sequence[Table], file: IO[str] | None = None) -> None:
    """Print ``tables`` to ``file`` (default: stdout). On a terminal they fit its width; elsewhere
    the console is as wide as the widest table needs, so that no row wraps or folds."""
    from rich.console import Console
    from rich.measure import Measurement

    console = Console(file=file or sys.stdout)
    if not console.is_terminal and tables:
        unbounded = console.options.update(width=1 << 20)
        widest = max(Measurement.get(console, unbounded, t).maximum for t in tables)
        console = Console(file=file or sys.stdout, width=max(widest, 1))
    for table in tables:
        console.print(table)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _pair(narrow: str, wide: str, via: Sequence[str]) -> str:
    return f"{narrow} <= {wide}" + (f" (via {', '.join(via)})" if via else "")


def verdict_lines(
    hierarchy: HierarchySummary, evidence: Sequence[ViolationEvidence], causes: Sequence[BreakCause] = (),
) -> list[str]:
    """The inclusion verdicts in a few lines per (workload, protocol), each violation followed by
    its cause (:mod:`analysis.causes`) and the evidence the analysis shows
    (:mod:`analysis.explain`)."""
    by_pair = {(c.workload, c.protocol, c.narrow, c.wide): c for c in causes}
    if not hierarchy.verdicts:
        return ["inclusion verdicts: none checked (no inclusion pair ran under a common protocol)"]
    lines = [f"inclusion verdicts at K={hierarchy.budget} (narrow <= wide: in its full space the wide "
             "optimizer can imitate the narrow one, so a wide enough search does at least as well):"]
    counts: dict[tuple[str, str], dict[str, int]] = {}
    for v in hierarchy.verdicts:
        tally = counts.setdefault((v.workload, v.protocol), {"holds": 0, "inconclusive": 0, "violated": 0})
        tally[v.verdict] = tally.get(v.verdict, 0) + 1
    for (workload, protocol), tally in counts.items():
        lines.append(f"  {workload} / {protocol}: " + ", ".join(f"{n} {k}" for k, n in tally.items()))
    for e in evidence:
        v = e.verdict
        lines.append(
            f"  violated in {v.workload} / {v.protocol}: {_pair(v.narrow, v.wide, v.via)}: {v.wide} "
            f"{v.wide_mean:.4f} against {v.narrow} {v.narrow_mean:.4f} (P(wide worse) = "
            f"{v.p_wide_worse:.2f})"
        )
        if (cause := by_pair.get((v.workload, v.protocol, v.narrow, v.wide))) is not None:
            lines.append(f"    {cause.sentence}")
        lines.append(
            f"    {v.wide} tunes {_count(e.wide.dims, 'coordinate')} with {e.wide.n_trials} trials "
            f"(about {e.wide.levels:.1f} levels per coordinate); {v.narrow} tunes {e.narrow.dims} "
            f"with {e.narrow.n_trials} (about {e.narrow.levels:.1f})"
        )
        if e.wide.learning_rate_only:
            lines.append(
                f"    {v.protocol} tunes only {v.wide}'s learning rate: its other hyperparameters stay "
                f"fixed, and imitating {v.narrow} may need other values (outside this space)"
            )
        if e.boundary:
            ends = ", ".join(f"the {side} end of {name}" for name, side in e.boundary)
            lines.append(f"    {v.wide}'s best trial sits at {ends}: its optimum may lie outside the range")
    return lines


IMPORTANCE_COLUMNS = ("workload", "protocol", "optimizer", "coordinate", "scaling", "importance",
                      "rank", "evaluator", "select", "n_trials", "n_completed", "n_diverged",
                      "n_failed", "notes")
"""Columns of ``importance --format csv``: one row per (search, coordinate); a skipped search
has one row with empty coordinate cells and its notes."""


def importance_json(result: ExperimentImportance) -> str:
    """The importances' JSON object (:meth:`ExperimentImportance.as_dict`)."""
    return dumps_strict(result.as_dict(), indent=2) + "\n"


def _importance_rows(result: ExperimentImportance) -> list[list[Any]]:
    rows = []
    for s in result.searches:
        counts = [result.evaluator, s.select, s.n_trials, s.n_completed, s.n_diverged, s.n_failed,
                  "; ".join(s.notes)]
        coordinates: list[tuple[Any, ...]] = [(c.name, c.scaling, c.importance, r + 1) for r, c in enumerate(s.coordinates)]
        for cells in coordinates or [("", "", "", "")]:
            rows.append([s.workload, s.protocol, s.optimizer, *cells, *counts])
    return rows


def importance_csv(result: ExperimentImportance) -> str:
    """:data:`IMPORTANCE_COLUMNS`, then one row per (search, coordinate)."""
    return _csv([IMPORTANCE_COLUMNS, *_importance_rows(result)])


def importance_tables(result: ExperimentImportance) -> list[Table]:
    """One table per search: each coordinate's share of the importance, most important first;
    the caption gives the trial counts and the notes (why a search was skipped)."""
    from rich.table import Table

    tables = []
    for s in result.searches:
        notes = "; ".join(s.notes)
        counts = (f"{s.n_completed} completed, {s.n_diverged} diverged, {s.n_failed} failed "
                  f"of {s.n_trials}")
        table = Table(
            title=(f"{s.workload} / {s.protocol} / {s.optimizer}: importance for {s.select} "
                   f"({result.evaluator})"),
            caption=f"{counts}" + (f"; {notes}" if notes else ""),
        )
        for header in ("coordinate", "scaling", "importance"):
            table.add_column(header, justify="right" if header == "importance" else "left")
        for c in s.coordinates:
            table.add_row(c.name, c.scaling, f"{c.importance:.3f}")
        tables.append(table)
    return tables
