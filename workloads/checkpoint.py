"""A training run's state inside a trial: what a checkpoint holds, and putting it back.

:func:`capture_state` takes, at a step boundary ``s`` (``s`` updates done), everything the run
needs to continue exactly: the learner's model parameters and buffers, optimizer state and
minibatch stream (:meth:`workloads.run.Learner.state_dict`: for one trial the model's and the
optimizer's ``state_dict`` and the :class:`~workloads.batches.BatchStream`'s position), every
random generator (torch CPU, CUDA when the run is on CUDA, Python's ``random``, NumPy's global
one), and the trial group: each outcome's evaluation rows and best-so-far / steps-to-target
bookkeeping, its training time, the active rows, their last learning rates, and the run's
elapsed time. The schedule needs nothing: a learning rate is a pure function of ``s``.

:func:`restore_state` puts that back into a freshly built learner and group (same workload,
optimizer, hyperparameters and seeds) and returns ``s``; the loop then continues at step ``s``.
A restored run replays its recorded evaluation rows through ``on_eval`` first, so whoever
collects the rows (the worker, then the driver, under a new attempt number) holds the whole
curve. Members are named by keys (trial ids in a study): a bundle's state restores into a
bundle of any subset of the members that were training when it was saved (its unfinished
members), row by row. With dropout, a bundle's rows share one random stream, so a restored
subset draws other masks than the full bundle would have: bitwise equality then holds for the
same set of members only. On CPU in float32 the continued run is bitwise the uninterrupted one (the timing fields
excepted: ``wall_time_s`` and ``train_time_s`` count real seconds).

The state is plain tensors, numbers, strings, lists and dicts, so ``torch.load(...,
weights_only=True)`` reads it back (:func:`save_state`, :func:`load_state`).
"""

from __future__ import annotations

import io
import random
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .outcome import EvalRow, TrialOutcome

if TYPE_CHECKING:
    from .run import Learner, TrialGroup

__all__ = [
    "CheckpointUnsupported", "active_members", "capture_state", "load_state", "restore_state", "save_state",
]

STATE_VERSION = 1
"""The layout of a captured state; a checkpoint of another version is refused."""


class CheckpointUnsupported(Exception):  # noqa: N818 - a reason, not an error of the run
    """The run cannot capture its state (e.g. a workload's own minibatch iterator)."""


def _rng_state(device: torch.device) -> dict[str, Any]:
    name, keys, position, has_gauss, cached = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if device.type == "cuda" else None,
        "python": random.getstate(),
        "numpy": [name, torch.from_numpy(np.asarray(keys, dtype=np.int64)), int(position), int(has_gauss), float(cached)],
    }


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] is not None:
        torch.cuda.set_rng_state_all(state["cuda"])
    random.setstate(_as_tuples(state["python"]))
    name, keys, position, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), position, has_gauss, cached))


def _as_tuples(value: Any) -> Any:  # noqa: ANN401
    """Python's random state with its tuples back (a round trip may turn them into lists)."""
    return tuple(_as_tuples(v) for v in value) if isinstance(value, (list, tuple)) else value


def _outcome_state(outcome: TrialOutcome) -> dict[str, Any]:
    return {**asdict(outcome), "rows": [row.as_dict() for row in outcome.rows]}


def _outcome_of(state: dict[str, Any]) -> TrialOutcome:
    return TrialOutcome(**{**state, "rows": [EvalRow(**row) for row in state["rows"]]})


def capture_state(
    step: int, learner: Learner, group: TrialGroup, device: torch.device, members: list[str]
) -> dict[str, Any]:
    """The run's state after ``step`` updates (module docstring), its members named by
    ``members`` (one key per member, e.g. trial ids); CheckpointUnsupported when the learner
    cannot save its part."""
    return {
        "version": STATE_VERSION,
        "step": int(step),
        "members": list(members),
        "learner": learner.state_dict(),
        "rng": _rng_state(device),
        "group": {
            "outcomes": [_outcome_state(o) for o in group.outcomes],
            "active": list(group.active),
            "learning_rates": list(group.learning_rates),
            "elapsed_s": group.clock.elapsed(),
        },
    }


def restore_state(state: dict[str, Any], learner: Learner, group: TrialGroup, members: list[str]) -> int:
    """Put ``state`` back into ``learner`` and ``group`` for the run's ``members`` (keys, in the
    run's member order): each must have been active (training) when the state was saved, and
    may be any subset of those, e.g. a bundle's unfinished members. Replay the recorded rows of
    ``members`` through the group's ``on_eval``; return the step to continue from."""
    if state.get("version") != STATE_VERSION:
        raise ValueError(f"checkpoint layout version {state.get('version')!r} is not {STATE_VERSION}; it cannot be restored")
    saved = state["group"]
    index = {key: j for j, key in enumerate(state["members"])}
    missing = [key for key in members if key not in index or index[key] not in saved["active"]]
    if missing:
        raise ValueError(f"the checkpoint holds no training state for {', '.join(missing)}; it cannot continue them")
    chosen = [index[key] for key in members]
    learner.load_state_dict(state["learner"], [saved["active"].index(j) for j in chosen])
    group.outcomes = [_outcome_of(saved["outcomes"][j]) for j in chosen]
    group.active = list(range(len(chosen)))
    group.learning_rates = [saved["learning_rates"][j] for j in chosen]
    group.clock.shift(saved["elapsed_s"])
    for outcome in group.outcomes:
        outcome.resumed_from_step = int(state["step"])
    if group.on_eval is not None:
        for member, outcome in enumerate(group.outcomes):
            for row in outcome.rows:
                group.on_eval(member, row)
    _set_rng_state(state["rng"])
    return int(state["step"])


def active_members(state: dict[str, Any]) -> list[str]:
    """The keys of the members that were training when ``state`` was saved."""
    return [state["members"][j] for j in state["group"]["active"]]


def save_state(state: dict[str, Any]) -> bytes:
    """``state`` serialised (``torch.save``)."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def load_state(data: bytes) -> dict[str, Any]:
    """A state saved by :func:`save_state`, read with ``weights_only=True`` (no code runs)."""
    return torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
