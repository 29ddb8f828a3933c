"""Measure checkpoints inside a trial: save and restore times, overhead, steps redone per kill.

    .venv/bin/python benchmarks/checkpoint_overhead.py [--steps 60] [--kills 5]

On ``cifar10-resnet32`` (the real model, 0.46M parameters with batch norm, batch 256) over
generated data in the CIFAR python format (the loader's real path; random pixels and labels:
the speed of a step does not depend on the values), on CPU with the machine's threads:

- ``save_s``: capturing the whole state (:func:`workloads.checkpoint.capture_state`, timed by
  wrapping it) and serialising it (``torch.save``), median over a run with a checkpoint every
  step;
  ``restore_s``: reading it back (``torch.load(weights_only=True)``) and putting it into a fresh
  model, optimizer and stream (:func:`workloads.checkpoint.restore_state`), median of 5;
- ``step_s``: a training step's median time without checkpoints;
- ``overhead_at_default``: save_s / 600 s, the share of training time that checkpoints take at
  the default ``checkpoint_every_s`` (Tune's copy into its storage adds a file copy of
  ``state_bytes``; not counted here);
- kills: ``--kills`` runs of ``--steps`` steps with a checkpoint every ``--every-steps`` steps
  are stopped at a random step (seeded) and continued from their latest checkpoint; each
  reports the steps redone (the kill step minus the checkpoint's step) and whether the
  continued run ended bitwise as the uninterrupted one (final row and curve, timing aside).

Writes benchmarks/results/checkpoint_overhead.json. Targets: overhead at the default interval at
most 1%; steps redone per kill at most one checkpoint interval.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pickle
import platform
import random
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
WORKLOAD = "cifar10-resnet32"


def write_cifar10(root: Path, per_batch: int, n_test: int, seed: int = 0) -> Path:
    """Random images and labels as the five CIFAR-10 training batches and its test batch."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for name, n in [*((f"data_batch_{i}", per_batch) for i in range(1, 6)), ("test_batch", n_test)]:
        batch = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), b"labels": rng.integers(0, 10, n).tolist()}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    return root


class Killed(Exception):
    pass


def _hparams() -> dict[str, float]:
    return {"learning_rate": 0.05, "momentum": 0.9, "weight_decay": 5e-4}


DEVICE: list[str | None] = [None]
"""The device every run of this benchmark trains on (``--device``; None: the default pick)."""


def _train(workload, steps: int, **kwargs):  # noqa: ANN001, ANN003, ANN202
    import workloads

    return workloads.train(workload, "momentum", _hparams(), "constant", {}, 11, steps=steps,
                           eval_every=max(1, steps // 3), device=DEVICE[0], **kwargs)


def _comparable(outcome) -> tuple:  # noqa: ANN001
    rows = [{k: v for k, v in r.as_dict().items() if k != "wall_time_s"} for r in outcome.rows]
    final = {k: v for k, v in outcome.summary().items() if k not in ("wall_time_s", "train_time_s", "resumed_from_step")}
    return rows, final


class EverySteps:
    """A clock for :class:`workloads.run.Checkpointing`: one tick per call, so ``every_s = k``
    saves every k steps."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--every-steps", type=int, default=10)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--out", default=str(HERE / "results" / "checkpoint_overhead.json"))
    args = parser.parse_args()
    DEVICE[0] = args.device

    import torch

    import workloads
    from workloads.checkpoint import load_state, save_state
    from workloads.run import Checkpointing

    with tempfile.TemporaryDirectory() as tmp:
        workload = workloads.get(WORKLOAD, str(write_cifar10(Path(tmp), per_batch=1100, n_test=256)))
        beats: list[float] = []
        plain = _train(workload, args.steps, heartbeat=lambda s: beats.append(time.perf_counter()))
        step_s = statistics.median(b - a for a, b in zip(beats, beats[1:], strict=False))

        import workloads.run as run_module

        captures: list[float] = []
        original = run_module.capture_state

        def timed_capture(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            started = time.perf_counter()
            state = original(*args, **kwargs)
            captures.append(time.perf_counter() - started)
            return state

        run_module.capture_state = timed_capture  # the benchmark's instrumentation
        saves: list[float] = []
        blobs: list[bytes] = []

        def timed_save(step: int, state: dict) -> None:
            started = time.perf_counter()
            blobs[:] = [save_state(state)]
            saves.append(time.perf_counter() - started)

        _train(workload, min(args.steps, 20), checkpointing=Checkpointing(1.0, timed_save, clock=EverySteps()))
        run_module.capture_state = original
        save_s = statistics.median(c + s for c, s in zip(captures, saves, strict=True))
        restores = []
        for _ in range(5):
            started = time.perf_counter()
            state = load_state(blobs[0])
            _train(workload, int(state["step"]), checkpointing=Checkpointing(float("inf"), lambda s, st: None, restored=state))
            restores.append(time.perf_counter() - started)
        restore_s = statistics.median(restores)

        rng = random.Random(args.seed)
        kills = []
        for _ in range(args.kills):
            kill_at = rng.randrange(args.every_steps + 1, args.steps)
            saved: list[tuple[int, bytes]] = []

            def keep(step: int, state: dict, saved: list = saved) -> None:
                saved[:] = [(step, save_state(state))]

            def kill(step: int, kill_at: int = kill_at) -> None:
                if step == kill_at:
                    raise Killed

            with contextlib.suppress(Killed):
                _train(workload, args.steps, heartbeat=kill,
                       checkpointing=Checkpointing(float(args.every_steps), keep, clock=EverySteps()))
            step, blob = saved[0]
            resumed = _train(workload, args.steps, checkpointing=Checkpointing(float("inf"), lambda s, st: None, restored=load_state(blob)))
            kills.append({"killed_at": kill_at, "checkpoint_step": step, "steps_redone": kill_at - step,
                          "bitwise_equal": _comparable(resumed) == _comparable(plain)})
    record = {
        "benchmark": "checkpoint_overhead",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "torch": torch.__version__,
                    "threads": torch.get_num_threads()},
        "workload": WORKLOAD,
        "args": vars(args),
        "state_bytes": len(blobs[0]),
        "step_s": round(step_s, 4),
        "save_s": round(save_s, 4),
        "restore_s": round(restore_s, 4),
        "overhead_at_default": round(save_s / 600.0, 6),
        "kills": kills,
        "targets": {"overhead_at_default_max": 0.01, "steps_redone_max": args.every_steps},
        "meets_targets": {
            "overhead": save_s / 600.0 <= 0.01,
            "steps_redone": all(k["steps_redone"] <= args.every_steps for k in kills),
            "bitwise": all(k["bitwise_equal"] for k in kills),
        },
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
