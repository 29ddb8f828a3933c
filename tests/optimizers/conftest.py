"""Fixtures of the optimizer tests."""

from __future__ import annotations

import pytest


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
