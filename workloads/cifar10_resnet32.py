"""``cifar10-resnet32``: ResNet-32 on CIFAR-10 (Choi et al. 2019). Data: see :mod:`workloads._cifar`."""

from __future__ import annotations

import torch
from torch import nn

from ._cifar import Cifar10Workload
from .models import resnet32


class Cifar10Resnet32(Cifar10Workload):
    name = "cifar10-resnet32"
    declares_hidden_matrices = True  # tests/workloads/test_hidden_matrices.py
    description = "ResNet-32 (0.46M params, batch norm) on CIFAR-10 with crop+flip augmentation, batch 256"
    batch_size = 256
    step_budget = 50_000
    eval_interval = 1_000
    target_value = 0.07
    """Validation error ~7% (Choi et al. 2019; unconfirmed)."""

    def build_model(self, seed: int) -> nn.Module:
        torch.manual_seed(seed)
        return resnet32(10)
