"""Experiment configs (tuning/spec/config.py): defaults, paths relative to the config, bundling,
and plugins loaded before the config is validated."""

from __future__ import annotations

import pytest

from optcompare.errors import InputError
from tests.tuning.file_texts import config_text, write
from tuning.spec.config import load_config, parse_config


def test_good_config_template_loads(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text(config_text())
    config = load_config(path)
    assert config.name == "exp"
    assert config.optimizers == ["sgd", "adam"]
    assert [w.name for w in config.workloads] == ["mnist1d-mlp"]
    assert config.trials_per_search == 4
    assert config.workloads[0].bundle_size == 1  # trials run one per task unless asked


def test_bundle_size_top_level_and_per_workload(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text(config_text(
        workloads="workloads: [mnist1d-mlp, {name: digits-cnn, bundle_size: 4}]", extra="bundle_size: auto"
    ))
    config = load_config(path)
    assert [w.bundle_size for w in config.workloads] == ["auto", 4]


def test_protocol_path_relative_to_config_dir(tmp_path):
    sub = tmp_path / "protocols"
    sub.mkdir()
    write(
        sub,
        "mine.yaml",
        """\
        name: mine
        schedule: constant
        optimizers:
          sgd: {learning_rate: {min: 1.0e-3, max: 1.0, scaling: log}}
        """,
    )
    config = write(
        tmp_path,
        "exp.yaml",
        """\
        name: exp
        workloads: [mnist1d-mlp]
        optimizers: [sgd]
        protocols: [protocols/mine.yaml, lr-only]
        trials_per_search: 2
        """,
    )
    loaded = load_config(config)
    assert [p.name for p in loaded.protocols] == ["mine", "lr-only"]
    assert loaded.seed == 0
    assert loaded.resources.cpus_per_trial == 1.0
    assert loaded.resources.gpus_per_trial == 0.0
    assert loaded.resources.max_concurrent_trials is None
    assert loaded.max_failures == 2


def test_config_file_missing(tmp_path):
    path = tmp_path / "nope.yaml"
    with pytest.raises(InputError) as info:
        load_config(path)
    assert str(path) in str(info.value)
    assert "config file not found" in str(info.value)


def test_config_that_is_a_directory(tmp_path):
    with pytest.raises(InputError, match="config file not found"):
        load_config(tmp_path)


def test_parse_config_imports_no_plugin(tmp_path):
    # load_config loads the listed plugins first; parse_config (what resume calls after loading
    # the recorded plugins itself) only validates: an unloaded plugin's optimizer is unknown.
    raw = {"name": "exp", "plugins": ["no_such_plugin_module"], "workloads": ["mnist1d-mlp"],
           "optimizers": ["sgd"], "protocols": ["lr-only"], "trials_per_search": 1}
    config = parse_config(raw, "exp.yaml", tmp_path)
    assert config.plugins == ["no_such_plugin_module"]
    with pytest.raises(InputError, match=r"exp\.yaml: optimizers: unknown optimizer 'plain-adagrad'"):
        parse_config({**raw, "plugins": [], "optimizers": ["plain-adagrad"]}, "exp.yaml", tmp_path)


def test_config_errors_name_the_line_of_the_field(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text(config_text(workloads="workloads:\n  - mnist1d-mlp\n  - {name: digits-cnn, steps: 0}"))
    with pytest.raises(InputError) as info:
        load_config(path)
    assert str(info.value) == f"{path}:4:31: workloads[1].steps: expected an integer >= 1, got 0"
