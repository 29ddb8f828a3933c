"""Fixtures of the end-to-end tests."""

from __future__ import annotations

import pytest

from tests.integration.scaffold import Study


@pytest.fixture
def study(tmp_path, capsys, shared_ray) -> Study:
    """A :class:`~tests.integration.scaffold.Study` under ``tmp_path`` on the shared Ray."""
    return Study(tmp_path, capsys)
