"""``optcompare demo``: run the embedded default study end to end, print its ranking and write
its report."""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "demo",
        help="run the embedded default study (MLP on MNIST-1D, 6 optimizers, 2 protocols) and rank it",
    )
    p.add_argument("--results", default="results", help="results root (default: ./results)")
    p.add_argument("--name", default=None, help="experiment name (default: demo-TIMESTAMP)")
    p.add_argument("--quiet", action="store_true", help="no progress display")
    p.set_defaults(handler=run_demo, flags={"name": "--name", "results": "--results"})


def demo_config_path() -> Path:
    import tuning

    return Path(tuning.__file__).resolve().parent / "configs" / "demo.yaml"


def run_demo(args: argparse.Namespace) -> int:
    """Run the demo study, print its ranking and inclusion verdicts, write its HTML report."""
    from analysis.cli import show_rankings, write_experiment_report
    from analysis.ranking import rank_experiment
    from tuning.cli import run_config

    name = args.name or time.strftime("demo-%Y%m%d-%H%M%S")
    experiment_dir, _ = run_config(str(demo_config_path()), args.results, name, progress=not args.quiet)
    show_rankings(rank_experiment(experiment_dir, select="val_error", report="test_error"))
    report_dir = f"{experiment_dir}/report"
    write_experiment_report(experiment_dir, report_dir, select="val_error", report="test_error")
    print(f"results in {experiment_dir}; report: {report_dir}/index.html")
    print(f"rank again with: optcompare rank {experiment_dir}")
    return 0
