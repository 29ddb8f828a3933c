"""``memory-hog-mlp``: mnist1d-mlp whose first evaluation, once per study (the marker ``hog``),
fills ``$OPTCOMPARE_HOG_BYTES`` bytes of memory and holds them for up to a minute: long enough
for Ray's memory monitor, set by the test to a threshold this crosses, to kill the worker."""

from __future__ import annotations

import os
import time

import numpy as np
import torch

import workloads
from tests.plugins import HOG_BYTES_VARIABLE, first_time
from workloads.mnist1d_mlp import Mnist1dMlp

HOLD_S = 60.0


class MemoryHogMlp(Mnist1dMlp):
    name = "memory-hog-mlp"
    held: list[np.ndarray] = []

    def eval_transform(self, x: torch.Tensor) -> torch.Tensor:
        if first_time("hog"):
            block = np.ones(int(os.environ[HOG_BYTES_VARIABLE]), dtype=np.uint8)  # every page touched
            MemoryHogMlp.held.append(block)
            time.sleep(HOLD_S)
        return super().eval_transform(x)


workloads.register("memory-hog-mlp", MemoryHogMlp)
