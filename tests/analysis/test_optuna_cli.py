"""``optcompare importance`` and ``optcompare export optuna``: output formats, and exit 2 with
the flag and what is allowed for every bad input."""

from __future__ import annotations

import csv
import io
import json

import optuna
import pytest

from analysis.export import open_storage
from analysis.render import IMPORTANCE_COLUMNS
from optcompare.cli import main
from tests.analysis.optuna_rows import SPACE, one_coordinate_experiment


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    return one_coordinate_experiment(tmp_path_factory.mktemp("cli") / "exp", n=60)


def test_importance_json(experiment, capsys):
    assert main(["importance", str(experiment), "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["evaluator"] == "ped-anova" and document["stage"] == "final"
    (search,) = document["searches"]
    assert search["coordinates"][0]["name"] == "learning_rate"
    assert {c["name"] for c in search["coordinates"]} == set(SPACE)


def test_importance_csv_and_table(experiment, capsys):
    assert main(["importance", str(experiment), "--format", "csv", "--evaluator", "fanova"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert tuple(rows[0]) == IMPORTANCE_COLUMNS and len(rows) == 1 + len(SPACE)
    assert rows[1][3] == "learning_rate" and rows[1][7] == "fanova"
    assert main(["importance", str(experiment)]) == 0
    assert "learning_rate" in capsys.readouterr().out


def test_export_optuna_writes_and_says_how_to_browse(experiment, tmp_path, capsys):
    target = f"sqlite:///{tmp_path / 'studies.db'}"
    assert main(["export", "optuna", str(experiment), "--storage", target]) == 0
    out = capsys.readouterr().out
    assert f"wrote 1 studies (60 trials) to {target}" in out
    assert f"optuna-dashboard {target}" in out
    assert optuna.get_all_study_names(open_storage(target)) == ["exp/w/p/adam"]
    assert main(["export", "optuna", str(experiment), "--storage", target, "--overwrite"]) == 0
    assert "replaced study exp/w/p/adam" in capsys.readouterr().err


@pytest.mark.parametrize(("args", "messages"), [
    (["importance", "{exp}", "--evaluator", "shap"],
     ["--evaluator 'shap' is unknown", "ped-anova, fanova"]),
    (["importance", "{exp}", "--stage", "nosuch"], ["--stage"]),
    (["importance", "{tmp}/none"], ["not an optcompare experiment"]),
    (["export", "optuna", "{exp}", "--storage", "nosuchdialect://x"],
     ["cannot open --storage 'nosuchdialect://x'", "sqlite:///studies.db", "journal file path"]),
    (["export", "optuna", "{exp}", "--storage", "{tmp}/missing/s.log"],
     ["cannot open --storage", "does not exist"]),
    (["export", "optuna", "{exp}", "--storage", "{tmp}/s.sqlite"], ["sqlite:///"]),
    (["export", "optuna", "{tmp}/none", "--storage", "{tmp}/s.log"], ["not an optcompare experiment"]),
])
def test_bad_input_exits_2_with_the_flag_and_what_is_allowed(experiment, tmp_path, capsys, args, messages):
    argv = [a.format(exp=experiment, tmp=tmp_path) for a in args]
    assert main(argv) == 2
    err = capsys.readouterr().err
    for message in messages:
        assert message in err


def test_export_into_a_storage_holding_the_study_exits_2_unless_overwrite(experiment, tmp_path, capsys):
    target = str(tmp_path / "studies.log")
    assert main(["export", "optuna", str(experiment), "--storage", target]) == 0
    capsys.readouterr()
    assert main(["export", "optuna", str(experiment), "--storage", target]) == 2
    err = capsys.readouterr().err
    assert "already holds 1 of these studies (exp/w/p/adam)" in err and "--overwrite" in err
    assert len(optuna.load_study(study_name="exp/w/p/adam", storage=open_storage(target)).trials) == 60


def test_export_needs_a_target_and_a_storage(experiment):
    for argv in (["export"], ["export", "optuna", str(experiment)]):
        with pytest.raises(SystemExit) as exit_:
            main(argv)
        assert exit_.value.code == 2
