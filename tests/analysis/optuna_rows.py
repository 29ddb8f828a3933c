"""Synthetic experiments for the Optuna-side analysis (importance, export, ask order), written in
the results layout by :mod:`synthetic`.

``one_coordinate_experiment``: one search whose selection metric depends on the log learning rate
only, with two more tuned coordinates (linear, feasible points) that do not matter, one diverged
and one failed trial. ``sampler_experiment``: one workload and optimizer under a quasi-random and
a TPE protocol, 3 studies each, the TPE trials improving in ask order.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from tests.analysis.synthetic import trial, write_experiment

SPACE = {
    "learning_rate": {"min": 1e-4, "max": 1.0, "scaling": "log"},
    "one_minus_beta1": {"min": 0.01, "max": 0.5, "scaling": "linear"},
    "decay": {"feasible_points": [0.1, 0.5, 0.9]},
}
"""The search space of ``one_coordinate_experiment`` (experiment.json ``searches[].space``)."""

KEY = ("w", "p", "adam")


def error_of(learning_rate: float) -> float:
    """The one-coordinate response: 0.1 at learning rate 1e-2, rising by 0.25 per decade away."""
    return 0.1 + 0.25 * abs(math.log10(learning_rate) + 2)


def one_coordinate_experiment(path: Path, n: int = 200, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    trials = []
    for _ in range(n):
        tuned = {"learning_rate": float(10 ** rng.uniform(-4, 0)),
                 "one_minus_beta1": float(rng.uniform(0.01, 0.5)),
                 "decay": float(rng.choice(SPACE["decay"]["feasible_points"]))}
        trials.append(trial(error_of(tuned["learning_rate"]), tuned=tuned))
    blown = {"learning_rate": 0.9, "one_minus_beta1": 0.2, "decay": 0.5}
    trials[3] = trial(math.nan, status="diverged", tuned=blown)
    trials[4] = trial(math.nan, status="failed", tuned=blown)
    return write_experiment(path, {KEY: trials}, spaces={KEY[1:]: SPACE},
                            meta={"protocols": {"p": {"search": "quasirandom"}}})


SAMPLER_STUDIES = 3
SAMPLER_TRIALS = 8


def tpe_error(study: int, index: int) -> float:
    """A TPE study that improves in ask order: 0.5 at its first trial, 0.05 better per trial."""
    return 0.5 - 0.05 * index + 0.01 * study


def quasirandom_error(study: int, index: int) -> float:
    """A quasi-random study: no trend in ask order."""
    return 0.3 + 0.02 * ((index * 5 + study) % 7)


def sampler_experiment(path: Path) -> Path:
    searches = {}
    for protocol, error in (("qr", quasirandom_error), ("tpe", tpe_error)):
        searches[("w", protocol, "adam")] = [
            trial(error(s, i), tuned={"learning_rate": 10.0 ** (-3 + 0.3 * i)}, study=s, index=i)
            for s in range(SAMPLER_STUDIES) for i in range(SAMPLER_TRIALS)
        ]
    spaces = {(p, "adam"): {"learning_rate": {"min": 1e-3, "max": 1.0, "scaling": "log"}}
              for p in ("qr", "tpe")}
    meta = {"protocols": {"qr": {"search": "quasirandom"}, "tpe": {"search": "tpe"}},
            "studies": SAMPLER_STUDIES}
    return write_experiment(path, searches, spaces=spaces, meta=meta)
