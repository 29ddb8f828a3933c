"""Optimizers that fail on purpose: ``flaky-sgd`` raises and ``crashing-sgd`` kills its worker
process on each trial's first attempt only; ``broken-sgd`` always raises. A trial is told apart
by its initial weights (seeded), and a marker per trial remembers that its first attempt ran."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from typing import Any

import torch

import optimizers
from optimizers.presets import DEFAULTS
from tests.plugins import first_time


def _first_attempt(kind: str, params: Iterable[Any]) -> tuple[list[Any], bool]:
    params = list(params)
    first = params[0]["params"][0] if isinstance(params[0], dict) else params[0]
    key = hashlib.sha256(first.detach().numpy().tobytes()).hexdigest()[:16]
    return params, first_time(f"{kind}-{key}")


def _flaky(params: Iterable[Any], **kw: Any) -> torch.optim.Optimizer:  # noqa: ANN401
    params, first = _first_attempt("flaky", params)
    if first:
        raise RuntimeError("flaky on purpose")
    return optimizers.get_spec("sgd").factory(params, **kw)


def _crashing(params: Iterable[Any], **kw: Any) -> torch.optim.Optimizer:  # noqa: ANN401
    params, first = _first_attempt("crash", params)
    if first:
        os._exit(1)  # the worker process dies
    return optimizers.get_spec("sgd").factory(params, **kw)


def _broken(params: Iterable[Any], **kw: Any) -> torch.optim.Optimizer:  # noqa: ANN401
    raise RuntimeError("broken on purpose")


SPACE = {"learning_rate": {"min": 0.01, "max": 0.1, "scaling": "log"}, "decay_steps_factor": 1.0, "decay_factor": 0.1}
for name, factory in (("flaky-sgd", _flaky), ("crashing-sgd", _crashing), ("broken-sgd", _broken)):
    optimizers.register(optimizers.OptimizerSpec(name, factory, dict(DEFAULTS["sgd"]), search_space=SPACE))
