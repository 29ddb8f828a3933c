"""The report's figures, rendered from the analysis dataclasses (matplotlib, Agg).

Seven plots (docs/method.md describes the statistics they show): best-trial reported metric per
optimizer and protocol, steps to target, best-trial metric against the number of trials K,
the best trials' validation curves, the final selection metric over each tuned
hyperparameter, the performance profiles of a protocol over workloads, and samplers compared
at equal budgets (best-so-far in ask order). Every ``plot_*`` function takes computed statistics, writes ``STEM.png`` and
``STEM.pdf`` and returns the two paths; nothing here computes a statistic. A :class:`Figure`
is one such plot as data (what the report's compute step plans); :func:`draw` renders it
through the :data:`PLOTS` table. matplotlib is imported on first use, so ``import analysis``
stays light.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from optcompare.space_range import SpaceRange

from .ask_order import SamplerComparison
from .bootstrap import BudgetCurve
from .curves import BestTrialCurve
from .diagnostics import HyperparameterDiagnostic
from .profiles import PerformanceProfile
from .ranking import Ranking
from .speed import SpeedRanking

__all__ = [
    "FORMATS",
    "PLOTS",
    "Figure",
    "draw",
    "edge_bands",
    "plot_budget_curves",
    "plot_final_error",
    "plot_hyperparameters",
    "plot_performance_profiles",
    "plot_samplers",
    "plot_steps_to_target",
    "plot_training_curves",
]

FORMATS = ("png", "pdf")


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, stem: Path | str) -> list[Path]:
    plt = _pyplot()
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext in FORMATS:
        path = stem.with_name(f"{stem.name}.{ext}")
        fig.savefig(path, dpi=110, bbox_inches="tight")
        paths.append(path)
    plt.close(fig)
    return paths


def _colors(names: Sequence[str]) -> dict[str, Any]:
    plt = _pyplot()
    cmap = plt.get_cmap("tab10")
    return {n: cmap(i % 10) for i, n in enumerate(names)}


def plot_final_error(
    rankings: Sequence[Ranking],
    stem: Path | str,
    *,
    metric: str = "test_error",
    budget: int | None = None,
) -> list[Path]:
    """Bootstrapped best-trial ``metric`` per optimizer (x) and protocol (markers), mean with a
    5-95% band, for the rankings of one workload."""
    plt = _pyplot()
    optimizers = sorted({o.optimizer for r in rankings for o in r.optimizers})
    protocols = [r.protocol for r in rankings]
    fig, ax = plt.subplots(figsize=(1.2 * len(optimizers) + 2.5, 3.6))
    width = 0.7 / max(1, len(protocols))
    colors = _colors(protocols)
    for j, r in enumerate(rankings):
        by = {o.optimizer: o for o in r.optimizers}
        xs, ys, lo, hi = [], [], [], []
        for i, name in enumerate(optimizers):
            if name in by:
                o = by[name]
                xs.append(i - 0.35 + width * (j + 0.5))
                ys.append(o.mean)
                lo.append(max(0.0, o.mean - o.p05))  # the mean of equal samples can round
                hi.append(max(0.0, o.p95 - o.mean))  # past them
        ax.errorbar(
            xs, ys, yerr=[lo, hi], fmt="o", capsize=3, color=colors[r.protocol], label=r.protocol
        )
    ax.set_xticks(range(len(optimizers)), optimizers)
    ax.set_ylabel(f"best-trial {metric} (mean, 5-95%)")
    title = rankings[0].workload if rankings else ""
    ax.set_title(f"{title}: best trial at K={budget}" if budget else title)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, stem)


def plot_budget_curves(
    curves: Mapping[str, BudgetCurve],
    stem: Path | str,
    *,
    title: str = "",
    metric: str = "test_error",
) -> list[Path]:
    """Best-trial ``metric`` against the number of trials K (log2 axis), one line per
    optimizer with its 5-95% band."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    colors = _colors(sorted(curves))
    for name in sorted(curves):
        c = curves[name]
        ax.plot(c.budgets, c.mean, marker="o", ms=3, color=colors[name], label=name)
        ax.fill_between(c.budgets, c.p05, c.p95, color=colors[name], alpha=0.15)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("number of trials K")
    ax.set_ylabel(f"best-trial {metric}")
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, stem)


def plot_steps_to_target(speed: Sequence[SpeedRanking], stem: Path | str) -> list[Path]:
    """Bootstrapped steps to target (median, 5-95%) per optimizer and protocol of one
    workload; never reached is drawn as a cross at the top of the axis."""
    plt = _pyplot()
    optimizers = sorted({o.optimizer for r in speed for o in r.optimizers})
    fig, ax = plt.subplots(figsize=(1.2 * len(optimizers) + 2.5, 3.6))
    finite = [
        v for r in speed for o in r.optimizers for v in (o.p05, o.median, o.p95) if math.isfinite(v)
    ]
    ceiling = 1.1 * max(finite) if finite else 1.0
    width = 0.7 / max(1, len(speed))
    colors = _colors([r.protocol for r in speed])
    for j, r in enumerate(speed):
        by = {o.optimizer: o for o in r.optimizers}
        labelled = False
        for i, name in enumerate(optimizers):
            if name not in by:
                continue
            o = by[name]
            x = i - 0.35 + width * (j + 0.5)
            label = None if labelled else r.protocol
            labelled = True
            if math.isfinite(o.median):
                hi = min(o.p95, ceiling)
                ax.errorbar(
                    [x],
                    [o.median],
                    yerr=[[o.median - o.p05], [hi - o.median]],
                    fmt="o",
                    capsize=3,
                    color=colors[r.protocol],
                    label=label,
                )
            else:
                ax.plot([x], [ceiling], "x", color=colors[r.protocol], label=label)
    target = next((r.target for r in speed if r.target is not None), None)
    metric = speed[0].target_metric.replace("_", " ") if speed else "target metric"
    ax.axhline(ceiling, color="grey", lw=0.5, ls=":")
    ax.set_xticks(range(len(optimizers)), optimizers)
    ax.set_ylabel("steps to target (x: not reached)")
    ax.set_title(
        f"{speed[0].workload if speed else ''}: steps to {metric} <= {target}"
        if target is not None
        else "steps to target"
    )
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, stem)


def edge_bands(rng: SpaceRange, edge: float) -> list[tuple[float, float]]:
    """The outer ``edge`` of a range's width at each end, in the coordinate's own units, where a
    best trial raises a boundary warning (:mod:`analysis.diagnostics`):

        log:    [lo, lo * (hi / lo)^edge] and [hi * (lo / hi)^edge, hi]
        linear: [lo, lo + edge * (hi - lo)] and [hi - edge * (hi - lo), hi]

    Empty for feasible points (their positions are indices, not widths) and for a range that is
    observed rather than recorded (it never warns) or degenerate."""
    lo, hi = rng.low, rng.high
    if rng.source != "experiment" or not hi > lo:
        return []
    if rng.scaling == "log" and lo > 0:
        return [(lo, lo * (hi / lo) ** edge), (hi * (lo / hi) ** edge, hi)]
    if rng.scaling == "linear":
        return [(lo, lo + edge * (hi - lo)), (hi - edge * (hi - lo), hi)]
    return []


def plot_hyperparameters(
    diagnostics: Sequence[HyperparameterDiagnostic], stem: Path | str, *, title: str = ""
) -> list[Path]:
    """Final selection metric over each tuned coordinate: one row per optimizer, one column per
    coordinate; the best trial is starred, the range bounds dashed, and the outer ``edge`` (5%
    by default) of a recorded log or linear range shaded at each end (:func:`edge_bands`)."""
    plt = _pyplot()
    optimizers = sorted({d.optimizer for d in diagnostics})
    rows = {o: [d for d in diagnostics if d.optimizer == o] for o in optimizers}
    ncols = max((len(v) for v in rows.values()), default=1)
    fig, axes = plt.subplots(
        len(optimizers) or 1,
        ncols,
        figsize=(2.6 * ncols + 0.5, 2.2 * max(1, len(optimizers))),
        squeeze=False,
    )
    for ax in axes.flat:
        ax.set_visible(False)
    for r, o in enumerate(optimizers):
        for c, d in enumerate(rows[o]):
            ax = axes[r, c]
            ax.set_visible(True)
            ok = d.completed & np.isfinite(d.select_values) & np.isfinite(d.values)
            ax.scatter(d.values[ok], d.select_values[ok], s=8, alpha=0.6, color="tab:blue")
            if d.best_trial_id is not None:
                best = d.select_values[ok].min() if ok.any() else math.nan
                ax.scatter([d.best_value], [best], marker="*", s=80, color="tab:red", zorder=3)
            log = d.range.scaling == "log" or (
                d.range.scaling == "points"
                and d.range.low > 0
                and d.range.high / d.range.low >= 100
            )
            if log:
                ax.set_xscale("log")
            for bound in (d.range.low, d.range.high):
                ax.axvline(bound, color="grey", ls="--", lw=0.8)
            for start, stop in edge_bands(d.range, d.edge):
                ax.axvspan(start, stop, color="tab:orange", alpha=0.15, lw=0)
            if d.warning:
                ax.set_title(f"{o}: {d.name} (boundary!)", fontsize=8, color="tab:red")
            else:
                ax.set_title(f"{o}: {d.name}", fontsize=8)
            ax.tick_params(labelsize=7)
            if c == 0:
                ax.set_ylabel(f"final {d.select}", fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, stem)


def plot_training_curves(
    curves: Sequence[BestTrialCurve],
    stem: Path | str,
    *,
    title: str = "",
    target: float | None = None,
) -> list[Path]:
    """Validation error against step of each optimizer's best trial (one protocol)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    colors = _colors(sorted(c.optimizer for c in curves))
    for c in sorted(curves, key=lambda c: c.optimizer):
        ax.plot(c.step, c.val_error, marker=".", color=colors[c.optimizer], label=c.optimizer)
    if target is not None:
        ax.axhline(target, color="grey", ls=":", lw=1, label=f"target {target:g}")
    ax.set_xlabel("step")
    ax.set_ylabel("validation error")
    ax.set_title(title)
    if curves:
        ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, stem)


def plot_performance_profiles(
    profiles: Sequence[PerformanceProfile], stem: Path | str, *, title: str = ""
) -> list[Path]:
    """rho_s(tau) against tau in [1, tau_max] (:mod:`analysis.profiles`), one panel per profile
    (quantity), one step curve per optimizer with its score in the legend."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, max(1, len(profiles)), figsize=(5.0 * max(1, len(profiles)), 3.6),
                             squeeze=False)
    for ax, profile in zip(axes[0], profiles, strict=False):
        colors = _colors(sorted(o.optimizer for o in profile.optimizers))
        for o in profile.optimizers:
            taus, rhos = o.steps(profile.tau_max)
            ax.step(taus, rhos, where="post", color=colors[o.optimizer],
                    label=f"{o.optimizer} ({o.score:.3f})")
        ax.set_xlim(1.0, profile.tau_max)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("tau (ratio to the best optimizer of the workload)")
        ax.set_ylabel("fraction of workloads within tau")
        left_out = (f"; left out: {', '.join(profile.left_out)}" if profile.left_out
                    else f"; unsolved by all: {', '.join(profile.unsolved)}" if profile.unsolved else "")
        ax.set_title(f"{profile.quantity} ({len(profile.workloads)} workloads{left_out})", fontsize=9)
        if profile.optimizers:
            ax.legend(fontsize=8, loc="lower right")
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, stem)


def plot_samplers(comparison: SamplerComparison, stem: Path | str, *, title: str = "") -> list[Path]:
    """Best-so-far against the number of trials K in ask order (:mod:`analysis.ask_order`), one
    line per protocol (labelled with its ``search:``): the median over studies, with the min-max
    band over studies; log2 K axis."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    colors = _colors([c.protocol for c in comparison.curves])
    for c in comparison.curves:
        label = f"{c.protocol} ({c.search}, {len(c.studies)} studies)"
        ax.plot(c.budgets, c.median, color=colors[c.protocol], label=label)
        ax.fill_between(c.budgets, c.low, c.high, color=colors[c.protocol], alpha=0.15)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("number of trials K (first K in ask order)")
    ax.set_ylabel(f"best-so-far {comparison.report}")
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, stem)


PLOTS: dict[str, Callable[..., list[Path]]] = {
    "final_error": plot_final_error,
    "steps_to_target": plot_steps_to_target,
    "budget_curves": plot_budget_curves,
    "training_curves": plot_training_curves,
    "hyperparameters": plot_hyperparameters,
    "performance_profiles": plot_performance_profiles,
    "samplers": plot_samplers,
}
"""Plot name -> function ``f(statistics, stem, **options)`` that writes ``STEM.{png,pdf}``."""


@dataclass(frozen=True, eq=False)
class Figure:
    """One figure to draw, as data: :data:`PLOTS` ``[plot]`` draws ``statistics`` (the first
    argument of the plot function) with keyword ``options`` into ``STEM.png`` and ``STEM.pdf``
    under a figure directory. ``caption`` is the sentence the report shows under it."""

    plot: str
    stem: str
    caption: str
    statistics: Any
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.plot not in PLOTS:
            raise ValueError(f"unknown plot {self.plot!r}; valid choices: {', '.join(PLOTS)}")


def draw(figure: Figure, directory: Path | str) -> list[Path]:
    """Render ``figure`` into ``directory/STEM.png`` and ``.pdf``; the paths, PNG first."""
    return PLOTS[figure.plot](figure.statistics, Path(directory) / figure.stem, **figure.options)
