"""Time one optimizer step of every preset against torch.optim, side by side in one run.

    .venv/bin/python benchmarks/optimizer_step.py [--device cpu|cuda] [--sizes 0.5 20] [--rounds 15]

Parameter sets shaped like ResNets (conv kernels, batch-norm vectors, a classifier), about 0.5M
and 20M float32 parameters. Each round times every optimizer once, in a rotating order, so machine
noise hits all of them alike; the median over rounds is reported, and each preset's ratio to the
torch.optim kernel: the two the issue names (SGD(momentum) for sgd/momentum/nesterov, Adam for
rmsprop/adam/nadam) and the closest kernel in work per element (SGD, SGD(momentum),
SGD(nesterov), RMSprop(momentum), Adam, NAdam). Writes benchmarks/results/optimizer_step.json.
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
    """Conv kernels 3x3 in 4 stages with batch-norm pairs, widths scaled to hit the target size."""
    shapes: list[tuple[int, ...]] = []
    width = 16
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
        width += 4


def make_optimizers(params: list[torch.Tensor]) -> dict[str, torch.optim.Optimizer]:
    hp = {"sgd": {}, "momentum": {"momentum": 0.9}, "nesterov": {"momentum": 0.9},
          "rmsprop": {"momentum": 0.9}, "adam": {}, "nadam": {}}
    opts: dict[str, torch.optim.Optimizer] = {}
    for name, extra in hp.items():
        opts[f"{name}"] = optimizers.create(name, params, learning_rate=1e-3, foreach=True, **extra)
        opts[f"{name}_single"] = optimizers.create(name, params, learning_rate=1e-3, foreach=False, **extra)
    torch_makers = {
        "torch_sgd": lambda fe: torch.optim.SGD(params, lr=1e-3, foreach=fe),
        "torch_sgd_momentum": lambda fe: torch.optim.SGD(params, lr=1e-3, momentum=0.9, foreach=fe),
        "torch_sgd_nesterov": lambda fe: torch.optim.SGD(params, lr=1e-3, momentum=0.9, nesterov=True, foreach=fe),
        "torch_rmsprop_momentum": lambda fe: torch.optim.RMSprop(params, lr=1e-3, momentum=0.9, foreach=fe),
        "torch_adam": lambda fe: torch.optim.Adam(params, lr=1e-3, foreach=fe),
        "torch_nadam": lambda fe: torch.optim.NAdam(params, lr=1e-3, foreach=fe),
    }
    for name, make in torch_makers.items():
        opts[name] = make(True)
        opts[f"{name}_single"] = make(False)
    return opts


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
    ratios = {n: median_ms[n] / median_ms[b] for n, b in BASELINE.items()}
    closest = {n: median_ms[n] / median_ms[b] for n, b in CLOSEST.items()}
    ratios_single = {f"{n}_single": median_ms[f"{n}_single"] / median_ms[f"{b}_single"] for n, b in CLOSEST.items()}
    return {
        "params": sum(p.numel() for p in params),
        "tensors": len(params),
        "median_step_ms": {n: round(v, 4) for n, v in median_ms.items()},
        "ratio_to_sgd_momentum_or_adam_foreach": {n: round(v, 3) for n, v in ratios.items()},
        "ratio_to_closest_torch_foreach": {n: f"{v:.3f} vs {CLOSEST[n]}" for n, v in closest.items()},
        "ratio_single_to_closest_torch_single": {n: round(v, 3) for n, v in ratios_single.items()},
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
        "results": results,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
