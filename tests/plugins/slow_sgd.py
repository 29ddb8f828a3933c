"""``slow-sgd`` and ``slow-sgd-2``: SGD that sleeps 10 ms per step, so a trial lasts a known wall
time on any machine and a test can act mid-study however fast the machine is."""

from __future__ import annotations

import time
from collections.abc import Callable

import optimizers

STEP_SLEEP_S = 0.01


class SlowSGD(optimizers.GeneralizedOptimizer):
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        time.sleep(STEP_SLEEP_S)
        return super().step(closure)


SGD = optimizers.get_spec("sgd")
SPACE = {"learning_rate": {"min": 0.01, "max": 0.1, "scaling": "log"}, "decay_steps_factor": 1.0, "decay_factor": 0.1}
for name in ("slow-sgd", "slow-sgd-2"):
    # Not bundlable (the default for a subclass): a bundle would skip the sleep in step().
    optimizers.register_preset(
        name, SGD.structure, {"learning_rate": 0.01, "weight_decay": 0.0}, search_space=SPACE,
        optimizer_class=SlowSGD,
    )
