"""Analysis: turn an experiment's Parquet results into the paper's conclusions.

Reads only the results layout (:mod:`optcompare.schema`; docs/architecture.md); needs neither
torch nor ray. Compute first, render second: the statistics return frozen dataclasses;
:mod:`analysis.render` (the text of ``rank`` and ``query``), :mod:`analysis.figures` and
:mod:`analysis.report` only render them. Arguments are checked once, where they enter
(:mod:`analysis.checks`), with errors that name the parameter, never a command-line flag.

- Loading: :func:`load_results`, :func:`load_experiments`, :func:`group_searches`;
  SQL: :func:`run_query` / :func:`connect` (DuckDB views ``trials`` and ``curves``).
- Bootstrap over budgets: :func:`best_of_k`, :func:`expected_best_of_k`, :func:`bootstrap_searches`.
- Rankings with rank probabilities: :func:`rank_experiment` (an experiment directory, several
  budgets, one draw), :func:`rank_optimizers`, :func:`rank_optimizers_at`, :func:`rankings_at`,
  :func:`rank_probabilities`, :func:`budget_warnings`.
- Inclusion verdicts and protocol disagreement: :func:`check_inclusions`,
  :func:`summarize_hierarchy`, :func:`rank_flips`, :func:`inclusion_pairs`,
  :func:`transitive_pairs` (pairs implied by chains).
- Training speed and robustness: :func:`speed_rankings`, :func:`ordering_robustness`,
  :func:`goodman_kruskal_gamma` (the agreement of two orderings).
- Across workloads: :func:`summarize_experiments` (one or several experiment directories),
  :func:`summarize_workloads`, :func:`performance_profile` (AlgoPerf's profiles: unsolved
  workloads count as misses unless ``drop_unsolved``; exact scores, or AlgoPerf's trapezoid with
  ``points``), :func:`profile_table` (an external CSV table scored alike), :func:`standings`
  (mean rank and wins), :func:`verdict_table`; a protocol that follows a published ruleset:
  :func:`ruleset_results` (AlgoPerf's median over studies of each study's best steps to target).
- Search-space diagnostics: :func:`search_space_diagnostics`; reruns of the best point:
  :func:`rerun_summaries`; inclusion probes: :func:`probe_results` (:class:`ProbeResult`).
- Stages and repeated studies: :func:`select_stage` / :func:`select_stage_rows` (``stage``:
  final, initial, all or a stage's name), :func:`stage_names`; :func:`compare_studies`
  (per-study rankings, :class:`StudySpread`, :class:`StudyAgreement`); the refined spaces
  experiment.json records: :func:`refined_spaces`.
- Adaptive searches: :func:`adaptive_protocols`, budget curves in ask order
  (:func:`ask_order_curve`, :func:`best_of_first_k`) and samplers at equal budgets
  (:func:`compare_samplers`, :class:`SamplerComparison`).
- Optuna: hyperparameter importance (:func:`experiment_importance`, :data:`EVALUATORS`) and
  the export of studies for optuna-dashboard (:func:`export_optuna`), both from one
  rows-to-trials rule (:func:`rebuilt_trials`).
- Report: :func:`analyse`, :func:`write_report`; its opening table: :func:`hierarchy_rows`.
"""

from optcompare.searches import Search, group_searches
from optcompare.space_range import SpaceRange, position_in_range

from .across_workloads import (
    CrossWorkloadSummary,
    ProtocolSummary,
    Standing,
    VerdictRow,
    VerdictTable,
    standings,
    summarize_experiments,
    summarize_workloads,
    verdict_table,
)
from .ask_order import (
    AskOrderCurve,
    SamplerComparison,
    adaptive_protocols,
    ask_order_curve,
    best_of_first_k,
    compare_samplers,
)
from .bootstrap import BudgetCurve, best_of_k, expected_best_of_k
from .checks import check_budgets, check_metric, check_resamples, check_select
from .curves import (
    BestTrialCurve,
    SearchCurves,
    align_curves,
    best_trial_curve,
    metrics_at_step,
    steps_to_target,
)
from .diagnostics import HyperparameterDiagnostic, search_space_diagnostics
from .experiment_rankings import ExperimentRankings, rank_experiment
from .export import ExportedStudy, ExportResult, export_optuna
from .headline import HierarchyRow, hierarchy_rows
from .importance import (
    EVALUATORS,
    CoordinateImportance,
    ExperimentImportance,
    SearchImportance,
    experiment_importance,
)
from .inclusion import (
    DEFAULT_INCLUSIONS,
    HierarchySummary,
    InclusionPair,
    InclusionVerdict,
    RankFlip,
    check_inclusions,
    inclusion_pairs,
    rank_flips,
    summarize_hierarchy,
    transitive_pairs,
)
from .load import Experiment, Loaded, load_experiment, load_experiments, load_results, load_table
from .optuna_study import RebuiltTrials, rebuilt_trials
from .probes import ProbeResult, probe_results
from .profile_table import profile_table, read_profile_table
from .profiles import OptimizerProfile, PerformanceProfile, performance_profile, performance_ratios
from .query import QueryResult, connect, run_query
from .ranking import (
    BudgetRankings,
    OptimizerScore,
    Ranking,
    bootstrap_searches,
    budget_warnings,
    default_budget,
    rank_optimizers,
    rank_optimizers_at,
    rank_probabilities,
    rankings_at,
)
from .refined import RefinedSpace, refined_spaces
from .report import ReportData, ReportFiles, analyse, write_report
from .reruns import RerunSummary, rerun_summaries
from .rulesets import RulesetResult, RulesetScore, protocol_rulesets, ruleset_results
from .speed import (
    OrderingCheck,
    Robustness,
    SpeedRanking,
    SpeedScore,
    goodman_kruskal_gamma,
    ordering_robustness,
    speed_rankings,
)
from .stages import select_stage, select_stage_rows, stage_names
from .studies import StudiesAtBudget, StudyAgreement, StudyComparison, StudySpread, compare_studies

__all__ = [
    "DEFAULT_INCLUSIONS",
    "EVALUATORS",
    "AskOrderCurve",
    "BestTrialCurve",
    "BudgetCurve",
    "BudgetRankings",
    "CoordinateImportance",
    "CrossWorkloadSummary",
    "Experiment",
    "ExperimentImportance",
    "ExperimentRankings",
    "ExportResult",
    "ExportedStudy",
    "HierarchyRow",
    "HierarchySummary",
    "HyperparameterDiagnostic",
    "InclusionPair",
    "InclusionVerdict",
    "Loaded",
    "OptimizerProfile",
    "OptimizerScore",
    "OrderingCheck",
    "PerformanceProfile",
    "ProbeResult",
    "ProtocolSummary",
    "QueryResult",
    "RankFlip",
    "Ranking",
    "RebuiltTrials",
    "RefinedSpace",
    "ReportData",
    "ReportFiles",
    "RerunSummary",
    "Robustness",
    "SamplerComparison",
    "Search",
    "SearchCurves",
    "SearchImportance",
    "SpaceRange",
    "SpeedRanking",
    "SpeedScore",
    "Standing",
    "StudiesAtBudget",
    "StudyAgreement",
    "StudyComparison",
    "StudySpread",
    "VerdictRow",
    "VerdictTable",
    "adaptive_protocols",
    "align_curves",
    "analyse",
    "ask_order_curve",
    "best_of_first_k",
    "best_of_k",
    "best_trial_curve",
    "bootstrap_searches",
    "budget_warnings",
    "check_budgets",
    "check_inclusions",
    "check_metric",
    "check_resamples",
    "check_select",
    "compare_samplers",
    "compare_studies",
    "connect",
    "default_budget",
    "expected_best_of_k",
    "experiment_importance",
    "export_optuna",
    "goodman_kruskal_gamma",
    "group_searches",
    "hierarchy_rows",
    "inclusion_pairs",
    "load_experiment",
    "load_experiments",
    "load_results",
    "load_table",
    "metrics_at_step",
    "ordering_robustness",
    "performance_profile",
    "protocol_rulesets",
    "ruleset_results",
    "RulesetResult",
    "RulesetScore",
    "performance_ratios",
    "profile_table",
    "read_profile_table",
    "position_in_range",
    "probe_results",
    "rank_experiment",
    "rank_flips",
    "rank_optimizers",
    "rank_optimizers_at",
    "rank_probabilities",
    "rankings_at",
    "rebuilt_trials",
    "refined_spaces",
    "rerun_summaries",
    "run_query",
    "search_space_diagnostics",
    "select_stage",
    "select_stage_rows",
    "speed_rankings",
    "stage_names",
    "standings",
    "steps_to_target",
    "summarize_experiments",
    "summarize_hierarchy",
    "summarize_workloads",
    "transitive_pairs",
    "verdict_table",
    "write_report",
]
