"""One optimizer step of each library optimizer through ``optimizers.create`` against the library
used directly, side by side in one run (``muon`` against torch's Muon on the 2-D tensors plus
AdamW on the rest). ``soap`` against ``heavyball.SOAP`` built with the arguments
``optimizers.create`` gives it: heavyball sets every ``p.grad`` to None once it has stepped, so
each of its steps is timed after the fixed gradients are put back (``p.grad = g``, the same on
both sides; without it a step found no gradient and measured 0.06 ms, doing nothing), and only
at the sizes of ``--soap-sizes`` (its eigenbases cost seconds per step at 20M on one core).

    .venv/bin/python benchmarks/library_step.py [--sizes 0.7 20] [--soap-sizes 0.7] [--rounds 15] [--steps 20]

The parameters are shaped like a ResNet (benchmarks/optimizer_step.py's shapes). Each round builds
both optimizers and times ``--steps`` steps of each, in alternating order, so machine noise hits
both alike; the median over rounds of the time per step is reported, with the ratio
``create / library`` per optimizer and size (target: at most 1.05). ``create`` returns the
library's own optimizer, so the ratio measures only what the registry adds (nothing per step).
Writes benchmarks/results/library_step.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import heavyball.utils
import lion_pytorch
import schedulefree
import torch
from optimizer_step import resnet_like_shapes

import optimizers

HERE = Path(__file__).resolve().parent
HP = {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.99, "decoupled_weight_decay": 0.01, "shampoo_beta": 0.95,
      "epsilon": 1e-8}
LIBRARY: dict[str, Callable[[list[torch.Tensor]], torch.optim.Optimizer]] = {
    "adamw": lambda p: torch.optim.AdamW(p, lr=1e-3, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.01),
    "nadamw": lambda p: torch.optim.NAdam(p, lr=1e-3, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.01,
                                          decoupled_weight_decay=True),
    "lion": lambda p: lion_pytorch.Lion(p, lr=1e-3, betas=(0.9, 0.99), weight_decay=0.01),
    "schedule-free-adamw": lambda p: schedulefree.AdamWScheduleFree(
        p, lr=1e-3, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.01, warmup_steps=0
    ),
    "muon": lambda p: _MuonPair(p),
}


class _MuonPair(torch.optim.Optimizer):
    """torch.optim.Muon on the 2-D tensors and AdamW on the rest, stepped one after the other:
    what ``muon`` over a plain list of tensors does, written out."""

    def __init__(self, params: list[torch.Tensor]) -> None:
        self.parts = [
            torch.optim.Muon([p for p in params if p.ndim == 2], lr=1e-3, weight_decay=0.01,
                             adjust_lr_fn="match_rms_adamw"),
            torch.optim.AdamW([p for p in params if p.ndim != 2], lr=1e-3, betas=(0.9, 0.99), weight_decay=0.01),
        ]
        self.param_groups = [g for part in self.parts for g in part.param_groups]

    def step(self, closure=None) -> None:  # noqa: ANN001
        for part in self.parts:
            part.step()


def _soap(params: list[torch.Tensor]) -> torch.optim.Optimizer:
    """heavyball.SOAP as ``optimizers.create("soap", ...)`` builds it (optimizers/library.py)."""
    return heavyball.SOAP(params, lr=1e-3, betas=(0.9, 0.99), shampoo_beta=0.95, eps=1e-8, weight_decay=0.01)


def _params(shapes: list[tuple[int, ...]]) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    params = [torch.randn(s, generator=generator).requires_grad_() for s in shapes]
    for p in params:
        p.grad = torch.randn(p.shape, generator=generator)
    return params


def _time(optimizer: torch.optim.Optimizer, steps: int) -> float:
    """Seconds per step; the gradients are put back before each step (heavyball clears them)."""
    params = [p for g in optimizer.param_groups for p in g["params"]]
    grads = [p.grad for p in params]
    if hasattr(optimizer, "train"):
        optimizer.train()
    optimizer.step()  # state allocated outside the timing
    elapsed = 0.0
    for _ in range(steps):
        for p, g in zip(params, grads, strict=True):
            p.grad = g
        start = time.perf_counter()
        optimizer.step()
        elapsed += time.perf_counter() - start
    return elapsed / steps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[0.7, 20.0])
    parser.add_argument("--soap-sizes", type=float, nargs="*", default=[0.7])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--out", default=str(HERE / "results" / "library_step.json"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    heavyball.utils.compile_mode = None  # as optimizers.create runs it (eagerly)
    results: dict[str, dict] = {}
    for size in args.sizes:
        shapes = resnet_like_shapes(size)
        n = sum(torch.Size(s).numel() for s in shapes)
        per_size: dict[str, dict] = {}
        chosen = {**LIBRARY, **({"soap": _soap} if size in args.soap_sizes else {})}
        for name, library in chosen.items():
            ours_s, theirs_s = [], []
            hp = {k: v for k, v in HP.items() if k in optimizers.get_spec(name).defaults}
            for r in range(args.rounds):
                for which in ("ours", "theirs") if r % 2 == 0 else ("theirs", "ours"):
                    if which == "ours":
                        ours_s.append(_time(optimizers.create(name, _params(shapes), **hp), args.steps))
                    else:
                        theirs_s.append(_time(library(_params(shapes)), args.steps))
            ours, theirs = statistics.median(ours_s), statistics.median(theirs_s)
            per_size[name] = {"create_s": ours, "library_s": theirs, "ratio": ours / theirs}
            print(f"{size}M {name}: create {ours * 1e3:.2f} ms, library {theirs * 1e3:.2f} ms, ratio {ours / theirs:.3f}",
                  flush=True)
        results[f"{n / 1e6:.2f}M"] = per_size
    record = {
        "benchmark": "library_step",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "versions": {"torch": torch.__version__, "lion-pytorch": "0.2.5", "schedulefree": "1.4.1", "heavyball": "3.2.1"},
        "rounds": args.rounds, "steps": args.steps, "threads": 1,
        "results": results,
        "max_ratio": max(r["ratio"] for s in results.values() for r in s.values()),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
