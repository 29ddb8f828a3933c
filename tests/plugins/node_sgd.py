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

NODE_FILE = "node"


class NodeSGD(optimizers.GeneralizedOptimizer):
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        marker = Path(os.environ[FAULT_DIR_VARIABLE]) / NODE_FILE
        if not marker.exists():
            import ray

            marker.write_text(ray.get_runtime_context().get_node_id())
        time.sleep(0.01)
        return super().step(closure)


optimizers.register_preset(
    "node-sgd", optimizers.get_spec("sgd").structure, {"learning_rate": 0.05, "weight_decay": 0.0},
    search_space={"learning_rate": {"min": 0.05, "max": 0.1, "scaling": "log"}, "decay_steps_factor": 1.0,
                  "decay_factor": 0.1},
    optimizer_class=NodeSGD,
)
