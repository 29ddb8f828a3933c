"""``killer-sgd``: SGD that sleeps 5 ms per step (so checkpoints fall between steps by wall time)
and kills its worker process at its 40th step, once per study (the marker ``killed``)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import optimizers
from tests.plugins import first_time

KILL_AT_STEP = 40


class KillerSGD(optimizers.GeneralizedOptimizer):
    steps = 0

    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        KillerSGD.steps += 1
        if KillerSGD.steps == KILL_AT_STEP and first_time("killed"):
            os._exit(1)
        time.sleep(0.005)
        return super().step(closure)


optimizers.register_preset(
    "killer-sgd", optimizers.get_spec("sgd").structure, {"learning_rate": 0.05, "weight_decay": 0.0},
    search_space={"learning_rate": {"min": 0.05, "max": 0.1, "scaling": "log"}, "decay_steps_factor": 1.0,
                  "decay_factor": 0.1},
    optimizer_class=KillerSGD,
)
