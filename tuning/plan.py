"""The experiment plan: every trial of every search, as data.

One search = (workload, protocol, optimizer). Trial ``i`` of a search is Halton point ``i`` of the
search's space, with the Halton seed and the training seed derived from the experiment seed and the
search's names by SHA-256, so plans are identical across runs, machines and Python versions.
Trial ids are ``WORKLOAD/PROTOCOL/OPTIMIZER/INDEX`` with the index zero-padded to 5 digits.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import Any

from .config import ExperimentConfig
from .quasirandom import sample

__all__ = ["PlannedTrial", "derive_seed", "resolve_plan", "trial_id"]


def derive_seed(*parts: object) -> int:
    """A 31-bit seed from the SHA-256 of the parts joined by '/': stable everywhere."""
    digest = hashlib.sha256("/".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def trial_id(workload: str, protocol: str, optimizer: str, index: int) -> str:
    return f"{workload}/{protocol}/{optimizer}/{index:05d}"


@dataclass(frozen=True)
class PlannedTrial:
    """One planned trial: everything a worker needs to train it, and nothing else."""

    trial_id: str
    workload: str
    protocol: str
    optimizer: str
    trial_index: int
    seed: int
    tuned: dict[str, Any]
    """The search point in tuned coordinates (e.g. one_minus_beta1)."""
    hparams: dict[str, float]
    """The optimizer's hyperparameters derived from ``tuned`` plus fixed values and defaults."""
    schedule: str
    schedule_params: dict[str, float]
    steps: int
    eval_every: int
    data_dir: str | None

    def as_config(self) -> dict[str, Any]:
        """A plain dict (what a Ray trial receives as its config)."""
        return asdict(self)


def resolve_plan(config: ExperimentConfig) -> list[PlannedTrial]:
    """All trials in order: workloads, then protocols, then optimizers, then trial index."""
    plan: list[PlannedTrial] = []
    n = config.trials_per_search
    for entry in config.workloads:
        for protocol in config.protocols:
            for opt in config.optimizers:
                search = protocol.for_optimizer(opt)
                names = (entry.name, protocol.name, opt)
                points = (
                    sample(search.space, n, derive_seed(config.seed, *names, "halton"))
                    if search.space
                    else [{} for _ in range(n)]
                )
                for index, point in enumerate(points):
                    hparams, schedule_params = search.resolve(point)
                    plan.append(
                        PlannedTrial(
                            trial_id=trial_id(*names, index),
                            workload=entry.name,
                            protocol=protocol.name,
                            optimizer=opt,
                            trial_index=index,
                            seed=derive_seed(config.seed, *names, index, "train"),
                            tuned=dict(point),
                            hparams=hparams,
                            schedule=search.schedule,
                            schedule_params=schedule_params,
                            steps=entry.steps,
                            eval_every=entry.eval_every,
                            data_dir=entry.data_dir,
                        )
                    )
    return plan
