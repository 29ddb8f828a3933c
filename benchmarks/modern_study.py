"""Measure the modern study (tuning/configs/modern.yaml) end to end and record its answer.

    .venv/bin/python benchmarks/modern_study.py [--results results] [--name modern]
    .venv/bin/python benchmarks/modern_study.py --analyse-only   # recompute the answer of the record's run

Runs the config through the same path as `optcompare run` (Ray started in-process) into
RESULTS/NAME (kept, to report on), then writes benchmarks/results/modern_study.json: trials by
status, wall time, training fraction, and the answer as `optcompare summary` computes it (the same
code and bootstrap seeds): per protocol each optimizer's mean rank, wins and profile scores over
the workloads; the median training time per step of each (workload, optimizer); per workload
the ranking by test error at the ranking budget (mean, 5-95% band,
P(rank 1)); the study-to-study spread; and for algoperf-external the ruleset score of every
(workload, optimizer) with its per-study values (docs/method.md 9.7).
"""

from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def _finite(value: float) -> float | None:
    return round(value, 4) if math.isfinite(value) else None


def _train_ms_per_step(experiment_dir: str) -> dict[str, dict[str, float]]:
    """Workload -> optimizer -> the median over its completed trials of train_time_s /
    total_steps, in ms. Compare unbundled optimizers only: a bundled trial (momentum and adam on
    the CNNs here) trained with its bundle, so its time is not one trial's alone."""
    from analysis.load import load_experiment

    trials = load_experiment(experiment_dir)[1].table.to_pandas()
    done = trials[(trials["status"] == "completed") & (trials["total_steps"] > 0)]
    per_step = 1e3 * done["train_time_s"] / done["total_steps"]
    medians = per_step.groupby([done["workload"], done["optimizer"]]).median()
    out: dict[str, dict[str, float]] = {}
    for (workload, optimizer), value in medians.items():
        out.setdefault(str(workload), {})[str(optimizer)] = round(float(value), 2)
    return out


def _answer(experiment_dir: str) -> dict[str, Any]:
    """What the closing note quotes: standings and profile scores per protocol, rankings per
    (workload, protocol), the ruleset scores and the study spread."""
    from analysis import analyse
    from analysis.across_workloads import summarize_experiments

    summary = summarize_experiments(experiment_dir)
    data = analyse(experiment_dir)
    protocols = {}
    for p in summary.protocols:
        scores = {q.quantity: {o.optimizer: _finite(o.score) for o in q.optimizers} for q in p.profiles}
        protocols[p.protocol] = {
            "standings": [
                {"optimizer": s.optimizer, "mean_rank": round(s.mean_rank, 2), "wins": s.wins,
                 **{f"score_{q}": by[s.optimizer] for q, by in scores.items()},
                 **({} if p.ruleset is None else {"score_ruleset": _finite(p.ruleset.score_of(s.optimizer))})}
                for s in p.standings
            ],
        }
        if p.ruleset is not None:
            protocols[p.protocol]["ruleset"] = [
                {"workload": s.workload, "optimizer": s.optimizer, "score": _finite(s.score),
                 "per_study": [_finite(v) for v in s.per_study]}
                for s in p.ruleset.scores
            ]
    rankings = [
        {"workload": r.workload, "protocol": r.protocol, "budget": data.budget,
         "optimizers": [
             {"optimizer": o.optimizer, "rank": o.rank, "mean": _finite(o.mean), "p05": _finite(o.p05),
              "p95": _finite(o.p95), "p_rank1": _finite(o.rank_probabilities[0]) if o.rank_probabilities else None}
             for o in r.optimizers]}
        for r in data.rankings
    ]
    agreement = [] if data.studies is None else [a.__dict__ for at in data.studies.by_budget for a in at.agreement]
    spread = [] if data.studies is None else [
        {"workload": s.workload, "protocol": s.protocol, "optimizer": s.optimizer,
         "study_means": [_finite(m) for m in s.means], "sd": _finite(s.sd)}
        for at in data.studies.by_budget for s in at.spread
    ]
    return {
        "train_ms_per_step": _train_ms_per_step(experiment_dir),
        "report_metric": summary.report, "budget": summary.budget, "resamples": summary.n_resamples,
        "protocols": protocols, "rankings": rankings, "study_spread": spread,
        "study_agreement": agreement,
        "warnings": list(summary.warnings),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(HERE.parent / "tuning" / "configs" / "modern.yaml"))
    parser.add_argument("--results", default=str(HERE.parent / "results"))
    parser.add_argument("--name", default="modern")
    parser.add_argument("--out", default=str(HERE / "results" / "modern_study.json"))
    parser.add_argument("--analyse-only", action="store_true",
                        help="recompute the answer of the record's experiment; run nothing")
    args = parser.parse_args()
    out = Path(args.out)
    from study_record import rewrite_record, run_record

    if args.analyse_only:
        rewrite_record(out, "answer", _answer(json.loads(out.read_text())["experiment"]))
        return

    from tuning.commands.cli import run_config

    experiment_dir, summary = run_config(args.config, args.results, args.name, progress=True)
    record = {
        **run_record("modern_study", os.path.relpath(args.config, HERE.parent), summary),
        "experiment": experiment_dir,
        "wall_time_s": round(summary.wall_time_s, 1),
        "train_time_s": round(summary.train_time_s, 1),
        "training_fraction": round(summary.training_fraction, 3),
        "targets": {"wall_time_s_max": 3600},
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2, default=str) + "\n")  # the run is on record first
    record["answer"] = _answer(experiment_dir)
    out.write_text(json.dumps(record, indent=2, default=str) + "\n")
    print(json.dumps(record["answer"], indent=2, default=str))


if __name__ == "__main__":
    main()
