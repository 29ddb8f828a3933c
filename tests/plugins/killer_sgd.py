"""``killer-sgd``: SGD that sleeps 5 ms per step (so checkpoints fall between steps by wall time)
and kills its worker process at its 40th step, once per study (the marker ``killed``)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import optimizers
from tests.plugins import first_time
from tests.plugins.sgd_presets import register_sgd_subclass

KILL_AT_STEP = 40


class KillerSGD(optimizers.GeneralizedOptimizer):
    steps = 0

    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        KillerSGD.steps += 1
        if KillerSGD.steps == KILL_AT_STEP and first_time("killed"):
            os._exit(1)
        time.sleep(0.005)
        return super().step(closure)


register_sgd_subclass("killer-sgd", KillerSGD, learning_rate=0.05, lowest=0.05)
