"""Time one optimizer step of every preset against torch.optim, side by side in one run.

    .venv/bin/python benchmarks/optimizer_step.py [--device cpu|cuda] [--sizes 0.5 20] [--rounds 15]
    .venv/bin/python benchmarks/optimizer_step.py --sizes 0.01 --rounds 3 --out /tmp/x.json   # smoke run

Parameter sets shaped like ResNets (conv kernels, batch-norm vectors, a classifier), about 0.5M
and 20M float32 parameters. Each round times every optimizer once, in a rotating order, so machine
noise hits all of them alike; the median over rounds is reported, and each preset's ratio to the
torch.optim kernel: the two the issue names (SGD(momentum) for sgd/momentum/nesterov, Adam for
rmsprop/adam/nadam) and the closest kernel in work per element (SGD, SGD(momentum),
SGD(nesterov), RMSprop(momentum), Adam, NAdam), each with foreach=True and with foreach=False.
Each preset with its DEFAULT kernel (no foreach argument: foreach on CUDA, single-tensor on CPU)
is also timed against the closest torch.optim class with ITS default (no foreach argument), and
the kernel each default picked is recorded. Every ratio is stored as
{"ratio": ours / theirs, "vs": torch kernel}. Writes benchmarks/results/optimizer_step.json
(--out elsewhere for a trial run; ``--sizes 0.01 --rounds 3`` takes seconds).
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

import optimizers

HERE = Path(__file__).resolve().parent
BASELINE = {"sgd": "torch_sgd_momentum", "momentum": "torch_sgd_momentum", "nesterov": "torch_sgd_momentum",
            "rmsprop": "torch_adam", "adam": "torch_adam", "nadam": "torch_adam"}
"""The two kernels the issue names: SGD(momentum) and Adam."""
CLOSEST = {"sgd": "torch_sgd", "momentum": "torch_sgd_momentum", "nesterov": "torch_sgd_nesterov",
           "rmsprop": "torch_rmsprop_momentum", "adam": "torch_adam", "nadam": "torch_nadam"}
"""The torch.optim kernel doing the most similar work (same number of passes over memory)."""


def resnet_like_shapes(target_millions: float) -> list[tuple[int, ...]]:
    """Conv kernels 3x3 in 4 stages with batch-norm pairs, widths scaled to hit the target size.

    Widths 16, 20, 24, ... (width 16 is about 0.69M parameters); a target below 0.1M (a smoke
    run, e.g. ``--sizes 0.01``) starts from width 1 instead, in steps of 1."""
    shapes: list[tuple[int, ...]] = []
    width, step = (16, 4) if target_millions >= 0.1 else (1, 1)
    while True:
        shapes.clear()
        c_in = 3
        for stage in range(4):
            c = width * 2**stage
            for _ in range(4):
                shapes += [(c, c_in, 3, 3), (c,), (c,)]
                c_in = c
        shapes += [(10, c_in), (10,)]
        total = sum(torch.Size(s).numel() for s in shapes)
        if total >= target_millions * 1e6:
            return shapes
        width += step


def make_optimizers(params: list[torch.Tensor]) -> dict[str, torch.optim.Optimizer]:
    hp = {"sgd": {}, "momentum": {"momentum": 0.9}, "nesterov": {"momentum": 0.9},
          "rmsprop": {"momentum": 0.9}, "adam": {}, "nadam": {}}
    opts: dict[str, torch.optim.Optimizer] = {}
    for name, extra in hp.items():
        opts[f"{name}"] = optimizers.create(name, params, learning_rate=1e-3, foreach=True, **extra)
        opts[f"{name}_single"] = optimizers.create(name, params, learning_rate=1e-3, foreach=False, **extra)
        opts[f"{name}_default"] = optimizers.create(name, params, learning_rate=1e-3, **extra)
    # kwargs only, so that the default variant passes no foreach argument at all.
    torch_makers = {
        "torch_sgd": lambda **fe: torch.optim.SGD(params, lr=1e-3, **fe),
        "torch_sgd_momentum": lambda **fe: torch.optim.SGD(params, lr=1e-3, momentum=0.9, **fe),
        "torch_sgd_nesterov": lambda **fe: torch.optim.SGD(params, lr=1e-3, momentum=0.9, nesterov=True, **fe),
        "torch_rmsprop_momentum": lambda **fe: torch.optim.RMSprop(params, lr=1e-3, momentum=0.9, **fe),
        "torch_adam": lambda **fe: torch.optim.Adam(params, lr=1e-3, **fe),
        "torch_nadam": lambda **fe: torch.optim.NAdam(params, lr=1e-3, **fe),
    }
    for name, make in torch_makers.items():
        opts[name] = make(foreach=True)
        opts[f"{name}_single"] = make(foreach=False)
        opts[f"{name}_default"] = make()
    return opts


def default_kernels(opts: dict[str, torch.optim.Optimizer], params: list[torch.Tensor]) -> dict[str, str]:
    """Which kernel each ``*_default`` optimizer runs: "foreach" or "single"."""
    kernels: dict[str, str] = {}
    for name, opt in opts.items():
        if not name.endswith("_default"):
            continue
        if isinstance(opt, optimizers.GeneralizedOptimizer):
            foreach = opt.uses_foreach(params)
        else:  # torch.optim resolves foreach=None at step time with this rule
            from torch.optim.optimizer import _default_to_fused_or_foreach

            foreach = _default_to_fused_or_foreach(params, differentiable=False, use_fused=False)[1]
        kernels[name] = "foreach" if foreach else "single"
    return kernels


def ratio(ours: float, theirs: float, vs: str) -> dict[str, float | str]:
    """One recorded ratio: a number, and the torch.optim kernel it is relative to."""
    return {"ratio": round(ours / theirs, 3), "vs": vs}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def measure(size: float, device: torch.device, rounds: int, inner: int) -> dict:
    shapes = resnet_like_shapes(size)
    params = [torch.nn.Parameter(torch.randn(s, device=device) * 0.01) for s in shapes]
    for p in params:
        p.grad = torch.randn_like(p) * 1e-3
    opts = make_optimizers(params)
    names = list(opts)
    for opt in opts.values():  # allocate state, warm up
        opt.step()
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[: r % len(names)]
        for name in order:
            sync(device)
            start = time.perf_counter()
            for _ in range(inner):
                opts[name].step()
            sync(device)
            times[name].append((time.perf_counter() - start) / inner)
    median_ms = {n: statistics.median(t) * 1e3 for n, t in times.items()}
    return {
        "params": sum(p.numel() for p in params),
        "tensors": len(params),
        "median_step_ms": {n: round(v, 4) for n, v in median_ms.items()},
        "default_kernel": default_kernels(opts, params),
        "ratio_to_sgd_momentum_or_adam_foreach": {
            n: ratio(median_ms[n], median_ms[b], b) for n, b in BASELINE.items()
        },
        "ratio_to_closest_torch_foreach": {n: ratio(median_ms[n], median_ms[b], b) for n, b in CLOSEST.items()},
        "ratio_single_to_closest_torch_single": {
            f"{n}_single": ratio(median_ms[f"{n}_single"], median_ms[f"{b}_single"], f"{b}_single")
            for n, b in CLOSEST.items()
        },
        "ratio_default_to_closest_torch_default": {
            f"{n}_default": ratio(median_ms[f"{n}_default"], median_ms[f"{b}_default"], f"{b}_default")
            for n, b in CLOSEST.items()
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--sizes", type=float, nargs="+", default=[0.5, 20.0], help="millions of parameters")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    parser.add_argument("--out", default=str(HERE / "results" / "optimizer_step.json"))
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    results = {}
    for size in args.sizes:
        inner = 20 if size < 5 else 2
        results[f"{size:g}M"] = measure(size, device, args.rounds, inner)
        print(json.dumps({f"{size:g}M": results[f"{size:g}M"]}, indent=2), flush=True)
    record = {
        "benchmark": "optimizer_step",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "device": str(device) if device.type == "cpu" else torch.cuda.get_device_name(device),
        "threads": torch.get_num_threads(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "torch": torch.__version__,
        "target": "every preset <= 1.2x its closest torch.optim foreach kernel",
        "ratio_format": {"ratio": "median step time of ours / of the torch.optim kernel 'vs'"},
        "results": results,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
