"""tuning's public names resolve, each to the module that defines it."""

from __future__ import annotations

import importlib

import pytest

import tuning
from tuning import _LAZY


@pytest.mark.parametrize("name", sorted(_LAZY))
def test_each_public_name_comes_from_the_module_that_defines_it(name):
    value = getattr(tuning, name)
    assert value is getattr(importlib.import_module(_LAZY[name]), name)
    assert getattr(value, "__module__", _LAZY[name]) == _LAZY[name], name


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        tuning.nope  # noqa: B018
