"""``optcompare rank``: bootstrapped optimizer rankings of an experiment."""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "rank",
        help="rank optimizers per workload and protocol by bootstrapped best-trial metric",
        description=(
            "For each (workload, protocol), draw K trials with replacement from each optimizer's "
            "search, keep the best by --select, score its --report metric; repeat --resamples "
            "times and rank optimizers by the mean (lower is better), with 5th/95th percentiles."
        ),
    )
    p.add_argument("experiment", help="experiment directory RESULTS/NAME (local path or URI)")
    p.add_argument("--budget", type=int, default=None, help="trials per search K (default: smallest search)")
    p.add_argument("--select", choices=["val_error", "train_loss"], default="val_error", help="selection metric (default: val_error)")
    p.add_argument("--report", choices=["test_error", "val_error", "test_loss", "val_loss"], default="test_error", help="reported metric (default: test_error)")
    p.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples B (default: 1000)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default: 0)")
    p.add_argument("--format", choices=["table", "json", "csv"], default="table", help="output format (default: table)")
    p.set_defaults(handler=run_rank)


def rank_payload(experiment: str, budget: int | None, select: str, report: str, resamples: int, seed: int) -> tuple[dict, list[str]]:
    """The JSON document of DESIGN.md contract 4, and any skipped-file warnings."""
    from optcompare.errors import InputError

    from .load import load_experiment
    from .ranking import rank_optimizers

    if budget is not None and budget < 1:
        raise InputError(f"--budget must be >= 1, got {budget}")
    if resamples < 1:
        raise InputError(f"--resamples must be >= 1, got {resamples}")
    _, loaded = load_experiment(experiment)
    if loaded.table.num_rows == 0:
        raise InputError(f"{experiment} has no finished trials yet; run or resume it first")
    used, rankings = rank_optimizers(
        loaded.table, budget=budget, select=select, report=report, n_resamples=resamples, seed=seed
    )
    payload = {
        "budget": used,
        "select": select,
        "report": report,
        "n_resamples": resamples,
        "rankings": [r.as_dict() for r in rankings],
    }
    return payload, loaded.skipped


def render_table(payload: dict) -> None:
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
                             ("mean", "right"), ("p05", "right"), ("p95", "right")):
            table.add_column(col, justify=justify)
        for o in ranking["optimizers"]:
            table.add_row(str(o["rank"]), o["optimizer"], str(o["n_trials"]),
                          f"{o['mean']:.4f}", f"{o['p05']:.4f}", f"{o['p95']:.4f}")
        console.print(table)


def render_csv(payload: dict) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["workload", "protocol", "rank", "optimizer", "n_trials", "mean", "p05", "p95",
                     "budget", "select", "report", "n_resamples"])
    for r in payload["rankings"]:
        for o in r["optimizers"]:
            writer.writerow([r["workload"], r["protocol"], o["rank"], o["optimizer"], o["n_trials"],
                             o["mean"], o["p05"], o["p95"], payload["budget"], payload["select"],
                             payload["report"], payload["n_resamples"]])
    return out.getvalue()


def run_rank(args: argparse.Namespace) -> int:
    payload, skipped = rank_payload(args.experiment, args.budget, args.select, args.report, args.resamples, args.seed)
    for warning in skipped:
        print(f"warning: skipped unreadable file {warning}", file=sys.stderr)
    if args.format == "json":
        print(json.dumps(payload, indent=2))
    elif args.format == "csv":
        sys.stdout.write(render_csv(payload))
    else:
        render_table(payload)
    return 0
