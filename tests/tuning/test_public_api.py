"""tuning's public names resolve, each to the module that defines it."""

from __future__ import annotations

import importlib

import pytest

import tuning
from tests.imports import modules_loaded
from tuning import _LAZY


@pytest.mark.parametrize("name", sorted(_LAZY))
def test_each_public_name_comes_from_the_module_that_defines_it(name):
    value = getattr(tuning, name)
    assert value is getattr(importlib.import_module(_LAZY[name]), name)
    assert getattr(value, "__module__", _LAZY[name]) == _LAZY[name], name


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        tuning.nope  # noqa: B018


def test_a_trial_worker_s_entry_imports_neither_the_planner_nor_scipy():
    # A trial's Ray worker imports tuning.worker.ray_entry when its actor starts. scipy.stats
    # (the Halton sequence of tuning.plan.quasirandom, once imported by `import tuning`) added
    # about 1.6 s to every such start; the worker needs neither it nor pandas or optuna.
    watched = ("scipy", "pandas", "optuna", "tuning.plan.quasirandom", "analysis")
    assert modules_loaded("import tuning.worker.ray_entry", watched) == []
