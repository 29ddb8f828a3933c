"""``optcompare run``: resolve a config into a plan and run it on Ray Tune."""

from __future__ import annotations

import argparse
import time

__all__ = ["register", "run_config"]


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "run",
        help="run a study from an experiment config (starts Ray in-process)",
        description="Resolve CONFIG into a plan of trials and run them with Ray Tune; results go "
        "to RESULTS/NAME as Parquet.",
    )
    p.add_argument("config", help="experiment config YAML")
    p.add_argument("--results", default="results", help="results root, a path or URI (default: ./results)")
    p.add_argument("--name", default=None, help="experiment name (default: the config's name)")
    p.add_argument("--address", default=None, help="join an existing Ray cluster ('auto' or HOST:PORT) instead of starting one")
    p.add_argument("--num-cpus", type=int, default=None, help="CPUs for the in-process Ray (default: all)")
    p.add_argument("--quiet", action="store_true", help="no progress display")
    p.set_defaults(handler=_run_handler)


def run_config(
    config_path: str,
    results: str,
    name: str | None,
    *,
    address: str | None = None,
    num_cpus: int | None = None,
    progress: bool = True,
) -> tuple[str, object]:
    """Validate, plan, create RESULTS/NAME and run the study; return (experiment dir, summary).

    Everything is validated before anything is written: bad input raises InputError and
    leaves no directory behind.
    """
    started = time.perf_counter()
    from .config import load_config
    from .driver import run_study
    from .experiment import create_experiment
    from .plan import resolve_plan

    config = load_config(config_path)
    plan = resolve_plan(config)
    experiment_dir = create_experiment(results, name or config.name, config, plan)
    searches = len(config.workloads) * len(config.protocols) * len(config.optimizers)
    print(
        f"experiment {experiment_dir}: {len(plan)} trials = {searches} searches x "
        f"{config.trials_per_search} trials", flush=True
    )
    summary = run_study(
        plan,
        experiment_dir,
        cpus_per_trial=config.resources.cpus_per_trial,
        gpus_per_trial=config.resources.gpus_per_trial,
        max_concurrent_trials=config.resources.max_concurrent_trials,
        max_failures=config.max_failures,
        report_every_s=config.report_every_s,
        plugins=config.plugins,
        reruns={p.name: (p.rerun_seeds, p.select) for p in config.protocols if p.rerun_seeds},
        seed=config.seed,
        address=address,
        num_cpus=num_cpus,
        progress=progress,
        started_at=started,
    )
    print(summary.line(), flush=True)
    for failure in summary.failures[:10]:
        print(f"  failed: {failure}")
    return experiment_dir, summary


def _run_handler(args: argparse.Namespace) -> int:
    experiment_dir, _ = run_config(
        args.config, args.results, args.name, address=args.address, num_cpus=args.num_cpus,
        progress=not args.quiet,
    )
    print(f"results in {experiment_dir}; next: optcompare rank {experiment_dir}")
    return 0
