"""Planned trials per hour through the full optcompare path (Ray included), by bundle size.

    .venv/bin/python benchmarks/bundle_throughput.py                       # CPU, 2 slots
    .venv/bin/python benchmarks/bundle_throughput.py --gpus-per-trial 0.5   # GPU: 2 slots per GPU

For each workload (default mnist1d-mlp, mnist1d-cnn, digits-cnn) and each bundle size (default
1, 8, 32, 128 and auto), one study runs the same plan: one search of ``--trials`` Adam trials
under the choi-full protocol, ``--steps`` steps each, evaluated every ``--eval-every`` steps, on
a fresh in-process Ray with ``--num-cpus`` CPUs and 1 CPU (plus ``--gpus-per-trial``) per
trial. The wall time counts everything a user waits for: Ray start, the bundle-size probe for
``auto``, training, evaluation, reports and Parquet. Sizes are run in a rotated order per
workload so no size always runs first. The default of 256 trials gives the size-128 runs one
bundle per slot.

Memory per trial is measured apart, in a fresh process per (workload, size): the growth of peak
resident memory (CPU, sampled every 2 ms; after imports and data) or the peak CUDA allocation while training one
bundle for 20 steps, divided by the bundle size; ``state_per_trial_mb`` is the part that is
parameters, gradients and Adam's two moments (4 x 4 bytes per parameter).

Writes benchmarks/results/bundle_throughput.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_WORKLOADS = ("mnist1d-mlp", "mnist1d-cnn", "digits-cnn")
DEFAULT_SIZES = ("1", "8", "32", "128", "auto")


def run_study_once(workload: str, size: int | str, args: argparse.Namespace) -> dict:
    """One study through tuning.driver.run_study.run_study; returns wall time, trials/hour and the size
    the driver used."""
    import pyarrow.dataset as ds

    from optcompare.schema import STATUSES
    from tuning.driver.ray_env import RayTarget
    from tuning.driver.run_study import run_study
    from tuning.driver.study_options import StudyOptions
    from tuning.plan.resolve import resolve_plan
    from tuning.spec.config import parse_config

    raw = {
        "name": "bench",
        "workloads": [{"name": workload, "steps": args.steps, "eval_every": args.eval_every, "bundle_size": size}],
        "optimizers": ["adam"],
        "protocols": ["choi-full"],
        "trials_per_search": args.trials,
        "resources": {"cpus_per_trial": 1, "gpus_per_trial": args.gpus_per_trial},
        "report_every_s": 10,
    }
    config = parse_config(raw, "benchmark", ROOT)
    plan = resolve_plan(config)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        options = StudyOptions.from_config(config, ray=RayTarget(num_cpus=args.num_cpus), progress=False)
        summary = run_study(plan, tmp, options, started_at=start)
        wall = time.perf_counter() - start
        trials = ds.dataset(f"{tmp}/trials", format="parquet", partitioning="hive").to_table()
        statuses = trials.column("status").to_pylist()
    return {
        "trials": summary.finished,
        **{status: statuses.count(status) for status in STATUSES},
        "wall_s": round(wall, 2),
        "trials_per_hour": round(summary.finished / wall * 3600, 1),
        "training_fraction": round(summary.training_fraction, 3),
        "bundle_size_used": summary.bundle_sizes.get(workload, 1),
    }


MEMORY_SCRIPT = r"""
import json, sys, threading, time, torch, workloads
from tuning.driver.bundle_probe import resident_bytes
from workloads import BundleMember, train_bundle
name, size, device = sys.argv[1], int(sys.argv[2]), (sys.argv[3] or None)
torch.set_num_threads(1)
w = workloads.get(name)
dev = workloads.pick_device(device)
w.data(dev)
params = sum(p.numel() for p in w.build_model(0).parameters())
before = resident_bytes()
peak = [before]
done = threading.Event()
def sample():
    while not done.is_set():
        peak[0] = max(peak[0], resident_bytes())
        time.sleep(0.002)
sampler = threading.Thread(target=sample, daemon=True)
sampler.start()
if dev.type == "cuda":
    torch.cuda.reset_peak_memory_stats(dev)
    base = torch.cuda.memory_allocated(dev)
members = [BundleMember({"learning_rate": 1e-3}, {}, i) for i in range(size)]
if size == 1:
    workloads.train(w, "adam", members[0].hparams, "constant", {}, 0, steps=20, eval_every=20, device=device)
else:
    train_bundle(w, "adam", members, "constant", steps=20, eval_every=20, device=device)
done.set()
sampler.join()
peak[0] = max(peak[0], resident_bytes())
used = (torch.cuda.max_memory_allocated(dev) - base) if dev.type == "cuda" else peak[0] - before
print(json.dumps({"bytes": used, "state_bytes": 4 * 4 * params * size, "device": dev.type}))
"""


def memory_per_trial(workload: str, size: int, device: str | None) -> tuple[float, float]:
    """(measured bytes per trial, bytes per trial of parameters + gradients + Adam's m and v)."""
    out = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT, workload, str(size), device or ""],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )
    record = json.loads(out.stdout.strip().splitlines()[-1])
    return record["bytes"] / size, record["state_bytes"] / size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workloads", default=",".join(DEFAULT_WORKLOADS))
    parser.add_argument("--sizes", default=",".join(DEFAULT_SIZES))
    parser.add_argument("--trials", type=int, default=256)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--eval-every", type=int, default=150)
    parser.add_argument("--num-cpus", type=int, default=2)
    parser.add_argument("--gpus-per-trial", type=float, default=0.0)
    parser.add_argument("--device", default=None, help="device for the memory measurement (default: auto)")
    parser.add_argument("--out", default=str(HERE / "results" / "bundle_throughput.json"))
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    import torch

    sizes: list[int | str] = [s if s == "auto" else int(s) for s in args.sizes.split(",")]
    names = args.workloads.split(",")
    results: dict[str, dict] = {}
    for w_index, workload in enumerate(names):
        rotation = sizes[w_index % len(sizes) :] + sizes[: w_index % len(sizes)]
        runs: dict[str, dict] = {}
        for size in rotation:
            print(f"{workload}: bundle_size {size} ...", file=sys.stderr, flush=True)
            runs[str(size)] = run_study_once(workload, size, args)
            print(f"  {runs[str(size)]}", file=sys.stderr, flush=True)
        base = runs.get("1", {}).get("trials_per_hour")
        for size, run in runs.items():
            run["speedup_vs_1"] = round(run["trials_per_hour"] / base, 3) if base else None
            if size != "auto":
                measured, state = memory_per_trial(workload, int(size), args.device)
                run["memory_per_trial_mb"] = round(measured / 2**20, 3)
                run["state_per_trial_mb"] = round(state / 2**20, 3)
        results[workload] = {str(s): runs[str(s)] for s in sizes}
    record = {
        "benchmark": "bundle_throughput",
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "args": vars(args),
        "machine": {
            "platform": platform.platform(),
            "cpus": args.num_cpus,
            "torch": torch.__version__,
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        },
        "target": "mnist1d-mlp: best size >= 1.5x trials/hour of size 1; auto >= size 1 on every workload",
        "results": results,
    }
    mlp = results.get("mnist1d-mlp", {})
    if "1" in mlp:
        record["mlp_best_speedup"] = max(r["speedup_vs_1"] or 0 for r in mlp.values())
    record["auto_not_slower"] = {
        w: (r["auto"]["speedup_vs_1"] or 0) >= 0.95 for w, r in results.items() if "auto" in r and "1" in r
    }
    Path(args.out).write_text(json.dumps(record, indent=2) + "\n")
    print(f"{'workload':<12} {'size':>5} {'trials/h':>10} {'x size 1':>9} {'wall s':>8} {'MB/trial':>9}")
    for workload, runs in results.items():
        for size, run in runs.items():
            print(
                f"{workload:<12} {size:>5} {run['trials_per_hour']:>10.0f} {run['speedup_vs_1'] or 0:>9.2f} "
                f"{run['wall_s']:>8.1f} {run.get('memory_per_trial_mb', float('nan')):>9.2f}"
            )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
