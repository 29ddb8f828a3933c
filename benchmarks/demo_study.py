"""Measure the demo study end to end: trials, wall time and training fraction.

    .venv/bin/python benchmarks/demo_study.py [--config tuning/configs/demo.yaml]

Runs the config through the same path as `optcompare run` (Ray started in-process), then the
rest of `optcompare demo` on its results (the ranking and the HTML report, timed apart), into a
temporary results directory, and writes benchmarks/results/demo_study.json. Training fraction =
total time inside training steps / (study wall time x parallel trial slots); the wall time
counts from reading the config, Ray's start included.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(HERE.parent / "tuning" / "configs" / "demo.yaml"))
    parser.add_argument("--out", default=str(HERE / "results" / "demo_study.json"))
    args = parser.parse_args()

    from study_record import run_record

    from analysis.cli import write_experiment_report
    from analysis.experiment_rankings import rank_experiment
    from tuning.commands.cli import run_config

    with tempfile.TemporaryDirectory() as tmp:
        experiment_dir, summary = run_config(args.config, tmp, "bench", progress=True)
        started = time.perf_counter()
        rank_experiment(experiment_dir, select=None, report="test_error")
        rank_s = time.perf_counter() - started
        started = time.perf_counter()
        write_experiment_report(experiment_dir, f"{tmp}/report", select=None)
        report_s = time.perf_counter() - started
    record = {
        **run_record("demo_study", os.path.relpath(args.config, HERE.parent), summary),
        "wall_time_s": round(summary.wall_time_s, 2),
        "rank_s": round(rank_s, 2),
        "report_s": round(report_s, 2),
        "demo_total_s": round(summary.wall_time_s + rank_s + report_s, 2),
        "train_time_s": round(summary.train_time_s, 2),
        "training_fraction": round(summary.training_fraction, 3),
        "wall_s_per_trial_per_slot": round(summary.wall_time_s * summary.slots / max(1, summary.finished), 3),
        "train_s_per_trial": round(summary.train_time_s / max(1, summary.finished), 3),
        "targets": {"trials_min": 60, "wall_time_s_max": 600, "training_fraction_min": 0.5},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
