"""Arguments are checked once, with errors that name the parameter; the CLI names the flag."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.checks import check_budgets, check_metric, check_resamples, check_select
from optcompare.cli import main
from optcompare.errors import InputError, ParameterError, ParameterText, with_flags


@pytest.mark.parametrize(
    ("call", "parameter", "message"),
    [
        (lambda: check_budgets([4, 0, 2]), "budget", "budget must be >= 1, got 0"),
        (lambda: check_budgets([]), "budget", "budget is empty; give at least one number of trials per search"),
        (lambda: check_budgets([1, "2"]), "budget", "budget must be an integer number of trials, got '2'"),
        (lambda: check_budgets([1.5], "budgets"), "budgets", "budgets must be an integer number of trials, got 1.5"),
        (lambda: check_resamples(0), "n_resamples", "n_resamples must be >= 1, got 0"),
        (lambda: check_resamples(2.5), "n_resamples", "n_resamples must be >= 1, got 2.5"),
        (lambda: check_metric("accuracy", "report"), "report",
         "unknown metric 'accuracy' for report; valid choices: val_error, test_error, train_loss, val_loss, test_loss"),
        (lambda: check_select({"p": "val_error", "q": "speed"}), "select", "unknown metric 'speed' for select"),
    ],
)
def test_bad_values_raise_parameter_errors_that_name_the_parameter_not_a_flag(call, parameter, message):
    with pytest.raises(ParameterError) as caught:
        call()
    err = caught.value
    assert isinstance(err, InputError) and err.parameter == parameter
    assert str(err).startswith(message) and "--" not in str(err)
    assert with_flags(err, {parameter: "--flag"}) == str(err).replace(parameter, "--flag", 1)


def test_good_values_pass_through():
    assert check_budgets([8, 1, np.int64(2), 2, 4.0]) == (1, 2, 4, 8)
    assert check_resamples(np.int64(10)) == 10
    assert check_metric("val_loss", "report") == "val_loss"
    check_select({"p": "train_loss"})


def test_parameter_text_is_a_string_that_the_cli_can_rename():
    text = ParameterText("budget", "{name} 9 exceeds the largest search; a budget of 6 is safe")
    assert text == "budget 9 exceeds the largest search; a budget of 6 is safe"
    assert with_flags(text, {"budget": "--budget"}) == "--budget 9 exceeds the largest search; a budget of 6 is safe"
    assert with_flags(text, {}) == text  # no flag for it: the library's words
    assert with_flags("plain", {"budget": "--budget"}) == "plain"
    assert with_flags(InputError("plain error"), {"budget": "--budget"}) == "plain error"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["rank", "EXP", "--resamples", "-3"], "optcompare rank: error: --resamples must be >= 1, got -3"),
        (["rank", "EXP", "--budget", "3,-1"], "optcompare rank: error: --budget must be >= 1, got -1"),
        (["query", "EXP", "select 1", "--max-rows", "-1"], "optcompare query: error: --max-rows must be >= 0, got -1"),
    ],
)
def test_the_cli_shows_the_flag_and_exits_2_before_reading(tmp_path, capsys, args, expected):
    (tmp_path / "experiment.json").write_text("{}")  # no trials: a check after reading would say so
    assert main([str(tmp_path) if a == "EXP" else a for a in args]) == 2
    assert expected in capsys.readouterr().err
