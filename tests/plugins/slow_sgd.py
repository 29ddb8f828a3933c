"""``slow-sgd`` and ``slow-sgd-2``: SGD that sleeps 10 ms per step, so a trial lasts a known wall
time on any machine and a test can act mid-study however fast the machine is."""

from __future__ import annotations

import time
from collections.abc import Callable

import optimizers
from tests.plugins.sgd_presets import register_sgd_subclass

STEP_SLEEP_S = 0.01


class SlowSGD(optimizers.GeneralizedOptimizer):
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        time.sleep(STEP_SLEEP_S)
        return super().step(closure)


# Not bundlable (the default for a subclass): a bundle would skip the sleep in step().
for name in ("slow-sgd", "slow-sgd-2"):
    register_sgd_subclass(name, SlowSGD, learning_rate=0.01, lowest=0.01)
