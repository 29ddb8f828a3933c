"""``hanging-sgd``: SGD whose step 5 never returns (a stuck data loader or collective, as the
worker sees it), in every process."""

from __future__ import annotations

import time
from collections.abc import Callable

import optimizers

HANG_AT_STEP = 5


class HangingSGD(optimizers.GeneralizedOptimizer):
    steps = 0

    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        HangingSGD.steps += 1
        if HangingSGD.steps == HANG_AT_STEP:
            time.sleep(3600)
        return super().step(closure)


optimizers.register_preset(
    "hanging-sgd", optimizers.get_spec("sgd").structure, {"learning_rate": 0.01, "weight_decay": 0.0},
    search_space={"learning_rate": {"min": 0.01, "max": 0.1, "scaling": "log"}, "decay_steps_factor": 1.0,
                  "decay_factor": 0.1},
    optimizer_class=HangingSGD,
)
