"""``hang-once-sgd``: SGD whose step 5 never returns in the first trial of the study to get there
(the marker ``hung``); the other trials train normally."""

from __future__ import annotations

import time
from collections.abc import Callable

import optimizers
from tests.plugins import first_time
from tests.plugins.sgd_presets import register_sgd_subclass

HANG_AT_STEP = 5


class HangOnceSGD(optimizers.GeneralizedOptimizer):
    steps = 0

    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        HangOnceSGD.steps += 1
        if HangOnceSGD.steps == HANG_AT_STEP and first_time("hung"):
            time.sleep(3600)
        return super().step(closure)


register_sgd_subclass("hang-once-sgd", HangOnceSGD, learning_rate=0.01, lowest=0.01)
