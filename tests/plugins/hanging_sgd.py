"""``hanging-sgd``: SGD whose step 5 never returns (a stuck data loader or collective, as the
worker sees it), in every process."""

from __future__ import annotations

import time
from collections.abc import Callable

import optimizers
from tests.plugins.sgd_presets import register_sgd_subclass

HANG_AT_STEP = 5


class HangingSGD(optimizers.GeneralizedOptimizer):
    steps = 0

    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        HangingSGD.steps += 1
        if HangingSGD.steps == HANG_AT_STEP:
            time.sleep(3600)
        return super().step(closure)


register_sgd_subclass("hanging-sgd", HangingSGD, learning_rate=0.01, lowest=0.01)
