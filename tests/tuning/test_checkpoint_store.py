"""A checkpoint store (``RESULTS/NAME/_tune``) that cannot be written is bad input: exit 2 before
any trial starts, naming the store, and a new experiment leaves nothing behind. (The tests run
as root, where permissions do not stop a write: a regular file where a directory must be is
what makes the store unwritable here.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from optcompare.cli import main
from optcompare.errors import InputError
from tests.tuning.file_texts import config_text
from tuning.store.experiment import TUNE_STORE, check_checkpoint_store


def test_a_writable_store_is_created_and_keeps_no_probe(tmp_path: Path) -> None:
    check_checkpoint_store(str(tmp_path / "exp"))
    assert (tmp_path / "exp" / TUNE_STORE).is_dir()
    assert list((tmp_path / "exp" / TUNE_STORE).iterdir()) == []


def test_a_store_that_cannot_be_created_is_input_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / "exp").write_text("a file, not a directory")
    with pytest.raises(InputError, match=rf"checkpoint store {tmp_path}/exp/_tune cannot be written .*can write to"):
        check_checkpoint_store(str(tmp_path / "exp"))


@pytest.mark.slow
def test_run_into_an_unwritable_store_exits_2_and_leaves_nothing(tmp_path: Path, capsys) -> None:
    config = tmp_path / "exp.yaml"
    config.write_text(config_text())
    results = tmp_path / "results"
    results.write_text("a file where the results directory should be")
    code = main(["run", str(config), "--results", str(results), "--num-cpus", "1", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "checkpoint store" in err and "_tune cannot be written" in err
    assert results.read_text() == "a file where the results directory should be"


def test_resume_with_an_unwritable_store_exits_2_before_ray_starts(tmp_path: Path, capsys, monkeypatch) -> None:
    import tuning.driver.run_study

    def no_study(*args, **kwargs):  # noqa: ANN002, ANN003
        raise AssertionError("the study started")

    monkeypatch.setattr(tuning.driver.run_study, "run_study", no_study)
    config = tmp_path / "exp.yaml"
    config.write_text(config_text())
    assert main(["plan", str(config)]) == 0
    capsys.readouterr()
    from tuning.plan.resolve import resolve_plan
    from tuning.spec.config import load_config
    from tuning.store.experiment import create_experiment

    loaded = load_config(str(config))
    experiment = Path(create_experiment(str(tmp_path / "r"), loaded.name, loaded, resolve_plan(loaded)))
    assert json.loads((experiment / "experiment.json").read_text())["name"] == loaded.name
    (experiment / TUNE_STORE).rmdir()
    (experiment / TUNE_STORE).write_text("not a directory")
    assert main(["resume", str(experiment), "--quiet"]) == 2
    assert f"checkpoint store {experiment}/_tune cannot be written" in capsys.readouterr().err
