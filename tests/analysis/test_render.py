"""Text of rank and query results: strict JSON, CSV, and tables that never wrap when piped."""

from __future__ import annotations

import io
import json
import math
import re

import pytest

from analysis.experiment_rankings import ExperimentRankings
from analysis.query import QueryResult
from analysis.ranking import BudgetRankings, OptimizerScore, Ranking
from analysis.render import (
    print_tables,
    query_csv,
    query_json,
    query_table,
    rank_csv,
    rank_json,
    rank_tables,
)
from optcompare.cli import main
from tests.analysis.synthetic import trial, write_experiment

LONG = "an-optimizer-whose-name-is-far-longer-than-any-terminal-" * 2


def _rankings(*budgets: int) -> ExperimentRankings:
    """Two protocols: p ranks three optimizers (one with a long name), q ranks one whose mean is +inf."""
    p = Ranking("w", "p", [OptimizerScore("adam", 1, 4, 0.2, 0.1, 0.3, (0.75, 0.25, 0.0)),
                           OptimizerScore(LONG, 2, 4, 0.25, 0.2, 0.4, (0.25, 0.5, 0.25)),
                           OptimizerScore("sgd", 3, 3, 0.5, 0.4, 1.0, (0.0, 0.25, 0.75))])
    q = Ranking("w", "q", [OptimizerScore("sgd", 1, 2, math.inf, 0.3, math.inf, (1.0,))])
    return ExperimentRankings(
        "exp", tuple(BudgetRankings(b, "val_error", "test_loss", 100, (p, q)) for b in budgets), (), ())


def _table_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line[:1] in "┏┃┡│└"]


def test_rank_json_is_strict_and_one_object_per_budget():
    one = json.loads(rank_json(_rankings(2)), parse_constant=lambda c: pytest.fail(f"constant {c}"))
    assert list(one) == ["budget", "select", "report", "n_resamples", "rankings"] and one["budget"] == 2
    (q,) = [r for r in one["rankings"] if r["protocol"] == "q"]
    assert q["optimizers"][0]["mean"] is None and q["optimizers"][0]["p05"] == 0.3
    assert q["optimizers"][0]["rank_probabilities"] == [1.0]
    several = json.loads(rank_json(_rankings(1, 4)))
    assert [d["budget"] for d in several] == [1, 4]


def test_rank_csv_pads_the_rank_probabilities_of_smaller_rankings():
    header, *rows = rank_csv(_rankings(1, 4)).splitlines()
    assert header == ("workload,protocol,rank,optimizer,n_trials,mean,p05,p95,budget,select,report,"
                      "n_resamples,p_rank_1,p_rank_2,p_rank_3")
    assert len(rows) == 8
    assert rows[3] == "w,q,1,sgd,2,inf,0.3,inf,1,val_error,test_loss,100,1.0,,"


def test_query_json_and_csv_write_nulls():
    result = QueryResult(("a", "b"), [(1, None), (2.5, math.nan)], ())
    assert json.loads(query_json(result)) == [{"a": 1, "b": None}, {"a": 2.5, "b": None}]
    assert query_csv(result) == "a,b\r\n1,\r\n2.5,nan\r\n"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    "tables",
    [
        pytest.param(lambda: rank_tables(_rankings(1)), id="rank"),
        pytest.param(lambda: [query_table(QueryResult(tuple(f"column_number_{i}" for i in range(12)),
                                                      [tuple(range(12))] * 3, ()), 1000)], id="query"),
    ],
)
def test_tables_fit_a_terminal_and_are_as_wide_as_their_content_elsewhere(monkeypatch, tables):
    monkeypatch.setenv("COLUMNS", "80")
    for variable in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(variable, raising=False)
    piped, terminal = io.StringIO(), _Terminal()
    print_tables(tables(), file=piped)
    print_tables(tables(), file=terminal)
    wide = _table_lines(piped.getvalue())
    assert max(len(line) for line in wide) > 80
    # Piped: one line per row; every line of a table has the table's width.
    n_rows = sum(len(t.rows) for t in tables())
    assert sum(line.startswith("│") for line in wide) == n_rows
    assert "\x1b[" not in piped.getvalue()  # no colour codes in a log
    # On an 80-column terminal the same tables fit it (cells fold onto more lines).
    narrow = re.sub(r"\x1b\[[0-9;]*m", "", terminal.getvalue()).splitlines()  # colours stripped
    assert max(len(line) for line in narrow) <= 80


def test_a_wide_query_piped_prints_each_row_on_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    exp = write_experiment(tmp_path / "exp", {
        ("w", "p", "sgd"): [trial(0.3, tuned={"learning_rate": 0.1}), trial(0.4, tuned={"learning_rate": 0.2})],
        ("w", "p", "adam"): [trial(0.2, tuned={"learning_rate": 0.1, "one_minus_beta1": 0.1})],
    })
    assert main(["query", str(exp), "select * from trials order by trial_id"]) == 0
    out = capsys.readouterr().out
    lines = _table_lines(out)
    rows = [line for line in lines if line.startswith("│")]
    assert [line.split("│")[1].strip() for line in rows] == ["w/p/adam/00000", "w/p/sgd/00000", "w/p/sgd/00001"]
    assert len({len(line) for line in lines}) == 1 and len(lines[0]) > 200  # ~25 columns, none folded
    assert "tuned_one_minus_beta1" in lines[1] and "3 row(s)" in out
