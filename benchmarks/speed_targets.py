"""Set the embedded workloads' speed targets by a documented rule, and record the measurements.

    .venv/bin/python benchmarks/speed_targets.py [--workloads mnist1d-mlp,...] [--trials 12]
        [--seeds 5] [--work DIR] [--analyse-only]

The rule (docs/method.md, section 9.3 "Targets"), in the spirit of AlgoPerf's target setting
(tune standard optimizers in wide spaces, rerun the best configuration on several seeds, take
the median of what it reaches), relaxed from the best optimizer to the median one:

1. *Target-setting study.* Per workload, every optimizer searched over the ``choi-full`` spaces
   (``--trials`` K quasi-random trials each, seed 7, the workload's default steps), evaluated every
   ``--eval-every-fraction`` of the default evaluation interval (finer, so that the record can
   say which interval resolves a target), with ``rerun_best: {seeds: R}``: each search's best
   configuration (by the final value of the workload's target metric) trained again on R fresh
   seeds.
2. *Each optimizer's level.* For each of its best configuration's R reruns, the best value of
   the target metric over the run (the lowest evaluation, as AlgoPerf's "best achieved");
   l_o = their median, s_o = their standard deviation (ddof 1).
3. *Target* = the median over the optimizers of l_o, rounded up to 3 significant digits: the
   level that the median tuned optimizer reaches within the budget on most seeds. The
   relaxation from the best optimizer's level (AlgoPerf's choice, which its reference
   algorithms rather than the compared ones set) to the median one's is what lets steps to
   target separate the optimizers: at the best one's level only that optimizer reaches it, and
   the others all tie at "never".
4. *Spread* = the median over the optimizers of s_o (the typical seed noise of a tuned
   configuration), rounded up to 3 significant digits; the robustness check moves the target by
   k spreads, k = -2 .. 2.

The record (benchmarks/results/speed_targets.json) has, per workload: the study's size and wall
time, each search's best final value and its reruns, m, s and the target; then, for the old
and the new target and for the default and the fine evaluation interval, each optimizer's
steps to target (the first evaluation at or below it, over its K search trials: the fastest
trial, and how many trials reach it). ``resolved_at`` says whether the optimizers that reach the
new target do so at more than one distinct step at the default interval.

The constants then go into the workload classes by hand (``target_value``, ``target_spread``);
tests/workloads/test_targets.py checks them against this record.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
WORKLOADS = ("mnist1d-mlp", "mnist1d-cnn", "digits-cnn", "tinytext-lstm")
OPTIMIZERS = ("sgd", "momentum", "nesterov", "rmsprop", "adam", "nadam")
SEED = 7
ROBUSTNESS_SPREADS = (-2.0, -1.0, 0.0, 1.0, 2.0)
OLD_TARGETS = {"mnist1d-mlp": 0.5, "mnist1d-cnn": 0.2, "digits-cnn": 0.03, "tinytext-lstm": 0.5}
"""The targets before this rule (project choices), compared with the rule's in the record."""


def round_up(value: float, digits: int = 3) -> float:
    """``value`` rounded up to ``digits`` significant digits (a target never tighter than measured)."""
    if value <= 0:
        return value
    scale = 10 ** (digits - 1 - math.floor(math.log10(value)))
    return math.ceil(value * scale - 1e-9) / scale


def _protocol(path: Path, seeds: int) -> Path:
    import yaml

    from tuning.spec.protocol_files import protocol_path

    raw = yaml.safe_load(Path(protocol_path("choi-full")).read_text())
    raw["name"] = "choi-full-targets"
    raw["description"] = "choi-full with each search's best rerun on fresh seeds (benchmarks/speed_targets.py)"
    raw["rerun_best"] = {"seeds": seeds}
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def _config(path: Path, workload: str, eval_every: int, protocol: Path, trials: int) -> Path:
    path.write_text(json.dumps({
        "name": f"targets-{workload}", "workloads": [{"name": workload, "eval_every": eval_every}],
        "optimizers": list(OPTIMIZERS), "protocols": [str(protocol)], "trials_per_search": trials, "seed": SEED,
        "resources": {"cpus_per_trial": 1, "gpus_per_trial": 0}, "max_failures": 2, "bundle_size": "auto",
    }))
    return path


def run(workload: str, trials: int, seeds: int, fraction: int, work: Path) -> tuple[str, float]:
    """Run the target-setting study of ``workload`` into ``work`` (unless it is there); its
    directory and wall time."""
    import workloads
    from tuning.commands.cli import run_config

    directory = work / "targets" / workload
    if (directory / "experiment.json").exists():
        return str(directory), math.nan
    work.mkdir(parents=True, exist_ok=True)
    default = workloads.get_class(workload).eval_interval
    protocol = _protocol(work / "choi-full-targets.yaml", seeds)
    config = _config(work / f"targets-{workload}.json", workload, max(1, default // fraction), protocol, trials)
    started = time.perf_counter()
    experiment_dir, _ = run_config(str(config), str(work / "targets"), workload, num_cpus=2, progress=False,
                                   dashboard=False)
    return experiment_dir, time.perf_counter() - started


def _steps(curve: Any, metric: str, target: float, every: int) -> int | None:  # noqa: ANN401
    """The first evaluated step (a multiple of ``every``, or the last) at or below ``target``."""
    last = int(curve["step"].max())
    rows = curve[(curve["step"] % every == 0) | (curve["step"] == last)].sort_values("step")
    hit = rows[rows[metric] <= target]
    return None if hit.empty else int(hit["step"].iloc[0])


def speed_table(trials: Any, curves: Any, metric: str, target: float, every: int) -> dict[str, dict[str, Any]]:  # noqa: ANN401
    """Per optimizer: the fastest of its search trials to ``target`` at interval ``every`` and
    how many of them reach it."""
    out = {}
    search = trials[trials["phase"] == "search"]
    by_trial = dict(tuple(curves.groupby("trial_id")))
    for opt, rows in search.groupby("optimizer"):
        steps = [
            _steps(by_trial[t], metric, target, every)
            for t, status in zip(rows["trial_id"], rows["status"], strict=True)
            if t in by_trial and status == "completed"
        ]
        reached = [s for s in steps if s is not None]
        out[str(opt)] = {"fastest": min(reached) if reached else None, "reached": len(reached), "trials": len(rows)}
    return out


def analyse(workload: str, experiment_dir: str, wall_s: float) -> dict[str, Any]:
    """The record of one workload (module doc)."""
    import workloads
    from analysis.load import load_results

    cls = workloads.get_class(workload)
    metric = cls.target_metric
    exp = load_results(experiment_dir)
    trials, curves = exp.trials.to_pandas(), exp.curves.to_pandas()
    trials = trials.sort_values("attempt").drop_duplicates("trial_id", keep="last")
    column = f"final_{metric}"
    searches = {}
    for opt, rows in trials.groupby("optimizer"):
        search = rows[(rows["phase"] == "search") & (rows["status"] == "completed")]
        reruns = rows[(rows["phase"] == "rerun") & (rows["status"] == "completed")]
        best_over_run = [float(curves.loc[curves["trial_id"] == t, metric].min()) for t in reruns["trial_id"]]
        searches[str(opt)] = {
            "best_final": float(search[column].min()) if len(search) else None,
            "rerun_best_over_run": best_over_run,
        }
    levels = {o: np.asarray(v["rerun_best_over_run"], dtype=float) for o, v in searches.items()
              if len(v["rerun_best_over_run"]) >= 2}
    for o, values in levels.items():
        searches[o]["level"] = round(float(np.median(values)), 5)
        searches[o]["seed_sd"] = round(float(np.std(values, ddof=1)), 5)
    level = float(np.median([np.median(v) for v in levels.values()]))
    spread = float(np.median([np.std(v, ddof=1) for v in levels.values()]))
    target, target_spread = round_up(level), round_up(spread)
    best_opt = min(levels, key=lambda o: float(np.median(levels[o])))
    default_every = int(cls.eval_interval)
    fine_every = int(exp.meta["workloads"][0]["eval_every"])
    old = OLD_TARGETS[workload]
    speeds = {
        f"{name}_target_every_{every}": speed_table(trials, curves, metric, value, every)
        for name, value in (("old", old), ("new", target))
        for every in (default_every, fine_every)
    }
    new_default = speeds[f"new_target_every_{default_every}"]
    distinct = sorted({v["fastest"] for v in new_default.values() if v["fastest"] is not None})
    return {
        "workload": workload,
        "metric": metric,
        "trials": int(len(trials)),
        "wall_s": None if math.isnan(wall_s) else round(wall_s, 1),
        "searches": searches,
        "best_optimizer": best_opt,
        "best_level": searches[best_opt]["level"],
        "median_level": round(level, 5),
        "median_seed_sd": round(spread, 5),
        "target": target,
        "target_spread": target_spread,
        "robustness_targets": [round(target + k * target_spread, 5) for k in ROBUSTNESS_SPREADS],
        "old_target": old,
        "default_eval_every": default_every,
        "fine_eval_every": fine_every,
        "speed": speeds,
        "resolved_at_default_interval": len(distinct) > 1,
        "distinct_fastest_steps_at_default_interval": distinct,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--eval-every-fraction", type=int, default=5,
                        help="evaluate every default interval / this (default 5)")
    parser.add_argument("--work", default=None, help="keep the studies here (default: a temporary directory)")
    parser.add_argument("--analyse-only", action="store_true", help="write the record from --work; run nothing")
    parser.add_argument("--out", default=str(HERE / "results" / "speed_targets.json"))
    args = parser.parse_args()
    if args.analyse_only and args.work is None:
        parser.error("--analyse-only needs --work")
    records = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work or tmp)
        for workload in args.workloads.split(","):
            if args.analyse_only:
                experiment_dir, wall = str(work / "targets" / workload), math.nan
            else:
                experiment_dir, wall = run(workload, args.trials, args.seeds, args.eval_every_fraction, work)
            records.append(analyse(workload, experiment_dir, wall))
            print(json.dumps({k: records[-1][k] for k in ("workload", "best_optimizer", "best_level", "median_level",
                                                           "target", "target_spread", "old_target")}), flush=True)
    from tuning.store.experiment import package_versions

    record = {
        "benchmark": "speed_targets",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count()},
        "versions": package_versions(),
        "rule": {"protocol": "choi-full", "trials_per_search": args.trials, "rerun_seeds": args.seeds, "seed": SEED,
                 "target": "median over optimizers of their best configuration's median best level",
                 "robustness_spreads": list(ROBUSTNESS_SPREADS)},
        "workloads": records,
    }
    Path(args.out).write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
