"""Tests of the ``optimizers`` package against PAPER.md sections 2-4.

The float64 numpy reference (tests/optimizers/reference.py) is written from PAPER.md section 2 alone (not from
``optimizers/generalized.py``) so that a shared mistake cannot hide.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from reference import reference_run  # tests/optimizers/reference.py

import optimizers

NAMES = ["sgd", "momentum", "nesterov", "rmsprop", "adam", "nadam"]
SHAPE = (3, 4)
N_STEPS = 5
# A learning rate that changes every step: RMSProp keeps eta_t inside its momentum buffer,
# the others scale the whole step, so a constant rate would hide a misplaced lr.
LRS = [0.1, 0.05, 0.2, 0.01, 0.3]


def run_ours(name: str, hp: dict, theta0, grads, lrs, dtype=torch.float64) -> list[torch.Tensor]:
    """Same trajectory with ``optimizers.create``; lr set into param_groups before each step."""
    p = torch.nn.Parameter(torch.tensor(theta0, dtype=dtype))
    opt = optimizers.create(name, [p], **{"learning_rate": lrs[0], **hp})
    out = []
    for g, eta in zip(grads, lrs, strict=True):
        opt.param_groups[0]["lr"] = eta
        p.grad = torch.tensor(g, dtype=dtype)
        opt.step()
        out.append(p.detach().clone())
    return out


@pytest.fixture(scope="module", autouse=True)
def _single_thread():
    """Tiny tensors: intra-op threads only add contention (seconds on a busy 2-core box)."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(20190910)
    theta0 = rng.standard_normal(SHAPE)
    grads = rng.standard_normal((N_STEPS, *SHAPE))
    grads[2, 0, 0] = 0.0  # an exact zero gradient entry (eps and v0 matter there)
    return theta0, grads


# --------------------------------------------------------------------------------------------
# 1. Table test: each optimizer x hyperparameter settings vs the reference
# --------------------------------------------------------------------------------------------

RULE_CASES = [
    ("sgd", {}),
    ("sgd", {"weight_decay": 0.1}),
    ("momentum", {"momentum": 0.9}),
    ("momentum", {"momentum": 0.0}),
    ("momentum", {"momentum": 0.5, "weight_decay": 0.01}),
    ("nesterov", {"momentum": 0.9}),
    ("nesterov", {"momentum": 0.0}),
    ("nesterov", {"momentum": 0.5, "weight_decay": 0.01}),
    ("rmsprop", {"momentum": 0.0, "rho": 0.9, "epsilon": 1e-10}),
    ("rmsprop", {"momentum": 0.9, "rho": 0.99, "epsilon": 1e-3, "weight_decay": 0.01}),
    ("rmsprop", {"momentum": 0.5, "rho": 0.0, "epsilon": 0.5}),
    ("rmsprop", {"momentum": 0.9, "rho": 1.0, "epsilon": 0.0}),
    ("adam", {"beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}),
    ("adam", {"beta1": 0.9, "beta2": 0.0, "epsilon": 1e-3}),
    ("adam", {"beta1": 0.0, "beta2": 0.9, "epsilon": 1e-8}),
    ("adam", {"beta1": 0.5, "beta2": 0.99, "epsilon": 10.0, "weight_decay": 0.05}),
    ("nadam", {"beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}),
    ("nadam", {"beta1": 0.9, "beta2": 0.0, "epsilon": 1e-3}),
    ("nadam", {"beta1": 0.0, "beta2": 0.9, "epsilon": 1e-8}),
    ("nadam", {"beta1": 0.5, "beta2": 0.99, "epsilon": 10.0, "weight_decay": 0.05}),
]


def _case_id(case: tuple[str, dict]) -> str:
    name, hp = case
    return name + "-" + ("-".join(f"{k}={v:g}" for k, v in hp.items()) or "defaults")


@pytest.mark.parametrize(("name", "hp"), RULE_CASES, ids=[_case_id(c) for c in RULE_CASES])
def test_update_rule_matches_reference(problem, name, hp):
    theta0, grads = problem
    expected = reference_run(name, hp, theta0, grads, LRS)
    got = run_ours(name, hp, theta0, grads, LRS)
    for t, (e, g) in enumerate(zip(expected, got, strict=True)):
        np.testing.assert_allclose(
            g.numpy(), e, rtol=1e-12, atol=1e-15, err_msg=f"{name} {hp} step {t}"
        )


def test_table_covers_every_registered_optimizer():
    assert optimizers.names() == NAMES
    assert {name for name, _ in RULE_CASES} == set(NAMES)


# --------------------------------------------------------------------------------------------
# 2. Hand-computed first updates, theta0 = 1.0, g = 0.5, lr = 0.1
# --------------------------------------------------------------------------------------------

HAND_CASES = [
    # sgd: 1 - 0.1*0.5 = 0.95
    ("sgd", {}, 0.95),
    # sgd + L2: g = 0.5 + 0.1*1.0 = 0.6; 1 - 0.1*0.6 = 0.94
    ("sgd", {"weight_decay": 0.1}, 0.94),
    # momentum: v = 0.9*0 + 0.5 = 0.5; 1 - 0.1*0.5 = 0.95 (first step is SGD's)
    ("momentum", {"momentum": 0.9}, 0.95),
    # nesterov: v = 0.5; step along 0.9*0.5 + 0.5 = 0.95; 1 - 0.1*0.95 = 0.905
    ("nesterov", {"momentum": 0.9}, 0.905),
    # rmsprop: v = 0.9*1 + 0.1*0.25 = 0.925 (v0 = 1); sqrt(v + eps) = sqrt(0.925 + 0.075) = 1;
    #          m = 0 + 0.1*0.5/1 = 0.05; 1 - 0.05 = 0.95
    ("rmsprop", {"momentum": 0.9, "rho": 0.9, "epsilon": 0.075}, 0.95),
    # adam (defaults): m = 0.1*0.5 = 0.05; v = 0.001*0.25; sqrt(v) = 0.5*sqrt(0.001)
    #   = 0.015811388300841897; b_1 = sqrt(0.001)/0.1;
    #   step = 0.1 * b_1 * m / (sqrt(v) + 1e-8) = 0.1 * 0.0158113883 / (0.0158113883 + 1e-8)
    #        = 0.1 / (1 + 6.32455532e-7) = 0.0999999367544868;  theta = 0.9000000632455132
    ("adam", {"beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}, 0.9000000632455132),
    # adam, beta2 = 0: v = g^2, sqrt(v) = 0.5, b_1 = 1/(1-0.9) = 10, m = 0.05;
    #   step = 0.1 * 10 * 0.05 / (0.5 + 0.5) = 0.05; theta = 0.95
    ("adam", {"beta1": 0.9, "beta2": 0.0, "epsilon": 0.5}, 0.95),
    # nadam (defaults): numerator = 0.9*0.05 + 0.1*0.5 = 0.095 (1.9x adam's m);
    #   step = 0.1 * 1.9 * 0.0158113883 / (0.0158113883 + 1e-8) = 0.1899998798335...
    #   theta = 0.810000120166475
    ("nadam", {"beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}, 0.810000120166475),
    # nadam, beta2 = 0, eps = 0.5: step = 0.1 * 10 * 0.095 / (0.5 + 0.5) = 0.095; theta = 0.905
    ("nadam", {"beta1": 0.9, "beta2": 0.0, "epsilon": 0.5}, 0.905),
]


@pytest.mark.parametrize(
    ("name", "hp", "expected"), HAND_CASES, ids=[_case_id(c[:2]) for c in HAND_CASES]
)
def test_first_update_by_hand(name, hp, expected):
    got = run_ours(name, hp, 1.0, [0.5], [0.1])
    assert got[0].item() == pytest.approx(expected, rel=1e-14, abs=0.0)


def test_second_update_by_hand_lr_placement():
    """Two steps, g = 0.5 both times, lr 0.1 then 0.2: where eta_t sits becomes visible."""
    # momentum: v1 = 0.5, theta1 = 0.95; v2 = 0.9*0.5 + 0.5 = 0.95; theta2 = 0.95 - 0.2*0.95 = 0.76
    mom = run_ours("momentum", {"momentum": 0.9}, 1.0, [0.5, 0.5], [0.1, 0.2])
    assert mom[1].item() == pytest.approx(0.76, rel=1e-14)
    # rmsprop with rho = 1, eps = 0 (v stays 1): m1 = 0.1*0.5 = 0.05, theta1 = 0.95;
    #   m2 = 0.9*0.05 + 0.2*0.5 = 0.145 (old lr kept in the buffer); theta2 = 0.95 - 0.145 = 0.805
    rms = run_ours(
        "rmsprop", {"momentum": 0.9, "rho": 1.0, "epsilon": 0.0}, 1.0, [0.5, 0.5], [0.1, 0.2]
    )
    assert rms[1].item() == pytest.approx(0.805, rel=1e-14)


# --------------------------------------------------------------------------------------------
# 3. Departures from (and agreements with) torch.optim
# --------------------------------------------------------------------------------------------


def _torch_run(opt_cls, theta0, grads, lrs, per_step=None, **kw) -> list[torch.Tensor]:
    p = torch.nn.Parameter(torch.tensor(theta0, dtype=torch.float64))
    opt = opt_cls([p], lr=lrs[0], foreach=False, **kw)
    out = []
    for t, (g, eta) in enumerate(zip(grads, lrs, strict=True)):
        opt.param_groups[0]["lr"] = eta
        if per_step is not None:
            per_step(opt.param_groups[0], t)
        p.grad = torch.tensor(g, dtype=torch.float64)
        opt.step()
        out.append(p.detach().clone())
    return out


def test_adam_differs_from_torch_adam_for_large_eps(problem):
    theta0, grads = problem
    ours = run_ours("adam", {"epsilon": 1.0}, theta0, grads, LRS)
    theirs = _torch_run(torch.optim.Adam, theta0, grads, LRS, betas=(0.9, 0.999), eps=1.0)
    # Ours adds eps to sqrt(v) before the correction sqrt(1-beta2^(t+1)) ~ 0.03 is applied,
    # torch after it: with eps = 1 the steps differ by a large factor.
    step_ours = (ours[0] - torch.tensor(theta0)).abs()
    step_theirs = (theirs[0] - torch.tensor(theta0)).abs()
    assert torch.all(step_theirs > 3.0 * step_ours)
    assert not torch.allclose(ours[-1], theirs[-1], rtol=1e-3, atol=0.0)


@pytest.mark.parametrize("eps", [1e-300, 1e-14])
def test_adam_agrees_with_torch_adam_for_tiny_eps(problem, eps):
    theta0, grads = problem
    ours = run_ours("adam", {"epsilon": eps}, theta0, grads, LRS)
    theirs = _torch_run(torch.optim.Adam, theta0, grads, LRS, betas=(0.9, 0.999), eps=eps)
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=0.0)


def test_adam_equals_torch_adam_with_rescaled_eps(problem):
    """Exact relation: our eps equals torch's eps_t = eps / sqrt(1 - beta2^(t+1))."""
    theta0, grads = problem
    eps, b2 = 0.3, 0.99

    def rescale(group, t):
        group["eps"] = eps / math.sqrt(1.0 - b2 ** (t + 1))

    ours = run_ours("adam", {"epsilon": eps, "beta2": b2}, theta0, grads, LRS)
    theirs = _torch_run(
        torch.optim.Adam, theta0, grads, LRS, per_step=rescale, betas=(0.9, b2), eps=eps
    )
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=0.0)


def test_nadam_differs_from_torch_nadam(problem):
    """torch.optim.NAdam has a momentum-decay schedule; ours has none (PAPER.md section 2)."""
    theta0, grads = problem
    ours = run_ours("nadam", {"epsilon": 1e-12}, theta0, grads, LRS)
    theirs = _torch_run(torch.optim.NAdam, theta0, grads, LRS, betas=(0.9, 0.999), eps=1e-12)
    assert not torch.allclose(ours[-1], theirs[-1], rtol=1e-3, atol=0.0)


# Last column: bitwise equality expected. torch's Nesterov forms g + gamma*buf with one fused
# multiply-add (``grad.add(buf, alpha=momentum)``), ours rounds gamma*m first
# (``m.mul(a).add_(g)``): the two differ by an ulp unless gamma*m is exact (gamma = 0.5 is).
SGD_CASES = [
    ("sgd", {}, {}, True),
    ("sgd", {"weight_decay": 0.1}, {"weight_decay": 0.1}, True),
    ("momentum", {"momentum": 0.9}, {"momentum": 0.9}, True),
    (
        "momentum",
        {"momentum": 0.5, "weight_decay": 0.01},
        {"momentum": 0.5, "weight_decay": 0.01},
        True,
    ),
    ("nesterov", {"momentum": 0.9}, {"momentum": 0.9, "nesterov": True}, False),
    (
        "nesterov",
        {"momentum": 0.5, "weight_decay": 0.01},
        {"momentum": 0.5, "weight_decay": 0.01, "nesterov": True},
        False,  # we apply g and gamma*v as two in-place terms: last-ulp rounding differs
    ),
]


@pytest.mark.parametrize(
    ("name", "hp", "torch_kw", "bitwise"), SGD_CASES, ids=[_case_id(c[:2]) for c in SGD_CASES]
)
def test_sgd_family_equals_torch_sgd(problem, name, hp, torch_kw, bitwise):
    theta0, grads = problem
    ours = run_ours(name, hp, theta0, grads, LRS)
    theirs = _torch_run(torch.optim.SGD, theta0, grads, LRS, dampening=0.0, **torch_kw)
    for t, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        if bitwise:
            assert torch.equal(a, b), f"{name} step {t}: max diff {(a - b).abs().max().item()}"
        else:
            torch.testing.assert_close(a, b, rtol=1e-15, atol=1e-16)


# --------------------------------------------------------------------------------------------
# 4. Inclusions (PAPER.md section 3) on a small nn.Linear regression, 20 steps
# --------------------------------------------------------------------------------------------


def _linear_trajectory(name: str, hp: dict, lrs: list[float]) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(7)
    x = torch.randn(32, 5, generator=gen, dtype=torch.float64)
    y = torch.randn(32, 2, generator=gen, dtype=torch.float64)
    torch.manual_seed(0)
    model = torch.nn.Linear(5, 2).double()
    opt = optimizers.create(name, model.parameters(), **{"learning_rate": lrs[0], **hp})
    out = []
    for eta in lrs:
        opt.param_groups[0]["lr"] = eta
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        opt.step()
        out.append(torch.cat([q.detach().flatten() for q in model.parameters()]))
    return out


CONST_LR = [0.05] * 20
VARYING_LR = [0.05 * (1.0 - 0.04 * t) for t in range(20)]

EXACT_INCLUSIONS = [
    ("sgd", {}, "momentum", {"momentum": 0.0}),
    ("sgd", {"weight_decay": 0.01}, "momentum", {"momentum": 0.0, "weight_decay": 0.01}),
    ("sgd", {}, "nesterov", {"momentum": 0.0}),
    ("sgd", {"weight_decay": 0.01}, "nesterov", {"momentum": 0.0, "weight_decay": 0.01}),
]


@pytest.mark.parametrize(("narrow", "nhp", "wide", "whp"), EXACT_INCLUSIONS)
def test_sgd_inside_momentum_and_nesterov_bitwise(narrow, nhp, wide, whp):
    a = _linear_trajectory(narrow, nhp, VARYING_LR)
    b = _linear_trajectory(wide, whp, VARYING_LR)
    for t, (x, y) in enumerate(zip(a, b, strict=True)):
        assert torch.equal(x, y), f"step {t}"


@pytest.mark.parametrize("gamma", [0.0, 0.9])
def test_momentum_inside_rmsprop_rho_one(gamma):
    a = _linear_trajectory("momentum", {"momentum": gamma}, CONST_LR)
    b = _linear_trajectory("rmsprop", {"momentum": gamma, "rho": 1.0, "epsilon": 0.0}, CONST_LR)
    assert not torch.equal(a[0], a[-1])  # the problem actually moves
    for x, y in zip(a, b, strict=True):
        torch.testing.assert_close(y, x, rtol=1e-12, atol=1e-14)


def test_rmsprop_rho_one_differs_from_momentum_under_a_schedule():
    """The learning rate sits inside RMSProp's buffer, so the inclusion needs a constant rate."""
    a = _linear_trajectory("momentum", {"momentum": 0.9}, VARYING_LR)
    b = _linear_trajectory("rmsprop", {"momentum": 0.9, "rho": 1.0, "epsilon": 0.0}, VARYING_LR)
    assert not torch.allclose(a[-1], b[-1], rtol=1e-6, atol=0.0)


@pytest.mark.parametrize(("narrow", "wide"), [("momentum", "adam"), ("nesterov", "nadam")])
def test_momentum_inside_adam_as_eps_grows(problem, narrow, wide):
    """alpha_t = eta_t*eps*(1-beta1^(t+1)) / ((1-beta1)*sqrt(1-beta2^(t+1))): error ~ 1/eps."""
    theta0, grads = problem
    gamma, b2 = 0.9, 0.0
    target = reference_run(narrow, {"momentum": gamma}, theta0, grads, LRS)[-1]
    errors = []
    for eps in [1e1, 1e3, 1e5, 1e7]:
        alphas = [
            eta * eps * (1 - gamma ** (t + 1)) / ((1 - gamma) * math.sqrt(1 - b2 ** (t + 1)))
            for t, eta in enumerate(LRS)
        ]
        got = run_ours(wide, {"beta1": gamma, "beta2": b2, "epsilon": eps}, theta0, grads, alphas)
        errors.append(float(np.abs(got[-1].numpy() - target).max()))
    assert all(e2 < e1 / 50 for e1, e2 in zip(errors, errors[1:], strict=False)), errors
    assert errors[-1] < 1e-6


# --------------------------------------------------------------------------------------------
# 5. state_dict round trip
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
# 6. dtype and device follow the parameters; misc step() behaviour
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "hp"), RULE_CASES, ids=[_case_id(c) for c in RULE_CASES])
def test_float32_follows_params(problem, name, hp):
    theta0, grads = problem
    expected = reference_run(name, hp, theta0, grads, LRS)
    p = torch.nn.Parameter(torch.tensor(theta0, dtype=torch.float32))
    opt = optimizers.create(name, [p], **{"learning_rate": LRS[0], **hp})
    for g, eta in zip(grads, LRS, strict=True):
        opt.param_groups[0]["lr"] = eta
        p.grad = torch.tensor(g, dtype=torch.float32)
        opt.step()
    assert p.dtype == torch.float32
    for value in opt.state[p].values():
        if torch.is_tensor(value):
            assert value.dtype == torch.float32 and value.device == p.device
    np.testing.assert_allclose(p.detach().numpy(), expected[-1], rtol=2e-5, atol=2e-6)


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


# --------------------------------------------------------------------------------------------
# 7. Bad input
# --------------------------------------------------------------------------------------------


def _params():
    return [torch.nn.Parameter(torch.zeros(2))]


BAD_HPARAMS = [
    ("sgd", {"learning_rate": 0.0}, r"learning_rate=0\.0 is out of range; valid range: \(0, inf\)"),
    ("adam", {"learning_rate": -1}, r"learning_rate=-1 is out of range; valid range: \(0, inf\)"),
    ("sgd", {"learning_rate": math.nan}, r"learning_rate=nan .*valid range: \(0, inf\)"),
    ("sgd", {"learning_rate": math.inf}, r"learning_rate=inf .*valid range: \(0, inf\)"),
    ("momentum", {"momentum": 1.0}, r"momentum=1\.0 .*valid range: \[0, 1\)"),
    ("nesterov", {"momentum": -0.1}, r"momentum=-0\.1 .*valid range: \[0, 1\)"),
    ("rmsprop", {"momentum": 1.0}, r"momentum=1\.0 .*valid range: \[0, 1\)"),
    ("adam", {"beta1": 1.0}, r"beta1=1\.0 .*valid range: \[0, 1\)"),
    ("nadam", {"beta2": 1.5}, r"beta2=1\.5 .*valid range: \[0, 1\)"),
    ("adam", {"beta2": 1.0}, r"beta2=1\.0 .*valid range: \[0, 1\)"),
    ("adam", {"epsilon": -1e-8}, r"epsilon=-1e-08 .*valid range: \(0, inf\)"),
    ("adam", {"epsilon": 0.0}, r"epsilon=0\.0 .*valid range: \(0, inf\)"),
    ("nadam", {"epsilon": 0.0}, r"epsilon=0\.0 .*valid range: \(0, inf\)"),
    ("rmsprop", {"epsilon": -1.0}, r"epsilon=-1\.0 .*valid range: \[0, inf\)"),
    ("rmsprop", {"rho": 1.5}, r"rho=1\.5 .*valid range: \[0, 1\]"),
    # eps = 0 with rho < 1: v reaches 0 where g = 0 and g / sqrt(v + eps) is 0/0.
    ("rmsprop", {"rho": 0.0, "epsilon": 0.0}, r"epsilon=0\.0 requires rho=1 \(got rho=0\.0\).*0/0"),
    ("rmsprop", {"epsilon": 0.0}, r"epsilon=0\.0 requires rho=1 \(got rho=0\.9\)"),
    ("rmsprop", {"rho": 0.999999, "epsilon": 0}, r"epsilon=0\.0 requires rho=1 .*epsilon = 0 with rho = 1"),
    ("rmsprop", {"rho": -0.5}, r"rho=-0\.5 .*valid range: \[0, 1\]"),
    ("sgd", {"weight_decay": -1}, r"weight_decay=-1 .*valid range: \[0, inf\)"),
    ("sgd", {"learning_rate": "0.1"}, r"learning_rate='0\.1' is not a number"),
    ("sgd", {"learning_rate": None}, r"learning_rate=None is not a number"),
    ("momentum", {"momentum": True}, r"momentum=True is not a number"),
    ("sgd", {"beta1": 0.9}, r"'sgd' has no hyperparameter 'beta1'; valid names: learning_rate"),
    ("adam", {"momentum": 0.9}, r"'adam' has no hyperparameter 'momentum'; valid names: .*beta1"),
    ("adam", {"lr": 0.1}, r"'adam' has no hyperparameter 'lr'"),
    ("rmsprop", {"beta2": 0.9}, r"'rmsprop' has no hyperparameter 'beta2'; .*rho, epsilon"),
]


@pytest.mark.parametrize(
    ("name", "hp", "match"), BAD_HPARAMS, ids=[f"{n}-{next(iter(h))}" for n, h, _ in BAD_HPARAMS]
)
def test_bad_hparams_raise_value_error(name, hp, match):
    with pytest.raises(ValueError, match=match) as info:
        optimizers.create(name, _params(), **hp)
    assert str(info.value).startswith(name) or repr(name) in str(info.value)


def test_unknown_optimizer_lists_valid_names():
    with pytest.raises(
        ValueError,
        match=r"unknown optimizer 'adamw'; valid choices: sgd, momentum, nesterov, rmsprop, adam, "
        r"nadam",
    ):
        optimizers.create("adamw", _params())


def test_params_as_set_rejected():
    with pytest.raises(ValueError, match=r"ordered iterable .*not a set"):
        optimizers.create("sgd", set(_params()))
    with pytest.raises(ValueError, match=r"not a set"):
        optimizers.create("sgd", frozenset(_params()))


GOOD_EDGES = [
    ("rmsprop", {"rho": 1.0}),
    ("rmsprop", {"rho": 0.0, "epsilon": 1e-300, "momentum": 0.0}),
    ("momentum", {"momentum": 0.0}),
    ("adam", {"beta1": 0.0, "beta2": 0.0, "epsilon": 1e-300}),
    ("rmsprop", {"rho": 1.0, "epsilon": 0.0}),
    ("nadam", {"epsilon": 1e12, "learning_rate": 1e12}),
    ("sgd", {"learning_rate": 1}),  # an int is a number
    ("sgd", {"learning_rate": np.float64(0.1)}),
]


@pytest.mark.parametrize(("name", "hp"), GOOD_EDGES, ids=[_case_id(c) for c in GOOD_EDGES])
def test_edge_values_accepted(name, hp):
    opt = optimizers.create(name, _params(), **hp)
    group = opt.param_groups[0]
    for key, value in hp.items():
        torch_key = {"learning_rate": "lr", "epsilon": "eps"}.get(key, key)
        assert group[torch_key] == float(value)
        assert type(group[torch_key]) is float


def test_defaults_filled_in_with_torch_keys():
    opt = optimizers.create("adam", _params())
    group = opt.param_groups[0]
    assert {k: group[k] for k in ("lr", "beta1", "beta2", "eps", "weight_decay")} == {
        "lr": 0.001,
        "beta1": 0.9,
        "beta2": 0.999,
        "eps": 1e-8,
        "weight_decay": 0.0,
    }
    assert optimizers.create("rmsprop", _params()).param_groups[0]["eps"] == 1e-10


# --------------------------------------------------------------------------------------------
# 8. Schedules (PAPER.md section 4)
# --------------------------------------------------------------------------------------------


def test_linear_decay_values_by_hand():
    # decay_steps = 0.5 * 100 = 50; lr_t = 0.1 * (1 - 0.99 * t / 50) for t < 50, then 0.1*0.01
    lr = optimizers.make_schedule(
        "linear_decay", 0.1, 100, decay_steps_factor=0.5, decay_factor=0.01
    )
    assert lr(0) == 0.1
    assert lr(25) == pytest.approx(0.0505, rel=1e-14)  # 0.1 * (1 - 0.99*0.5)
    assert lr(49) == pytest.approx(0.00298, rel=1e-12)  # 0.1 * (1 - 0.99*49/50) = 0.1*0.0298
    assert lr(50) == pytest.approx(0.001, rel=1e-14)  # 0.1 * 0.01
    assert lr(51) == lr(50)
    assert lr(10_000) == lr(50)


def test_linear_decay_is_monotone_and_continuous_at_decay_steps():
    lr = optimizers.make_schedule("linear_decay", 1.0, 40, decay_steps_factor=1.0, decay_factor=0.1)
    values = [lr(t) for t in range(60)]
    assert all(a > b for a, b in zip(values[:40], values[1:41], strict=True))
    assert values[40:] == [pytest.approx(0.1, rel=1e-15)] * 20
    # one step before the end the line is one slope short of the floor: 1 - 0.9*39/40 = 0.1225
    assert values[39] == pytest.approx(0.1225, rel=1e-14)


def test_linear_decay_factor_one_is_constant_and_zero_factor_floors_immediately():
    flat = optimizers.make_schedule(
        "linear_decay", 0.3, 10, decay_steps_factor=0.5, decay_factor=1.0
    )
    assert [flat(t) for t in range(20)] == [0.3] * 20
    # decay_steps = max(1, round(0 * 10)) = 1: lr_0 at t = 0, then lr_0 * decay_factor
    jump = optimizers.make_schedule(
        "linear_decay", 0.3, 10, decay_steps_factor=0.0, decay_factor=0.5
    )
    assert [jump(t) for t in range(3)] == [0.3, 0.15, 0.15]


def test_linear_decay_rounds_decay_steps():
    """decay_steps = max(1, round(decay_steps_factor * total_steps)), as schedules.py documents.

    PAPER.md section 4 writes decay_steps = decay_steps_factor * total_steps without rounding;
    with 0.57 * 10 = 5.7 the code uses 6 steps (not 5.7, nor int() = 5).
    """
    lr = optimizers.make_schedule(
        "linear_decay", 1.0, 10, decay_steps_factor=0.57, decay_factor=0.4
    )
    assert lr(3) == pytest.approx(1.0 - 0.6 * 3 / 6, rel=1e-14)  # 0.7
    assert lr(5) == pytest.approx(0.5, rel=1e-14)  # 1 - 0.6*5/6, still on the line
    assert lr(6) == pytest.approx(0.4, rel=1e-14)


def test_constant_schedule():
    lr = optimizers.make_schedule("constant", 0.02, 1000)
    assert {lr(t) for t in (0, 1, 500, 999, 10**6)} == {0.02}


BAD_SCHEDULES = [
    ("cosine", {}, r"unknown schedule 'cosine'; valid choices: constant, linear_decay"),
    ("linear_decay", {"decay_steps_factor": 0.5}, r"'linear_decay' takes .*decay_factor"),
    ("linear_decay", {}, r"takes \['decay_factor', 'decay_steps_factor'\] \(optional: \['warmup_steps_factor'\]\), got \[\]"),
    (
        "linear_decay",
        {"decay_steps_factor": 0.5, "decay_factor": 0.1, "warmup": 3},
        r"takes .*got .*'warmup'",
    ),
    ("constant", {"decay_factor": 0.1}, r"'constant' takes no parameters"),
    (
        "linear_decay",
        {"decay_steps_factor": 0.5, "decay_factor": 1.5},
        r"decay_factor=1\.5 must be a number in \[0, 1\]",
    ),
    (
        "linear_decay",
        {"decay_steps_factor": -0.1, "decay_factor": 0.1},
        r"decay_steps_factor=-0\.1 must be a number in \[0, 1\]",
    ),
    (
        "linear_decay",
        {"decay_steps_factor": 0.5, "decay_factor": math.nan},
        r"decay_factor=nan must be a number in \[0, 1\]",
    ),
]


@pytest.mark.parametrize(
    ("name", "params", "match"),
    BAD_SCHEDULES,
    ids=[f"{n}-{sorted(p)}" for n, p, _ in BAD_SCHEDULES],
)
def test_bad_schedule_raises_value_error(name, params, match):
    with pytest.raises(ValueError, match=match):
        optimizers.make_schedule(name, 0.1, 100, **params)


@pytest.mark.parametrize(
    ("lr0", "total", "params", "match"),
    [
        (0.1, 100, {"decay_steps_factor": 0.5, "decay_factor": "0.1"}, r"decay_factor='0\.1' must be"),
        (0.1, 100, {"decay_steps_factor": 0.5, "decay_factor": True}, r"decay_factor=True must be"),
        (-1.0, 100, {"decay_steps_factor": 0.5, "decay_factor": 0.1}, r"lr0=-1\.0 must be"),
        (0.1, 0, {"decay_steps_factor": 0.5, "decay_factor": 0.1}, r"total_steps=0 must be"),
        (0.1, 2.5, {"decay_steps_factor": 0.5, "decay_factor": 0.1}, r"total_steps=2\.5 must be"),
    ],
)
def test_schedule_non_numeric_or_bad_budget_raises_value_error(lr0, total, params, match):
    with pytest.raises(ValueError, match=match):
        optimizers.make_schedule("linear_decay", lr0, total, **params)


def test_numpy_scalars_are_accepted_as_hyperparameters():
    p = torch.zeros(2, requires_grad=True)
    opt = optimizers.create("adam", [p], learning_rate=np.float32(0.5), beta1=np.float64(0.5))
    assert opt.param_groups[0]["lr"] == pytest.approx(0.5)
    assert optimizers.make_schedule("constant", np.float32(0.1), np.int64(10))(3) == pytest.approx(0.1)


def test_param_group_overrides_use_project_names_and_are_validated():
    a = torch.zeros(2, requires_grad=True)
    b = torch.zeros(2, requires_grad=True)
    opt = optimizers.create(
        "momentum", [{"params": [a]}, {"params": [b], "learning_rate": 0.5, "momentum": 0.0}],
        learning_rate=0.1,
    )
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    assert [g["momentum"] for g in opt.param_groups] == [0.9, 0.0]
    with pytest.raises(ValueError, match=r"momentum: learning_rate=-1\.0 is out of range"):
        optimizers.create("momentum", [{"params": [a], "learning_rate": -1.0}])
    torch_style = optimizers.create("momentum", [{"params": [a], "lr": 0.5}])
    assert torch_style.param_groups[0]["lr"] == 0.5
    with pytest.raises(ValueError, match=r"sets 'learning_rate' twice"):
        optimizers.create("momentum", [{"params": [a], "lr": 0.5, "learning_rate": 0.1}])
    with pytest.raises(ValueError, match=r"has no hyperparameter 'beta1'"):
        optimizers.create("momentum", [{"params": [a], "beta1": 0.5}])


# --------------------------------------------------------------------------------------------
# 9. Every param group is checked, however it arrives
# --------------------------------------------------------------------------------------------


def test_set_inside_a_param_group_is_a_value_error():
    p = torch.nn.Parameter(torch.zeros(2))
    with pytest.raises(ValueError, match=r"sgd: a param group's 'params' must be an ordered iterable .*not a set"):
        optimizers.create("sgd", [{"params": {p}}])
    with pytest.raises(ValueError, match=r"not a set"):
        optimizers.create("sgd", [{"params": frozenset([p])}])
    opt = optimizers.create("sgd", [torch.nn.Parameter(torch.zeros(2))])
    with pytest.raises(ValueError, match=r"a param group's 'params' must be an ordered iterable .*not a set"):
        opt.add_param_group({"params": {p}})


BAD_DIRECT = [
    ("adam", {"lr": 0.1, "beta1": 5, "beta2": 0.9, "eps": 1e-8}, r"beta1=5 is out of range; valid range: \[0, 1\)"),
    ("sgd", {"lr": -1}, r"lr=-1 is out of range; valid range: \(0, inf\)"),
    ("sgd", {"lr": "fast"}, r"lr='fast' is not a number"),
    ("adam", {"lr": 0.1, "beta1": 0.9, "beta2": 0.9, "eps": 0.0}, r"eps=0\.0 is out of range; valid range: \(0, inf\)"),
    ("adam", {"lr": 0.1, "beta1": 0.9, "eps": 1e-8}, r"a param group needs 'beta2'"),
    ("rmsprop", {"lr": 0.1, "momentum": 0.0, "rho": 0.5, "eps": 0.0}, r"eps=0\.0 requires rho=1 \(got rho=0\.5\)"),
    ("momentum", {"lr": 0.1, "momentum": 0.9, "weight_decay": -1.0}, r"weight_decay=-1\.0 is out of range"),
]


@pytest.mark.parametrize(("name", "defaults", "match"), BAD_DIRECT, ids=[m[:12] for _, _, m in BAD_DIRECT])
def test_direct_construction_checks_the_values(name, defaults, match):
    from optimizers.presets import STRUCTURES

    with pytest.raises(ValueError, match=rf"GeneralizedOptimizer: {match}"):
        optimizers.GeneralizedOptimizer(_params(), defaults, STRUCTURES[name])


def test_added_param_groups_are_checked_with_defaults_filled_in():
    opt = optimizers.create("rmsprop", _params(), rho=1.0, epsilon=0.0)
    extra = torch.nn.Parameter(torch.zeros(3))
    # rho overridden, eps = 0 inherited from the defaults: 0/0 where g = 0.
    with pytest.raises(ValueError, match=r"eps=0\.0 requires rho=1 \(got rho=0\.5\)"):
        opt.add_param_group({"params": [extra], "rho": 0.5})
    with pytest.raises(ValueError, match=r"momentum=1\.0 is out of range; valid range: \[0, 1\)"):
        opt.add_param_group({"params": [extra], "momentum": 1.0})
    assert len(opt.param_groups) == 1  # nothing half-added
    opt.add_param_group({"params": [extra], "rho": 0.5, "eps": 1e-8})
    assert opt.param_groups[1]["rho"] == 0.5 and opt.param_groups[1]["lr"] == opt.param_groups[0]["lr"]
    # Through create: a group overriding rho alone meets the top-level epsilon = 0.
    with pytest.raises(ValueError, match=r"requires rho=1"):
        optimizers.create("rmsprop", [{"params": [extra], "rho": 0.5}], rho=1.0, epsilon=0.0)


def test_rmsprop_epsilon_zero_with_rho_one_survives_a_zero_gradient():
    """rho = 1 keeps v at 1, so eps = 0 is safe (the exact momentum <= rmsprop inclusion); with
    rho < 1 it would be 0/0 (now refused, see BAD_HPARAMS)."""
    p = torch.nn.Parameter(torch.ones(3, dtype=torch.float64))
    opt = optimizers.create("rmsprop", [p], rho=1.0, epsilon=0.0, momentum=0.5)
    for _ in range(3):
        p.grad = torch.zeros_like(p)
        opt.step()
    assert torch.equal(p.detach(), torch.ones(3, dtype=torch.float64))
