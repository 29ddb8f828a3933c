"""How many trials run at once: the slots a Ray cluster has for trials of given resources, and
the concurrency of a study run.
"""

from __future__ import annotations

import math

from optcompare.errors import ParameterError

__all__ = [
    "GIB", "UNBOUNDED", "check_capacity", "members_per_node", "resources_text", "study_slots", "trial_slots",
]

UNBOUNDED = 1 << 30
"""Slots of a study that asks for no resources, or of a joined cluster (which may grow)."""

GIB = 1024**3
"""Bytes in a GiB (Ray counts its ``memory`` resource in bytes)."""

SLOT_TOLERANCE = 1e-9
"""Added to each quotient before the floor, so that ``1.0 / 0.2`` (4.999... in floats) is 5."""


def trial_slots(
    cluster: dict[str, float], cpus_per_trial: float, gpus_per_trial: float, memory_per_trial: float = 0.0
) -> int:
    """Trials that fit at once on ``cluster`` (``ray.cluster_resources()``):
    ``min(floor(CPU / cpus_per_trial + 1e-9), floor(GPU / gpus_per_trial + 1e-9), floor(memory /
    memory_per_trial + 1e-9))`` over the resources a trial asks for (``memory_per_trial`` in
    bytes; floor division of floats would give ``1.0 // 0.2 == 4.0``)."""
    fits = [
        math.floor(float(cluster.get(resource, 0.0)) / need + SLOT_TOLERANCE)
        for resource, need in (("CPU", cpus_per_trial), ("GPU", gpus_per_trial), ("memory", memory_per_trial))
        if need > 0
    ]
    return min(fits) if fits else UNBOUNDED


def resources_text(cluster: dict[str, float]) -> str:
    return (
        f"{cluster.get('CPU', 0):g} CPUs, {cluster.get('GPU', 0):g} GPUs, "
        f"{cluster.get('memory', 0) / GIB:.1f} GiB of memory"
    )


def check_capacity(
    cpus_per_trial: float, gpus_per_trial: float, *, joined: bool, progress: bool = True,
    memory_per_trial: float = 0.0,
) -> int:
    """:func:`trial_slots` of the running Ray. No room for one trial is a
    :class:`~optcompare.errors.ParameterError` (``address``) on the in-process Ray; on a joined cluster (``joined``) it is a notice (printed if
    ``progress``), as an autoscaler adds nodes for queued trials."""
    import ray

    cluster = ray.cluster_resources()
    capacity = trial_slots(cluster, cpus_per_trial, gpus_per_trial, memory_per_trial)
    if capacity < 1 and not joined:
        memory = f" and {memory_per_trial / GIB:g} GiB of memory" if memory_per_trial else ""
        raise ParameterError(
            "address",
            f"the in-process Ray ({resources_text(cluster)}) cannot fit one trial with "
            f"{cpus_per_trial:g} CPUs, {gpus_per_trial:g} GPUs{memory}; lower "
            "resources.cpus_per_trial / gpus_per_trial / memory_per_trial, raise {name:num_cpus} "
            "(or leave it out: all CPUs), or join a cluster that has them with {name}",
        )
    if capacity < 1 and progress:
        print(
            f"the cluster has no room for one trial yet ({resources_text(cluster)}); trials "
            "wait for the autoscaler to add nodes",
            flush=True,
        )
    return capacity


def members_per_node(memory_per_trial: float) -> int:
    """How many trials of ``memory_per_trial`` bytes of Ray's ``memory`` resource the largest
    live node of the running Ray holds (at least 1): the largest bundle Ray can place, since a
    bundle of B reserves B times it on one node."""
    import ray

    largest = max(
        (float(node.get("Resources", {}).get("memory", 0.0)) for node in ray.nodes() if node.get("Alive")),
        default=0.0,
    )
    return max(1, math.floor(largest / memory_per_trial + SLOT_TOLERANCE))


def study_slots(capacity: int, *, joined: bool, max_concurrent_trials: int | None) -> int:
    """Trials a study may run at once: what fits now (at least one) on the in-process Ray,
    unbounded on a joined cluster (an autoscaler grows it to the queued trials' demand), and
    at most ``max_concurrent_trials`` either way."""
    slots = UNBOUNDED if joined else max(1, capacity)
    return min(slots, max_concurrent_trials) if max_concurrent_trials else slots
