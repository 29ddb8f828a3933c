"""Measure data-parallel trials on CPU: steps/s of 2 gloo workers against 1, and what a Ray
Train run adds per trial.

    .venv/bin/python benchmarks/data_parallel.py [--steps 120] [--no-ray]

Loop throughput (no Ray): one trial of each workload trains ``--steps`` steps at the
workload's own batch size, timed from step 20 to the last step by the loop's heartbeat (data
loading, model building and the DDP set-up excluded), in three ways side by side:

- ``one_worker_all_threads``: one process with every core's thread (what a plain trial uses on
  this machine with ``cpus_per_trial`` = the cores);
- ``one_worker_one_thread``: one process, one thread;
- ``two_gloo_workers``: two processes of one thread each, DDP over gloo on 127.0.0.1
  (:mod:`workloads.parallel`), rank 0's timing.

On a 2-core machine no gain is expected: the two workers share the two cores that one worker
with two threads already uses, and every step adds a gradient all-reduce (and a loss
all-reduce) through gloo. The point of data-parallel trials is many devices; this measures what
the machinery costs where there is no second device.

Ray Train (``--no-ray`` skips it): ``optcompare run`` of one ``mnist1d-cnn`` trial with
``workers_per_trial`` 1 and 2 (same steps), each study's wall time: the difference is what a
Ray Train run (worker group start, process group set-up) adds to a trial.

Writes benchmarks/results/data_parallel.json.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from checkpoint_overhead import write_cifar10  # noqa: E402 - the generated CIFAR-format data

WARMUP_STEPS = 20


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _steps_per_s(workload_name: str, data_dir: str | None, steps: int, threads: int, parallel=None) -> float:  # noqa: ANN001
    import torch

    import workloads

    torch.set_num_threads(threads)
    workload = workloads.get(workload_name, data_dir)
    stamps: dict[int, float] = {}

    def beat(updates: int) -> None:
        if updates in (WARMUP_STEPS, steps):
            stamps[updates] = time.perf_counter()

    workloads.train(
        workload, "momentum", {"learning_rate": 0.01, "momentum": 0.9}, "constant", {}, seed=0,
        steps=steps, eval_every=steps, heartbeat=beat, parallel=parallel,
    )
    return (steps - WARMUP_STEPS) / (stamps[steps] - stamps[WARMUP_STEPS])


def _rank(rank: int, world: int, port: int, workload_name: str, data_dir: str | None, steps: int, out: str) -> None:
    import torch.distributed as dist

    from workloads.parallel import DataParallel

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        rate = _steps_per_s(workload_name, data_dir, steps, 1, DataParallel.current())
        if rank == 0:
            Path(out).write_bytes(pickle.dumps(rate))
        dist.barrier()
    finally:
        dist.destroy_process_group()


def _two_workers(workload_name: str, data_dir: str | None, steps: int, scratch: Path) -> float:
    import torch.multiprocessing as mp

    out = scratch / f"{workload_name}.rate"
    mp.spawn(_rank, args=(2, _free_port(), workload_name, data_dir, steps, str(out)), nprocs=2, join=True)
    return pickle.loads(out.read_bytes())


def _ray_trial_wall_s(workers: int, steps: int, scratch: Path) -> float:
    config = scratch / f"ddp{workers}.yaml"
    config.write_text(
        f"name: ddp{workers}\nworkloads: [{{name: mnist1d-cnn, steps: {steps}, eval_every: {steps}, "
        f"workers_per_trial: {workers}}}]\noptimizers: [momentum]\nprotocols: [lr-only]\n"
        "trials_per_search: 1\n"
    )
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "optcompare", "run", str(config), "--results", str(scratch / "r"), "--quiet",
         "--num-cpus", "2"], check=True, capture_output=True,
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=120)
    parser.add_argument("--no-ray", action="store_true", help="skip the Ray Train comparison")
    parser.add_argument("--out", default=str(HERE / "results" / "data_parallel.json"))
    args = parser.parse_args()
    import torch

    cores = os.cpu_count() or 1
    loop = {}
    with tempfile.TemporaryDirectory(prefix="optcompare-ddp-bench-") as scratch_name:
        scratch = Path(scratch_name)
        cifar = str(write_cifar10(scratch / "cifar", per_batch=1000, n_test=500))
        for name, data_dir in (("mnist1d-cnn", None), ("cifar10-resnet32", cifar)):
            steps = args.steps if name == "mnist1d-cnn" else max(WARMUP_STEPS + 10, args.steps // 3)
            one_all = _steps_per_s(name, data_dir, steps, cores)
            one_one = _steps_per_s(name, data_dir, steps, 1)
            two = _two_workers(name, data_dir, steps, scratch)
            loop[name] = {
                "steps_timed": steps - WARMUP_STEPS,
                "one_worker_all_threads_steps_per_s": round(one_all, 2),
                "one_worker_one_thread_steps_per_s": round(one_one, 2),
                "two_gloo_workers_steps_per_s": round(two, 2),
                "two_workers_over_one_all_threads": round(two / one_all, 3),
                "two_workers_over_one_one_thread": round(two / one_one, 3),
            }
            print(name, loop[name], flush=True)
        ray_train = None
        if not args.no_ray:
            walls = {workers: _ray_trial_wall_s(workers, args.steps, scratch) for workers in (1, 2)}
            ray_train = {
                "study_wall_s_one_worker": round(walls[1], 1),
                "study_wall_s_two_workers": round(walls[2], 1),
                "added_by_a_ray_train_run_s": round(walls[2] - walls[1], 1),
                "note": "one mnist1d-cnn trial per study, optcompare run in a subprocess (Ray start included in both)",
            }
            print(ray_train, flush=True)
    record = {
        "benchmark": "data_parallel",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": cores, "platform": platform.platform(), "torch": torch.__version__},
        "warmup_steps": WARMUP_STEPS,
        "loop": loop,
        "ray_train": ray_train,
        "expectation": "no gain on 2 cores: two workers share the cores one worker with two threads uses, plus a gloo all-reduce per step",
    }
    Path(args.out).write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
