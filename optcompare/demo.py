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


def demo_config_path(name: str = "demo") -> Path:
    """The shipped config ``tuning/configs/NAME.yaml``."""
    import tuning  # on call: keeps --help light

    return Path(tuning.__file__).resolve().parent / "configs" / f"{name}.yaml"


def _shown(path: Path) -> str:
    """``path`` relative to the working directory where it lies below it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def run_demo(args: argparse.Namespace) -> int:
    """Run the demo study, print its ranking, its inclusion verdicts with the evidence behind each
    violation and what to try next, and write its HTML report."""
    from analysis.cli import show_rankings, write_analysed_report  # on call: keeps --help light
    from analysis.experiment_rankings import rank_experiment  # on call: keeps --help light
    from analysis.explain import violation_evidence  # on call: keeps --help light
    from analysis.render import verdict_lines  # on call: keeps --help light
    from analysis.report import analyse  # on call: keeps --help light
    from tuning.commands.cli import run_config  # on call: keeps --help light

    name = args.name or time.strftime("demo-%Y%m%d-%H%M%S")
    experiment_dir, _ = run_config(str(demo_config_path()), args.results, name, progress=not args.quiet)
    # select None: each protocol's recorded select, as rank, summary, report and importance do
    show_rankings(rank_experiment(experiment_dir, select=None, report="test_error"))
    data = analyse(experiment_dir, select=None, report="test_error")
    evidence = violation_evidence(data.hierarchy.verdicts, data.diagnostics, data.rankings)
    for line in [*verdict_lines(data.hierarchy, evidence, data.causes), *next_steps(experiment_dir, data.hierarchy.breaking_protocols)]:
        print(line)
    report_dir = f"{experiment_dir}/report"
    write_analysed_report(data, report_dir)
    print(f"results in {experiment_dir}; report: {report_dir}/index.html")
    print(f"rank again with: optcompare rank {experiment_dir}")
    return 0


def next_steps(experiment_dir: str, breaking: tuple[str, ...]) -> list[str]:
    """What to try where protocols break the inclusion hierarchy: more budgets, the documented
    refinement of their spaces (``optcompare refine``), and the paper's whole procedure
    (``reproduce.yaml``: two-stage searches on three workloads, with probes)."""
    if not breaking:
        return []
    lines = [
        f"what to try for {', '.join(breaking)}: a ranking at a few trials per search says little "
        "about optimizers whose spaces have several dimensions;",
        f"  rank at several budgets:  optcompare rank {experiment_dir} --budget 1,4,16",
    ]
    lines += [
        f"  refine {p}'s spaces by the documented rule (docs/method.md), then run them:  "
        f"optcompare refine {experiment_dir} --protocol {p} --out {p}-refined.yaml"
        for p in breaking
    ]
    lines.append(
        "  or run the paper's procedure (an initial and a refined final search per optimizer, "
        "three workloads, inclusion probes; under an hour on 2 cores):  "
        f"optcompare run {_shown(demo_config_path('reproduce'))}"
    )
    return lines
