"""The scaffold of the end-to-end tests: write a study's YAML (and the protocol files it names),
run ``optcompare run`` or ``resume`` in this process, and read back what it wrote.

``Study(tmp_path, capsys)`` keeps results under ``tmp_path/r``; the ``study`` fixture
(tests/integration/conftest.py) gives one on the session's shared Ray.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from analysis.load import load_experiment, load_table, open_experiment
from optcompare.cli import main


def study_yaml(
    name: str,
    *,
    workload: str | dict[str, Any] = "mnist1d-mlp",
    optimizers: Sequence[str] = ("sgd",),
    protocols: Sequence[str] = ("lr-only",),
    trials: int = 1,
    plugins: Sequence[str] = (),
    **fields: Any,  # noqa: ANN401
) -> str:
    """A config's YAML: ``workload`` (a name, or one ``workloads:`` entry as a dict), the
    optimizers and protocols, ``trials`` per search, then any other top-level ``fields``."""
    config: dict[str, Any] = {"name": name}
    if plugins:
        config["plugins"] = list(plugins)
    config.update(
        workloads=[workload], optimizers=list(optimizers), protocols=list(protocols), trials_per_search=trials,
    )
    config.update(fields)
    return yaml.safe_dump(config, sort_keys=False)


@dataclass
class Ran:
    """What one in-process ``optcompare`` command did: its exit code, output and experiment."""

    code: int
    out: str
    err: str
    experiment: Path

    @cached_property
    def trials(self) -> pd.DataFrame:
        return load_experiment(str(self.experiment))[1].table.to_pandas()

    @cached_property
    def curves(self) -> pd.DataFrame:
        return load_table(*open_experiment(str(self.experiment)), "curves").table.to_pandas()


@dataclass
class Study:
    """Files and commands of the studies of one test, under ``root``."""

    root: Path
    capsys: pytest.CaptureFixture[str]
    cpus: int = 1
    """``--num-cpus`` of its commands: the shared Ray's (tests/conftest.py, SHARED_RAY_CPUS)."""

    @property
    def results(self) -> Path:
        return self.root / "r"

    def experiment(self, name: str) -> Path:
        return self.results / name

    def write(self, filename: str, text: str) -> Path:
        """``root/filename`` with ``text`` (a config, or a protocol file a config names)."""
        path = self.root / filename
        path.write_text(text)
        return path

    def config(self, name: str, **fields: Any) -> Path:  # noqa: ANN401
        """``root/NAME.yaml`` from :func:`study_yaml` (``name`` and ``fields``)."""
        return self.write(f"{name}.yaml", study_yaml(name, **fields))

    def run(self, config: Path, name: str | None = None, *, expect: int | None = 0,
            args: Sequence[str] = ()) -> Ran:
        """``optcompare run CONFIG --results ROOT/r --num-cpus N --quiet ARGS``; its exit code
        must be ``expect`` (None: any). ``name``: the experiment's (default: the config's name)."""
        code = main(["run", str(config), "--results", str(self.results), "--num-cpus", str(self.cpus),
                     "--quiet", *args])
        return self._ran(code, expect, self.experiment(name or yaml.safe_load(config.read_text())["name"]))

    def resume(self, name: str, *, expect: int | None = 0, cpus: int | None = None) -> Ran:
        """``optcompare resume ROOT/r/NAME --num-cpus N --quiet``; exit code ``expect``."""
        experiment = self.experiment(name)
        code = main(["resume", str(experiment), "--num-cpus", str(cpus or self.cpus), "--quiet"])
        return self._ran(code, expect, experiment)

    def _ran(self, code: int, expect: int | None, experiment: Path) -> Ran:
        out, err = self.capsys.readouterr()
        ran = Ran(code, out, err, experiment)
        if expect is not None:
            assert code == expect, f"exit {code}, expected {expect}\n--- stdout\n{out}\n--- stderr\n{err}"
        return ran
