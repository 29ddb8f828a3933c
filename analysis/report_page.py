"""The report's render step: figures and ``index.html`` from a computed :class:`ReportData`.

:func:`write_report` draws every planned figure (:func:`analysis.figures.draw`, PNG and PDF
under ``OUT/figures``) and renders ``OUT/index.html`` from the Jinja2 template
``analysis/templates/report.html`` (package data; autoescaped). The page is self-contained:
tables inline, figures embedded as base64 PNG, no server or network needed to open it.

:func:`page_of` turns the data into what the template shows (:class:`Page`: tables of raw
values, one column table per section); the template formats each cell with :func:`format_cell`.
Nothing here computes a statistic.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from operator import attrgetter, itemgetter
from pathlib import Path
from typing import Any

import jinja2

from optcompare.errors import ParameterError

from .across_workloads import ProtocolSummary, Standing
from .ask_order import AskOrderCurve, SamplerComparison
from .causes import CAUSES
from .figures import draw
from .ranking import OptimizerScore, Ranking
from .report_data import ReportData
from .rulesets import RulesetResult
from .speed import SpeedRanking
from .studies import StudiesAtBudget

__all__ = [
    "DrawnFigure",
    "Page",
    "PageFigure",
    "ReportFiles",
    "StudiesPage",
    "Table",
    "format_cell",
    "page_of",
    "render_page",
    "write_report",
]

TEMPLATE = "report.html"
"""The page's template, in ``analysis/templates``."""


@dataclass(frozen=True)
class ReportFiles:
    """The HTML page and the figure files written."""

    html: Path
    figures: tuple[Path, ...]


@dataclass(frozen=True)
class DrawnFigure:
    """A figure as written: its caption and files (PNG first), and its plot's name
    (:data:`analysis.figures.PLOTS`)."""

    caption: str
    files: tuple[Path, ...]
    plot: str = ""


@dataclass(frozen=True)
class PageFigure:
    """A figure as the page shows it: the PNG as base64 and links (href, label) to its files;
    ``plot`` places it (the performance profiles go to the section across workloads)."""

    caption: str
    png_base64: str
    links: tuple[tuple[str, str], ...]
    plot: str = ""


@dataclass(frozen=True)
class Table:
    """One HTML table: its CSS class, header cells and rows of raw values."""

    css: str
    headers: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]


@dataclass(frozen=True, eq=False)
class Page:
    """What the template shows: the data, and each section's tables."""

    data: ReportData
    generated: str
    selection: str
    rankings: tuple[tuple[Ranking, Table], ...]
    inclusions: Table
    flips: Table
    reruns: Table
    probes: Table
    speed: tuple[tuple[SpeedRanking, Table], ...]
    robustness: Table
    diagnostics: Table
    figures: tuple[PageFigure, ...]
    rulesets: tuple[tuple[RulesetResult, Table], ...] = ()
    """Per ruleset protocol: its scores, one row per optimizer (:mod:`analysis.rulesets`)."""
    across: tuple[tuple[ProtocolSummary, Table], ...] = ()
    """Per protocol, the standings and profile scores over workloads (empty with one workload)."""
    across_verdicts: Table | None = None
    """The inclusion verdicts of every workload, one column per protocol."""
    headline: Table | None = None
    """The opening table: does the inclusion hierarchy hold, per protocol and workload."""
    refined: Table | None = None
    """The refined search spaces, one row per (search, study, stage, coordinate); None when
    experiment.json records none."""
    studies: StudiesPage | None = None
    """The repeated-studies section; None with one study."""
    importance: Table | None = None
    """Each search's coordinates by importance; None when no search was measured."""
    importance_notes: tuple[str, ...] = ()
    """``W/P/O: note`` for each search's notes (skipped searches, diverged trials)."""
    samplers: tuple[tuple[SamplerComparison, Table], ...] = ()
    """Per (workload, optimizer), the protocols' best-so-far at equal budgets."""
    causes: Table | None = None
    """The cause of each violated verdict."""
    space_inclusion: Table | None = None
    """What each protocol's wide spaces express of the narrow ones."""
    lost_ground: Table | None = None
    """Searches whose later stage's best is worse than the earlier stage's."""


@dataclass(frozen=True)
class StudiesPage:
    """The repeated-studies section: each study's rankings, the spread, the agreement, and the
    protocols whose pooled trials mix differently refined spaces."""

    rankings: tuple[tuple[int, Ranking, Table], ...]
    spread: Table
    agreement: Table
    mixtures: tuple[str, ...]


def format_cell(value: Any) -> str:
    """A table cell: floats to 4 significant digits, +inf as ``never`` (a target never
    reached), NaN as ``-``; anything else as ``str``."""
    if isinstance(value, float):
        if math.isinf(value):
            return "never" if value > 0 else "-inf"
        if math.isnan(value):
            return "-"
        return f"{value:.4g}"
    return str(value)


Column = tuple[str, Callable[[Any], Any]]
"""(header, value of a row's item)."""


def _attr(header: str, attribute: str | None = None) -> Column:
    """A column showing an attribute (default: the header) of each item."""
    return header, attrgetter(attribute or header)


def _band(low: float, high: float, separator: str = "-") -> str:
    return f"{format_cell(low)}{separator}{format_cell(high)}"


RANKING_COLUMNS: tuple[Column, ...] = (
    _attr("rank"), _attr("optimizer"), _attr("trials", "n_trials"),
    _attr("mean"), _attr("p05"), _attr("p95"),
)  # fmt: skip
"""Columns of a ranking (items: OptimizerScore), before one P(rank r) column per rank."""

INCLUSION_COLUMNS: tuple[Column, ...] = (
    _attr("workload"), _attr("protocol"), _attr("narrow"), _attr("wide"),
    ("via", lambda v: " <= ".join(v.via) or "recorded"),
    _attr("narrow mean", "narrow_mean"),
    ("narrow p05-p95", lambda v: _band(v.narrow_p05, v.narrow_p95)),
    _attr("wide mean", "wide_mean"),
    ("wide p05-p95", lambda v: _band(v.wide_p05, v.wide_p95)),
    _attr("P(wide worse)", "p_wide_worse"), _attr("verdict"),
)  # fmt: skip
"""Columns of the inclusion verdicts (items: InclusionVerdict)."""

FLIP_COLUMNS: tuple[Column, ...] = (
    _attr("workload"), _attr("a"), _attr("b"),
    ("a ranked above b in", lambda f: ", ".join(f.a_first)),
    ("b ranked above a in", lambda f: ", ".join(f.b_first)),
)  # fmt: skip
"""Columns of the rank flips between protocols (items: RankFlip)."""

RERUN_COLUMNS: tuple[Column, ...] = (
    _attr("workload"), _attr("protocol"), _attr("optimizer"), _attr("reruns", "n_reruns"),
    _attr("completed", "n_completed"), _attr("mean"), _attr("std"), _attr("min"), _attr("max"),
)  # fmt: skip
"""Columns of the reruns of the best trials (items: RerunSummary)."""

PROBE_COLUMNS: tuple[Column, ...] = (
    _attr("workload"), _attr("protocol"), _attr("narrow"), _attr("wide"),
    _attr("narrow best", "narrow_best"), ("wide imitating it", attrgetter("probe")),
    _attr("wide best", "wide_best"), _attr("tolerance"), _attr("verdict"),
    ("why", attrgetter("sentence")),
)  # fmt: skip
"""Columns of the inclusion probes (items: ProbeResult)."""

CAUSE_COLUMNS: tuple[Column, ...] = (
    _attr("workload"), _attr("protocol"), _attr("narrow"), _attr("wide"),
    ("cause", lambda c: f"({c.code}) {CAUSES[c.code]}"), _attr("detail"),
)  # fmt: skip
"""Columns of the causes of violated verdicts (items: BreakCause)."""

SPACE_INCLUSION_COLUMNS: tuple[Column, ...] = (
    ("protocol", itemgetter("protocol")), ("narrow", itemgetter("narrow")), ("wide", itemgetter("wide")),
    ("status", lambda r: r["status"] + (" (narrow by design)" if r.get("narrow_by_design") else "")),
    ("coverage", lambda r: "-" if r.get("coverage") is None else f"{r['coverage']:.0%}"),
    ("what the wide space expresses", itemgetter("message")),
)  # fmt: skip
"""Columns of the space-inclusion check (items: experiment.json ``space_inclusion`` records)."""

LOST_GROUND_COLUMNS: tuple[Column, ...] = (
    _attr("workload"), _attr("protocol"), _attr("optimizer"), _attr("study"), _attr("select"),
    _attr("earlier stage", "earlier"), _attr("earlier best", "earlier_best"),
    _attr("later stage", "later"), _attr("later best", "later_best"),
    _attr("later median", "later_median"),
)  # fmt: skip
"""Columns of the searches whose refinement lost ground (items: LostGround)."""

SPEED_COLUMNS: tuple[Column, ...] = (
    _attr("rank"), _attr("optimizer"), _attr("trials", "n_trials"), _attr("reached", "n_reached"),
    _attr("P(best reached)", "p_reached"), _attr("median"), _attr("p05"), _attr("p95"),
)  # fmt: skip
"""Columns of a steps-to-target ranking (items: SpeedScore)."""

ROBUSTNESS_COLUMNS: tuple[Column, ...] = (
    ("workload", lambda rc: rc[0].workload), ("protocol", lambda rc: rc[0].protocol),
    ("varied", lambda rc: rc[1].kind), ("setting", lambda rc: rc[1].setting),
    ("ordering (best first)", lambda rc: " < ".join(rc[1].ordering)),
    ("agreement", lambda rc: rc[1].agreement),
)  # fmt: skip
"""Columns of the ordering checks (items: (Robustness, OrderingCheck))."""

DIAGNOSTIC_COLUMNS: tuple[Column, ...] = (
    _attr("workload"), _attr("protocol"), _attr("optimizer"), _attr("hyperparameter", "name"),
    ("range", lambda d: _band(d.range.low, d.range.high, "..")),
    ("scaling", lambda d: d.range.scaling if d.range.source == "experiment"
     else f"{d.range.scaling} (observed)"),
    _attr("best value", "best_value"), _attr("position", "best_position"),
    ("top positions", lambda d: " ".join(f"{p:.2f}" for p in d.top_positions)),
    ("warning", lambda d: f"near {d.near_boundary} bound" if d.warning else ""),
)  # fmt: skip
"""Columns of the search-space diagnostics (items: HyperparameterDiagnostic)."""


STANDING_COLUMNS: tuple[Column, ...] = (
    _attr("optimizer"), _attr("workloads", "n_workloads"), _attr("mean rank", "mean_rank"),
    _attr("wins"),
)  # fmt: skip
"""Columns of a protocol's standings over workloads (items: Standing), before one score column
per performance profile."""


HEADLINE_COLUMNS: tuple[Column, ...] = (
    _attr("protocol"), _attr("workload"), _attr("inclusion hierarchy", "status"),
    _attr("pairs checked", "n_checked"), _attr("inconclusive", "n_inconclusive"),
    ("broken pairs", lambda h: "; ".join(h.broken_pairs) or "-"),
    _attr("probes", "probe_summary"),
)  # fmt: skip
"""Columns of the opening table (items: HierarchyRow)."""

REFINED_COLUMNS: tuple[Column, ...] = (
    ("workload", lambda rc: rc[0].workload), ("protocol", lambda rc: rc[0].protocol),
    ("optimizer", lambda rc: rc[0].optimizer), ("study", lambda rc: rc[0].study),
    ("stage", lambda rc: f"{rc[0].from_stage} -> {rc[0].stage}"),
    ("coordinate", lambda rc: rc[1].name), ("initial", lambda rc: rc[1].old),
    ("refined", lambda rc: rc[1].new), ("notes", lambda rc: rc[1].notes),
    ("rule", lambda rc: rc[0].rule),
)  # fmt: skip
"""Columns of the refined search spaces (items: (RefinedSpace, RefinedCoordinateView))."""

AGREEMENT_COLUMNS: tuple[Column, ...] = (
    _attr("workload"), _attr("protocol"),
    ("rank 1 per study", lambda a: ", ".join(a.winners)),
    ("same rank 1", lambda a: "yes" if a.same_winner else "no"),
    ("same verdicts", lambda a: "yes" if a.same_verdicts else "no"),
    ("studies agree", lambda a: "yes" if a.agree else "no"),
    ("differences", lambda a: "; ".join(a.differences) or "-"),
)  # fmt: skip
"""Columns of the studies' agreement (items: StudyAgreement)."""


IMPORTANCE_COLUMNS: tuple[Column, ...] = (
    ("workload", lambda sc: sc[0].workload), ("protocol", lambda sc: sc[0].protocol),
    ("optimizer", lambda sc: sc[0].optimizer), ("coordinate", lambda sc: sc[1].name),
    ("scaling", lambda sc: sc[1].scaling), ("importance", lambda sc: sc[1].importance),
    ("trials (completed / diverged / failed)",
     lambda sc: f"{sc[0].n_completed} / {sc[0].n_diverged} / {sc[0].n_failed}"),
)  # fmt: skip
"""Columns of the importance table (items: (SearchImportance, CoordinateImportance))."""


def table(css: str, columns: Sequence[Column], items: Iterable[Any]) -> Table:
    """The table of ``items``, one row each, one cell per column."""
    return Table(
        css,
        tuple(header for header, _ in columns),
        tuple(tuple(value(item) for _, value in columns) for item in items),
    )


def _rank_probability(score: OptimizerScore, rank_index: int) -> float:
    """P(rank = rank_index + 1); NaN (shown ``-``) where the score has no probabilities."""
    probabilities = score.rank_probabilities
    return probabilities[rank_index] if rank_index < len(probabilities) else math.nan


def _ranking_table(ranking: Ranking) -> Table:
    probabilities = tuple(
        (f"P(rank {r + 1})", functools.partial(_rank_probability, rank_index=r))
        for r in range(len(ranking.optimizers))
    )
    return table("ranking", (*RANKING_COLUMNS, *probabilities), ranking.optimizers)


def _profile_score(standing: Standing, scores: dict[str, float]) -> float:
    return scores.get(standing.optimizer, math.nan)


def _standings_table(protocol: ProtocolSummary) -> Table:
    scores = tuple(
        (f"score {p.quantity}",
         functools.partial(_profile_score, scores={o.optimizer: o.score for o in p.optimizers}))
        for p in protocol.profiles
    )
    return table("standings", (*STANDING_COLUMNS, *scores), protocol.standings)


def _ruleset_table(result: RulesetResult) -> Table:
    """Optimizers by profile score; per workload the score and, in brackets, each study's value."""
    columns: tuple[Column, ...] = (
        ("optimizer", itemgetter(0)),
        *((w, lambda row, i=i: row[1][i]) for i, w in enumerate(result.workloads)),
        ("profile score", itemgetter(2)),
    )
    return table("ruleset", columns, result.rows())


def _across(data: ReportData) -> tuple[tuple[tuple[ProtocolSummary, Table], ...], Table | None]:
    """The section across workloads: standings per protocol and the verdicts of every workload
    (nothing with one workload)."""
    summary = data.across_workloads
    if summary is None:
        return (), None
    protocols = summary.verdicts.protocols
    verdict_columns: tuple[Column, ...] = (
        _attr("workload"),
        ("narrow <= wide", lambda r: " <= ".join((r.narrow, *r.via, r.wide))),
        *((p, lambda r, i=i: r.verdicts[i] or "-") for i, p in enumerate(protocols)),
    )
    return (
        tuple((p, _standings_table(p)) for p in summary.protocols),
        table("across-verdicts", verdict_columns, summary.verdicts.rows),
    )


def _spread_table(at: StudiesAtBudget) -> Table:
    per_study = tuple((f"study {s}", lambda x, i=i: x.means[i]) for i, s in enumerate(at.studies))
    columns = (_attr("workload"), _attr("protocol"), _attr("optimizer"), *per_study, _attr("mean"),
               _attr("sd"))
    return table("study-spread", columns, at.spread)


def _studies(data: ReportData) -> StudiesPage | None:
    """The repeated-studies section at K (None with one study)."""
    if data.studies is None or not data.studies.by_budget:
        return None
    (at,) = data.studies.by_budget
    return StudiesPage(
        tuple((s, r, _ranking_table(r)) for s, rankings in at.rankings for r in rankings),
        _spread_table(at),
        table("study-agreement", AGREEMENT_COLUMNS, at.agreement),
        data.studies.mixtures,
    )


def _importance(data: ReportData) -> tuple[Table | None, tuple[str, ...]]:
    """The importance table (None when no search was measured) and every search's notes."""
    rows = [(s, c) for s in data.importance for c in s.coordinates]
    notes = tuple(f"{s.workload}/{s.protocol}/{s.optimizer}: {n}" for s in data.importance
                  for n in s.notes)
    return (table("importance", IMPORTANCE_COLUMNS, rows) if rows else None), notes


def _at_budget(curve: AskOrderCurve, budget: int) -> str:
    median, low, high = curve.at(budget)
    return f"{format_cell(median)} ({_band(low, high)})"


def _sampler_table(comparison: SamplerComparison) -> Table:
    """One row per protocol: its search, studies, then median (min-max) at each budget."""
    at: tuple[Column, ...] = tuple((f"K={k}", functools.partial(_at_budget, budget=k)) for k in comparison.budgets)
    columns = (_attr("protocol"), _attr("search"), ("studies", lambda c: len(c.studies)), *at)
    return table("samplers", columns, comparison.curves)


def _refined(data: ReportData) -> Table | None:
    if not data.refined:
        return None
    return table("refined", REFINED_COLUMNS, ((r, c) for r in data.refined for c in r.coordinates))


def _selection(data: ReportData) -> str:
    """The selection metric in words: one name, or ``protocol: metric`` pairs."""
    if isinstance(data.select, str):
        return data.select
    return ", ".join(f"{p}: {m}" for p, m in sorted(data.select.items())) or "val_error"


def _page_figure(figure: DrawnFigure) -> PageFigure:
    png = next(f for f in figure.files if f.suffix == ".png")
    links = tuple((f.relative_to(png.parent.parent).as_posix(), f.suffix[1:]) for f in figure.files)
    return PageFigure(figure.caption, base64.b64encode(png.read_bytes()).decode(), links, figure.plot)


def page_of(data: ReportData, figures: Sequence[DrawnFigure] = (), generated: str = "") -> Page:
    """The page's content: every section's table from ``data``, and the drawn ``figures``."""
    checks = ((rb, c) for rb in data.robustness for c in (*rb.by_step_budget, *rb.by_target))
    across, across_verdicts = _across(data)
    rulesets = tuple((r, _ruleset_table(r)) for r in data.rulesets)
    importance, importance_notes = _importance(data)
    return Page(
        data=data,
        generated=generated,
        selection=_selection(data),
        rankings=tuple((r, _ranking_table(r)) for r in data.rankings),
        inclusions=table("inclusions", INCLUSION_COLUMNS, data.hierarchy.verdicts),
        flips=table("flips", FLIP_COLUMNS, data.hierarchy.flips),
        reruns=table("reruns", RERUN_COLUMNS, data.reruns),
        probes=table("probes", PROBE_COLUMNS, data.probes),
        speed=tuple((s, table("speed", SPEED_COLUMNS, s.optimizers)) for s in data.speed),
        robustness=table("robustness", ROBUSTNESS_COLUMNS, checks),
        diagnostics=table("diagnostics", DIAGNOSTIC_COLUMNS, data.diagnostics),
        figures=tuple(_page_figure(f) for f in figures),
        across=across,
        across_verdicts=across_verdicts,
        rulesets=rulesets,
        headline=table("headline", HEADLINE_COLUMNS, data.hierarchy_rows),
        refined=_refined(data),
        studies=_studies(data),
        importance=importance,
        importance_notes=importance_notes,
        samplers=tuple((c, _sampler_table(c)) for c in data.samplers),
        causes=table("causes", CAUSE_COLUMNS, data.causes),
        space_inclusion=table("space-inclusion", SPACE_INCLUSION_COLUMNS, data.space_inclusion),
        lost_ground=table("lost-ground", LOST_GROUND_COLUMNS, data.lost_ground),
    )


@functools.cache
def _environment() -> jinja2.Environment:
    """The template environment: package templates, autoescape on, undefined names raise."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("analysis", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["cell"] = format_cell
    return env


def render_page(data: ReportData, figures: Sequence[DrawnFigure] = (), generated: str = "") -> str:
    """``index.html`` of ``data`` with the drawn ``figures`` embedded; ``generated`` (default:
    now, UTC) is the time the page states."""
    generated = generated or dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    return _environment().get_template(TEMPLATE).render(page=page_of(data, figures, generated))


def _report_directory(out_dir: str | Path) -> Path:
    """``out_dir``, created if missing; ParameterError (an InputError) when it cannot be one."""
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ParameterError(
            "out_dir", f"cannot create {{name}} {out_dir}: {err}; choose a writable directory"
        ) from err
    if not out.is_dir():
        raise ParameterError(
            "out_dir", f"{{name}} {out_dir} is not a directory; choose a directory"
        )
    return out


def write_report(data: ReportData, out_dir: str | Path) -> ReportFiles:
    """Draw every figure of ``data.figures`` (PNG and PDF under ``out_dir/figures``) and write
    ``out_dir/index.html``."""
    out = _report_directory(out_dir)
    drawn = [DrawnFigure(f.caption, tuple(draw(f, out / "figures")), f.plot) for f in data.figures]
    page = out / "index.html"
    page.write_text(render_page(data, drawn), encoding="utf-8")
    return ReportFiles(page, tuple(path for f in drawn for path in f.files))
