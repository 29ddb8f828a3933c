"""The test session's own guards (tests/conftest.py): a test without the ``ray`` mark runs with
no Ray connected and cannot start one, in ``make test``'s one session as in the fast lane."""

from __future__ import annotations

import pytest


def test_a_test_without_the_ray_mark_has_no_ray_and_cannot_start_one():
    import ray

    assert not ray.is_initialized()
    with pytest.raises(RuntimeError, match="started Ray without the ray mark: ask for the shared_ray or own_ray"):
        ray.init(num_cpus=1)
    assert not ray.is_initialized()
