"""``optcompare rank``, ``query`` and ``report``: the analysis subcommands.

Handlers import their modules when called, so ``optcompare --help`` loads neither numpy-heavy
analysis code nor DuckDB or matplotlib.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["dumps_strict", "parse_budgets", "rank_payload", "rank_payloads", "register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "rank",
        help="rank optimizers per workload and protocol by bootstrapped best-trial metric",
        description=(
            "For each (workload, protocol), draw K trials with replacement from each optimizer's "
            "search, keep the best by --select, score its --report metric; repeat --resamples "
            "times and rank optimizers by the mean (lower is better), with 5th/95th percentiles. "
            "Several budgets (--budget 1,2,4,8) share one bootstrap draw and print one table, JSON "
            "object (in a list) or set of CSV rows per budget."
        ),
    )
    p.add_argument("experiment", help="experiment directory RESULTS/NAME (local path or URI)")
    p.add_argument("--budget", default=None, metavar="K[,K...]",
                   help="trials per search K, or a comma-separated list such as 1,2,4,8 (default: smallest search)")
    p.add_argument("--select", choices=["val_error", "train_loss"], default="val_error", help="selection metric (default: val_error)")
    p.add_argument("--report", choices=["test_error", "val_error", "test_loss", "val_loss"], default="test_error", help="reported metric (default: test_error)")
    p.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples B (default: 1000)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default: 0)")
    p.add_argument("--format", choices=["table", "json", "csv"], default="table", help="output format (default: table)")
    p.set_defaults(handler=run_rank)

    q = subparsers.add_parser(
        "query",
        help="run SQL (DuckDB) over an experiment's Parquet results: views trials and curves",
        description=(
            "Run one SQL statement with DuckDB over views 'trials' and 'curves' (every part file, "
            "hive partition columns workload/protocol/optimizer, plus an 'experiment' column). "
            "Several experiment directories may be given before the SQL; their rows are united."
        ),
        epilog='example: optcompare query results/demo "select protocol, optimizer, min(final_test_error) '
        'from trials group by all order by 1, 3"',
    )
    q.add_argument("experiments", nargs="+", metavar="RESULTS/NAME", help="experiment directory (one or more)")
    q.add_argument("sql", metavar="SQL", help="one SQL statement over the views trials and curves")
    q.add_argument("--format", choices=["table", "csv", "json"], default="table", help="output format (default: table)")
    q.add_argument("--max-rows", type=int, default=1000, help="rows shown by --format table (default: 1000; csv and json print all)")
    q.set_defaults(handler=run_query_command)

    r = subparsers.add_parser(
        "report",
        help="write figures (PNG, PDF) and a self-contained HTML report of an experiment",
        description=(
            "Rankings with rank probabilities, inclusion verdicts per protocol, rank flips, steps to "
            "target, robustness to the step budget and target, search-space diagnostics, and their "
            "figures; OUT/index.html embeds every figure and opens without a server."
        ),
    )
    r.add_argument("experiment", help="experiment directory RESULTS/NAME (local path or URI)")
    r.add_argument("--out", required=True, help="output directory (created if missing)")
    r.add_argument("--budget", type=int, default=None, help="trials per search K for rankings and verdicts (default: smallest search)")
    r.add_argument("--select", choices=["val_error", "train_loss"], default=None, help="selection metric (default: each protocol's select in experiment.json)")
    r.add_argument("--report", choices=["test_error", "val_error", "test_loss", "val_loss"], default="test_error", help="reported metric (default: test_error)")
    r.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples B (default: 1000)")
    r.add_argument("--seed", type=int, default=0, help="bootstrap seed (default: 0)")
    r.set_defaults(handler=run_report)


def parse_budgets(text: str | None) -> list[int] | None:
    """``--budget``: None, or the distinct budgets of ``"K"`` / ``"K1,K2,..."`` in ascending order;
    InputError unless every item is an integer >= 1."""
    from optcompare.errors import InputError

    if text is None:
        return None
    items = [item.strip() for item in str(text).split(",")]
    try:
        budgets = [int(item) for item in items]
    except ValueError:
        raise InputError(
            f"--budget must be an integer or a comma-separated list of integers (e.g. 1,2,4,8), got {text!r}"
        ) from None
    bad = [b for b in budgets if b < 1]
    if bad:
        raise InputError(f"--budget must be >= 1, got {bad[0]}")
    return sorted(set(budgets))


def rank_payloads(
    experiment: str, budgets: Sequence[int] | None, select: str, report: str, resamples: int, seed: int
) -> tuple[list[dict], list[str]]:
    """One JSON document of DESIGN.md contract 4 per budget (ascending; default: the smallest
    search), from one bootstrap draw, and the warnings (skipped files, budgets above the
    largest search)."""
    from optcompare.errors import InputError

    from .load import load_experiment
    from .ranking import budget_warnings, default_budget, rank_optimizers_at
    from .trials import group_searches

    if budgets is not None and min(budgets, default=1) < 1:
        raise InputError(f"--budget must be >= 1, got {min(budgets)}")
    if resamples < 1:
        raise InputError(f"--resamples must be >= 1, got {resamples}")
    _, loaded = load_experiment(experiment)
    if loaded.table.num_rows == 0:
        raise InputError(f"{experiment} has no finished trials yet; run or resume it first")
    searches = group_searches(loaded.table)
    warnings = [f"skipped unreadable file {s}" for s in loaded.skipped]
    if searches:
        warnings += budget_warnings(searches, budgets or [default_budget(searches)])
    by_budget = rank_optimizers_at(
        loaded.table, budgets, select=select, report=report, n_resamples=resamples, seed=seed
    )
    payloads = [
        {
            "budget": used,
            "select": select,
            "report": report,
            "n_resamples": resamples,
            "rankings": [r.as_dict() for r in rankings],
        }
        for used, rankings in by_budget.items()
    ]
    return payloads, warnings


def rank_payload(experiment: str, budget: int | None, select: str, report: str, resamples: int, seed: int) -> tuple[dict, list[str]]:
    """The JSON document of DESIGN.md contract 4 at one budget, and any warnings."""
    payloads, warnings = rank_payloads(
        experiment, None if budget is None else [budget], select, report, resamples, seed
    )
    return payloads[0], warnings


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


def render_table(payload: dict) -> None:
    """One rich table per (workload, protocol) of one budget's payload."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for ranking in payload["rankings"]:
        table = Table(
            title=(
                f"{ranking['workload']} / {ranking['protocol']}: {payload['report']} of the best-by-"
                f"{payload['select']} trial, budget K={payload['budget']}, B={payload['n_resamples']}"
            )
        )
        for col, justify in (("rank", "right"), ("optimizer", "left"), ("trials", "right"),
                             ("mean", "right"), ("p05", "right"), ("p95", "right"),
                             ("P(rank 1..n)", "left")):
            table.add_column(col, justify=justify)
        for o in ranking["optimizers"]:
            table.add_row(str(o["rank"]), o["optimizer"], str(o["n_trials"]),
                          f"{o['mean']:.4f}", f"{o['p05']:.4f}", f"{o['p95']:.4f}",
                          " ".join(f"{p:.2f}" for p in o.get("rank_probabilities", [])))
        console.print(table)


def render_csv(payload: dict | Sequence[dict]) -> str:
    """One row per (budget, workload, protocol, optimizer) of one payload or several (one per
    budget, under one header); ``p_rank_<r>`` columns follow the contract's columns (empty where
    a ranking has fewer optimizers)."""
    payloads = [payload] if isinstance(payload, dict) else list(payload)
    out = io.StringIO()
    writer = csv.writer(out)
    n = max((len(r["optimizers"]) for p in payloads for r in p["rankings"]), default=0)
    writer.writerow(["workload", "protocol", "rank", "optimizer", "n_trials", "mean", "p05", "p95",
                     "budget", "select", "report", "n_resamples", *[f"p_rank_{i + 1}" for i in range(n)]])
    for p in payloads:
        for r in p["rankings"]:
            for o in r["optimizers"]:
                probs = list(o.get("rank_probabilities", []))
                writer.writerow([r["workload"], r["protocol"], o["rank"], o["optimizer"], o["n_trials"],
                                 o["mean"], o["p05"], o["p95"], p["budget"], p["select"],
                                 p["report"], p["n_resamples"], *probs, *[""] * (n - len(probs))])
    return out.getvalue()


def run_rank(args: argparse.Namespace) -> int:
    """Print the rankings: with one budget a JSON object, with several a JSON list of them."""
    payloads, warnings = rank_payloads(
        args.experiment, parse_budgets(args.budget), args.select, args.report, args.resamples, args.seed
    )
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.format == "json":
        print(dumps_strict(payloads[0] if len(payloads) == 1 else payloads, indent=2))
    elif args.format == "csv":
        sys.stdout.write(render_csv(payloads))
    else:
        for payload in payloads:
            render_table(payload)
    return 0


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def run_query_command(args: argparse.Namespace) -> int:
    from optcompare.errors import InputError

    from .query import run_query

    if args.max_rows < 0:
        raise InputError(f"--max-rows must be >= 0, got {args.max_rows}")
    result = run_query(args.experiments, args.sql)
    for warning in result.skipped:
        print(f"warning: skipped unreadable file {warning}", file=sys.stderr)
    if args.format == "json":
        print(dumps_strict(result.records(), indent=2, default=str))
    elif args.format == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(result.columns)
        writer.writerows([["" if v is None else v for v in row] for row in result.rows])
        sys.stdout.write(out.getvalue())
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table(caption=f"{len(result.rows)} row(s)")
        for column in result.columns:
            table.add_column(column, overflow="fold")
        for row in result.rows[: args.max_rows]:
            table.add_row(*(_cell(v) for v in row))
        Console().print(table)
        if len(result.rows) > args.max_rows:
            print(f"({len(result.rows) - args.max_rows} more rows not shown; use --format csv or a LIMIT)",
                  file=sys.stderr)
    return 0


def run_report(args: argparse.Namespace) -> int:
    from .report import analyse, write_report

    data = analyse(args.experiment, budget=args.budget, select=args.select, report=args.report,
                   n_resamples=args.resamples, seed=args.seed)
    for warning in data.skipped:
        print(f"warning: skipped unreadable file {warning}", file=sys.stderr)
    for warning in data.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    files = write_report(data, args.out)
    broken = ", ".join(data.hierarchy.breaking_protocols) or "none"
    if not data.hierarchy.verdicts:
        broken = "none checked (no inclusion pair ran under a common protocol)"
    boundary = sum(1 for d in data.diagnostics if d.warning)
    print(f"wrote {files.html} and {len(files.figures)} figure files")
    print(f"budget K={data.budget}; protocols breaking the inclusion hierarchy: {broken}; "
          f"best trials near a range boundary: {boundary}")
    return 0
