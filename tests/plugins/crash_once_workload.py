"""``crash-once-mlp``: mnist1d-mlp whose very first model build in the study kills its worker
process (the marker ``crashed``)."""

from __future__ import annotations

import os

from torch import nn

import workloads
from tests.plugins import first_time
from workloads.mnist1d_mlp import Mnist1dMlp


class CrashOnceMlp(Mnist1dMlp):
    name = "crash-once-mlp"

    def build_model(self, seed: int) -> nn.Module:
        if first_time("crashed"):
            os._exit(1)
        return super().build_model(seed)


workloads.register("crash-once-mlp", CrashOnceMlp)
