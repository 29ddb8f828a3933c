"""Per-trial overhead and driver memory: optcompare's driver vs a plain Ray Tune script.

    .venv/bin/python benchmarks/orchestration_overhead.py [--trials 500] [--plain-trials 500]
    .venv/bin/python benchmarks/orchestration_overhead.py --baseline-rev REV [--trials 500] [--repeats 3]

Both run the same short trial (mnist1d-mlp, 40 steps, one evaluation) on the same in-process Ray
(2 CPUs, 1 CPU per trial), one after the other in separate processes, so each driver's peak
memory (VmHWM) is its own:

- optcompare: the real path (plan -> PlanSearcher -> reused actors -> batched reports -> Parquet);
- plain Tune: a function trainable training the same model, reporting once, with Tune's
  defaults (a new actor per trial, default loggers), 500 configs from a grid.

Overhead per trial = (wall time x slots - sum of the trials' own wall time) / trials.

Driver memory: optcompare's peak RSS at ``--memory-trials`` (default 1000 and 4000 trials, both at
least one full Tune run of ``trials_per_fit`` = 1000 trials, so their difference is what grows
with the trial count), against the plan's own size (tracemalloc of ``resolve_plan`` alone, in the
same child before the run; tracemalloc is off while the study runs, as its own bookkeeping would
grow the process).
Writes benchmarks/results/orchestration_overhead.json.

``--baseline-rev REV`` measures only optcompare's side, in this tree and at git revision REV (a
temporary worktree whose own benchmark script and packages run), alternating, and writes
benchmarks/results/orchestration_overhead_vs_revision.json: the ratio of the median overheads.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
STEPS = 40


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_optcompare(trials: int) -> dict:
    from tuning.driver.ray_env import RayTarget
    from tuning.driver.run_study import run_study
    from tuning.driver.study_options import StudyOptions
    from tuning.plan.resolve import resolve_plan
    from tuning.spec.config import parse_config

    raw = {
        "name": "bench", "workloads": [{"name": "mnist1d-mlp", "steps": STEPS, "eval_every": STEPS}],
        "optimizers": ["sgd"], "protocols": ["lr-only"], "trials_per_search": trials,
    }
    import tracemalloc

    config = parse_config(raw, "benchmark", Path("."))
    tracemalloc.start()
    plan = resolve_plan(config)
    plan_bytes = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        summary = run_study(
            plan, tmp, StudyOptions(ray=RayTarget(num_cpus=2), progress=False), started_at=start
        )
        wall = time.perf_counter() - start
        import pyarrow.dataset as ds

        from analysis.load import load_experiment  # noqa: F401 - same reader as users

        table = ds.dataset(f"{tmp}/trials", format="parquet", partitioning="hive").to_table()
        trial_wall = float(sum(table.column("wall_time_s").to_pylist()))
    return {"trials": summary.finished, "wall_s": wall, "slots": summary.slots, "trial_wall_s": trial_wall,
            "plan_mb": plan_bytes / 2**20}


def run_plain(trials: int) -> dict:
    os.environ.pop("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", None)
    import ray
    from ray import tune

    def trainable(config: dict) -> None:
        import time as t

        import torch

        import workloads

        torch.set_num_threads(1)
        begin = t.perf_counter()
        w = workloads.get("mnist1d-mlp")
        out = workloads.train(w, "sgd", {"learning_rate": config["lr"]}, "constant", {}, config["seed"],
                              steps=STEPS, eval_every=STEPS)
        tune.report({"val_error": out.rows[-1].val_error, "trial_wall_s": t.perf_counter() - begin})

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR")
        tuner = tune.Tuner(
            tune.with_resources(trainable, {"cpu": 1}),
            param_space={"lr": 0.05, "seed": tune.grid_search(list(range(trials)))},
            run_config=tune.RunConfig(storage_path=tmp, name="plain", verbose=0),
        )
        results = tuner.fit()
        wall = time.perf_counter() - start
        trial_wall = float(sum(r.metrics.get("trial_wall_s", 0.0) for r in results))
        ray.shutdown()
    return {"trials": len(results), "wall_s": wall, "slots": 2, "trial_wall_s": trial_wall}


def child(mode: str, trials: int) -> None:
    result = run_optcompare(trials) if mode == "optcompare" else run_plain(trials)
    result["driver_peak_rss_mb"] = peak_rss_mb()
    print("RESULT " + json.dumps(result), flush=True)


def measure(mode: str, trials: int, root: Path = HERE.parent) -> dict:
    """Run one child of the benchmark script of the tree at ``root`` (its own packages first on
    the path, also for Ray's workers, which inherit the environment)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run(
        [sys.executable, str(root / "benchmarks" / Path(__file__).name), "--child", mode, "--trials", str(trials)],
        capture_output=True, text=True, cwd=root, env=env,
    )
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"{mode} run failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    r = json.loads(line[len("RESULT "):])
    r["overhead_per_trial_s"] = (r["wall_s"] * r["slots"] - r["trial_wall_s"]) / max(1, r["trials"])
    r["results_per_s"] = r["trials"] / r["wall_s"]
    return r


def compare_with_revision(rev: str, trials: int, repeats: int, out: Path) -> None:
    """optcompare's per-trial overhead in this tree and at git revision ``rev`` (checked out in a
    temporary worktree), alternating ``repeats`` times so that both see the same machine."""
    runs: dict[str, list[dict]] = {"current": [], "baseline": []}
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "baseline"
        subprocess.run(["git", "worktree", "add", "--detach", str(tree), rev], cwd=HERE.parent, check=True,
                       capture_output=True)
        try:
            for _ in range(repeats):
                for name, root in (("baseline", tree), ("current", HERE.parent)):
                    runs[name].append(measure("optcompare", trials, root))
                    print(name, json.dumps(runs[name][-1]), flush=True)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=HERE.parent, check=False)
    median = {k: sorted(r["overhead_per_trial_s"] for r in v)[len(v) // 2] for k, v in runs.items()}
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=HERE.parent, capture_output=True, text=True).stdout.strip()
    record = {
        "benchmark": "orchestration_overhead_vs_revision",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "trial": f"mnist1d-mlp, {STEPS} steps, one evaluation, 1 CPU",
        "baseline_rev": rev,
        "current_rev": head,
        "current_tree_dirty": bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                                                  cwd=HERE.parent, capture_output=True, text=True).stdout.strip()),
        "runs": runs,
        "median_overhead_per_trial_s": median,
        "overhead_ratio_current_over_baseline": median["current"] / median["baseline"],
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=500, help="optcompare trials (also run at 4x for memory growth)")
    parser.add_argument("--plain-trials", type=int, default=500)
    parser.add_argument("--child", choices=["optcompare", "plain"], default=None)
    parser.add_argument("--skip-plain", action="store_true",
                        help="reuse the plain-Tune figures of the last full run (they take ~30 min)")
    parser.add_argument("--memory-trials", default="1000,4000",
                        help="optcompare trial counts for the driver-memory scaling (comma-separated)")
    parser.add_argument("--out", default=None,
                        help="record path (default: results/orchestration_overhead.json, or "
                        "results/orchestration_overhead_vs_revision.json with --baseline-rev)")
    parser.add_argument("--baseline-rev", default=None,
                        help="instead: compare optcompare's overhead in this tree with git revision REV "
                        "(e.g. before a refactor of the driver), alternating runs of --trials trials")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each tree with --baseline-rev")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.trials)
        return
    if args.baseline_rev:
        out = Path(args.out or HERE / "results" / "orchestration_overhead_vs_revision.json")
        compare_with_revision(args.baseline_rev, args.trials, args.repeats, out)
        return
    args.out = args.out or str(HERE / "results" / "orchestration_overhead.json")
    record: dict = {
        "benchmark": "orchestration_overhead",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "trial": f"mnist1d-mlp, {STEPS} steps, one evaluation, 1 CPU",
    }
    record["optcompare"] = measure("optcompare", args.trials)
    print(json.dumps(record["optcompare"]), flush=True)
    record["optcompare_4x"] = measure("optcompare", 4 * args.trials)
    print(json.dumps(record["optcompare_4x"]), flush=True)
    previous = json.loads(Path(args.out).read_text()) if Path(args.out).exists() else {}
    if not args.skip_plain:
        record["plain_tune_defaults"] = measure("plain", args.plain_trials)
        print(json.dumps(record["plain_tune_defaults"]), flush=True)
    elif "plain_tune_defaults" in previous:  # keep the slow plain-Tune figure of the last full run
        record["plain_tune_defaults"] = previous["plain_tune_defaults"]
        record["plain_tune_measured_at"] = previous.get("plain_tune_measured_at", previous.get("measured_at"))
    if "plain_tune_defaults" in record:
        record.setdefault("plain_tune_measured_at", record["measured_at"])
        record["overhead_ratio_optcompare_over_plain"] = (
            record["optcompare"]["overhead_per_trial_s"] / record["plain_tune_defaults"]["overhead_per_trial_s"]
        )
    record["driver_memory_growth_mb_per_1000_trials"] = (
        (record["optcompare_4x"]["driver_peak_rss_mb"] - record["optcompare"]["driver_peak_rss_mb"])
        / (3 * args.trials) * 1000
    )
    counts = [int(c) for c in args.memory_trials.split(",") if c]
    scaling = [measure("optcompare", n) for n in counts]
    for run in scaling:
        print(json.dumps(run), flush=True)
    record["memory_scaling"] = [
        {"trials": r["trials"], "driver_peak_rss_mb": r["driver_peak_rss_mb"], "plan_mb": r["plan_mb"]}
        for r in scaling
    ]
    if len(scaling) >= 2:
        first, last = scaling[0], scaling[-1]
        per_1000 = 1000 / (last["trials"] - first["trials"])
        record["memory_growth_mb_per_1000_trials"] = (last["driver_peak_rss_mb"] - first["driver_peak_rss_mb"]) * per_1000
        record["plan_growth_mb_per_1000_trials"] = (last["plan_mb"] - first["plan_mb"]) * per_1000
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
