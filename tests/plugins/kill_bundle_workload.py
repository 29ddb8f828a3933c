"""``kill-bundle-mlp``: mnist1d-mlp whose batches take 3 ms more, and whose 60th minibatch kills
its worker process, once per study (the marker ``killed``)."""

from __future__ import annotations

import os
import time

import torch

import workloads
from tests.plugins import first_time
from workloads.mnist1d_mlp import Mnist1dMlp

KILL_AT_CALL = 60


class KillBundleMlp(Mnist1dMlp):
    name = "kill-bundle-mlp"
    calls = 0

    def eval_transform(self, x: torch.Tensor) -> torch.Tensor:
        KillBundleMlp.calls += 1
        if KillBundleMlp.calls == KILL_AT_CALL and first_time("killed"):
            os._exit(1)
        time.sleep(0.003)
        return super().eval_transform(x)


workloads.register("kill-bundle-mlp", KillBundleMlp)
