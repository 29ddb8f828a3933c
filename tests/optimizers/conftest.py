"""Fixtures of the optimizer tests."""

from __future__ import annotations

import pytest
import torch
from trajectories import small_problem


@pytest.fixture
def isolated_registry():
    """Optimizers and inclusions registered during the test are removed afterwards."""
    import optimizers.inclusions as inclusions
    import optimizers.registry as registry

    specs = dict(registry._REGISTRY)
    incs = dict(inclusions._INCLUSIONS)
    yield
    registry._REGISTRY.clear()
    registry._REGISTRY.update(specs)
    inclusions._INCLUSIONS.clear()
    inclusions._INCLUSIONS.update(incs)


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
