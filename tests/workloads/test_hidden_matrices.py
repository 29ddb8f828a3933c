"""Each built-in workload's hidden 2-D weight matrices (Workload.hidden_matrices): what ``muon``
updates with Muon, every other parameter going to AdamW; and a workload that declares none gets
the default rule with a warning."""

from __future__ import annotations

import pytest
import torch

import optimizers
import workloads
from workloads.loop import parameter_groups
from workloads.mnist1d_mlp import Mnist1dMlp

EXPECTED = {
    "mnist1d-mlp": ["2.weight"],  # 40 -> 100 -> 100 -> 10: the middle layer
    "mnist1d-cnn": [],  # convolutions and the classifier only
    "digits-cnn": ["net.6.weight"],  # the first Linear follows the convolutions: hidden
    "tinytext-lstm": [],  # LSTM weights and the head
    "fashion-mnist-cnn": ["classifier.1.weight"],
    "cifar10-resnet32": [],
    "cifar10-vgg16": ["classifier.1.weight"],
    "cifar100-cnn": [],
}
"""The embedded workloads (the others need their data to build a model)."""


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_embedded_workload_s_hidden_matrices(name):
    workload = workloads.get(name)
    model = workload.build_model(0)
    names = {id(p): k for k, p in model.named_parameters()}
    hidden = workload.hidden_matrices(model)
    assert [names[id(p)] for p in hidden] == EXPECTED[name]
    assert all(p.ndim == 2 for p in hidden)


def test_every_built_in_workload_declares_its_hidden_matrices():
    assert all(workloads.get_class(n).declares_hidden_matrices for n in workloads.names())


def test_muon_trains_the_hidden_matrices_with_muon_and_the_rest_with_adamw():
    workload = workloads.get("mnist1d-mlp")
    model = workload.build_model(0)
    optimizer = optimizers.create("muon", parameter_groups(workload, model, "muon"))
    assert [p.shape for g in optimizer.muon.param_groups for p in g["params"]] == [(100, 100)]
    assert len([p for g in optimizer.adamw.param_groups for p in g["params"]]) == 5
    assert parameter_groups(workload, model, "adamw") == list(model.parameters())


def test_a_workload_that_declares_none_gets_the_default_rule_and_a_warning():
    class Undeclared(Mnist1dMlp):
        name = "undeclared-mlp"
        declares_hidden_matrices = False

    workload = Undeclared()
    model = workload.build_model(0)
    with pytest.warns(UserWarning, match="workload 'undeclared-mlp' declares no hidden matrices: muon gives"):
        groups = parameter_groups(workload, model, "muon")
    assert [p.shape for p in groups[0]["params"]] == [torch.Size([100, 100])]


def test_a_muon_trial_trains_end_to_end():
    outcome = workloads.train(workloads.get("mnist1d-mlp"), "muon", {"learning_rate": 3e-3}, "cosine_decay",
                              {"decay_steps_factor": 1.0, "decay_factor": 0.1}, 0, steps=40, eval_every=20)
    assert outcome.status == "completed" and outcome.rows[-1].train_loss < outcome.rows[0].train_loss
