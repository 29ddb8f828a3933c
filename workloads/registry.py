"""Workload registry: name -> ``"module:Class"``, imported only when the workload is used."""

from __future__ import annotations

import importlib
from typing import Any

from optcompare.errors import InputError

from .base import Workload

_REGISTRY: dict[str, str] = {
    # embedded, CPU-sized
    "mnist1d-mlp": "workloads.mnist1d_mlp:Mnist1dMlp",
    "mnist1d-cnn": "workloads.mnist1d_cnn:Mnist1dCnn",
    "digits-cnn": "workloads.digits_cnn:DigitsCnn",
    "tinytext-lstm": "workloads.tinytext_lstm:TinytextLstm",
    # the paper's workloads, reading standard formats from data_dir
    "fashion-mnist-cnn": "workloads.fashion_mnist_cnn:FashionMnistCnn",
    "cifar10-resnet32": "workloads.cifar10_resnet32:Cifar10Resnet32",
    "cifar10-vgg16": "workloads.cifar10_vgg16:Cifar10Vgg16",
    "cifar100-cnn": "workloads.cifar100_cnn:Cifar100Cnn",
    "imagenet-resnet50": "workloads.imagenet_resnet50:ImagenetResnet50",
    "warpeace-lstm": "workloads.warpeace_lstm:WarpeaceLstm",
    "lm1b-transformer": "workloads.lm1b_transformer:Lm1bTransformer",
}


def names() -> list[str]:
    """Registered workload names."""
    return list(_REGISTRY)


def register(name: str, target: str | type[Workload], *, overwrite: bool = False) -> None:
    """Register a workload class, or its ``"module:Class"`` path for lazy import."""
    if name in _REGISTRY and not overwrite:
        raise ValueError(f"workload {name!r} is already registered; pass overwrite=True")
    if isinstance(target, type):
        target = f"{target.__module__}:{target.__qualname__}"
    _REGISTRY[name] = target


def get_class(name: str) -> type[Workload]:
    """The workload class registered under ``name``;
    :class:`~optcompare.errors.InputError` listing the valid names otherwise."""
    if name not in _REGISTRY:
        raise InputError(f"unknown workload {name!r}; valid choices: {', '.join(names())}")
    module_name, _, attr = _REGISTRY[name].partition(":")
    return getattr(importlib.import_module(module_name), attr)


def get(name: str, data_dir: str | None = None, **options: Any) -> Workload:  # noqa: ANN401
    """An instance of workload ``name`` reading its data from ``data_dir``; ``options`` go to
    its constructor (e.g. ``loader_workers`` for ImageNet, ``seq_len`` for LM1B)."""
    return get_class(name)(data_dir, **options)
