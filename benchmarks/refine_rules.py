"""Compare refinement rules on the embedded workloads: does the final stage keep what the
initial stage found?

    .venv/bin/python benchmarks/refine_rules.py [--workloads mnist1d-mlp,mnist1d-cnn] [--seeds 1,2]

Per workload and seed: one initial search per optimizer over the choi-full spaces
(``--trials`` trials, default 12, the first stage of choi-two-stage at 24 trials per search),
then, from those same rows, each candidate rule's refined space
(:func:`tuning.refine.refine_experiment`) searched with as many trials again, all in one run:

- ``axis``: the shipped rule, each coordinate's range the best trials' span plus the margin;
- ``decoupled``: the same rule on heavy-ball momentum's effective learning rate
  learning_rate / (1 - momentum) in place of the learning rate (momentum, Nesterov, RMSProp;
  :func:`tuning.refine.decouple`).

The optimizers are momentum, nesterov and rmsprop by default: for the others the two rules are
the same. Per (workload, seed, optimizer, rule) the record has the initial and final best
val_error (completed trials), the final median, the final diverged count, and ``lost_ground``:
final best - initial best > 0.01 (analysis.lost_ground's tolerance). Writes
benchmarks/results/refine_rules.json (``--out``).

``--work DIR`` keeps the experiments in DIR (``r-WORKLOAD-SEED/{initial,final}``; default: a
temporary directory), so that a run cut short can be continued for the missing workloads and
seeds; ``--analyse-only`` runs nothing and writes the record from the experiments in DIR for the
given workloads and seeds.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
RULES = {"axis": {}, "decoupled": {"decoupled": True}}
TOLERANCE = 0.01


def _config(path: Path, name: str, workload: str, optimizers: list[str], protocols: list[str], trials: int, seed: int) -> Path:
    path.write_text(json.dumps({
        "name": name, "workloads": [{"name": workload}], "optimizers": optimizers,
        "protocols": protocols, "trials_per_search": trials, "seed": seed,
        "resources": {"cpus_per_trial": 1, "gpus_per_trial": 0}, "max_failures": 2, "bundle_size": "auto",
    }))
    return path


def _values(experiment_dir: str) -> dict[tuple[str, str], dict[str, Any]]:
    """(protocol, optimizer) -> best, median, diverged of its search rows (val_error)."""
    from analysis.load import load_results
    from analysis.trials import group_searches

    out = {}
    for key, search in group_searches(load_results(experiment_dir, curves=False).trials).items():
        values = search.column("final_val_error")[search.completed]
        values = values[np.isfinite(values)]
        out[(key.protocol, key.optimizer)] = {
            "best": float(values.min()) if len(values) else None,
            "median": float(np.median(values)) if len(values) else None,
            "completed": int(len(values)),
            "diverged": int(np.sum(search.status == "diverged")),
        }
    return out


def one(workload: str, seed: int, optimizers: list[str], trials: int, tmp: Path) -> list[dict[str, Any]]:
    """The initial run and the rules' final runs of one workload and seed."""
    from tuning.cli import run_config
    from tuning.refine import RefineRule, refine_experiment, write_refined_protocol

    started = time.perf_counter()
    tmp.mkdir(parents=True, exist_ok=True)
    config = _config(tmp / f"i-{workload}-{seed}.yaml", "initial", workload, optimizers, ["choi-full"], trials, seed)
    initial_dir, _ = run_config(str(config), str(tmp / f"r-{workload}-{seed}"), "initial", num_cpus=2,
                                progress=False, dashboard=False)
    protocols = []
    for rule, options in RULES.items():
        refined = refine_experiment(initial_dir, "choi-full", workload=workload, rule=RefineRule(**options))
        refined.raw["name"] = f"refined-{rule}"
        protocols.append(str(write_refined_protocol(refined, tmp / f"refined-{rule}-{workload}-{seed}.yaml")))
    config = _config(tmp / f"f-{workload}-{seed}.yaml", "final", workload, optimizers, protocols, trials, seed)
    final_dir, _ = run_config(str(config), str(tmp / f"r-{workload}-{seed}"), "final", num_cpus=2,
                              progress=False, dashboard=False)
    print(f"{workload} seed {seed}: {time.perf_counter() - started:.0f} s", flush=True)
    return rows_of(workload, seed, optimizers, initial_dir, final_dir)


def rows_of(workload: str, seed: int, optimizers: list[str], initial_dir: str, final_dir: str) -> list[dict[str, Any]]:
    """The record's rows of one workload and seed, from its two experiments."""
    initial, final = _values(initial_dir), _values(final_dir)
    rows = []
    for opt in optimizers:
        before = initial[("choi-full", opt)]
        for rule in RULES:
            after = final[(f"refined-{rule}", opt)]
            lost = None if before["best"] is None or after["best"] is None else after["best"] - before["best"] > TOLERANCE
            rows.append({
                "workload": workload, "seed": seed, "optimizer": opt, "rule": rule,
                "initial_best": before["best"], "final_best": after["best"], "final_median": after["median"],
                "final_diverged": after["diverged"], "final_completed": after["completed"], "lost_ground": lost,
            })
    return rows


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per rule: searches that lost ground, mean final best - initial best, mean final median."""
    out = {}
    for rule in RULES:
        mine = [r for r in rows if r["rule"] == rule and r["final_best"] is not None and r["initial_best"] is not None]
        out[rule] = {
            "searches": len(mine),
            "lost_ground": sum(bool(r["lost_ground"]) for r in mine),
            "mean_final_minus_initial_best": round(float(np.mean([r["final_best"] - r["initial_best"] for r in mine])), 4) if mine else None,
            "mean_final_median": round(float(np.mean([r["final_median"] for r in mine])), 4) if mine else None,
            "final_diverged": sum(r["final_diverged"] for r in mine),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", default="mnist1d-mlp,mnist1d-cnn")
    parser.add_argument("--seeds", default="1,2")
    parser.add_argument("--optimizers", default="momentum,nesterov,rmsprop")
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--out", default=str(HERE / "results" / "refine_rules.json"))
    parser.add_argument("--work", default=None, help="keep the experiments here (module docstring)")
    parser.add_argument("--analyse-only", action="store_true", help="write the record from --work; run nothing")
    parser.add_argument("--runs", nargs="*", default=None,
                        help="WORKLOAD=SEED,SEED ... in place of --workloads and --seeds (seeds per workload)")
    args = parser.parse_args()
    optimizers = args.optimizers.split(",")
    rows: list[dict[str, Any]] = []
    started = time.perf_counter()
    runs = [(w, int(s)) for w in args.workloads.split(",") for s in args.seeds.split(",")]
    if args.runs:
        runs = [(w, int(s)) for item in args.runs for w, seeds in [item.split("=", 1)] for s in seeds.split(",")]
    if args.analyse_only:
        if args.work is None:
            parser.error("--analyse-only needs --work")
        for workload, seed in runs:
            base = Path(args.work) / f"r-{workload}-{seed}"
            rows += rows_of(workload, seed, optimizers, str(base / "initial"), str(base / "final"))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(args.work or tmp)
            for workload, seed in runs:
                rows += one(workload, seed, optimizers, args.trials, work)
    from tuning.experiment import package_versions

    record = {
        "benchmark": "refine_rules",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count()},
        "versions": package_versions(),
        "trials_per_stage": args.trials,
        "tolerance": TOLERANCE,
        "wall_s": None if args.analyse_only else round(time.perf_counter() - started, 1),
        "runs": [f"{w}={s}" for w, s in runs],
        "summary": summary(rows),
        "rows": rows,
    }
    Path(args.out).write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record["summary"], indent=2))


if __name__ == "__main__":
    main()
