"""``digits-cnn``: a small CNN on scikit-learn's bundled 8x8 digits (embedded, CPU-sized).

The 1,797 images (pixel values 0-16, scaled to [0, 1] and centred) are split once with a fixed
seed into train/val/test = 1197/300/300, stratified by nothing but the permutation.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .base import Split, Workload
from .models import DigitsCnn as _Net

SPLIT_SEED = 0
VAL_SIZE = 300
TEST_SIZE = 300


def load_digits_splits() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{split: (x (N, 1, 8, 8) float32, y (N,) int64)}`` for train/val/test."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images.astype(np.float32) / 16.0 - 0.5).reshape(-1, 1, 8, 8)
    y = digits.target.astype(np.int64)
    perm = np.random.default_rng(SPLIT_SEED).permutation(len(y))
    test, val, train = perm[:TEST_SIZE], perm[TEST_SIZE : TEST_SIZE + VAL_SIZE], perm[TEST_SIZE + VAL_SIZE :]
    return {name: (x[np.sort(idx)], y[np.sort(idx)]) for name, idx in (("train", train), ("val", val), ("test", test))}


class DigitsCnn(Workload):
    name = "digits-cnn"
    declares_hidden_matrices = True  # tests/workloads/test_hidden_matrices.py
    description = "CNN conv16-conv32-pool-fc64 on scikit-learn's 8x8 digits (1797 images, embedded), batch 64"
    batch_size = 64
    step_budget = 600
    eval_interval = 100
    target_value = 0.0234
    """Validation error to reach: the median tuned optimizer's level (benchmarks/speed_targets.py,
    docs/method.md 9.3); ``target_spread`` is its seed spread."""
    target_spread = 0.00454
    data_description = "embedded: sklearn.datasets.load_digits, fixed seeded split train/val/test 1197/300/300"

    def load_splits(self) -> dict[str, Split]:
        return {
            name: Split(torch.from_numpy(x), torch.from_numpy(y)) for name, (x, y) in load_digits_splits().items()
        }

    def build_model(self, seed: int) -> nn.Module:
        torch.manual_seed(seed)
        return _Net()
