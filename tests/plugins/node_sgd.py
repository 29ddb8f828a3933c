"""``node-sgd``: SGD that sleeps 10 ms per step and, at the first step of the study, writes the
id of the Ray node it trains on to ``$OPTCOMPARE_FAULT_DIR/node``, so a test can remove exactly
that node."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import optimizers
from tests.plugins import FAULT_DIR_VARIABLE
from tests.plugins.sgd_presets import register_sgd_subclass

NODE_FILE = "node"


class NodeSGD(optimizers.GeneralizedOptimizer):
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        marker = Path(os.environ[FAULT_DIR_VARIABLE]) / NODE_FILE
        if not marker.exists():
            import ray

            marker.write_text(ray.get_runtime_context().get_node_id())
        time.sleep(0.01)
        return super().step(closure)


register_sgd_subclass("node-sgd", NodeSGD, learning_rate=0.05, lowest=0.05)
