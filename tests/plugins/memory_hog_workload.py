"""``memory-hog-mlp``: mnist1d-mlp whose first evaluation, once per study (the marker ``hog``),
fills memory until the machine uses ``$OPTCOMPARE_HOG_BYTES`` bytes more than Ray's memory
threshold (``$RAY_memory_usage_threshold`` times the machine's memory, both measured here, when it
fills) and holds them for up to a minute: long enough for Ray's memory monitor to kill the worker.

It fills to a target rather than a fixed amount so that the test can set the threshold well above
what the machine used when the study started: whatever else runs on the machine (Ray's own
processes, a test on the other xdist worker) may then grow by gigabytes without crossing it, and
the hog still crosses it by the same margin."""

from __future__ import annotations

import os
import time

import numpy as np
import torch
from ray._private.utils import get_system_memory, get_used_memory

import workloads
from tests.plugins import HOG_BYTES_VARIABLE, first_time
from workloads.mnist1d_mlp import Mnist1dMlp

HOLD_S = 60.0
RAY_THRESHOLD_VARIABLE = "RAY_memory_usage_threshold"
"""Ray's memory-monitor threshold, as Ray spells it (a fraction of the machine's memory)."""


def bytes_to_fill() -> int:
    """``threshold * total + overshoot - used``: the bytes that put the machine ``overshoot``
    above the monitor's threshold, with ``used`` and ``total`` measured as Ray measures them."""
    threshold = float(os.environ[RAY_THRESHOLD_VARIABLE])
    overshoot = int(os.environ[HOG_BYTES_VARIABLE])
    return max(overshoot, int(threshold * get_system_memory()) + overshoot - get_used_memory())


class MemoryHogMlp(Mnist1dMlp):
    name = "memory-hog-mlp"
    held: list[np.ndarray] = []

    def eval_transform(self, x: torch.Tensor) -> torch.Tensor:
        if first_time("hog"):
            block = np.ones(bytes_to_fill(), dtype=np.uint8)  # every page touched
            MemoryHogMlp.held.append(block)
            time.sleep(HOLD_S)
        return super().eval_transform(x)


workloads.register("memory-hog-mlp", MemoryHogMlp)
