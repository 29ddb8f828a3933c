"""Time ``rank`` and a curves query on a synthetic 10,000-trial experiment in the real layout.

    .venv/bin/python benchmarks/analysis_rank.py [--trials 10000] [--rounds 5] [--keep DIR]

The experiment: 2 workloads x 3 protocols x 6 optimizers (36 searches), 10,000 trials in all,
20 curve rows per trial, written through ``tuning.store.sink.ResultSink`` (the production writer,
atomic part files, a flush every ``--flush-rows`` buffered rows, so partitions hold several part
files as in a streamed study) with an experiment.json. About 5% of trials diverge and 1% fail.

Measured, each as the median (and min) over ``--rounds`` rounds, in one process:
- ``rank_library_12_budgets``: load the trials, group them into searches, bootstrap every search
  once at 12 budgets (1..256) with B = 1000, and rank (with rank probabilities) at each budget;
- ``rank_library_per_budget``: ``analysis.rank_optimizers`` called once per budget (12 calls,
  each its own bootstrap), trials already loaded;
- ``rank_cli_12_budgets``: ``optcompare rank EXP --budget 1,2,...,256 --format json`` in-process,
  one call for all 12 budgets (load + one bootstrap + JSON): the CLI path of the rank target;
- ``rank_cli_per_call``: ``optcompare rank EXP --budget K --format json`` in-process (load +
  bootstrap + JSON), per call, over the 12 budgets;
- ``rank_cli_cold``: one ``python -m optcompare rank`` subprocess (interpreter start and imports);
- ``query_curves_groupby``: ``analysis.run_query`` of a group-by over all curve rows
  (file listing, footer checks, DuckDB view creation and the query);
- ``summary_across_workloads``: ``analysis.summarize_experiments`` (performance profiles, mean
  ranks, wins and verdicts over the 2 workloads, per protocol; load included);
- once: ``analysis.analyse`` (every statistic of the report, curves included) and
  ``analysis.write_report`` (figures as PNG and PDF, and the HTML page).
Targets (2-core machine): rank under 2 s, the query under 1 s, the summary under 2 s.
Writes benchmarks/results/analysis_rank.json.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

import analysis  # noqa: E402
from optcompare.cli import main  # noqa: E402
from tuning.store.sink import ResultSink  # noqa: E402

WORKLOADS = ("mnist1d-mlp", "digits-cnn")
PROTOCOLS = ("choi-full", "lr-only", "wilson2017")
OPTIMIZERS = ("sgd", "momentum", "nesterov", "rmsprop", "adam", "nadam")
TUNED = {
    "sgd": ("learning_rate",),
    "momentum": ("learning_rate", "one_minus_momentum"),
    "nesterov": ("learning_rate", "one_minus_momentum"),
    "rmsprop": ("learning_rate", "one_minus_momentum", "one_minus_rho", "epsilon"),
    "adam": ("learning_rate_over_epsilon", "epsilon", "one_minus_beta1", "one_minus_beta2"),
    "nadam": ("learning_rate_over_epsilon", "epsilon", "one_minus_beta1", "one_minus_beta2"),
}
BUDGETS = (1, 2, 3, 4, 6, 8, 12, 16, 32, 64, 128, 256)
STEPS = 2000
EVALS = 20
QUERY = (
    "select workload, protocol, optimizer, step, avg(val_error) as mean_val_error, "
    "min(val_error) as best_val_error, count(*) as n from curves group by all order by all"
)


def write_synthetic(path: Path, n_trials: int, flush_rows: int, seed: int = 0) -> dict:
    """The experiment directory and a summary of what was written."""
    rng = np.random.default_rng(seed)
    keys = [(w, p, o) for w in WORKLOADS for p in PROTOCOLS for o in OPTIMIZERS]
    per = [n_trials // len(keys) + (1 if i < n_trials % len(keys) else 0) for i in range(len(keys))]
    space = {name: {"min": 1e-4, "max": 1.0, "scaling": "log"} for names in TUNED.values() for name in names}
    meta = {
        "name": path.name,
        "workloads": [{"name": w, "steps": STEPS, "eval_every": STEPS // EVALS, "target_metric": "val_error",
                       "target_value": 0.3} for w in WORKLOADS],
        "optimizers": list(OPTIMIZERS),
        "searches": [{"protocol": p, "optimizer": o, "schedule": "linear_decay",
                      "space": {n: space[n] for n in TUNED[o]}, "fixed": {}} for p in PROTOCOLS for o in OPTIMIZERS],
        "inclusions": [{"narrow": a, "wide": b, "exact": a == "sgd"} for a, b in (
            ("sgd", "momentum"), ("sgd", "nesterov"), ("momentum", "rmsprop"), ("momentum", "adam"), ("nesterov", "nadam"))],
        "select": {p: "val_error" for p in PROTOCOLS},
        "trials_per_search": max(per),
    }
    path.mkdir(parents=True)
    (path / "experiment.json").write_text(json.dumps(meta, indent=2))
    sink = ResultSink(str(path), flush_rows=flush_rows, flush_seconds=1e9)
    steps = np.arange(1, EVALS + 1) * (STEPS // EVALS)
    # Trials finish interleaved across searches, as in a real study, so every flush writes a
    # part file to each partition.
    for i in range(max(per)):
        for key, n in zip(keys, per, strict=True):
            if i >= n:
                continue
            quality = 0.1 + 0.02 * OPTIMIZERS.index(key[2]) + 0.03 * PROTOCOLS.index(key[1])
            final = quality + rng.gamma(2.0, 0.08)
            status = "diverged" if rng.uniform() < 0.05 else ("failed" if rng.uniform() < 0.01 else "completed")
            curve = 0.9 - (0.9 - final) * (1 - np.exp(-steps / (0.3 * STEPS))) / (1 - math.exp(-1 / 0.3))
            reached = np.flatnonzero(curve <= 0.3)
            trial_id = f"{key[0]}/{key[1]}/{key[2]}/{i:05d}"
            if status != "failed":
                sink.add_curve_rows(key, [
                    {"trial_id": trial_id, "attempt": 0, "step": int(s), "learning_rate": 0.1, "train_loss": float(e),
                     "val_error": float(e), "val_loss": float(e), "test_error": float(e) + 0.01,
                     "test_loss": float(e), "wall_time_s": float(s) * 1e-3}
                    for s, e in zip(steps, curve, strict=True)])
            ok = status == "completed"
            row = {
                "trial_id": trial_id, "trial_index": i, "seed": i, "attempt": 0, "status": status,
                "final_train_loss": float(final) if ok else math.nan, "final_val_error": float(final) if ok else math.nan,
                "final_val_loss": float(final) if ok else math.nan,
                "final_test_error": float(final) + 0.01 if ok else math.nan,
                "final_test_loss": float(final) if ok else math.nan, "best_val_error": float(curve.min()),
                "best_val_step": int(steps[-1]),
                "steps_to_target": int(steps[reached[0]]) if (len(reached) and status != "failed") else None,
                "total_steps": STEPS if ok else 0, "wall_time_s": 1.0, "train_time_s": 0.9,
                "error": "worker died" if status == "failed" else None,
            }
            tuned = {name: float(10 ** rng.uniform(-4, 0)) for name in TUNED[key[2]]}
            sink.add_trial_row(key, row, {"learning_rate": 0.1, "decay_factor": 0.01}, tuned)
    sink.close()
    return {"trials": n_trials, "curve_rows": sink.curve_rows_written, "files": sink.files_written,
            "searches": len(keys), "trials_per_search": [min(per), max(per)]}


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _stats(samples: list[float]) -> dict:
    return {"median_s": round(statistics.median(samples), 4), "min_s": round(min(samples), 4),
            "rounds": len(samples)}


def rank_library_all(exp: str) -> None:
    loaded = analysis.load_results(exp, curves=False)
    searches = analysis.group_searches(loaded.trials)
    curves = analysis.bootstrap_searches(searches, BUDGETS, n_resamples=1000, seed=0)
    for k in BUDGETS:
        analysis.rankings_at(curves, searches, k)


def rank_library_per_budget(trials) -> None:
    for k in BUDGETS:
        analysis.rank_optimizers(trials, budget=k, n_resamples=1000)


def rank_cli(exp: str, budget: int) -> None:
    with contextlib.redirect_stdout(io.StringIO()):
        code = main(["rank", exp, "--budget", str(budget), "--format", "json"])
    assert code == 0


def rank_cli_all(exp: str) -> None:
    with contextlib.redirect_stdout(io.StringIO()):
        code = main(["rank", exp, "--budget", ",".join(map(str, BUDGETS)), "--format", "json"])
    assert code == 0


def query(exp: str) -> int:
    return len(analysis.run_query(exp, QUERY).rows)


def run(args: argparse.Namespace) -> dict:
    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="analysis-rank-"))
    try:
        return _measure(args, base / "bench")
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)


def _measure(args: argparse.Namespace, exp: Path) -> dict:
    if exp.exists():
        raise SystemExit(f"{exp} exists; remove it or choose another --keep")
    start = time.perf_counter()
    summary = write_synthetic(exp, args.trials, args.flush_rows)
    t_write = time.perf_counter() - start
    trials = analysis.load_results(str(exp), curves=False).trials
    lib_all, lib_each, cli, cli_all, q, summaries = [], [], [], [], [], []
    rank_library_all(str(exp))  # warm-up: imports, page cache
    query(str(exp))
    for _ in range(args.rounds):
        lib_all.append(_timed(lambda: rank_library_all(str(exp))))
        lib_each.append(_timed(lambda: rank_library_per_budget(trials)))
        cli_all.append(_timed(lambda: rank_cli_all(str(exp))))
        per_call = [_timed(lambda k=k: rank_cli(str(exp), k)) for k in BUDGETS]
        cli.extend(per_call)
        q.append(_timed(lambda: query(str(exp))))
        summaries.append(_timed(lambda: analysis.summarize_experiments([str(exp)])))
    cold = _timed(lambda: subprocess.run(
        [sys.executable, "-m", "optcompare", "rank", str(exp), "--budget", "16", "--format", "json"],
        check=True, capture_output=True, cwd=ROOT))
    rows = query(str(exp))
    start = time.perf_counter()
    data = analysis.analyse(str(exp), n_resamples=1000)
    t_analyse = time.perf_counter() - start
    out = exp.parent / "report"
    t_render = _timed(lambda: analysis.write_report(data, out))
    results = {
        "rank_library_12_budgets": _stats(lib_all),
        "rank_library_per_budget_12_calls": _stats(lib_each),
        "rank_cli_12_budgets": _stats(cli_all),
        "rank_cli_per_call": _stats(cli),
        "rank_cli_12_calls_total_median_s": round(statistics.median(cli) * len(BUDGETS), 4),
        "rank_cli_cold_subprocess_s": round(cold, 4),
        "query_curves_groupby": {**_stats(q), "result_rows": rows},
        "summary_across_workloads": _stats(summaries),
        "report_analyse_s": round(t_analyse, 3),
        "report_render_s": round(t_render, 3),
    }
    return {
        "benchmark": "analysis_rank",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "versions": {m: metadata.version(m) for m in ("numpy", "pyarrow", "duckdb")},
        "experiment": {**summary, "write_s": round(t_write, 2), "budgets": list(BUDGETS), "n_resamples": 1000,
                       "query": QUERY},
        "targets": {"rank_s": 2.0, "query_s": 1.0, "summary_s": 2.0},
        "results": results,
        "meets_targets": {
            "rank_library_12_budgets": results["rank_library_12_budgets"]["median_s"] < 2.0,
            "rank_cli_12_budgets": results["rank_cli_12_budgets"]["median_s"] < 2.0,
            "rank_cli_per_call": results["rank_cli_per_call"]["median_s"] < 2.0,
            "query": results["query_curves_groupby"]["median_s"] < 1.0,
            "summary": results["summary_across_workloads"]["median_s"] < 2.0,
        },
    }


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--flush-rows", type=int, default=5000, help="sink flush threshold in rows (default: the sink's 5000)")
    parser.add_argument("--keep", default=None, help="write the experiment under this directory and keep it")
    parser.add_argument("--out", default=str(HERE / "results" / "analysis_rank.json"))
    return parser.parse_args()


if __name__ == "__main__":
    arguments = parse_args()
    record = run(arguments)
    Path(arguments.out).write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record["results"], indent=2))
    print("meets targets:", record["meets_targets"])
