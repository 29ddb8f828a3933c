"""Fixtures of the end-to-end tests: run ``optcompare run`` on a config and read its trials."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from analysis.load import load_experiment
from optcompare.cli import main


@pytest.fixture
def run_config_file(tmp_path, capsys) -> Callable[[Path, str], tuple[str, pd.DataFrame]]:
    """``run(config, name)``: ``optcompare run CONFIG --results TMP/r --num-cpus 2 --quiet``,
    which must exit 0; returns (its stdout, the trials table of experiment ``name``)."""

    def run(config: Path, name: str) -> tuple[str, pd.DataFrame]:
        results = tmp_path / "r"
        assert main(["run", str(config), "--results", str(results), "--num-cpus", "2", "--quiet"]) == 0
        out = capsys.readouterr().out
        return out, load_experiment(str(results / name))[1].table.to_pandas()

    return run
