"""Texts of protocol and config files shared by the tests of tuning/ (good templates to break)."""

from __future__ import annotations

import textwrap
from pathlib import Path


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


GOOD_SGD = """\
  sgd:
    learning_rate: {min: 1.0e-3, max: 1.0, scaling: log}
    decay_steps_factor: 1.0
    decay_factor: 0.01
"""


def protocol_text(body: str, head: str = "name: broken\nschedule: linear_decay\n") -> str:
    return head + "optimizers:\n" + body


GOOD_CONFIG = {
    "name": "name: exp",
    "workloads": "workloads: [mnist1d-mlp]",
    "optimizers": "optimizers: [sgd, adam]",
    "protocols": "protocols: [lr-only]",
    "trials_per_search": "trials_per_search: 4",
    "seed": "seed: 0",
}


def config_text(**replace: str | None) -> str:
    lines = {**GOOD_CONFIG, **replace}
    return "\n".join(v for v in lines.values() if v is not None) + "\n"


BROKEN_YAML = "name: broken\nschedule: [linear_decay\noptimizers: {sgd: 1\n"
"""Not valid YAML: an unclosed flow sequence (the error is at line 3, column 11)."""
