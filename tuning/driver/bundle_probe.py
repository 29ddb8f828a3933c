"""Bundle sizes: ``bundle_size`` from the config, or ``auto`` from a quick throughput probe.

``auto`` probes each workload once, with the threads of one trial: in the driver's process when
Ray runs on this machine and trials use no GPU (no worker to start), else as a Ray task with one
trial's resources (so the probe sees the device a trial gets). Evaluations are skipped while probing. The task trains the workload's first
bundlable search for :data:`PROBE_STEPS` steps at each candidate size in :data:`CANDIDATES`
(after a short warm-up), in increasing size until a size is slower than the best so far, and
measures trial-steps per second of training, and on CUDA the peak memory. The largest size
allowed (see below) is a candidate too. The size chosen is the fastest candidate that fits in memory, but a bundle must be at
least :data:`MIN_GAIN` times faster per trial than size 1 to be chosen at all, so ``auto`` is
never slower than unbundled trials by the probe's measure. Sizes are also capped so that each
parallel slot still gets a bundle (``ceil(trials / slots)``) and no bundle is larger than the
largest search.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import workloads
from optcompare.errors import InputError
from tuning.plan.trial import PlannedTrial
from tuning.planners.bundles import bundle_key
from tuning.spec.plugins import load_plugins
from tuning.worker.trainable import _WORKLOAD_CACHE, _workload
from workloads.bundle import BundleMember, bundle_supported, train_bundle

__all__ = [
    "CANDIDATES",
    "bundle_size_function",
    "choose_size",
    "probe_throughput",
    "resolve_bundle_sizes",
]

CANDIDATES = (1, 8, 32, 128)
PROBE_STEPS = 20
WARMUP_STEPS = 3
MIN_GAIN = 1.1
"""A bundle must beat size 1 by this factor in trial-steps/s to be chosen by ``auto``."""
MEMORY_FRACTION = 0.8
"""Share of a trial's memory (its GPU share, or RAM per slot) a probed bundle may use."""


def _supported(workload: str, optimizer: str) -> bool:
    return bundle_supported(workloads.get_class(workload), optimizer) is None


def bundle_size_function(sizes: dict[str, int]) -> Callable[[PlannedTrial], int]:
    """``size_of(trial)``: the workload's bundle size where the workload and optimizer can be
    bundled, else 1."""
    cache: dict[tuple[str, str], bool] = {}

    def size_of(trial: PlannedTrial) -> int:
        size = sizes.get(trial.workload, 1)
        if size <= 1:
            return 1
        key = (trial.workload, trial.optimizer)
        if key not in cache:
            cache[key] = _supported(*key)
        return size if cache[key] else 1

    return size_of


def probe_throughput(
    search: Sequence[PlannedTrial],
    candidates: Sequence[int],
    *,
    threads: int = 1,
    device: str | None = None,
    plugins: Sequence[str] = (),
    steps: int = PROBE_STEPS,
) -> dict[int, dict[str, float]]:
    """Train bundles of each candidate size made from ``search`` (planned trials of one search,
    repeated with new seeds as needed), in increasing size until one is slower than the best so
    far; return ``{size: {"trial_steps_per_s",
    "peak_bytes", "device_bytes"}}`` (peak_bytes: CUDA peak allocation, or the growth of resident
    memory; device_bytes: the GPU's total memory, 0 on CPU)."""
    import torch

    load_plugins(list(plugins))
    previous_threads = torch.get_num_threads()
    if threads > 0:
        torch.set_num_threads(threads)
    try:
        return _measure(search, candidates, device, steps)
    finally:
        torch.set_num_threads(previous_threads)


def _measure(
    search: Sequence[PlannedTrial], candidates: Sequence[int], device: str | None, steps: int
) -> dict[int, dict[str, float]]:
    import torch

    first = search[0]
    workload = _workload(first)
    dev = workloads.pick_device(device)
    results: dict[int, dict[str, float]] = {}
    best_rate = 0.0
    for size in sorted(candidates):
        repeated = (search[i % len(search)] for i in range(size))
        members = [
            BundleMember(t.hparams, t.schedule_params, 1000 + i) for i, t in enumerate(repeated)
        ]
        if dev.type == "cuda":
            torch.cuda.reset_peak_memory_stats(dev)
        rss_before = resident_bytes()
        train_time = 0.0
        for n in (WARMUP_STEPS, steps):
            if size == 1:
                m = members[0]
                outcome = workloads.train(
                    workload, first.optimizer, m.hparams, first.schedule, m.schedule_params, m.seed,
                    steps=n, eval_every=n, device=device,
                )
                train_time = outcome.train_time_s  # its one evaluation is not counted
            else:
                outcomes = train_bundle(
                    workload, first.optimizer, members, first.schedule, steps=n, eval_every=n,
                    device=device, evaluate=False,
                )
                train_time = sum(o.train_time_s for o in outcomes)
        peak = (
            float(torch.cuda.max_memory_allocated(dev))
            if dev.type == "cuda"
            else float(max(0, resident_bytes() - rss_before))
        )
        results[size] = {
            "trial_steps_per_s": size * steps / max(train_time, 1e-9),
            "peak_bytes": peak,
            "device_bytes": float(torch.cuda.get_device_properties(dev).total_memory) if dev.type == "cuda" else 0.0,
        }
        rate = results[size]["trial_steps_per_s"]
        if rate < best_rate:
            break  # past the peak: larger bundles only get slower (and cost more to probe)
        best_rate = rate
    return results


def resident_bytes() -> int:
    """This process's resident memory (Linux /proc; 0 where unavailable)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")


def available_bytes() -> float:
    """Memory available to new allocations (MemAvailable, else free pages; inf if unknown)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return float(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return float(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError):
        return float("inf")


def choose_size(measured: dict[int, dict[str, float]], memory_limit: float) -> int:
    """The fastest measured size within ``memory_limit`` bytes that beats size 1 by
    :data:`MIN_GAIN`; 1 otherwise."""
    baseline = measured.get(1, {}).get("trial_steps_per_s", 0.0)
    best, best_rate = 1, baseline * MIN_GAIN
    for size, m in sorted(measured.items()):
        if size > 1 and m["peak_bytes"] <= memory_limit and m["trial_steps_per_s"] > best_rate:
            best, best_rate = size, m["trial_steps_per_s"]
    return best


def _validate(workload: str, value: int | str) -> None:
    if value != "auto" and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise InputError(f"bundle_size of {workload!r}: expected an integer >= 1 or 'auto', got {value!r}")


def resolve_bundle_sizes(
    spec: dict[str, int | str],
    trials: Sequence[PlannedTrial],
    *,
    cpus_per_trial: float,
    gpus_per_trial: float,
    slots: int,
    plugins: Sequence[str] = (),
    progress: bool = True,
    in_process: bool = False,
) -> dict[str, int]:
    """Integer bundle sizes per workload; ``auto`` entries are probed in this process
    (``in_process``: Ray runs on this machine) or on a Ray worker with one trial's resources
    (Ray must be initialised). Sizes are capped at ``ceil(trials / slots)`` and at the largest
    search."""
    sizes: dict[str, int] = {}
    for workload, value in spec.items():
        _validate(workload, value)
        own = [t for t in trials if t.workload == workload]
        bundlable = [t for t in own if value != 1 and _supported(t.workload, t.optimizer)]
        if not bundlable:
            sizes[workload] = 1
            continue
        groups: dict[tuple, int] = {}
        for t in bundlable:
            groups[bundle_key(t)] = groups.get(bundle_key(t), 0) + 1
        cap = max(1, min(max(groups.values()), math.ceil(len(own) / max(1, slots))))
        if value != "auto":
            sizes[workload] = min(int(value), cap)
            continue
        sizes[workload] = _probe(
            workload, bundlable, cap, cpus_per_trial, gpus_per_trial, slots, plugins, progress, in_process
        )
    return sizes


def _probe(
    workload: str,
    bundlable: Sequence[PlannedTrial],
    cap: int,
    cpus_per_trial: float,
    gpus_per_trial: float,
    slots: int,
    plugins: Sequence[str],
    progress: bool,
    in_process: bool,
) -> int:
    import ray

    # The search with the most optimizer state (Adam-like first) is the memory-hungriest.
    key = max({bundle_key(t) for t in bundlable}, key=lambda k: (k[2] in ("adam", "nadam"), repr(k)))
    search = [t for t in bundlable if bundle_key(t) == key]
    candidates = sorted({c for c in CANDIDATES if c <= cap} | {cap})
    if len(candidates) == 1:
        return 1
    start = time.perf_counter()
    threads = max(1, int(cpus_per_trial))
    if in_process and gpus_per_trial == 0:
        # CPU trials on this machine: probe here (no worker to start), on the CPU as trials run,
        # and let the probe's data go afterwards.

        cached = set(_WORKLOAD_CACHE)
        measured = probe_throughput(search, candidates, threads=threads, plugins=list(plugins), device="cpu")
        for cache_key in set(_WORKLOAD_CACHE) - cached:
            del _WORKLOAD_CACHE[cache_key]
    else:
        task = ray.remote(num_cpus=cpus_per_trial, num_gpus=gpus_per_trial)(probe_throughput)
        # A CPU trial trains on the CPU even on a GPU node (StudyOptions.worker_device): so does
        # its probe.
        device = "cpu" if gpus_per_trial == 0 else None
        measured = ray.get(
            task.remote(  # type: ignore[call-arg]  # ray's stub lists positional parameters only
                search, candidates, threads=threads, plugins=list(plugins), device=device
            )
        )
    device_bytes = max(m["device_bytes"] for m in measured.values())
    if device_bytes > 0:
        limit = MEMORY_FRACTION * device_bytes * min(1.0, gpus_per_trial or 1.0)
    else:
        limit = MEMORY_FRACTION * available_bytes() / max(1, slots)
    size = choose_size(measured, limit)
    if progress:
        rates = ", ".join(f"B={b}: {m['trial_steps_per_s']:.0f}" for b, m in sorted(measured.items()))
        print(
            f"bundle_size auto for {workload}: trial-steps/s {rates}; chose {size} "
            f"({time.perf_counter() - start:.1f} s probe)",
            file=sys.stderr,
        )
    return size

