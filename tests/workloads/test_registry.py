"""The registry and the declared constants of every workload."""

from __future__ import annotations

import re
import types

import pytest

import workloads
from optcompare.errors import InputError
from optcompare.schema import TARGET_METRICS
from workloads.base import Workload

EMBEDDED = ("mnist1d-mlp", "mnist1d-cnn", "digits-cnn", "tinytext-lstm")
DATA = (
    "fashion-mnist-cnn", "cifar10-resnet32", "cifar10-vgg16", "cifar100-cnn",
    "imagenet-resnet50", "warpeace-lstm", "lm1b-transformer",
)
BATCH_NORM = {"cifar10-resnet32", "cifar10-vgg16", "imagenet-resnet50"}
NOT_VECTORISABLE = {"tinytext-lstm", "warpeace-lstm", "lm1b-transformer"}
"""LSTMs (no vmap batching rule for aten::lstm) and LM1B (one trial fills an accelerator)."""
PAPER = {
    "fashion-mnist-cnn": (256, 10_000),
    "cifar10-resnet32": (256, 50_000),
    "cifar10-vgg16": (128, 250 * (45_000 // 128)),
    "cifar100-cnn": (256, 350 * (45_000 // 256)),
    "imagenet-resnet50": (1024, 150_000),
    "warpeace-lstm": (50, 200 * int(0.72 * 3_200_000) // 2500),
    "lm1b-transformer": (256, 750_000),
}
"""Batch size and step budget of each of the paper's workloads, as the source its module cites
states them (Choi et al. 2019; DeepOBS; Wilson et al. 2017); epoch budgets are converted to steps
at the nominal training-split size, the last partial batch of an epoch dropped."""


def test_names_lists_every_workload():
    assert set(workloads.names()) == set(EMBEDDED) | set(DATA)


@pytest.mark.parametrize("name", EMBEDDED + DATA)
def test_declared_constants(name):
    cls = workloads.get_class(name)
    assert issubclass(cls, Workload) and cls.name == name
    assert cls.description and "\n" not in cls.description
    assert cls.batch_size > 0 and cls.step_budget > 0 and 0 < cls.eval_interval <= cls.step_budget
    assert cls.target_metric in TARGET_METRICS and cls.target_value > 0
    assert cls.splits == ("train", "val", "test")
    assert cls.supports_bundling is (name not in BATCH_NORM | NOT_VECTORISABLE)
    assert cls.data_description
    if name in DATA:
        assert cls.expected_files and cls.data_source
        assert (cls.batch_size, cls.step_budget) == PAPER[name]
    else:
        assert cls.expected_files == ()


def test_lm1b_targets_cross_entropy():
    cls = workloads.get_class("lm1b-transformer")
    assert (cls.target_metric, cls.target_value) == ("val_loss", 3.45)
    # The tarball extracts to one folder holding both shard folders: that folder is data_dir.
    assert "1-billion-word-language-modeling-benchmark-r13output/" in cls.data_source
    assert "set data_dir to that folder" in cls.data_source


def test_unknown_workload_is_an_input_error_listing_every_choice():
    with pytest.raises(InputError, match="unknown workload 'imagenet-vit'") as info:
        workloads.get("imagenet-vit")
    assert all(name in str(info.value) for name in workloads.names())


def test_get_passes_constructor_options(tmp_path):
    w = workloads.get("imagenet-resnet50", str(tmp_path), image_size=64, loader_workers=0)
    assert (w.image_size, w.resize, w.loader_workers) == (64, 73, 0)


def _define(bases: tuple[type, ...], body: dict) -> type:
    """``class BrokenWorkload(*bases)`` with ``body`` as its namespace."""
    return types.new_class("BrokenWorkload", bases, exec_body=lambda ns: ns.update(body))


COMPLETE = {
    "name": "broken", "description": "a test workload", "batch_size": 8, "step_budget": 10, "eval_interval": 5,
    "target_value": 0.5, "load_splits": lambda self: {}, "build_model": lambda self, seed: None,
}


def test_a_complete_subclass_is_accepted():
    cls = _define((Workload,), COMPLETE)
    assert cls.name == "broken" and cls.splits == ("train", "val", "test")


@pytest.mark.parametrize(
    "missing", ["name", "description", "batch_size", "step_budget", "eval_interval", "target_value"]
)
def test_a_concrete_subclass_missing_a_constant_is_refused_when_defined(missing):
    body = {k: v for k, v in COMPLETE.items() if k != missing}
    with pytest.raises(TypeError, match=rf"BrokenWorkload does not set the class constant '{missing}'"):
        _define((Workload,), body)


@pytest.mark.parametrize(
    ("attr", "value"),
    [("batch_size", "128"), ("step_budget", 1.5), ("eval_interval", True), ("target_value", None),
     ("name", 3), ("splits", ["train", "val", "test"]), ("divergence_loss", "1e3")],
)
def test_a_constant_of_the_wrong_type_is_refused_when_defined(attr, value):
    with pytest.raises(TypeError, match=re.escape(f"BrokenWorkload: class constant '{attr}' is {value!r}")):
        _define((Workload,), {**COMPLETE, attr: value})


def test_abstract_intermediate_bases_need_no_constants():
    from workloads._cifar import Cifar10Workload
    from workloads._text import CharLmWorkload

    # Still abstract (build_model, read_text missing): defining them is fine ...
    _define((Workload,), {"load_splits": lambda self: {}})
    assert "name" not in vars(Cifar10Workload) and "name" not in vars(CharLmWorkload)
    # ... and a concrete class built on them is checked.
    with pytest.raises(TypeError, match="does not set the class constant 'name'"):
        _define((CharLmWorkload,), {"read_text": lambda self: "abc"})
    with pytest.raises(TypeError, match="does not set the class constant 'name'"):
        _define((Cifar10Workload,), {"build_model": lambda self, seed: None})


def test_subclasses_of_registered_workloads_inherit_their_constants():
    base = workloads.get_class("mnist1d-mlp")
    sub = _define((base,), {"divergence_loss": 0.5})
    assert sub.name == "mnist1d-mlp" and sub.batch_size == base.batch_size
