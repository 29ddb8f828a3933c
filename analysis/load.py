"""Read an experiment's Parquet results (contract 3 of DESIGN.md) without torch or ray.

Part files of different optimizers carry different ``hp_<name>`` columns; they are read one by
one and concatenated with schema promotion (missing columns become null). A file that cannot be
read (truncated, foreign) is reported in ``skipped`` and left out, never a crash.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from pyarrow import fs as pafs

from optcompare.errors import InputError

__all__ = ["Loaded", "load_experiment", "load_table", "open_experiment"]

PARTITION_KEYS = ("workload", "protocol", "optimizer")


@dataclass
class Loaded:
    """One table of an experiment and the files that had to be skipped."""

    table: pa.Table
    files: int
    skipped: list[str] = field(default_factory=list)


def open_experiment(path: str) -> tuple[pafs.FileSystem, str]:
    """(filesystem, path) of an experiment directory; InputError when it is not one."""
    if "://" in path:
        filesystem, root = pafs.FileSystem.from_uri(path)
    else:
        import os

        filesystem, root = pafs.LocalFileSystem(), os.path.abspath(path)
    if filesystem.get_file_info(f"{root}/experiment.json").type != pafs.FileType.File:
        raise InputError(
            f"{path} is not an optcompare experiment (no experiment.json); give RESULTS/NAME "
            "as written by 'optcompare run'"
        )
    return filesystem, root


def _partition_values(relative: str) -> dict[str, str]:
    values = {}
    for part in relative.split("/")[:-1]:
        key, sep, value = part.partition("=")
        if sep and key in PARTITION_KEYS:
            values[key] = value
    return values


def load_table(filesystem: pafs.FileSystem, root: str, name: str) -> Loaded:
    """All part files of ``trials`` or ``curves`` with the partition columns added."""
    base = f"{root}/{name}"
    if filesystem.get_file_info(base).type == pafs.FileType.NotFound:
        return Loaded(pa.table({k: pa.array([], pa.string()) for k in PARTITION_KEYS}), 0)
    infos = filesystem.get_file_info(pafs.FileSelector(base, recursive=True))
    tables: list[pa.Table] = []
    skipped: list[str] = []
    files = 0
    for info in sorted(infos, key=lambda i: i.path):
        if info.type != pafs.FileType.File or info.base_name.startswith((".", "_")):
            continue
        if not info.base_name.endswith(".parquet"):
            continue
        files += 1
        try:
            table = pq.read_table(info.path, filesystem=filesystem)
        except (pa.ArrowInvalid, OSError) as err:
            skipped.append(f"{info.path}: {err}")
            continue
        values = _partition_values(info.path[len(base) + 1 :])
        if set(values) != set(PARTITION_KEYS):
            skipped.append(f"{info.path}: not under workload=/protocol=/optimizer= partitions")
            continue
        for key in PARTITION_KEYS:
            table = table.append_column(key, pa.array([values[key]] * table.num_rows, pa.string()))
        tables.append(table)
    if not tables:
        return Loaded(pa.table({k: pa.array([], pa.string()) for k in PARTITION_KEYS}), files, skipped)
    return Loaded(pa.concat_tables(tables, promote_options="default"), files, skipped)


def load_experiment(path: str) -> tuple[dict[str, Any], Loaded]:
    """(experiment.json contents, trials table) of ``RESULTS/NAME``."""
    filesystem, root = open_experiment(path)
    with filesystem.open_input_stream(f"{root}/experiment.json") as stream:
        meta = json.loads(stream.readall().decode())
    return meta, load_table(filesystem, root, "trials")
