"""The source of a plugin optimizer that kills its process once, for the checkpoint tests:
``install_plugin(name, KILL_PLUGIN)`` (tests/conftest.py) makes it importable by Ray workers."""

KILL_PLUGIN = '''
"""SGD that sleeps 5 ms per step (so checkpoints fall between steps by wall time) and kills its
worker process at its 40th step, once per study (a marker in $OPTCOMPARE_FAULT_DIR)."""
import os
import time
from pathlib import Path

import optimizers


class KillerSGD(optimizers.GeneralizedOptimizer):
    steps = 0

    def step(self, closure=None):
        KillerSGD.steps += 1
        marker = Path(os.environ["OPTCOMPARE_FAULT_DIR"]) / "killed"
        if KillerSGD.steps == 40 and not marker.exists():
            marker.touch()
            os._exit(1)
        time.sleep(0.005)
        return super().step(closure)


optimizers.register_preset(
    "killer-sgd", optimizers.get_spec("sgd").structure, {"learning_rate": 0.05, "weight_decay": 0.0},
    search_space={"learning_rate": {"min": 0.05, "max": 0.1, "scaling": "log"}, "decay_steps_factor": 1.0,
                  "decay_factor": 0.1},
    optimizer_class=KillerSGD,
)
'''
