"""Optimizer state and step(): state_dict round trips, dtype and device of the state,
parameters without gradients, the closure's loss."""

from __future__ import annotations

import copy

import pytest
import torch

import optimizers
from tests.optimizers.trajectories import NAMES, SHAPE

# --------------------------------------------------------------------------------------------
# 1. state_dict round trip
# --------------------------------------------------------------------------------------------

ROUND_TRIP_HP = {
    "sgd": {"weight_decay": 0.01},
    "momentum": {"momentum": 0.9},
    "nesterov": {"momentum": 0.8, "weight_decay": 0.01},
    "rmsprop": {"momentum": 0.9, "rho": 0.95, "epsilon": 1e-6},
    "adam": {"beta1": 0.8, "beta2": 0.99, "epsilon": 1e-6},
    "nadam": {"beta1": 0.8, "beta2": 0.99, "epsilon": 1e-6, "weight_decay": 0.01},
}


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_round_trip_is_bitwise(name):
    gen = torch.Generator().manual_seed(3)
    params = [
        torch.nn.Parameter(torch.randn(3, 4, generator=gen, dtype=torch.float64)),
        torch.nn.Parameter(torch.randn(5, generator=gen, dtype=torch.float64)),
    ]
    grads = [
        [torch.randn(q.shape, generator=gen, dtype=torch.float64) for q in params] for _ in range(6)
    ]
    lrs = [0.1, 0.05, 0.02, 0.2, 0.03, 0.01]
    opt = optimizers.create(name, params, learning_rate=0.1, **ROUND_TRIP_HP[name])

    def step(o, qs, t):
        o.param_groups[0]["lr"] = lrs[t]
        for q, g in zip(qs, grads[t], strict=True):
            q.grad = g.clone()
        o.step()

    for t in range(3):
        step(opt, params, t)
    saved = copy.deepcopy(opt.state_dict())
    assert all(s["step"] == 3 for s in saved["state"].values())

    params2 = [torch.nn.Parameter(q.detach().clone()) for q in params]
    opt2 = optimizers.create(name, params2, learning_rate=0.1, **ROUND_TRIP_HP[name])
    opt2.load_state_dict(saved)
    for t in range(3, 6):
        step(opt, params, t)
        step(opt2, params2, t)
    for q, q2 in zip(params, params2, strict=True):
        assert torch.equal(q, q2)
    for s, s2 in zip(opt.state.values(), opt2.state.values(), strict=True):
        assert s.keys() == s2.keys()
        for key in s:
            if torch.is_tensor(s[key]):
                assert torch.equal(s[key], s2[key]), key
            else:
                assert s[key] == s2[key], key


# --------------------------------------------------------------------------------------------
# 2. The state lives on the parameters' device; misc step() behaviour
# --------------------------------------------------------------------------------------------


def _devices() -> list[str]:
    devs = ["cpu", "meta"]
    if torch.cuda.is_available():
        devs.append("cuda")
    return devs


@pytest.mark.parametrize("device", _devices())
@pytest.mark.parametrize("name", NAMES)
def test_state_lives_on_param_device(name, device):
    p = torch.nn.Parameter(torch.ones(SHAPE, device=device))
    opt = optimizers.create(name, [p], learning_rate=0.1)
    p.grad = torch.full(SHAPE, 0.5, device=device)
    opt.step()
    assert p.device.type == device
    tensors = [v for v in opt.state[p].values() if torch.is_tensor(v)]
    assert len(tensors) == {"sgd": 0, "momentum": 1, "nesterov": 1}.get(name, 2)
    for value in tensors:
        assert value.device == p.device and value.dtype == p.dtype and value.shape == p.shape


def test_param_without_grad_is_skipped_and_groups_keep_their_lr():
    a = torch.nn.Parameter(torch.ones(2, dtype=torch.float64))
    b = torch.nn.Parameter(torch.ones(2, dtype=torch.float64))
    frozen = torch.nn.Parameter(torch.ones(2, dtype=torch.float64))
    opt = optimizers.create(
        "sgd", [{"params": [a, frozen]}, {"params": [b], "lr": 0.5}], learning_rate=0.1
    )
    a.grad = torch.full((2,), 0.5, dtype=torch.float64)
    b.grad = torch.full((2,), 0.5, dtype=torch.float64)
    opt.step()
    assert torch.equal(a, torch.full((2,), 0.95, dtype=torch.float64))
    assert torch.equal(b, torch.full((2,), 0.75, dtype=torch.float64))
    assert torch.equal(frozen, torch.ones(2, dtype=torch.float64))
    assert frozen not in opt.state


def test_step_returns_closure_loss():
    p = torch.nn.Parameter(torch.tensor([2.0], dtype=torch.float64))
    opt = optimizers.create("adam", [p], learning_rate=0.1)

    def closure():
        opt.zero_grad()
        loss = (p**2).sum()
        loss.backward()
        return loss

    assert opt.step(closure).item() == 4.0
    assert p.item() < 2.0

