"""The device a run trains on."""

from __future__ import annotations

import torch

from optcompare.errors import InputError

__all__ = ["CUDNN_BENCHMARK", "configure_device", "pick_device"]

CUDNN_BENCHMARK = True
"""Whether runs on CUDA let cuDNN time its convolution algorithms for each input shape and keep
the fastest (``torch.backends.cudnn.benchmark``). The choice is speed over bitwise repeatability
on GPUs: a workload's shapes are fixed, so the search is paid once per process and then saves
time on every step, while the algorithm picked may differ between processes, so two runs of the
same seed on a GPU agree to float rounding, not bitwise (GPU atomics in some kernels break
bitwise repeatability anyway, unless ``torch.use_deterministic_algorithms`` is on, which is
slower still). On CPU runs stay bitwise repeatable; that is where the tests check exactness."""


def configure_device(dev: torch.device) -> None:
    """Per-process settings for training on ``dev``: :data:`CUDNN_BENCHMARK` on CUDA."""
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = CUDNN_BENCHMARK


def pick_device(preferred: str | torch.device | None = None) -> torch.device:
    """``preferred`` if given, else CUDA when present, else CPU. A CUDA device without an index
    gets the current one, so that it compares equal to the device of tensors placed on it.

    :class:`~optcompare.errors.InputError` when ``preferred`` is not a device string torch
    understands, names CUDA while CUDA is not available (a CPU-only torch build, or no GPU
    visible), or names a CUDA index beyond the visible devices.
    """
    if not preferred:
        preferred = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(preferred)
    except (RuntimeError, TypeError, ValueError) as exc:
        raise InputError(
            f"device {preferred!r} is not a device torch understands ({exc}); use 'cpu', 'cuda' or "
            "'cuda:N', or leave the device unset to use CUDA when present and the CPU otherwise"
        ) from exc
    if dev.type != "cuda":
        return dev
    if not torch.cuda.is_available():
        why = (
            f"this torch build ({torch.__version__}) has no CUDA support"
            if torch.version.cuda is None
            else "no CUDA GPU is visible to this process"
        )
        raise InputError(
            f"device {str(preferred)!r} was requested but CUDA is not available: {why}. "
            "Use device 'cpu', or leave the device unset to pick CUDA only when present."
        )
    count = torch.cuda.device_count()
    if dev.index is None:
        return torch.device("cuda", torch.cuda.current_device())
    if dev.index >= count:
        raise InputError(
            f"device {str(preferred)!r} was requested but only {count} CUDA device(s) are visible "
            f"(cuda:0 to cuda:{count - 1}); pick one of those or leave the index out"
        )
    return dev
