"""Run trials data-parallel over N local gloo processes (torch.multiprocessing), for the
data-parallel tests: each rank calls :func:`workloads.train` with a
:class:`~workloads.parallel.DataParallel` and writes its evaluation rows, outcome and saved
checkpoint states to a file the test reads back."""

from __future__ import annotations

import gc
import multiprocessing
import os
import pickle
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from tests.ports import free_port

PRELOADED = ("tests.workloads.ddp_runs", "workloads", "workloads.parallel", "workloads.checkpoint", "workloads.run")
"""What the ranks' fork server imports once, before it forks them: this module (so torch and
torch.distributed) and what :func:`_train` imports."""

GLOO = pytest.mark.xdist_group("gloo")
"""The mark of the suite's gloo jobs (tests/workloads/test_data_parallel.py and
tests/integration/test_data_parallel_study.py): they run on one xdist worker, one at a time
(``--dist loadgroup`` in the Makefile). Two gloo jobs on one host bind and connect ephemeral
127.0.0.1 ports, and a connection that reaches the other job's port is a suspect in a
data-parallel trial's unexplained worker death (docs/decisions.md)."""


def run_trial(args: dict[str, Any], checkpoint_at: int | None = None, restored: dict | None = None) -> dict[str, Any]:
    """Train ``args`` (keyword arguments of a trial, with ``workload`` name and ``data_dir``)
    in this process with one worker; ``{"rows", "outcome", "states"}``."""
    return _train(args, None, checkpoint_at, restored)


def _train(args: dict[str, Any], parallel: Any, checkpoint_at: int | None, restored: dict | None) -> dict[str, Any]:  # noqa: ANN401
    import workloads
    from workloads.checkpoint import load_state, save_state
    from workloads.run import Checkpointing

    torch.set_num_threads(1)
    args = dict(args)
    workload = workloads.get(args.pop("workload"), args.pop("data_dir", None))
    dtype = args.pop("dtype", torch.float32)
    default_dtype = torch.get_default_dtype()
    _in_dtype(workload, dtype)
    rows: list[dict[str, Any]] = []
    states: list[tuple[int, dict[str, Any]]] = []
    checkpointing = None
    if checkpoint_at is not None or restored is not None:
        steps = iter(range(10**9))

        def clock() -> float:  # one save, at a fixed step (the loop calls the clock once per step)
            return 1e9 if next(steps) + 1 == checkpoint_at else 0.0

        checkpointing = Checkpointing(1.0 if checkpoint_at else float("inf"), lambda s, st: states.append((s, load_state(save_state(st)))), restored, clock=clock)
    def keep(row: Any) -> None:  # noqa: ANN401 - an EvalRow
        rows.append({k: v for k, v in row.as_dict().items() if k != "wall_time_s"})

    try:
        outcome = workloads.train(workload, **args, on_eval=keep, checkpointing=checkpointing, parallel=parallel)
    finally:
        torch.set_default_dtype(default_dtype)
    outcome_dict = {k: v for k, v in vars(outcome).items() if k not in ("rows", "wall_time_s", "train_time_s")}
    return {"rows": rows, "outcome": outcome_dict, "states": states}


def _in_dtype(workload: Any, dtype: torch.dtype) -> None:  # noqa: ANN401 - a Workload
    """Train ``workload`` in ``dtype``: the default dtype of this process (so of the model it
    builds) until the caller restores it, and the inputs cast. float32 changes nothing."""
    from workloads.base import Split

    torch.set_default_dtype(dtype)
    if dtype == torch.float32:
        return
    load = workload.load_splits
    workload.load_splits = lambda: {
        name: Split(split.x.to(dtype), split.y) if isinstance(split, Split) else split
        for name, split in load().items()
    }


def _rank(rank: int, world: int, port: int, jobs: list[tuple[dict[str, Any], int | None, bytes | None]], out: str) -> None:
    from workloads.checkpoint import load_state
    from workloads.parallel import DataParallel

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        results = []
        for args, checkpoint_at, state in jobs:  # one after the other, in one process group
            restored = None if state is None else load_state(state)
            results.append(_train(args, DataParallel.current(), checkpoint_at, restored))
        Path(f"{out}.{rank}").write_bytes(pickle.dumps(results))
        dist.barrier()
    finally:
        gc.collect()  # the DDP models (their reducers hold the group and its gloo work) go first
        dist.destroy_process_group()
    # Done, the results on disk: leave without the interpreter's finalization. Once on 2026-12-07
    # (1 of about 17 jobs) a rank died of SIGABRT with "terminate called without an active
    # exception", C++'s message for a thread torn down unjoined, which is what pytorch#179291 reports
    # of gloo at finalization (not verified here: it did not recur in 16 jobs run to reproduce it).
    # A rank that fails before this line still fails the job.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def run_parallel(
    world: int, args: dict[str, Any], out: Path, checkpoint_at: int | None = None, restored: dict | None = None,
) -> dict[str, Any]:
    """Train ``args`` over ``world`` gloo processes; rank 0's ``{"rows", "outcome", "states"}``,
    with ``"ranks"``: every rank's ``(rows, outcome)``."""
    (result,) = run_parallel_many(world, [(args, checkpoint_at, restored)], out)
    return result


def run_parallel_many(
    world: int, jobs: list[tuple[dict[str, Any], int | None, dict | None]], out: Path,
) -> list[dict[str, Any]]:
    """:func:`run_parallel` of each ``(args, checkpoint_at, restored)`` in ``jobs``, one after the
    other in the same ``world`` processes (their start, torch's import, is paid once)."""
    from workloads.checkpoint import save_state

    # The state goes as bytes: torch.multiprocessing would share its tensors' memory between
    # the ranks, and the optimizer state loaded from it would then be one tensor updated twice.
    sent = [(args, at, None if restored is None else save_state(restored)) for args, at, restored in jobs]
    # From a fork server that imported torch and the workloads once (PRELOADED): a spawned rank
    # imported them itself, about 2 CPU-seconds per rank and job.
    multiprocessing.set_forkserver_preload(list(PRELOADED))
    mp.start_processes(_rank, args=(world, free_port(), sent, str(out)), nprocs=world, join=True,
                       start_method="forkserver")
    by_rank = [pickle.loads(Path(f"{out}.{rank}").read_bytes()) for rank in range(world)]
    return [
        {**by_rank[0][j], "ranks": [(r[j]["rows"], r[j]["outcome"]) for r in by_rank]}
        for j in range(len(jobs))
    ]
