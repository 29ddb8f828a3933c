"""experiment.json as readers see it: :class:`ExperimentRecord` (the fields they use, with the types ``optcompare run`` writes) and :func:`read_experiment_record`, which reads and checks it."""

from __future__ import annotations

import json
from typing import Any

from pyarrow import fs as pafs
from pydantic import BaseModel, ConfigDict, ValidationError

from optcompare.errors import InputError
from optcompare.validation import reading

__all__ = [
    "ExperimentRecord",
    "RECOVER",
    "read_experiment_record",
]


RECOVER = (
    "the rows stay as they are: put back experiment.json (from a backup, or from another copy of "
    "the experiment) and resume, or move the directory aside and run the study again"
)
"""How to go on from an experiment directory whose experiment.json is missing or broken."""


class _Named(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    name: str


class _SearchRecord(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    protocol: str
    optimizer: str


class ExperimentRecord(BaseModel):
    """The fields of experiment.json that readers use, with the types ``optcompare run`` writes
    (:func:`tuning.store.experiment.experiment_record`); each may be absent (older experiments) or
    null, other fields are kept unchecked."""

    model_config = ConfigDict(extra="allow", strict=True)
    name: str | None = None
    config_source: str | None = None
    config: dict[str, Any] | None = None
    protocols: dict[str, dict[str, Any]] | None = None
    protocol_entries: dict[str, dict[str, Any]] | None = None
    workloads: list[_Named] | None = None
    optimizers: list[str] | None = None
    searches: list[_SearchRecord] | None = None
    inclusions: list[dict[str, Any]] | None = None
    select: dict[str, str] | None = None
    stages: dict[str, list[str]] | None = None
    studies: int | None = None
    refined: list[dict[str, Any]] | None = None
    trials_per_search: int | None = None
    plan_size: int | None = None
    plan_digest: str | None = None
    seed: int | None = None
    versions: dict[str, str] | None = None


def read_experiment_record(filesystem: pafs.FileSystem, root: str, shown: str | None = None) -> dict[str, Any]:
    """experiment.json of the experiment at ``root`` as a dict, checked against
    :class:`ExperimentRecord`; InputError naming the file (as ``shown``/experiment.json) and,
    for a wrong shape, the field."""
    source = f"{shown or root}/experiment.json"
    try:
        with filesystem.open_input_stream(f"{root}/experiment.json") as stream:
            raw = stream.readall().decode(errors="replace")
    except OSError as err:
        raise InputError(f"{source}: cannot read ({err}); {RECOVER}") from None
    try:
        meta = json.loads(raw)
    except json.JSONDecodeError as err:
        raise InputError(f"{source} is not valid JSON ({err}); {RECOVER}") from None
    if not isinstance(meta, dict):
        raise InputError(f"{source} must hold a JSON object, got {type(meta).__name__}; {RECOVER}")
    try:
        with reading(source):
            ExperimentRecord.model_validate(meta)
    except InputError as err:
        raise InputError(f"{err} (not the shape optcompare writes); {RECOVER}") from None
    except ValidationError as err:  # pragma: no cover - reading() translates every one
        raise InputError(f"{source}: {err}") from None
    return meta
