"""The results layout: the columns users' Parquet files and queries rely on, the metric table and
the search key. A change here is a change of the on-disk format: it must be deliberate."""

from __future__ import annotations

import math
import subprocess
import sys

import pyarrow as pa
import pytest

from optcompare import schema
from optcompare.schema import METRICS, SearchKey

TRIALS = [
    ("trial_id", pa.string()), ("trial_index", pa.int64()), ("seed", pa.int64()),
    ("attempt", pa.int64()), ("phase", pa.string()), ("stage", pa.string()), ("study", pa.int64()),
    ("status", pa.string()),
    ("final_train_loss", pa.float64()), ("final_val_error", pa.float64()),
    ("final_val_loss", pa.float64()), ("final_test_error", pa.float64()),
    ("final_test_loss", pa.float64()), ("best_val_error", pa.float64()),
    ("best_val_step", pa.int64()), ("steps_to_target", pa.int64()), ("total_steps", pa.int64()), ("resumed_from_step", pa.int64()),
    ("wall_time_s", pa.float64()), ("train_time_s", pa.float64()), ("error", pa.string()),
]
CURVES = [
    ("trial_id", pa.string()), ("attempt", pa.int64()), ("step", pa.int64()),
    ("learning_rate", pa.float64()), ("train_loss", pa.float64()), ("val_error", pa.float64()),
    ("val_loss", pa.float64()), ("test_error", pa.float64()), ("test_loss", pa.float64()),
    ("wall_time_s", pa.float64()),
]


@pytest.mark.parametrize(("table", "expected"), [("trials", TRIALS), ("curves", CURVES)])
def test_the_tables_columns_are_the_documented_ones(table, expected):
    assert [(f.name, f.type) for f in schema.TABLES[table]] == expected


def test_per_search_columns_follow_in_sorted_order():
    names = schema.trial_schema(["rho", "learning_rate"], ["one_minus_rho"]).names
    assert names[len(TRIALS):] == ["hp_learning_rate", "hp_rho", "tuned_one_minus_rho"]


@pytest.mark.parametrize(
    ("name", "column", "worst", "select"),
    [
        ("val_error", "final_val_error", 1.0, True),
        ("test_error", "final_test_error", 1.0, False),
        ("train_loss", "final_train_loss", math.inf, True),
        ("val_loss", "final_val_loss", math.inf, False),
        ("test_loss", "final_test_loss", math.inf, False),
    ],
)
def test_the_metric_table(name, column, worst, select):
    m = METRICS[name]
    assert (m.column, m.worst, m.select, m.lower_is_better) == (column, worst, select, True)


def test_selection_may_look_only_at_training_and_validation():
    assert schema.SELECT_METRICS == ("val_error", "train_loss")
    with pytest.raises(ValueError, match="unknown metric 'accuracy'; valid choices: val_error"):
        schema.metric("accuracy")


def test_the_search_key_is_a_tuple_with_its_partition_and_trial_id_prefix():
    key = SearchKey.of_trial_id("mnist1d-mlp/choi-full/adam/00042")
    assert key == ("mnist1d-mlp", "choi-full", "adam") and hash(key) == hash(tuple(key))
    assert key.prefix() == "mnist1d-mlp/choi-full/adam"
    assert key.partition_path() == "workload=mnist1d-mlp/protocol=choi-full/optimizer=adam"
    assert schema.PARTITION_KEYS == ("workload", "protocol", "optimizer")
    with pytest.raises(ValueError, match="'adam/00042' is not WORKLOAD/PROTOCOL/OPTIMIZER/INDEX"):
        SearchKey.of_trial_id("adam/00042")


def test_the_schema_imports_without_torch_or_ray():
    code = "import sys, optcompare.schema; assert not {'torch', 'ray'} & set(sys.modules), sys.modules.keys()"
    subprocess.run([sys.executable, "-c", code], check=True)
