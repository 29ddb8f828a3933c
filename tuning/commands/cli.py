"""``optcompare run | resume | submit | plan | list | refine``: run, continue or submit a study,
show its plan, list what is registered, refine a protocol's spaces from a finished study."""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING

from analysis.render import print_tables
from optcompare.errors import InputError, ParameterError
from optcompare.schema import SearchKey, is_adaptive
from tuning.commands.lost_ground_lines import lost_ground_lines
from tuning.driver.capacity import check_capacity
from tuning.driver.driver_guard import hold_lease, stop_signals
from tuning.driver.ray_env import RayTarget, start_ray
from tuning.driver.signals import StudyInterrupted
from tuning.driver.study_summary import StudySummary
from tuning.spec.plugins import load_plugins
from tuning.spec.protocol_files import shipped_protocols
from tuning.spec.refine_rule import RefineRule
from tuning.spec.stages import stage_layout
from tuning.store.rows import hp_columns, search_key
from tuning.store.sink import parameter_columns

if TYPE_CHECKING:
    from tuning.driver.signals import StopRequest
    from tuning.driver.study_options import StudyOptions
    from tuning.plan.trial import PlannedTrial
    from tuning.spec.config import ExperimentConfig
    from tuning.spec.protocol import Protocol

__all__ = [
    "FLAGS",
    "plan_table",
    "register",
    "register_list",
    "register_plan",
    "register_refine",
    "register_resume",
    "register_submit",
    "run_config",
]


RAY_FLAGS = {"num_cpus": "--num-cpus", "address": "--address"}
"""The flags of the Ray a study runs on (:class:`tuning.driver.ray_env.RayTarget`)."""
FLAGS = {**RAY_FLAGS, "name": "--name", "results": "--results"}
"""The flag of each library parameter that errors of ``run`` name
(:class:`optcompare.errors.ParameterError`); each subcommand sets the flags it has as its
``flags`` default, which :func:`optcompare.cli.main` applies."""
REFINE_FLAGS = {
    "best_fraction": "--best-fraction", "best_k": "--best-k", "margin": "--margin",
    "protocol": "--protocol", "workload": "--workload", "out": "--out", "stage": "--stage",
    "study": "--study",
}
"""The flags of ``refine`` (:mod:`tuning.plan.refine`, :func:`refine_experiment`)."""


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
    p.add_argument("--no-dashboard", action="store_true", help="in-process Ray without its dashboard (default: on 127.0.0.1)")
    p.add_argument("--quiet", action="store_true", help="no progress display")
    p.set_defaults(handler=_run_handler, flags=FLAGS)
    register_resume(subparsers)
    register_submit(subparsers)
    register_plan(subparsers)
    register_list(subparsers)
    register_refine(subparsers)


def run_config(
    config_path: str,
    results: str,
    name: str | None,
    *,
    address: str | None = None,
    num_cpus: int | None = None,
    progress: bool = True,
    dashboard: bool = True,
) -> tuple[str, StudySummary]:
    """Validate, plan, start or join Ray, create RESULTS/NAME and run the study; return
    (experiment dir, summary).

    Everything is validated before anything is written: bad input (including a cluster that
    cannot be reached, or an in-process Ray too small for one trial) raises InputError and
    leaves no directory behind. The run holds the experiment's lease (:mod:`tuning.store.lease`) and
    stops cleanly at SIGINT or SIGTERM (:mod:`tuning.driver.signals`: raises
    :class:`~tuning.driver.signals.StudyInterrupted`).
    """
    started = time.perf_counter()
    from tuning.driver.study_options import StudyOptions  # imports torch: kept off --help
    from tuning.plan.resolve import resolve_plan  # imports torch: kept off --help
    from tuning.spec.config import load_config  # imports torch: kept off --help
    from tuning.store.experiment import (  # imports torch: kept off --help
        check_experiment_name,
        create_experiment,
        ensure_new_experiment,
    )

    config = load_config(config_path)
    plan = resolve_plan(config)
    where = FLAGS["name"] if name else f"{config_path}: name"
    name = check_experiment_name(name or config.name, where)
    ensure_new_experiment(results, name)  # raises before Ray starts
    from tuning.store.experiment import check_results_root  # imports torch: kept off --help

    check_results_root(results, name)  # an unwritable RESULTS is exit 2 before Ray starts, too
    from tuning.plan.space_inclusion import (  # imports torch: kept off --help
        config_space_inclusion,
        run_warnings,
    )

    coverage = config_space_inclusion(config)
    for warning in [*run_warnings(coverage), *config.ruleset_warnings()]:
        print(f"optcompare: warning: {warning}", file=sys.stderr, flush=True)
    target = RayTarget(address=address, num_cpus=num_cpus, dashboard=dashboard)
    options = StudyOptions.from_config(config, ray=target, progress=progress)
    started_ray = start_ray(target, announce=progress)
    try:
        check_capacity(
            options.cpus_per_trial, options.gpus_per_trial, joined=target.joined, progress=False
        )
        experiment_dir = create_experiment(results, name, config, plan, coverage)
        with hold_lease(experiment_dir) as lease, stop_signals(lease, started_ray=started_ray) as stop:
            return experiment_dir, _run_and_report(config, plan, experiment_dir, options, started, stop)
    finally:
        if started_ray:
            import ray

            ray.shutdown()


def _run_and_report(
    config: ExperimentConfig, plan: list[PlannedTrial], experiment_dir: str,
    options: StudyOptions, started: float, stop: StopRequest | None = None,
) -> StudySummary:
    """Run the planned study into ``experiment_dir`` on the Ray already started; print its summary."""
    from tuning.driver.run_study import run_study  # imports torch: kept off --help
    from tuning.plan.message import plan_lines  # imports torch: kept off --help

    for line in plan_lines(config, plan, experiment_dir):
        print(line, flush=True)
    summary = run_study(plan, experiment_dir, options, started_at=started, stop=stop)
    print_summary(summary)
    for line in lost_ground_lines(experiment_dir, any(p.stages for p in config.protocols)):
        print(line, flush=True)
    return summary


def print_summary(summary: StudySummary) -> None:
    """The end-of-run summary: counts, bundle sizes, failures and trials that hung."""
    print(summary.line(), flush=True)
    bundled = {w: b for w, b in summary.bundle_sizes.items() if b > 1}
    if bundled:
        print("bundle sizes: " + ", ".join(f"{w} {b}" for w, b in bundled.items()), flush=True)
    for failure in summary.failures[:10]:
        print(f"  failed: {failure}")
    for line in summary.hung_lines()[:20]:
        print(line)
    for line in summary.memory_kill_lines()[:20]:
        print(line)
    sys.stdout.flush()


def _interrupted(err: StudyInterrupted, experiment_dir: str | None) -> int:
    """Report a study stopped early; its exit status."""
    if isinstance(err.summary, StudySummary):
        print_summary(err.summary)
    where = experiment_dir or "RESULTS/NAME"
    print(f"optcompare: {err.reason}; continue with: optcompare resume {where}", file=sys.stderr, flush=True)
    return err.status


def _run_handler(args: argparse.Namespace) -> int:
    try:
        experiment_dir, _ = run_config(
            args.config, args.results, args.name, address=args.address, num_cpus=args.num_cpus,
            progress=not args.quiet, dashboard=not args.no_dashboard,
        )
    except StudyInterrupted as err:
        name = args.name or _config_name(args.config)
        return _interrupted(err, f"{args.results.rstrip('/')}/{name}" if name else None)
    print(f"results in {experiment_dir}; next: optcompare rank {experiment_dir}")
    return 0


def _config_name(config_path: str) -> str | None:
    """The experiment name of the config (for the message after an interrupted run)."""
    try:
        from tuning.spec.config import load_config  # imports torch: kept off --help

        return load_config(config_path).name
    except Exception:  # noqa: BLE001 - only for a message
        return None


def register_resume(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "resume",
        help="continue a study whose driver stopped: runs the planned trials not yet in its results",
    )
    p.add_argument("experiment", help="experiment directory RESULTS/NAME")
    p.add_argument("--retry-failed", action="store_true", help="also rerun trials recorded as failed")
    p.add_argument("--address", default=None, help="join an existing Ray cluster instead of starting one")
    p.add_argument("--num-cpus", type=int, default=None, help="CPUs for the in-process Ray (default: all)")
    p.add_argument("--no-dashboard", action="store_true", help="in-process Ray without its dashboard (default: on 127.0.0.1)")
    p.add_argument("--quiet", action="store_true", help="no progress display")
    p.set_defaults(handler=_resume_handler, flags=RAY_FLAGS)


def _resume_handler(args: argparse.Namespace) -> int:
    from tuning.commands.resume import resume_experiment  # imports torch: kept off --help

    target = RayTarget(address=args.address, num_cpus=args.num_cpus, dashboard=not args.no_dashboard)
    try:
        resume_experiment(
            args.experiment, retry_failed=args.retry_failed, ray=target, progress=not args.quiet
        )
    except StudyInterrupted as err:
        return _interrupted(err, args.experiment)
    print(f"results in {args.experiment}; next: optcompare rank {args.experiment}")
    return 0


def register_submit(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "submit", help="send a study to a Ray cluster as a Ray Job (needs the cluster's job server)"
    )
    p.add_argument("config", help="experiment config YAML (its directory is uploaded with it)")
    p.add_argument("--address", required=True, help="job server, e.g. http://HEAD:8265")
    p.add_argument("--results", required=True, help="results root on the cluster: an absolute path on the head node or a URI")
    p.add_argument("--name", default=None, help="experiment name (default: the config's name)")
    p.add_argument("--wait", action="store_true", help="wait for the job to end and print its logs")
    p.add_argument("--python", default=None, help="run 'PYTHON -m optcompare' on the cluster (default: 'optcompare' from its PATH)")
    p.set_defaults(handler=_submit_handler, flags={"results": "--results"})


def _submit_handler(args: argparse.Namespace) -> int:
    from tuning.commands.submit import submit_study, wait_for_job  # imports torch: kept off --help

    job_id, client = submit_study(
        args.config, args.address, results=args.results, name=args.name, python=args.python
    )
    print(f"submitted job {job_id} to {args.address}")
    print(f"follow it:  ray job logs --follow {job_id} --address {args.address}")
    print(f"status:     ray job status {job_id} --address {args.address}")
    if not args.wait:
        return 0
    status = wait_for_job(client, job_id)
    print(client.get_job_logs(job_id))
    print(f"job {job_id}: {status}")
    return 0 if status == "SUCCEEDED" else 1


def register_plan(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "plan",
        help="resolve a config into its plan of trials: size, searches and a sample (runs nothing)",
    )
    p.add_argument("config", help="experiment config YAML")
    p.add_argument("--sample", type=int, default=5, help="planned trials to show (default: 5)")
    p.add_argument("--out", default=None, help="write the whole plan to this Parquet file")
    p.set_defaults(handler=_plan_handler)


def plan_table(plan: list[PlannedTrial]) -> object:
    """The plan as an Arrow table: ids, seeds, phase, schedule, then hp_ and tuned_ columns."""
    import pyarrow as pa

    rows = [
        {
            "trial_id": t.trial_id, **search_key(t)._asdict(), "trial_index": t.trial_index,
            "seed": t.seed, "phase": t.phase, "stage": t.stage, "study": t.study,
            "schedule": t.schedule, "steps": t.steps,
            "eval_every": t.eval_every, **parameter_columns(*hp_columns(t)),
        }
        for t in plan
    ]
    columns = list(dict.fromkeys(k for row in rows for k in row))
    return pa.Table.from_pylist([{c: row.get(c) for c in columns} for row in rows])


def _stages_cell(protocol: Protocol, trials_per_search: int) -> str:
    """``initial 4 -> final 4 (refined)`` for a staged protocol, ``-`` for a one-stage one; the
    trials column counts only what is planned up front (the first stage, every study)."""

    if not protocol.stages:
        return "-"
    slots = stage_layout(protocol.stages, trials_per_search)
    return " -> ".join(f"{s.stage.name} {s.count}" for s in slots) + " (refined)"


def _trials_cell(protocol: Protocol, planned: int, config: ExperimentConfig) -> str:
    """The trials planned up front of one search (every study), or ``adaptive, N trials`` for a
    search whose sampler asks its N points (every study) during the run."""

    if is_adaptive(protocol.search):
        return f"adaptive, {config.trials_per_search * config.studies} trials"
    return str(planned)


def space_inclusion_lines(config: ExperimentConfig) -> list[str]:
    """Per protocol and inclusion pair, what the wide space expresses of the narrow one
    (:mod:`tuning.plan.space_inclusion`), as the lines ``plan`` prints."""
    from tuning.plan.space_inclusion import config_space_inclusion  # imports torch: kept off --help

    lines = ["space inclusion: what each wide space expresses of its narrow optimizer's (docs/method.md)"]
    protocol = None
    for c in config_space_inclusion(config):
        if c.protocol != protocol:
            protocol = c.protocol
            lines.append(f"  {protocol}{' (narrow by design: not covering is its point)' if c.narrow_by_design else ''}")
        coverage = "" if c.coverage is None else f" {c.coverage:.0%}"
        why = "; ".join(r.sentence() for r in c.requirements) or (
            f"{c.first_outside} in {c.outside} is outside" if c.first_outside else "; ".join(c.notes)
        )
        if c.epsilon is not None and c.gap is not None and not c.requirements:
            why = f"{why}{'; ' if why else ''}limit at epsilon = {c.epsilon:g}, trajectory gap ~{c.gap:.1g}"
        lines.append(f"    {c.narrow} <= {c.wide}: {c.status}{coverage}{': ' + why if why else ''}")
    return lines


def _plan_handler(args: argparse.Namespace) -> int:
    import pyarrow.parquet as pq
    from rich.console import Console
    from rich.table import Table

    from tuning.plan.adaptive_search import adaptive_searches  # imports torch: kept off --help
    from tuning.plan.resolve import resolve_plan  # imports torch: kept off --help
    from tuning.spec.config import load_config  # imports torch: kept off --help

    if args.sample < 0:
        raise InputError(f"--sample must be >= 0, got {args.sample}")
    if args.out and "://" not in args.out:  # a URI (s3://...) is checked by pyarrow when written
        from pathlib import Path

        out = Path(args.out)
        if out.is_dir():
            raise InputError(f"--out {args.out}: is a directory; give the path of a Parquet file to write")
        if not out.parent.is_dir():
            raise InputError(
                f"--out {args.out}: directory {out.parent} does not exist; create it first or "
                "give a path in an existing directory"
            )
    config = load_config(args.config)
    plan = resolve_plan(config)
    console = Console()
    asked = sum(s.budget for s in adaptive_searches(config))
    title = f"{config.name}: {len(plan)} planned trials" + (f" + {asked} asked by adaptive searches" if asked else "")
    searches = Table(title=title)
    for column in ("workload", "protocol", "optimizer", "search", "trials", "stages", "reruns", "bundle", "searched"):
        searches.add_column(column)
    import workloads  # imports torch: kept off --help
    from workloads.bundle import bundle_supported  # imports torch: kept off --help

    sizes = {entry.name: entry.bundle_size for entry in config.workloads}
    counts: dict[SearchKey, int] = {}
    for t in plan:
        counts[search_key(t)] = counts.get(search_key(t), 0) + 1
    for entry in config.workloads:
        for protocol in config.protocols:
            for o in config.optimizers:
                key = SearchKey(entry.name, protocol.name, o)
                if key not in counts and not is_adaptive(protocol.search):
                    continue
                w = entry.name
                bundle = str(sizes[w]) if bundle_supported(workloads.get_class(w), o) is None else "1 (not bundlable)"
                searched = ", ".join(sorted(protocol.for_optimizer(o).for_budget(config.trials_per_search).space))
                searches.add_row(w, protocol.name, o, protocol.search, _trials_cell(protocol, counts.get(key, 0), config),
                                 _stages_cell(protocol, config.trials_per_search), str(protocol.rerun_seeds or "-"),
                                 bundle, searched or "-")
    console.print(searches)
    for line in [*space_inclusion_lines(config), *(f"warning: {w}" for w in config.ruleset_warnings())]:
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    if args.sample:
        sample = Table(title=f"first {min(args.sample, len(plan))} planned trials")
        for column in ("trial_id", "seed", "search point (tuned coordinates)", "learning_rate"):
            sample.add_column(column)
        for t in plan[: args.sample]:
            point = ", ".join(f"{k}={v:.4g}" for k, v in t.tuned.items()) or "-"
            sample.add_row(t.trial_id, str(t.seed), point, f"{t.hparams['learning_rate']:.4g}")
        console.print(sample)
    if args.out:
        try:
            pq.write_table(plan_table(plan), args.out)
        except OSError as err:
            raise InputError(f"--out {args.out}: cannot write: {err}") from None
        console.print(f"wrote {len(plan)} planned trials to {args.out}")
    return 0


def register_list(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("list", help="list the registered workloads, optimizers or protocols")
    p.add_argument("kind", choices=["workloads", "optimizers", "protocols"])
    p.add_argument("--plugins", nargs="*", default=[], help="plugin modules to load first")
    p.set_defaults(handler=_list_handler)


def _list_handler(args: argparse.Namespace) -> int:
    load_plugins(args.plugins, where="--plugins")
    if args.kind == "workloads":
        import workloads  # imports torch: kept off --help

        for name in workloads.names():
            cls = workloads.get_class(name)
            print(f"{name:<20} {cls.description}")
    elif args.kind == "optimizers":
        import optimizers  # imports torch: kept off --help

        for name in optimizers.names():
            spec = optimizers.get_spec(name)
            print(f"{name:<12} {spec.description}  [{', '.join(spec.hparam_names)}]")
    else:
        from tuning.spec.protocol import load_protocol  # imports torch: kept off --help

        for name in shipped_protocols():
            print(f"{name:<14} {load_protocol(name).description}")
    return 0


def register_refine(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "refine",
        help="refine a protocol's search spaces from a finished study and write them as a new protocol file",
        description="Per optimizer of PROTOCOL, narrow each searched range to the best trials' span "
        "plus a margin, extended past a bound where the best trials sit in its outer 5% "
        "(docs/method.md, 'Refining a search space'); write an ordinary protocol YAML file.",
    )
    p.add_argument("experiment", help="experiment directory RESULTS/NAME")
    p.add_argument("--protocol", required=True, help="the protocol to refine, by its name in the experiment")
    p.add_argument("--out", required=True, help="protocol YAML file to write")
    best = p.add_mutually_exclusive_group()
    best.add_argument("--best-fraction", type=float, default=None, help="best fraction q of the completed trials (default: 0.25)")
    best.add_argument("--best-k", type=int, default=None, help="best k completed trials instead of a fraction")
    p.add_argument("--margin", type=float, default=0.5, help="margin m: decades on log ranges, initial widths on linear ones (default: 0.5)")
    p.add_argument("--decoupled", action="store_true", help="refine momentum's effective learning rate, learning_rate / (1 - momentum), in place of learning_rate (docs/method.md)")
    p.add_argument("--workload", default=None, help="the workload whose searches are refined (required when the experiment has several)")
    p.add_argument("--stage", default=None, help="a staged protocol: refine from this stage's rows and space (default: its last stage)")
    p.add_argument("--study", type=int, default=0, help="with repeated studies: the study whose rows are refined (default: 0)")
    p.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    p.set_defaults(handler=_refine_handler, flags=REFINE_FLAGS)



def _refine_handler(args: argparse.Namespace) -> int:
    from pathlib import Path

    from rich.table import Table

    from tuning.commands.refine_experiment import refine_experiment  # imports torch: off --help
    from tuning.plan.refine import (  # imports torch: kept off --help
        show_dimension,
        write_refined_protocol,
    )

    rule = RefineRule(best_fraction=args.best_fraction, best_k=args.best_k, margin=args.margin, decoupled=args.decoupled)
    out = Path(args.out)
    if out.is_dir():
        raise ParameterError("out", f"{{name}} {args.out}: is a directory; give the path of a YAML file to write")
    if out.exists() and not args.force:
        raise ParameterError("out", f"{{name}} {args.out} already exists; choose another path or pass --force")
    if not out.parent.is_dir():
        raise ParameterError("out", f"{{name}} {args.out}: directory {out.parent} does not exist; create it first")
    refined = refine_experiment(
        args.experiment, args.protocol, workload=args.workload, rule=rule, stage=args.stage, study=args.study
    )
    title = f"{refined.initial} -> {refined.name}, workload {refined.workload}: {rule.phrase(refined.select)}"
    table = Table(title=title)
    for column in ("optimizer", "coordinate", "initial", "refined", "bounds", "best trials"):
        table.add_column(column)
    for search in refined.searches:
        for c in search.coordinates:
            best = f"{len(search.best_trial_ids)} of {search.completed}"
            table.add_row(search.key.optimizer, c.name, show_dimension(c.old), show_dimension(c.new), c.notes(), best)
    print_tables([table])
    write_refined_protocol(refined, out)
    print(f"wrote {out}; use it as a protocol: protocols: [{out}] in a config")
    return 0
