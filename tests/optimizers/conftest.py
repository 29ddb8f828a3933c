"""Fixtures of the optimizer tests."""

from __future__ import annotations

import pytest
import torch

from tests.optimizers.trajectories import small_problem


@pytest.fixture(scope="module", autouse=True)
def _single_thread():
    """Tiny tensors: intra-op threads only add contention (seconds on a busy 2-core box)."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def problem():
    """theta0 and gradients of :func:`trajectories.small_problem`."""
    return small_problem()
