"""Training steps/s of each embedded workload in the shared loop vs a bare hand-written loop.

    .venv/bin/python benchmarks/workload_loop.py [--rounds 9] [--threads 1] [--device cpu|cuda]
        [--workloads mnist1d-mlp digits-cnn] [--mixed-precision]

Both loops train the same model (``workload.build_model(seed)``) with the same optimizer
(``optimizers.create("adam")``) on the same in-memory training split, with the workload's batch
size. The bare loop is what one would write by hand: a seeded permutation per epoch, index,
forward, cross-entropy, backward, step; no schedule, no divergence check, no evaluation. The
shared loop is ``workloads.train`` with one evaluation at the end, and its ``train_time_s``
(seconds inside training steps, evaluation excluded) is what is timed. Each round runs both, in
alternating order, so machine noise hits them alike; the script reports medians over rounds
and the median of the per-round ratios. Target: shared / bare >= 0.95.
Writes benchmarks/results/workload_loop.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch
from torch.nn import functional as F  # noqa: N812

import optimizers
import workloads

HERE = Path(__file__).resolve().parent
EMBEDDED = ("mnist1d-mlp", "mnist1d-cnn", "digits-cnn", "tinytext-lstm")
STEPS = {"mnist1d-mlp": 600, "mnist1d-cnn": 300, "digits-cnn": 300, "tinytext-lstm": 120}
"""Steps per timed run: about 0.3-1 s each on one CPU thread."""
LEARNING_RATE = 1e-3


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def bare_loop(workload: workloads.Workload, device: torch.device, steps: int, seed: int, amp: bool) -> float:
    """Seconds for ``steps`` hand-written training steps (setup excluded)."""
    train = workload.data(device)["train"]
    torch.manual_seed(seed)
    model = workload.build_model(seed).to(device)
    model.train()
    opt = optimizers.create("adam", list(model.parameters()), learning_rate=LEARNING_RATE)
    x_all, y_all = train.x, train.y
    n, batch = len(y_all), workload.batch_size
    gen = torch.Generator().manual_seed(seed)
    sync(device)
    start = time.perf_counter()
    step = 0
    while step < steps:
        order = torch.randperm(n, generator=gen).to(device)
        for i in range(min(n // batch, steps - step)):
            idx = order[i * batch : (i + 1) * batch]
            x, y = x_all[idx], y_all[idx]
            opt.zero_grad(set_to_none=True)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                logits = model(x)
                loss = F.cross_entropy(logits.flatten(0, -2), y.flatten())
            loss.backward()
            opt.step()
            step += 1
    sync(device)
    return time.perf_counter() - start


def shared_loop(workload: workloads.Workload, device: torch.device, steps: int, seed: int, amp: bool) -> float:
    """``train_time_s`` of ``workloads.train`` for ``steps`` steps (one evaluation, excluded)."""
    out = workloads.train(
        workload, "adam", {"learning_rate": LEARNING_RATE}, "constant", {}, seed,
        steps=steps, eval_every=steps, device=str(device), mixed_precision=amp,
    )
    return out.train_time_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default=None)
    parser.add_argument("--workloads", nargs="+", default=list(EMBEDDED))
    parser.add_argument("--mixed-precision", action="store_true")
    parser.add_argument("--out", default=str(HERE / "results" / "workload_loop.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = workloads.pick_device(args.device)
    results = {}
    for name in args.workloads:
        workload = workloads.get(name)
        steps = STEPS.get(name, 200)
        workload.data(device)  # load (and cache) the data before timing
        shared_loop(workload, device, min(steps, 50), 0, args.mixed_precision)  # warm-up
        bare_loop(workload, device, min(steps, 50), 0, args.mixed_precision)
        shared_s: list[float] = []
        bare_s: list[float] = []
        for r in range(args.rounds):
            pair = ((shared_loop, shared_s), (bare_loop, bare_s))
            for fn, times in pair if r % 2 == 0 else pair[::-1]:
                times.append(fn(workload, device, steps, r, args.mixed_precision))
        shared_rate = steps / statistics.median(shared_s)
        bare_rate = steps / statistics.median(bare_s)
        paired = statistics.median(b / s for s, b in zip(shared_s, bare_s, strict=True))
        results[name] = {
            "steps_per_run": steps,
            "batch_size": workload.batch_size,
            "shared_steps_per_s": round(shared_rate, 1),
            "bare_steps_per_s": round(bare_rate, 1),
            "ratio_of_medians": round(shared_rate / bare_rate, 3),
            "median_paired_ratio": round(paired, 3),
            "shared_s": [round(t, 4) for t in shared_s],
            "bare_s": [round(t, 4) for t in bare_s],
        }
        print(
            f"{name:15s} shared {shared_rate:7.1f} steps/s  bare {bare_rate:7.1f} steps/s  "
            f"ratio {shared_rate / bare_rate:.3f} (paired median {paired:.3f})",
            flush=True,
        )
    record = {
        "benchmark": "workload_loop",
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "device": str(device),
        "threads": args.threads,
        "rounds": args.rounds,
        "mixed_precision": args.mixed_precision,
        "target": "shared / bare >= 0.95",
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "torch": torch.__version__},
        "results": results,
        "all_meet_target": all(v["median_paired_ratio"] >= 0.95 for v in results.values()),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
