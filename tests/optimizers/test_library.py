"""The library optimizers (optimizers/library.py): one and ten steps through optimizers.create
equal the library's own optimizer bitwise; ranges, a missing library, the pinned versions, the
schedule rule of Schedule-Free and its evaluation in eval mode."""

from __future__ import annotations

import importlib
from importlib import metadata
from pathlib import Path

import heavyball
import heavyball.utils
import lion_pytorch
import pytest
import schedulefree
import torch

import optimizers
from optcompare.errors import InputError
from optimizers.library import LIBRARIES

HP = {
    "adamw": {"learning_rate": 3e-3, "beta1": 0.8, "beta2": 0.99, "epsilon": 1e-6, "decoupled_weight_decay": 0.05},
    "nadamw": {"learning_rate": 3e-3, "beta1": 0.8, "beta2": 0.99, "epsilon": 1e-6, "decoupled_weight_decay": 0.05,
               "momentum_decay": 0.01},
    "lion": {"learning_rate": 1e-3, "beta1": 0.85, "beta2": 0.98, "decoupled_weight_decay": 0.1},
    "schedule-free-adamw": {"learning_rate": 3e-3, "beta1": 0.8, "beta2": 0.99, "epsilon": 1e-6,
                            "decoupled_weight_decay": 0.05},
    "soap": {"learning_rate": 3e-3, "beta1": 0.8, "beta2": 0.9, "shampoo_beta": 0.9, "epsilon": 1e-6,
             "decoupled_weight_decay": 0.05},
}

LIBRARY = {
    "adamw": lambda p: torch.optim.AdamW(p, lr=3e-3, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.05),
    "nadamw": lambda p: torch.optim.NAdam(p, lr=3e-3, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.05,
                                          momentum_decay=0.01, decoupled_weight_decay=True),
    "lion": lambda p: lion_pytorch.Lion(p, lr=1e-3, betas=(0.85, 0.98), weight_decay=0.1),
    "schedule-free-adamw": lambda p: schedulefree.AdamWScheduleFree(
        p, lr=3e-3, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.05, warmup_steps=0
    ),
    "soap": lambda p: heavyball.SOAP(p, lr=3e-3, betas=(0.8, 0.9), shampoo_beta=0.9, eps=1e-6, weight_decay=0.05),
}
"""Each optimizer as its library documents it, with the hyperparameters of :data:`HP`."""


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.Tanh(), torch.nn.Linear(4, 3))


def _train(model: torch.nn.Module, optimizer: torch.optim.Optimizer, steps: int) -> None:
    generator = torch.Generator().manual_seed(1)
    if hasattr(optimizer, "train"):
        optimizer.train()
    for _ in range(steps):
        x = torch.randn(8, 5, generator=generator)
        y = torch.randint(0, 3, (8,), generator=generator)
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()


@pytest.mark.parametrize("steps", [1, 10])
@pytest.mark.parametrize("name", sorted(HP))
def test_create_equals_the_library_s_optimizer_bitwise(name, steps):
    heavyball.utils.compile_mode = None  # as create sets it (heavyball's default compiles: 90 s here)
    ours, theirs = _model(), _model()
    _train(ours, optimizers.create(name, list(ours.parameters()), **HP[name]), steps)
    _train(theirs, LIBRARY[name](list(theirs.parameters())), steps)
    for a, b in zip(ours.parameters(), theirs.parameters(), strict=True):
        assert torch.equal(a, b), name
    moved = any(not torch.equal(a, b) for a, b in zip(ours.parameters(), _model().parameters(), strict=True))
    assert moved or (name == "soap" and steps == 1)  # SOAP's first step only sets up its preconditioner


@pytest.mark.parametrize(("name", "hparam", "value"), [
    ("adamw", "beta1", 1.0), ("nadamw", "beta2", -0.1), ("lion", "learning_rate", 0.0),
    ("schedule-free-adamw", "epsilon", -1e-8), ("nadamw", "momentum_decay", -1.0),
])
def test_out_of_range_hyperparameters_name_the_range(name, hparam, value):
    with pytest.raises(InputError, match=rf"{name}: {hparam}={value!r} is out of range; valid range"):
        optimizers.create(name, list(_model().parameters()), **{hparam: value})


def test_lion_takes_no_epsilon():
    with pytest.raises(InputError, match="optimizer 'lion' has no hyperparameter 'epsilon'"):
        optimizers.create("lion", list(_model().parameters()), epsilon=1e-8)


def test_a_missing_library_names_the_package_and_its_pinned_version(monkeypatch):
    real = importlib.import_module

    def without_lion(name: str, *args, **kwargs):  # noqa: ANN002, ANN003
        if name == "lion_pytorch":
            raise ImportError("No module named 'lion_pytorch'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(importlib, "import_module", without_lion)
    with pytest.raises(InputError, match=r"needs the package lion-pytorch \(tested: lion-pytorch==0.2.5, pinned in "
                                         r"constraints.txt; here: 0.2.5: No module named 'lion_pytorch'\); install it"):
        optimizers.create("lion", list(_model().parameters()))


def test_the_pinned_versions_are_installed_and_in_constraints():
    constraints = (Path(__file__).resolve().parents[2] / "constraints.txt").read_text().splitlines()
    for package, pinned in LIBRARIES.values():
        assert metadata.version(package) == pinned
        assert f"{package}=={pinned}" in constraints


def test_schedule_free_takes_the_constant_schedule_only():
    optimizers.check_schedule("schedule-free-adamw", "constant")
    optimizers.check_schedule("adamw", "cosine_decay")
    with pytest.raises(InputError, match=r"optimizer 'schedule-free-adamw' averages its iterates in place of a "
                                         r"decaying schedule: give it the constant schedule .*not 'linear_decay'"):
        optimizers.check_schedule("schedule-free-adamw", "linear_decay")


def test_a_schedule_free_trial_is_evaluated_in_eval_mode_which_differs_from_train_mode():
    import workloads
    from workloads.loop import _SingleLearner
    from workloads.run import resolve_run

    workload = workloads.get("mnist1d-mlp")
    run = resolve_run(workload, 20, 20, "cpu", False, 1, "trial")
    data = workload.data(run.device)
    model = workload.build_model(0)
    optimizer = optimizers.create("schedule-free-adamw", list(model.parameters()), learning_rate=0.01)
    learner = _SingleLearner(workload, model, optimizer, workload.train_batches(data["train"], 0), run, modes=True)
    optimizer.train()
    for _ in range(20):
        learner.losses_and_gradients()
        learner.update([0.01])
    in_train_mode = learner.measure(data["val"], [0])
    with learner.evaluating():
        in_eval_mode = learner.measure(data["val"], [0])
        assert not optimizer.param_groups[0]["train_mode"]
    assert optimizer.param_groups[0]["train_mode"]  # back to training
    assert in_eval_mode != in_train_mode  # the averaged iterate x is not the y it trains at
    optimizer.eval()
    assert learner.measure(data["val"], [0]) == in_eval_mode


def _three_layers() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(5, 6), torch.nn.Tanh(), torch.nn.Linear(6, 6), torch.nn.Tanh(), torch.nn.Linear(6, 3)
    )


MUON_HP = {"learning_rate": 2e-3, "momentum": 0.9, "beta1": 0.8, "beta2": 0.95, "epsilon": 1e-6,
           "decoupled_weight_decay": 0.05}


class _Pair:
    """torch.optim.Muon on the hidden matrix plus torch.optim.AdamW on the rest, stepped together:
    what ``muon`` must equal."""

    def __init__(self, model: torch.nn.Module) -> None:
        hidden = [model[2].weight]
        rest = [p for p in model.parameters() if p is not model[2].weight]
        self.parts = [
            torch.optim.Muon(hidden, lr=2e-3, weight_decay=0.05, momentum=0.9, nesterov=True,
                             adjust_lr_fn="match_rms_adamw"),
            torch.optim.AdamW(rest, lr=2e-3, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.05),
        ]

    def zero_grad(self) -> None:
        for part in self.parts:
            part.zero_grad()

    def step(self) -> None:
        for part in self.parts:
            part.step()


def _groups(model: torch.nn.Module) -> list[dict]:
    hidden = model[2].weight
    return [{"params": [hidden], "role": "hidden"}, {"params": [p for p in model.parameters() if p is not hidden]}]


@pytest.mark.parametrize("steps", [1, 10])
def test_muon_equals_torch_s_muon_plus_adamw_on_the_same_groups_bitwise(steps):
    ours, theirs = _three_layers(), _three_layers()
    _train(ours, optimizers.create("muon", _groups(ours), **MUON_HP), steps)
    _train(theirs, _Pair(theirs), steps)
    for a, b in zip(ours.parameters(), theirs.parameters(), strict=True):
        assert torch.equal(a, b)
    assert not torch.equal(ours[2].weight, _three_layers()[2].weight)


def test_muon_has_one_state_dict_and_continues_bitwise_from_it():
    whole, part = _three_layers(), _three_layers()
    optimizer = optimizers.create("muon", _groups(whole), **MUON_HP)
    _train(whole, optimizer, 10)
    first = optimizers.create("muon", _groups(part), **MUON_HP)
    _train(part, first, 4)
    saved = first.state_dict()
    assert set(saved) == {"muon", "adamw"} and len(saved["muon"]["state"]) == 1 and len(saved["adamw"]["state"]) == 5
    again = optimizers.create("muon", _groups(part), **MUON_HP)
    again.load_state_dict(saved)
    generator = torch.Generator().manual_seed(1)
    for step in range(10):  # the same minibatches as _train's, the first four already used
        x = torch.randn(8, 5, generator=generator)
        y = torch.randint(0, 3, (8,), generator=generator)
        if step < 4:
            continue
        again.zero_grad()
        torch.nn.functional.cross_entropy(part(x), y).backward()
        again.step()
    for a, b in zip(whole.parameters(), part.parameters(), strict=True):
        assert torch.equal(a, b)


def test_muon_over_a_plain_list_gives_muon_the_two_dimensional_tensors():
    model = _three_layers()
    optimizer = optimizers.create("muon", list(model.parameters()))
    assert [p.shape for g in optimizer.muon.param_groups for p in g["params"]] == [(6, 5), (6, 6), (3, 6)]
    assert [p.shape for g in optimizer.adamw.param_groups for p in g["params"]] == [(6,), (6,), (3,)]
    assert optimizer.param_groups == [*optimizer.muon.param_groups, *optimizer.adamw.param_groups]


def test_schedule_free_refuses_beta1_zero_which_its_eval_mode_divides_by():
    with pytest.raises(InputError, match=r"schedule-free-adamw: beta1=0.0 is out of range; valid range: \(0"):
        optimizers.create("schedule-free-adamw", list(_model().parameters()), beta1=0.0)


def test_schedule_free_refuses_a_model_with_batchnorm_whose_statistics_it_never_collected():
    import workloads
    from workloads.loop import check_modes

    check_modes(workloads.get("mnist1d-mlp"), workloads.get("mnist1d-mlp").build_model(0), "schedule-free-adamw")
    resnet = workloads.get("cifar10-resnet32")
    check_modes(resnet, resnet.build_model(0), "adamw")  # no modes: nothing to refuse
    with pytest.raises(InputError, match="workload 'cifar10-resnet32' has BatchNorm layers: choose a workload"):
        check_modes(resnet, resnet.build_model(0), "schedule-free-adamw")


def test_soap_runs_heavyball_eagerly():
    heavyball.utils.compile_mode = "max-autotune-no-cudagraphs"  # heavyball's default
    optimizers.create("soap", list(_model().parameters()))
    assert heavyball.utils.compile_mode is None
