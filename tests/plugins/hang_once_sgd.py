"""``hang-once-sgd``: SGD whose step 5 never returns in the first trial of the study to get there
(the marker ``hung``); the other trials train normally."""

from __future__ import annotations

import time
from collections.abc import Callable

import optimizers
from tests.plugins import first_time

HANG_AT_STEP = 5


class HangOnceSGD(optimizers.GeneralizedOptimizer):
    steps = 0

    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        HangOnceSGD.steps += 1
        if HangOnceSGD.steps == HANG_AT_STEP and first_time("hung"):
            time.sleep(3600)
        return super().step(closure)


optimizers.register_preset(
    "hang-once-sgd", optimizers.get_spec("sgd").structure, {"learning_rate": 0.01, "weight_decay": 0.0},
    search_space={"learning_rate": {"min": 0.01, "max": 0.1, "scaling": "log"}, "decay_steps_factor": 1.0,
                  "decay_factor": 0.1},
    optimizer_class=HangOnceSGD,
)
