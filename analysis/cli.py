"""``optcompare rank``, ``summary``, ``profile``, ``query``, ``report``, ``importance`` and ``export optuna``:
the analysis subcommands.

Handlers import their modules when called, so ``optcompare --help`` loads neither numpy-heavy
analysis code nor DuckDB or matplotlib. Each handler computes a result object with the library
(:func:`analysis.ranking.rank_experiment`,
:func:`analysis.across_workloads.summarize_experiments`, :func:`analysis.query.run_query`,
:func:`analysis.report.analyse`) and prints it with :mod:`analysis.render`. The library's errors
and warnings name its parameters (``budget``); :data:`FLAGS` shows them with the flag instead.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from optcompare.errors import ParameterError, with_flags
from optcompare.schema import METRICS, SELECT_METRICS

from . import render  # standard library only at import; rich when a table is printed
from .profiles import ALGOPERF_POINTS, TAU_MAX

if TYPE_CHECKING:
    from .across_workloads import CrossWorkloadSummary  # on call: keeps --help light
    from .experiment_rankings import ExperimentRankings  # on call: keeps --help light
    from .importance import ExperimentImportance  # on call: keeps --help light
    from .profiles import PerformanceProfile  # on call: keeps --help light
    from .query import QueryResult  # on call: keeps --help light
    from .report_data import ReportData  # on call: keeps --help light

__all__ = [
    "FLAGS",
    "parse_budgets",
    "register",
    "run_export_optuna",
    "run_profile",
    "run_importance",
    "run_query_command",
    "run_rank",
    "run_report",
    "run_summary",
    "show_rankings",
    "write_analysed_report",
    "write_experiment_report",
]

REPORT_METRICS = tuple(name for name, m in METRICS.items() if m.split != "train")
"""Metrics ``--report`` may name: those measured on held-out data (validation and test)."""

FLAGS = {"budget": "--budget", "n_resamples": "--resamples", "select": "--select",
         "report": "--report", "max_rows": "--max-rows", "out_dir": "--out",
         "tau_max": "--tau-max", "stage": "--stage", "evaluator": "--evaluator",
         "storage": "--storage", "overwrite": "--overwrite", "points": "--points"}
"""Library parameter -> the flag that sets it, for errors and warnings (optcompare.errors)."""

TABLE_HELP = ("table (default; on a terminal it fits the terminal, piped or redirected it is as "
              "wide as its content, one line per row), json or csv")


SUMMARY_DESCRIPTION = (
    "Per protocol, over the workloads of one or several experiments: each optimizer's "
    "performance-profile score (the normalised area under rho(tau), the fraction of workloads "
    "within a factor tau of the best, tau in [1, --tau-max]) for steps to target and for the "
    "--report metric at budget K, its mean rank and wins; then the inclusion verdicts of every "
    "workload. Numbers are those of the report."
)


STAGE_HELP = ("which stage's trials: final (default: each protocol's last stage), initial (its first), "
              "all, or a stage's name")


def _add_profile_options(p: argparse.ArgumentParser) -> None:
    """--drop-unsolved and --points, shared by summary and profile."""
    p.add_argument("--drop-unsolved", action="store_true",
                   help="leave a workload that no optimizer solved out of the profiles (default: it stays, "
                        "a miss for every optimizer, as in AlgoPerf's scoring; dropping it scales every score up)")
    p.add_argument("--points", type=int, default=None,
                   help=f"score by AlgoPerf's trapezoid on this many tau points ({ALGOPERF_POINTS} reproduces a "
                        "published AlgoPerf score; default: the exact integral)")


def _add_bootstrap_options(p: argparse.ArgumentParser, *, select_default: str | None, select_help: str) -> None:
    """--select, --report, --resamples, --seed and --stage, shared by rank, summary and report."""
    p.add_argument("--stage", default="final", help=STAGE_HELP)
    p.add_argument("--select", choices=SELECT_METRICS, default=select_default, help=select_help)
    p.add_argument("--report", choices=REPORT_METRICS, default="test_error", help="reported metric (default: test_error)")
    p.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples B (default: 1000)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default: 0)")


def _add_command(
    subparsers: argparse._SubParsersAction, name: str, handler: Callable[[argparse.Namespace], int], **kwargs: Any
) -> argparse.ArgumentParser:
    """Subcommand ``name`` run by ``handler``, whose errors name flags by :data:`FLAGS`."""
    parser = subparsers.add_parser(name, **kwargs)
    parser.set_defaults(handler=handler, flags=FLAGS)
    return parser


def register(subparsers: argparse._SubParsersAction) -> None:
    p = _add_command(
        subparsers, "rank", run_rank,
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
    _add_bootstrap_options(p, select_default=None,
                           select_help="selection metric (default: each protocol's select in experiment.json)")
    p.add_argument("--format", choices=list(RANK_FORMATS), default="table", help=f"output format: {TABLE_HELP}")

    s = _add_command(subparsers, "summary", run_summary, description=SUMMARY_DESCRIPTION,
                     help="summarise optimizers over workloads: performance profiles, mean ranks, wins, verdicts")
    s.add_argument("experiments", nargs="+", metavar="RESULTS/NAME",
                   help="experiment directory (one or more; no search may be in two of them)")
    s.add_argument("--budget", type=int, default=None, help="trials per search K (default: smallest search)")
    _add_bootstrap_options(s, select_default=None,
                           select_help="selection metric (default: each protocol's select in experiment.json)")
    s.add_argument("--tau-max", type=float, default=TAU_MAX,
                   help=f"upper end of the profiles' tau range (default: {TAU_MAX:g})")
    _add_profile_options(s)
    s.add_argument("--format", choices=list(SUMMARY_FORMATS), default="table", help=f"output format: {TABLE_HELP}")

    pr = _add_command(
        subparsers, "profile", run_profile,
        help="score an external table (CSV: submission,workload,value) by performance profiles",
        description=(
            "Performance-profile scores of a table of results from anywhere, e.g. a published "
            "AlgoPerf leaderboard's steps to target: a CSV with the header submission (or "
            "optimizer),workload,value; lower is better, and an empty value, inf or nan is a "
            "missed target. Scored by the code of summary: a workload that nobody solved stays in "
            "W as a miss for all (AlgoPerf's convention); --points 100 reproduces AlgoPerf's "
            "trapezoid score."
        ),
    )
    pr.add_argument("table", help="CSV file: submission (or optimizer),workload,value")
    pr.add_argument("--quantity", default="value", help="what the values are, for the output (default: value)")
    pr.add_argument("--tau-max", type=float, default=TAU_MAX,
                    help=f"upper end of the profiles' tau range (default: {TAU_MAX:g})")
    _add_profile_options(pr)
    pr.add_argument("--format", choices=list(PROFILE_FORMATS), default="table", help=f"output format: {TABLE_HELP}")

    q = _add_command(
        subparsers, "query", run_query_command,
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
    q.add_argument("--format", choices=list(QUERY_FORMATS), default="table", help=f"output format: {TABLE_HELP}")
    q.add_argument("--max-rows", type=int, default=1000, help="rows shown by --format table (default: 1000; csv and json print all)")

    r = _add_command(
        subparsers, "report", run_report,
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
    _add_bootstrap_options(p=r, select_default=None,
                           select_help="selection metric (default: each protocol's select in experiment.json)")
    _register_optuna_commands(subparsers)


EVALUATOR_NAMES = ("ped-anova", "fanova")
"""``importance --evaluator`` values, as :data:`analysis.importance.EVALUATORS` names them (the
library checks the value, so a bad one is an error that lists them)."""


def _register_optuna_commands(subparsers: argparse._SubParsersAction) -> None:
    """``importance`` and ``export optuna``."""
    i = _add_command(
        subparsers, "importance", run_importance,
        help="importance of each tuned hyperparameter per search (Optuna's PED-ANOVA or fANOVA)",
        description=(
            "Per (workload, protocol, optimizer), rebuild an Optuna study from the trials rows "
            "(params in tuned coordinates, value = the protocol's selection metric; diverged "
            "trials at the search's worst finite value, failed ones left out) and print each "
            "tuned coordinate's share of the importance (log coordinates on their logarithm). "
            "A search with fewer than 2 completed trials is skipped with a note."
        ),
    )
    i.add_argument("experiment", help="experiment directory RESULTS/NAME (local path or URI)")
    i.add_argument("--evaluator", default=EVALUATOR_NAMES[0],
                   help=f"importance evaluator: {' or '.join(EVALUATOR_NAMES)} (default: {EVALUATOR_NAMES[0]})")
    i.add_argument("--stage", default="final", help=STAGE_HELP)
    i.add_argument("--select", choices=SELECT_METRICS, default=None,
                   help="selection metric (default: each protocol's select in experiment.json)")
    i.add_argument("--seed", type=int, default=0, help="fANOVA's forest seed (default: 0)")
    i.add_argument("--format", choices=list(IMPORTANCE_FORMATS), default="table", help=f"output format: {TABLE_HELP}")

    export = subparsers.add_parser(
        "export", help="export an experiment's searches to other tools (optuna: studies for optuna-dashboard)")
    targets = export.add_subparsers(dest="target", metavar="TARGET", required=True)
    o = _add_command(
        targets, "optuna", run_export_optuna,
        help="write one Optuna study per search into an RDB URL or a journal file",
        description=(
            "One Optuna study per (workload, protocol, optimizer, study, stage), named "
            "EXPERIMENT/W/P/O[/sS][/STAGE]: params in tuned coordinates with their distributions, "
            "value = the selection metric, user attributes workload, protocol, optimizer, "
            "trial_id, status, study, stage, and the selection metric's curve as intermediate "
            "values. Browse them with: optuna-dashboard STORAGE (pip install 'optcompare[dashboard]')."
        ),
    )
    o.add_argument("experiment", help="experiment directory RESULTS/NAME (local path or URI)")
    o.add_argument("--storage", required=True, metavar="URL_OR_JOURNAL_FILE",
                   help="an RDB URL (sqlite:///studies.db) or a journal file path (studies.log)")
    o.add_argument("--overwrite", action="store_true",
                   help="replace studies of the same name already in the storage (default: refuse)")


def parse_budgets(text: str | None) -> tuple[int, ...] | None:
    """``--budget``: None, or the distinct budgets of ``"K"`` / ``"K1,K2,..."`` in ascending order
    (:func:`analysis.checks.check_budgets`)."""
    from .checks import check_budgets  # on call: keeps --help light

    if text is None:
        return None
    try:
        budgets = [int(item.strip()) for item in str(text).split(",")]
    except ValueError:
        raise ParameterError(
            "budget",
            f"{{name}} must be an integer or a comma-separated list of integers (e.g. 1,2,4,8), got {text!r}",
        ) from None
    return check_budgets(budgets)


def _warn(messages: Iterable[object], prefix: str = "warning: ") -> None:
    for message in messages:
        print(f"{prefix}{with_flags(message, FLAGS)}", file=sys.stderr)


def _warn_skipped(skipped: Iterable[str]) -> None:
    _warn(skipped, "warning: skipped unreadable file ")


def _print(text: str) -> None:
    sys.stdout.write(text)


def _formats(
    tables: Callable[[Any], Sequence[Any]], as_json: Callable[[Any], str], as_csv: Callable[[Any], str]
) -> dict[str, Callable[[Any], None]]:
    """``--format`` table, json and csv of one kind of result: its tables printed, or its JSON or
    CSV text written to stdout."""
    return {
        "table": lambda result: render.print_tables(tables(result)),
        "json": lambda result: _print(as_json(result)),
        "csv": lambda result: _print(as_csv(result)),
    }


RANK_FORMATS: dict[str, Callable[[ExperimentRankings], None]] = _formats(
    render.rank_tables, render.rank_json, render.rank_csv)
"""``rank --format``: how each format prints an :class:`~analysis.ranking.ExperimentRankings`."""


def run_rank(args: argparse.Namespace) -> int:
    """Print the rankings: with one budget a JSON object, with several a JSON list of them."""
    from .experiment_rankings import rank_experiment  # on call: keeps --help light

    result = rank_experiment(args.experiment, parse_budgets(args.budget), select=args.select,
                             report=args.report, n_resamples=args.resamples, seed=args.seed,
                             stage=args.stage)
    show_rankings(result, args.format)
    return 0


def show_rankings(result: ExperimentRankings, fmt: str = "table") -> None:
    """Warnings (skipped files, budgets) to stderr, then the rankings in format ``fmt``."""
    _warn_skipped(result.skipped)
    _warn(result.warnings)
    RANK_FORMATS[fmt](result)


SUMMARY_FORMATS: dict[str, Callable[[CrossWorkloadSummary], None]] = _formats(
    render.summary_tables, render.summary_json, render.summary_csv)
"""``summary --format``: how each format prints a
:class:`~analysis.across_workloads.CrossWorkloadSummary`."""

PROFILE_FORMATS: dict[str, Callable[[PerformanceProfile], None]] = _formats(
    render.profile_tables, render.profile_json, render.profile_csv)
"""``profile --format``: how each format prints a :class:`~analysis.profiles.PerformanceProfile`."""


def run_profile(args: argparse.Namespace) -> int:
    """Score an external CSV table (:mod:`analysis.profile_table`); the convention's sentence
    to stderr when a workload was unsolved."""
    from .profile_table import profile_table  # on call: keeps --help light

    profile = profile_table(args.table, quantity=args.quantity, tau_max=args.tau_max,
                            drop_unsolved=args.drop_unsolved, points=args.points)
    _warn([profile.convention_sentence] if profile.convention_sentence else [])
    PROFILE_FORMATS[args.format](profile)
    return 0


def run_summary(args: argparse.Namespace) -> int:
    """Print the cross-workload summary; warnings (one workload, left-out workloads, skipped
    files, the budget) to stderr."""
    from .across_workloads import summarize_experiments  # on call: keeps --help light

    summary = summarize_experiments(args.experiments, args.budget, select=args.select, report=args.report,
                                    n_resamples=args.resamples, seed=args.seed, tau_max=args.tau_max,
                                    stage=args.stage, drop_unsolved=args.drop_unsolved, points=args.points)
    _warn_skipped(summary.skipped)
    _warn(summary.warnings)
    SUMMARY_FORMATS[args.format](summary)
    return 0


def _print_query_table(result: QueryResult, max_rows: int) -> None:
    render.print_tables([render.query_table(result, max_rows)])
    if len(result.rows) > max_rows:
        print(f"({len(result.rows) - max_rows} more rows not shown; use --format csv or a LIMIT)",
              file=sys.stderr)


QUERY_FORMATS: dict[str, Callable[[QueryResult, int], None]] = {
    "table": _print_query_table,
    "json": lambda result, _max_rows: _print(render.query_json(result)),
    "csv": lambda result, _max_rows: _print(render.query_csv(result)),
}
"""``query --format``: how each format prints a :class:`~analysis.query.QueryResult` (a table
shows at most ``--max-rows`` rows)."""


def run_query_command(args: argparse.Namespace) -> int:
    from .query import run_query  # on call: keeps --help light

    if args.max_rows < 0:
        raise ParameterError("max_rows", f"{{name}} must be >= 0, got {args.max_rows}")
    result = run_query(args.experiments, args.sql)
    _warn_skipped(result.skipped)
    QUERY_FORMATS[args.format](result, args.max_rows)
    return 0


def write_experiment_report(
    experiment: str,
    out: str,
    *,
    budget: int | None = None,
    select: str | None = None,
    report: str = "test_error",
    n_resamples: int = 1000,
    seed: int = 0,
    stage: str = "final",
) -> int:
    """Analyse ``experiment``, write its report to ``out`` and print where, with the warnings and
    a one-line summary of the verdicts."""
    from .report import analyse  # on call: keeps --help light

    data = analyse(experiment, budget=budget, select=select, report=report,
                   n_resamples=n_resamples, seed=seed, stage=stage)
    return write_analysed_report(data, out)


def write_analysed_report(data: ReportData, out: str) -> int:
    """Write the report of ``data`` (:func:`analysis.report.analyse`) to ``out`` and print where,
    with the warnings and a one-line summary of the verdicts."""
    from .report import write_report  # on call: keeps --help light

    _warn_skipped(data.skipped)
    _warn(data.warnings)
    files = write_report(data, out)
    broken = ", ".join(data.hierarchy.breaking_protocols) or "none"
    if not data.hierarchy.verdicts:
        broken = "none checked (no inclusion pair ran under a common protocol)"
    boundary = sum(1 for d in data.diagnostics if d.warning)
    print(f"wrote {files.html} and {len(files.figures)} figure files")
    print(f"budget K={data.budget}; protocols breaking the inclusion hierarchy: {broken}; "
          f"best trials near a range boundary: {boundary}")
    return 0


def run_report(args: argparse.Namespace) -> int:
    return write_experiment_report(args.experiment, args.out, budget=args.budget, select=args.select,
                                   report=args.report, n_resamples=args.resamples, seed=args.seed,
                                   stage=args.stage)


IMPORTANCE_FORMATS: dict[str, Callable[[ExperimentImportance], None]] = _formats(
    render.importance_tables, render.importance_json, render.importance_csv)
"""``importance --format``: how each format prints an
:class:`~analysis.importance.ExperimentImportance`."""


def run_importance(args: argparse.Namespace) -> int:
    """Print each search's importances; skipped files to stderr."""
    from .importance import experiment_importance  # on call: keeps --help light

    result = experiment_importance(args.experiment, evaluator=args.evaluator, select=args.select,
                                   stage=args.stage, seed=args.seed)
    _warn_skipped(result.skipped)
    IMPORTANCE_FORMATS[args.format](result)
    return 0


def run_export_optuna(args: argparse.Namespace) -> int:
    """Write the studies and say where, with how to open them in optuna-dashboard."""
    from .export import export_optuna  # on call: keeps --help light

    result = export_optuna(args.experiment, args.storage, overwrite=args.overwrite)
    _warn_skipped(result.skipped)
    for name in result.replaced:
        print(f"replaced study {name}", file=sys.stderr)
    print(f"wrote {len(result.studies)} studies ({result.n_trials} trials) to {result.storage}")
    for s in result.studies:
        print(f"  {s.name}: {s.n_trials} trials ({s.n_complete} completed, {s.n_diverged} diverged "
              f"at the worst finite value, {s.n_failed} failed)")
    print(f"browse them: optuna-dashboard {result.storage}")
    return 0
