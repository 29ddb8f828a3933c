"""``optcompare report``: every statistic of an experiment, its figures and one HTML page.

:func:`analyse` computes (frozen dataclasses, no plotting); :func:`write_report` renders the
figures (PNG and PDF) and ``index.html``, a self-contained page: tables inline, figures embedded
as base64 PNG, no server or network needed to open it.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from optcompare.errors import InputError

from .bootstrap import BudgetCurve
from .curves import BestTrialCurve, align_curves, best_trial_curve
from .diagnostics import HyperparameterDiagnostic, search_space_diagnostics
from .inclusion import HierarchySummary, inclusion_pairs, summarize_hierarchy
from .load import Experiment, load_results
from .ranking import (
    METRICS,
    Ranking,
    bootstrap_searches,
    budget_warnings,
    default_budget,
    rankings_at,
    select_for,
)
from .reruns import RerunSummary, rerun_summaries
from .speed import Robustness, SpeedRanking, ordering_robustness, speed_rankings
from .trials import SearchKey, group_searches

__all__ = ["ReportData", "ReportFiles", "analyse", "default_budgets", "write_report"]


@dataclass(frozen=True, eq=False)
class ReportData:
    """Everything the report shows, computed from one experiment."""

    experiment: str
    path: str
    budget: int
    budgets: tuple[int, ...]
    select: str | Mapping[str, str]
    report: str
    n_resamples: int
    seed: int
    rankings: tuple[Ranking, ...]
    budget_curves: Mapping[SearchKey, BudgetCurve]
    hierarchy: HierarchySummary
    speed: tuple[SpeedRanking, ...]
    robustness: tuple[Robustness, ...]
    diagnostics: tuple[HyperparameterDiagnostic, ...]
    best_curves: tuple[BestTrialCurve, ...]
    reruns: tuple[RerunSummary, ...]
    targets: Mapping[str, float]
    skipped: tuple[str, ...]
    warnings: tuple[str, ...] = ()
    """Warnings about the arguments (e.g. a budget above the largest search)."""


@dataclass(frozen=True)
class ReportFiles:
    """The HTML page and the figure files written."""

    html: Path
    figures: tuple[Path, ...]


def default_budgets(max_trials: int, budget: int) -> tuple[int, ...]:
    """Powers of two up to ``max_trials`` (at least 1), plus ``budget``."""
    top = max(1, max_trials)
    powers = [2**i for i in range(int(math.log2(top)) + 1)]
    return tuple(sorted(set(powers) | {budget}))


def analyse(
    experiment: Experiment | str,
    *,
    budget: int | None = None,
    budgets: Sequence[int] | None = None,
    select: str | None = None,
    report: str = "test_error",
    n_resamples: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> ReportData:
    """Rankings, budget curves, inclusion verdicts, speed, robustness and diagnostics.

    ``budget`` (default: smallest search) is where rankings, verdicts and speed are taken;
    ``budgets`` (default: powers of two up to the largest search) are the budget curves'.
    ``select`` None uses each protocol's ``select`` from experiment.json (else val_error).
    """
    exp = load_results(experiment) if isinstance(experiment, str) else experiment
    for name in (report, *([select] if select else [])):
        if name not in METRICS:
            raise InputError(f"unknown metric {name!r}; valid choices: {', '.join(METRICS)}")
    if n_resamples < 1:
        raise InputError(f"--resamples must be >= 1, got {n_resamples}")
    if budget is not None and budget < 1:
        raise InputError(f"--budget must be >= 1, got {budget}")
    searches = group_searches(exp.trials)
    if not searches:
        if exp.trials.num_rows:
            raise InputError(f"{exp.path} has no search trials (only reruns); nothing to report")
        raise InputError(f"{exp.path} has no finished trials yet; run or resume it first")
    if budget is None:
        budget = default_budget(searches)
    chosen: str | dict[str, str]
    if select is not None:
        chosen = select
    else:
        recorded = exp.meta.get("select") if isinstance(exp.meta.get("select"), Mapping) else {}
        chosen = {p: (m if m in METRICS else "val_error") for p, m in recorded.items()}
    all_budgets = tuple(sorted(set(budgets or default_budgets(max(s.n_trials for s in searches.values()), budget)) | {budget}))
    if all_budgets[0] < 1:
        raise InputError(f"budgets must be >= 1, got {list(all_budgets)}")
    warnings = budget_warnings(searches, all_budgets)
    curves = bootstrap_searches(searches, all_budgets, select=chosen, report=report, n_resamples=n_resamples, seed=seed)
    rankings = rankings_at(curves, searches, budget)
    hierarchy = summarize_hierarchy(curves, rankings, budget, inclusion_pairs(exp.meta), alpha=alpha)
    aligned = align_curves(exp.curves, searches)
    best = []
    for key, search in searches.items():
        metric = METRICS[select_for(chosen, search.protocol)][0]
        c = best_trial_curve(search, aligned[key], metric)
        if c is not None:
            best.append(c)
    targets = {
        w["name"]: float(w["target_value"])
        for w in exp.meta.get("workloads", []) or []
        if isinstance(w, Mapping) and isinstance(w.get("target_value"), (int, float)) and "name" in w
    }
    return ReportData(
        experiment=exp.name,
        path=exp.path,
        budget=budget,
        budgets=all_budgets,
        select=chosen,
        report=report,
        n_resamples=n_resamples,
        seed=seed,
        rankings=tuple(rankings),
        budget_curves=curves,
        hierarchy=hierarchy,
        speed=tuple(speed_rankings(searches, budget, meta=exp.meta, n_resamples=n_resamples, seed=seed)),
        robustness=tuple(
            ordering_robustness(searches, aligned, budget, meta=exp.meta, select=chosen, report=report,
                                n_resamples=n_resamples, seed=seed)
        ),
        diagnostics=tuple(search_space_diagnostics(searches, exp.meta, select=select)),
        best_curves=tuple(best),
        reruns=tuple(rerun_summaries(exp.trials, report)),
        targets=targets,
        skipped=exp.skipped,
        warnings=tuple(warnings),
    )


# ----------------------------------------------------------------------------------- rendering


def _slug(*parts: str) -> str:
    return "_".join("".join(ch if ch.isalnum() or ch in "-." else "-" for ch in p) for p in parts)


def _render_figures(data: ReportData, out: Path) -> list[tuple[str, Path, list[Path]]]:
    """(caption, png, files) of every figure."""
    from . import figures

    fig_dir = out / "figures"
    made: list[tuple[str, Path, list[Path]]] = []

    def add(caption: str, files: list[Path]) -> None:
        made.append((caption, next(f for f in files if f.suffix == ".png"), files))

    workloads = sorted({r.workload for r in data.rankings})
    for w in workloads:
        rk = [r for r in data.rankings if r.workload == w]
        add(f"{w}: best-trial {data.report} per optimizer and protocol at K={data.budget} (mean, 5-95%)",
            figures.plot_final_error(rk, fig_dir / _slug("final", w), metric=data.report, budget=data.budget))
        sp = [s for s in data.speed if s.workload == w]
        add(f"{w}: steps to target per optimizer and protocol at K={data.budget} (median, 5-95%)",
            figures.plot_steps_to_target(sp, fig_dir / _slug("speed", w)))
        for r in rk:
            p = r.protocol
            by_opt = {k[2]: c for k, c in data.budget_curves.items() if k[:2] == (w, p)}
            add(f"{w} / {p}: best-trial {data.report} against the number of trials (mean, 5-95%)",
                figures.plot_budget_curves(by_opt, fig_dir / _slug("budget", w, p), title=f"{w} / {p}", metric=data.report))
            best = [c for c in data.best_curves if (c.workload, c.protocol) == (w, p)]
            add(f"{w} / {p}: validation error of each optimizer's best trial",
                figures.plot_training_curves(best, fig_dir / _slug("curves", w, p), title=f"{w} / {p}: best trials",
                                             target=data.targets.get(w)))
            diags = [d for d in data.diagnostics if (d.workload, d.protocol) == (w, p)]
            if diags:
                add(f"{w} / {p}: final selection metric over each tuned hyperparameter (star: best trial; dashed: range)",
                    figures.plot_hyperparameters(diags, fig_dir / _slug("hparams", w, p), title=f"{w} / {p}"))
    return made


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        if math.isinf(v):
            return "never" if v > 0 else "-inf"
        if math.isnan(v):
            return "-"
        return f"{v:.4g}"
    return str(v)


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]], cls: str = "") -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_fmt(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:0.5em 0 1.5em}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:right;font-size:13px}
th{background:#f3f3f3} td:first-child,th:first-child{text-align:left}
.violated{color:#b00;font-weight:bold} .warn{color:#b00}
figure{margin:1em 0} figcaption{font-size:13px;color:#555} img{max-width:100%}
"""


def _html(data: ReportData, made: list[tuple[str, Path, list[Path]]]) -> str:
    h = html.escape
    select = data.select if isinstance(data.select, str) else ", ".join(f"{p}: {m}" for p, m in sorted(data.select.items())) or "val_error"
    parts = [
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>optcompare report: {h(data.experiment)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>optcompare report: {h(data.experiment)}</h1>",
        f"<p>Experiment <code>{h(data.path)}</code>; generated {h(dt.datetime.now(dt.UTC).isoformat(timespec='seconds'))}. "
        f"Reported metric <b>{h(data.report)}</b> of the best trial by <b>{h(select)}</b>; budget K = {data.budget} trials, "
        f"B = {data.n_resamples} bootstrap resamples (seed {data.seed}). Lower is better.</p>",
    ]
    if data.warnings:
        parts.append("<h2>Warnings</h2><ul>" + "".join(f"<li class='warn'>{h(w)}</li>" for w in data.warnings) + "</ul>")
    if data.skipped:
        parts.append("<h2>Skipped files</h2><ul>" + "".join(f"<li class='warn'>{h(s)}</li>" for s in data.skipped) + "</ul>")
    parts.append("<h2>Rankings</h2><p>P(rank r): fraction of resamples in which the optimizer had rank r (ties split evenly).</p>")
    for r in data.rankings:
        n = len(r.optimizers)
        parts.append(f"<h3>{h(r.workload)} / {h(r.protocol)}</h3>")
        parts.append(_table(
            ["rank", "optimizer", "trials", "mean", "p05", "p95", *[f"P(rank {i + 1})" for i in range(n)]],
            [[o.rank, o.optimizer, o.n_trials, o.mean, o.p05, o.p95, *o.rank_probabilities] for o in r.optimizers],
            "ranking",
        ))
    hs = data.hierarchy
    parts.append(
        "<h2>Inclusion hierarchy</h2><p>For each pair narrow &le; wide, P(wide worse) is the fraction of paired "
        f"bootstrap resamples in which the wide optimizer's best-of-{hs.budget} {h(data.report)} is strictly worse than "
        "the narrow one's. Pairs implied by a chain of recorded pairs are checked too (column via). "
        f"Verdict: <b>violated</b> if P &ge; {1 - hs.alpha:.2f}, <b>inconclusive</b> if 0.5 &lt; P &lt; "
        f"{1 - hs.alpha:.2f}, <b>holds</b> otherwise.</p>"
    )
    if hs.verdicts:
        parts.append(_table(
            ["workload", "protocol", "narrow", "wide", "via", "narrow mean", "narrow p05-p95", "wide mean",
             "wide p05-p95", "P(wide worse)", "verdict"],
            [[v.workload, v.protocol, v.narrow, v.wide, " <= ".join(v.via) or "recorded", v.narrow_mean,
              f"{_fmt(v.narrow_p05)}-{_fmt(v.narrow_p95)}", v.wide_mean, f"{_fmt(v.wide_p05)}-{_fmt(v.wide_p95)}",
              v.p_wide_worse, v.verdict] for v in hs.verdicts],
            "inclusions",
        ))
        breaking = ", ".join(hs.breaking_protocols) or "none"
        consistent = ", ".join(hs.consistent_protocols) or "none"
        parts.append(f"<p>Protocols that break the hierarchy: <b class='{'violated' if hs.breaking_protocols else ''}'>"
                     f"{h(breaking)}</b>. Protocols consistent with it: <b>{h(consistent)}</b>.</p>")
    else:
        parts.append("<p>No pair of the inclusion hierarchy ran under a common protocol: nothing to check.</p>")
    if hs.flips:
        parts.append("<h3>Rank flips between protocols</h3>")
        parts.append(_table(["workload", "a", "b", "a ranked above b in", "b ranked above a in"],
                            [[f.workload, f.a, f.b, ", ".join(f.a_first), ", ".join(f.b_first)] for f in hs.flips], "flips"))
    else:
        parts.append("<p>No rank flips between protocols.</p>")
    if data.reruns:
        parts.append(f"<h3>Reruns of the best trial</h3><p>{h(data.report)} of the best search point trained "
                     "again with new seeds (phase 'rerun'; not part of the bootstrap).</p>")
        parts.append(_table(["workload", "protocol", "optimizer", "reruns", "completed", "mean", "std", "min", "max"],
                            [[r.workload, r.protocol, r.optimizer, r.n_reruns, r.n_completed, r.mean, r.std, r.min, r.max]
                             for r in data.reruns], "reruns"))
    parts.append(f"<h2>Training speed</h2><p>Steps to first reach the workload's target validation error, best of K = {data.budget} "
                 "trials by that same quantity; never reached = infinite. Ordered by the bootstrapped median.</p>")
    for s in data.speed:
        parts.append(f"<h3>{h(s.workload)} / {h(s.protocol)} (target {h(_fmt(s.target))})</h3>")
        parts.append(_table(["rank", "optimizer", "trials", "reached", "P(best reached)", "median", "p05", "p95"],
                            [[o.rank, o.optimizer, o.n_trials, o.n_reached, o.p_reached, o.median, o.p05, o.p95] for o in s.optimizers], "speed"))
    parts.append("<h2>Robustness of the ordering</h2><p>Orderings recomputed from the curves at shorter step budgets "
                 "(each trial scored by its last evaluation at or before S) and at other targets (steps to target). "
                 "agreement: Goodman-Kruskal gamma against the full budget / nominal target (1 = no pair reversed; ties ignored).</p>")
    rows = []
    for rb in data.robustness:
        for c in (*rb.by_step_budget, *rb.by_target):
            rows.append([rb.workload, rb.protocol, c.kind, c.setting, " < ".join(c.ordering), c.agreement])
    parts.append(_table(["workload", "protocol", "varied", "setting", "ordering (best first)", "agreement"], rows, "robustness"))
    warnings = [d for d in data.diagnostics if d.warning]
    parts.append("<h2>Search-space diagnostics</h2><p>Position of the best trial in each tuned range, 0 = lower and 1 = upper "
                 "end of its (log) width; a warning when it lies in the outer 5%.</p>")
    parts.append(_table(["workload", "protocol", "optimizer", "hyperparameter", "range", "scaling", "best value", "position", "top positions", "warning"],
                        [[d.workload, d.protocol, d.optimizer, d.name, f"{_fmt(d.range.low)}..{_fmt(d.range.high)}",
                          d.range.scaling if d.range.source == "experiment" else f"{d.range.scaling} (observed)",
                          d.best_value, d.best_position, " ".join(f"{p:.2f}" for p in d.top_positions),
                          "near " + (d.near_boundary or "") + " bound" if d.warning else ""] for d in data.diagnostics], "diagnostics"))
    if warnings:
        parts.append("<ul>" + "".join(f"<li class='warn'>{h(d.warning or '')}</li>" for d in warnings) + "</ul>")
    parts.append("<h2>Figures</h2>")
    for caption, png, files in made:
        encoded = base64.b64encode(png.read_bytes()).decode()
        links = " ".join(f"<a href='{h(f.relative_to(png.parent.parent).as_posix())}'>{f.suffix[1:]}</a>" for f in files)
        parts.append(f"<figure><img src=\"data:image/png;base64,{encoded}\" alt='{h(caption)}'>"
                     f"<figcaption>{h(caption)} ({links})</figcaption></figure>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(data: ReportData, out_dir: str | Path) -> ReportFiles:
    """Render every figure (PNG and PDF under ``out_dir/figures``) and ``out_dir/index.html``."""
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputError(f"cannot create --out {out_dir}: {err}; choose a writable directory") from err
    if not out.is_dir():
        raise InputError(f"--out {out_dir} is not a directory; choose a directory")
    made = _render_figures(data, out)
    page = out / "index.html"
    page.write_text(_html(data, made), encoding="utf-8")
    return ReportFiles(page, tuple(f for _, _, files in made for f in files))
