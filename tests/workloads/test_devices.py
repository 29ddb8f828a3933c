"""Picking the device: CUDA when present, the CPU otherwise, and input errors that say why a
requested device cannot be used (CUDA faked with monkeypatch; test_cuda.py runs the real one)."""

from __future__ import annotations

import pytest
import torch

import workloads
from optcompare.errors import InputError


def _fake_cuda(monkeypatch: pytest.MonkeyPatch, available: bool, count: int = 2, current: int = 1) -> None:
    """Make torch report ``count`` CUDA devices (current one ``current``) or none."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: available)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count if available else 0)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: current)


@pytest.mark.parametrize(
    ("available", "requested", "expected"),
    [
        (True, None, torch.device("cuda", 1)),  # the current device, with its index
        (True, "cuda", torch.device("cuda", 1)),
        (True, "cuda:0", torch.device("cuda", 0)),
        (True, "cuda:1", torch.device("cuda", 1)),
        (True, "cpu", torch.device("cpu")),
        (False, None, torch.device("cpu")),
        (False, "", torch.device("cpu")),
    ],
)
def test_the_device_is_the_requested_one_else_cuda_when_present_else_cpu(monkeypatch, available, requested, expected):
    _fake_cuda(monkeypatch, available=available)
    assert workloads.pick_device(requested) == expected
    if requested is None:
        assert workloads.pick_device() == expected


@pytest.mark.parametrize("device", ["cuda", "cuda:0", "cuda:3"])
def test_cuda_requested_without_cuda_is_an_input_error(monkeypatch, device):
    _fake_cuda(monkeypatch, available=False)
    with pytest.raises(InputError, match=rf"device '{device}' was requested but CUDA is not available"):
        workloads.pick_device(device)
    w = workloads.get("mnist1d-mlp")
    with pytest.raises(InputError, match="CUDA is not available"):
        workloads.train(w, "adam", {"learning_rate": 1e-3}, "constant", {}, seed=0, steps=1, device=device)


def test_cuda_index_beyond_the_visible_devices_is_an_input_error(monkeypatch):
    _fake_cuda(monkeypatch, available=True, count=2)
    with pytest.raises(InputError, match=r"'cuda:3' was requested but only 2 CUDA device\(s\) are visible"):
        workloads.pick_device("cuda:3")


@pytest.mark.parametrize("device", ["gpu", "cuda:x", "cuda:-1"])
def test_unparsable_device_is_an_input_error(device):
    with pytest.raises(InputError, match=rf"device '{device}' is not a device torch understands.*'cuda:N'"):
        workloads.pick_device(device)
