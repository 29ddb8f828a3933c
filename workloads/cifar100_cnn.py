"""``cifar100-cnn``: All-CNN-C on CIFAR-100 (DeepOBS ``cifar100_allcnnc``). Data: see
:mod:`workloads._cifar`. 350 epochs of 45,000 images at batch 256 = 350 * 175 steps.

DeepOBS adds an L2 penalty (5e-4) to the loss; here the loss is plain cross-entropy and a
protocol that wants the penalty sets the optimizer's ``weight_decay``.
"""

from __future__ import annotations

import torch
from torch import nn

from ._cifar import Cifar100Workload, epochs_to_steps
from .models import AllCnnC


class Cifar100Cnn(Cifar100Workload):
    name = "cifar100-cnn"
    declares_hidden_matrices = True  # tests/workloads/test_hidden_matrices.py
    description = "All-CNN-C (1.4M params, dropout) on CIFAR-100 with crop+flip augmentation, batch 256"
    batch_size = 256
    budget_epochs = 350
    step_budget = epochs_to_steps(350, 256)
    eval_interval = 2_000
    target_value = 0.45
    """Validation error (project choice, unconfirmed; DeepOBS baselines reach ~40-45% test error)."""
    supports_bundling = True  # no batch norm

    def build_model(self, seed: int) -> nn.Module:
        torch.manual_seed(seed)
        return AllCnnC(100)
