"""The training loop and bundles on a CUDA device (skipped where torch sees no GPU).

CPU-only runs check the device logic with a faked ``torch.cuda`` (test_devices.py); these
tests run the real thing: data and model on the GPU, bf16 autocast, the divergence check at the
accelerator's cadence, and a vectorised bundle.
"""

from __future__ import annotations

import math

import pytest
import torch

import workloads
from workloads import BundleMember, train_bundle
from workloads.run import DIVERGENCE_CHECK_EVERY

pytestmark = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA device (torch.cuda.is_available() is False)"
)

ADAM = ("adam", {"learning_rate": 3e-3}, "linear_decay", {"decay_steps_factor": 1.0, "decay_factor": 0.1})


Seen = list[tuple[torch.device, torch.device, torch.dtype]]


def _spy_on_loss(monkeypatch: pytest.MonkeyPatch, w: workloads.Workload) -> Seen:
    """Record (logits device, targets device, logits dtype) of every training step of ``w``."""
    seen: Seen = []
    original = w.loss

    def spy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        seen.append((logits.device, y.device, logits.dtype))
        return original(logits, y)

    monkeypatch.setattr(w, "loss", spy)
    return seen


def _finite(out: workloads.TrialOutcome) -> bool:
    return all(math.isfinite(v) for r in out.rows for v in (r.train_loss, r.val_loss, r.test_loss))


def test_train_puts_model_and_data_on_cuda_and_completes(monkeypatch):
    w = workloads.get("mnist1d-mlp")
    built: list[torch.nn.Module] = []
    original_build = w.build_model
    monkeypatch.setattr(w, "build_model", lambda seed: built.append(original_build(seed)) or built[-1])
    seen = _spy_on_loss(monkeypatch, w)
    out = workloads.train(w, *ADAM, seed=0, steps=60, eval_every=30)  # no device: CUDA is picked
    assert out.status == "completed" and out.total_steps == 60 and [r.step for r in out.rows] == [30, 60]
    assert _finite(out) and out.rows[-1].train_loss < out.rows[0].train_loss + 0.05
    # The model was moved to the GPU (in place), the cached splits live there, every batch did.
    assert built and all(p.is_cuda for p in built[0].parameters())
    assert all(s.x.is_cuda and s.y.is_cuda for s in w.data(workloads.pick_device()).values())
    assert len(seen) == 60 and all(x.type == "cuda" and y.type == "cuda" for x, y, _ in seen)
    assert {dtype for _, _, dtype in seen} == {torch.float32}
    # An explicit index works as well as the bare name.
    again = workloads.train(w, *ADAM, seed=0, steps=60, eval_every=30, device="cuda:0")
    assert again.status == "completed" and len(again.rows) == 2


@pytest.mark.parametrize("name", ["mnist1d-mlp", "tinytext-lstm"])
def test_bf16_autocast_runs_on_cuda(monkeypatch, name):
    w = workloads.get(name)
    seen = _spy_on_loss(monkeypatch, w)
    out = workloads.train(w, *ADAM, seed=0, steps=40, eval_every=20, device="cuda", mixed_precision=True)
    assert out.status == "completed" and out.total_steps == 40 and _finite(out)
    assert seen and {dtype for _, _, dtype in seen} == {torch.bfloat16}
    assert all(x.type == "cuda" for x, _, _ in seen)
    assert 0.0 <= out.rows[-1].val_error <= 1.0
    # bf16 only changes the arithmetic: the loss stays close to the float32 run's.
    full = workloads.train(w, *ADAM, seed=0, steps=40, eval_every=20, device="cuda")
    assert out.rows[-1].val_loss == pytest.approx(full.rows[-1].val_loss, rel=0.1)


def test_divergence_is_caught_at_the_gpu_check_interval():
    w = workloads.get("mnist1d-mlp")
    out = workloads.train(
        w, "sgd", {"learning_rate": 1e4}, "constant", {}, seed=0, steps=200, eval_every=50, device="cuda"
    )
    assert out.status == "diverged"
    # On an accelerator the loss is read every DIVERGENCE_CHECK_EVERY steps (and at evaluations):
    # this run blows up within its first steps, so the first check stops it.
    assert out.total_steps == DIVERGENCE_CHECK_EVERY - 1
    assert len(out.rows) == 1 and out.rows[0].step == out.total_steps
    assert not math.isfinite(out.rows[0].train_loss) or out.rows[0].train_loss > 1


def test_train_bundle_runs_on_cuda():
    w = workloads.get("mnist1d-mlp")
    decay = {"decay_steps_factor": 1.0, "decay_factor": 0.1}
    members = [BundleMember({"learning_rate": lr}, decay, seed=s) for s, lr in ((0, 3e-3), (1, 1e-2))]
    outcomes = train_bundle(w, "adam", members, "linear_decay", steps=40, eval_every=20, device="cuda")
    assert [o.status for o in outcomes] == ["completed", "completed"]
    for member, bundled in zip(members, outcomes, strict=True):
        assert bundled.total_steps == 40 and [r.step for r in bundled.rows] == [20, 40] and _finite(bundled)
        alone = workloads.train(
            w, "adam", member.hparams, "linear_decay", decay, member.seed, steps=40, eval_every=20
        )
        for b, a in zip(bundled.rows, alone.rows, strict=True):
            assert b.val_loss == pytest.approx(a.val_loss, rel=1e-2)


def test_an_in_memory_image_stream_batches_and_augments_on_the_gpu_without_host_copies():
    """GPU-ready data: the split lives on the GPU, the augmentation generator too, so a step of
    the stream (within an epoch) makes no host-to-device copy; the permutation is copied once
    per epoch."""
    from torch.profiler import ProfilerActivity, profile

    from workloads._images import ImageWorkload
    from workloads.base import Split
    from workloads.batches import BatchStream

    class Crops(ImageWorkload):
        name, description = "crops", "a CUDA test workload"
        batch_size, step_budget, eval_interval = 8, 10, 5
        target_metric, target_value, divergence_loss = "val_error", 0.5, 1e9
        splits = ("train", "val", "test")
        mean, std, crop_pad = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), 4

        def load_splits(self):
            raise NotImplementedError

        def build_model(self, seed):
            raise NotImplementedError

    dev = workloads.pick_device("cuda")
    x = torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8, device=dev)
    y = torch.randint(0, 10, (64,), device=dev)
    stream = BatchStream(Split(x, y), 8, 0, 1, Crops().train_transform)
    assert stream.augment_gen.device.type == "cuda"
    next(stream)  # the epoch's permutation goes to the GPU here
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        for _ in range(5):  # 5 more batches of the same epoch (8 per epoch)
            xb, yb = next(stream)
        torch.cuda.synchronize()
    copies = [e.name for e in prof.events() if "HtoD" in e.name or "Memcpy HtoD" in e.name]
    assert copies == [], copies
    assert xb.is_cuda and yb.is_cuda and xb.dtype == torch.float32 and xb.shape == (8, 3, 32, 32)


def test_data_parallel_training_with_nccl_on_one_gpu_matches_the_plain_run(tmp_path):
    """DDP with NCCL (one rank: the one GPU): the DDP model, the NCCL all-reduces of the loss, the
    evaluation sums and the clock all run on CUDA, and the run matches the plain one within the
    tolerance of cuDNN: convolutions run in TF32 by default (a 10-bit mantissa, about 1e-3
    relative per operation) with algorithms cuDNN picks per process (workloads.device), so two
    runs agree to about that, compounded over the steps: 2e-2 relative after 40 steps."""
    import torch.distributed as dist

    from tests.ports import free_port
    from workloads.parallel import DataParallel

    w = workloads.get("mnist1d-cnn")
    plain = workloads.train(w, *ADAM, seed=0, steps=40, eval_every=20, batch_size=32)
    dist.init_process_group("nccl", init_method=f"tcp://127.0.0.1:{free_port()}", rank=0, world_size=1)
    try:
        parallel = DataParallel(0, 1, device=workloads.pick_device("cuda"))
        ddp = workloads.train(w, *ADAM, seed=0, steps=40, eval_every=20, batch_size=32, parallel=parallel)
    finally:
        dist.destroy_process_group()
    assert ddp.status == plain.status == "completed"
    for a, b in zip(plain.rows, ddp.rows, strict=True):
        for column in ("train_loss", "val_loss", "test_loss"):
            assert math.isclose(getattr(a, column), getattr(b, column), rel_tol=2e-2), column
