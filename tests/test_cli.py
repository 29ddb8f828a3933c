"""The optcompare command line: --help, exit status 2 on bad input with nothing written."""

from __future__ import annotations

import csv
import io
import json
import math
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from optcompare.cli import main
from tests.imports import modules_loaded


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "optcompare", *args], capture_output=True, text=True, cwd=cwd, timeout=120
    )


def test_help_lists_subcommands_without_loading_torch_or_ray():
    code = (
        "from optcompare.cli import build_parser\n"
        "build_parser().format_help()\n"
        "import analysis, analysis.cli, analysis.load, analysis.ranking\n"
    )
    assert modules_loaded(code, ("torch", "ray")) == []
    result = _cli("--help")
    assert result.returncode == 0
    for command in ("run", "rank", "summary", "demo", "refine"):
        assert command in result.stdout


@pytest.mark.parametrize("command", ["run", "rank", "summary", "demo", "refine"])
def test_subcommand_help(command):
    result = _cli(command, "--help")
    assert result.returncode == 0 and "usage: optcompare" in result.stdout


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


GOOD = """name: tiny
workloads: [mnist1d-mlp]
optimizers: [sgd]
protocols: [lr-only]
trials_per_search: 2
"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, "config file not found"),
        ("name: [unclosed", "not valid YAML"),
        (GOOD.replace("mnist1d-mlp", "cifar11"), "unknown workload 'cifar11'; valid choices: mnist1d-mlp"),
        (GOOD.replace("[sgd]", "[shampoo]"), "unknown optimizer 'shampoo'; valid choices: sgd, momentum"),
        (GOOD.replace("lr-only", "grid-search"), "unknown protocol 'grid-search'; valid choices: algoperf-external, choi-full, choi-full-random, choi-full-tpe, choi-two-stage, deepobs2019, lr-only, modern-wide, playbook-adam, wilson2017"),
        (GOOD.replace("trials_per_search: 2", "trials_per_search: 0"), "trials_per_search: expected an integer >= 1"),
        (GOOD + "colour: blue\n", "unknown key 'colour'"),
    ],
)
def test_run_bad_input_exits_2_and_writes_nothing(tmp_path, capsys, text, expected):
    config = tmp_path / "config.yaml"
    if text is not None:
        _write(config, text)
    results = tmp_path / "results"
    assert main(["run", str(config), "--results", str(results)]) == 2
    err = capsys.readouterr().err
    assert expected in err
    assert str(config) in err
    assert not results.exists()


def test_run_invalid_range_in_protocol_file_names_the_field(tmp_path, capsys):
    _write(tmp_path / "narrow.yaml", """name: narrow
schedule: constant
optimizers:
  sgd:
    learning_rate: {min: 1.0, max: 0.1, scaling: log}
""")
    config = _write(tmp_path / "config.yaml", GOOD.replace("[lr-only]", "[narrow.yaml]"))
    assert main(["run", str(config), "--results", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "narrow.yaml" in err and "optimizers.sgd.learning_rate" in err and "min (1.0) must be below max (0.1)" in err
    assert not (tmp_path / "r").exists()


def test_run_refuses_an_existing_experiment(tmp_path, capsys):
    config = _write(tmp_path / "config.yaml", GOOD)
    (tmp_path / "results" / "tiny").mkdir(parents=True)
    assert main(["run", str(config), "--results", str(tmp_path / "results")]) == 2
    assert "already exists" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["rank", "/nonexistent/experiment"], "is not an optcompare experiment"),
        (["rank", "EXP", "--budget", "0"], "--budget must be >= 1"),
        (["rank", "EXP", "--resamples", "0"], "--resamples must be >= 1"),
        (["rank", "EXP"], "has no finished trials yet"),
        (["rank", "EXP", "--budget", "1,0"], "--budget must be >= 1, got 0"),
        (["rank", "EXP", "--budget", "2,four"], "--budget must be an integer or a comma-separated list of integers (e.g. 1,2,4,8), got '2,four'"),
        (["summary", "EXP"], "has no search trials yet"),
        (["summary", "EXP", "--tau-max", "0.5"], "--tau-max must be a finite number > 1"),
        (["summary", "EXP", "/nonexistent/experiment"], "is not an optcompare experiment"),
    ],
)
def test_rank_bad_input_exits_2(tmp_path, capsys, args, expected):
    (tmp_path / "experiment.json").write_text("{}")
    args = [str(tmp_path) if a == "EXP" else a for a in args]
    assert main(args) == 2
    assert expected in capsys.readouterr().err


def test_unknown_choice_is_an_argparse_error_with_status_2():
    result = _cli("rank", "x", "--format", "xml")
    assert result.returncode == 2 and "invalid choice" in result.stderr


def test_plan_shows_the_bundle_size_of_each_search(tmp_path, capsys, user_plugin):
    config = tmp_path / "c.yaml"
    config.write_text(
        f"name: b\nplugins: [{user_plugin}]\nworkloads: [{{name: mnist1d-mlp, bundle_size: 8}}, tinytext-lstm]\n"
        "optimizers: [adam, plain-adagrad]\nprotocols: [lr-only]\ntrials_per_search: 8\n"
    )
    assert main(["plan", str(config)]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if "│" in line and "/" not in line]
    cells = [[c.strip() for c in line.split("│")[1:-1]] for line in rows]
    bundles = [row[7] for row in cells if row[0]]
    # mnist1d-mlp x adam bundles by 8; plain-adagrad (torch.optim) and the LSTM never bundle.
    assert bundles[0] == "8" and all(b.startswith("1") for b in bundles[1:]) and len(bundles) == 4


def test_plan_prints_size_and_writes_parquet(tmp_path, capsys):
    import pyarrow.parquet as pq

    from tuning.plan.resolve import resolve_plan
    from tuning.spec.config import load_config

    config = Path(__file__).resolve().parent.parent / "tuning" / "configs" / "demo.yaml"
    out = tmp_path / "plan.parquet"
    assert main(["plan", str(config), "--sample", "2", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    expected = resolve_plan(load_config(config))
    assert f"{len(expected)} planned trials" in text
    table = pq.read_table(out).to_pandas()
    assert table["trial_id"].tolist() == [t.trial_id for t in expected]
    first = expected[0]
    assert table.loc[0, "seed"] == first.seed
    assert table.loc[0, "hp_learning_rate"] == first.hparams["learning_rate"]
    assert table.loc[0, "tuned_learning_rate"] == first.tuned["learning_rate"]
    adam = table[table["optimizer"] == "adam"].iloc[0]
    assert adam["hp_learning_rate"] == pytest.approx(adam["tuned_learning_rate_over_epsilon"] * adam["hp_epsilon"])


@pytest.mark.parametrize(
    ("kind", "names"),
    [
        ("protocols", ["choi-full", "lr-only", "wilson2017", "deepobs2019", "playbook-adam"]),
        ("optimizers", ["sgd", "momentum", "nesterov", "rmsprop", "adam", "nadam"]),
        ("workloads", ["mnist1d-mlp"]),
    ],
)
def test_list_names_each_entry_with_a_description(capsys, kind, names):
    assert main(["list", kind]) == 0
    lines = capsys.readouterr().out.splitlines()
    listed = {line.split()[0]: line for line in lines}
    for name in names:
        assert name in listed and len(listed[name].split()) > 2


def test_missing_data_directory_is_bad_input_before_anything_runs(tmp_path, capsys):
    config = _write(tmp_path / "config.yaml", GOOD.replace(
        "[mnist1d-mlp]", f"[{{name: fashion-mnist-cnn, data_dir: {tmp_path / 'nowhere'}}}]"))
    assert main(["run", str(config), "--results", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "workloads[0]" in err and "train-images-idx3-ubyte.gz" in err
    assert not (tmp_path / "r").exists()


def test_unknown_workload_option_is_bad_input(tmp_path, capsys):
    config = _write(tmp_path / "config.yaml", GOOD.replace(
        "[mnist1d-mlp]", "[{name: mnist1d-mlp, options: {colour: blue}}]"))
    assert main(["run", str(config), "--results", str(tmp_path / "r")]) == 2
    assert "workloads[0].options" in capsys.readouterr().err


@pytest.fixture
def ranked_experiment(tmp_path, monkeypatch):
    """sgd: 4 trials, adam: 3 (one diverged) under protocol p; written by the real sink."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent / "analysis"))
    from tests.analysis.synthetic import trial, write_experiment

    return write_experiment(tmp_path / "exp", {
        ("w", "p", "sgd"): [trial(e) for e in (0.3, 0.35, 0.4, 0.32)],
        ("w", "p", "adam"): [trial(0.2), trial(0.5), trial(float("nan"), status="diverged")],
    })


def _strict_json(text: str):
    """json.loads refusing the non-standard constants Infinity, -Infinity and NaN."""
    def refuse(name: str):
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


CONTRACT_KEYS = ["budget", "select", "report", "n_resamples", "rankings"]


def test_rank_with_one_budget_prints_one_json_object(ranked_experiment, capsys):
    assert main(["rank", str(ranked_experiment), "--format", "json", "--resamples", "50", "--budget", "2"]) == 0
    payload = _strict_json(capsys.readouterr().out)
    assert list(payload) == CONTRACT_KEYS and payload["budget"] == 2
    (ranking,) = payload["rankings"]
    assert list(ranking) == ["workload", "protocol", "optimizers", "select"]
    assert list(ranking["optimizers"][0])[:6] == ["optimizer", "rank", "n_trials", "mean", "p05", "p95"]


def test_rank_with_several_budgets_shares_one_draw(ranked_experiment, capsys):
    exp = str(ranked_experiment)
    assert main(["rank", exp, "--format", "json", "--resamples", "50", "--budget", "4,1, 2"]) == 0
    payloads = _strict_json(capsys.readouterr().out)
    assert [p["budget"] for p in payloads] == [1, 2, 4] and all(list(p) == CONTRACT_KEYS for p in payloads)
    for p in payloads:  # each equals the single-budget call
        assert main(["rank", exp, "--format", "json", "--resamples", "50", "--budget", str(p["budget"])]) == 0
        assert _strict_json(capsys.readouterr().out) == p
    assert main(["rank", exp, "--format", "csv", "--resamples", "50", "--budget", "1,2,4"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["budget"] for r in rows] == ["1", "1", "2", "2", "4", "4"]  # one header, rows per budget
    assert [sorted(r["optimizer"] for r in rows[i : i + 2]) for i in (0, 2, 4)] == [["adam", "sgd"]] * 3
    assert main(["rank", exp, "--resamples", "50", "--budget", "1,4"]) == 0
    out = capsys.readouterr().out
    assert "budget K=1" in out and "budget K=4" in out


def test_rank_by_a_loss_metric_prints_strict_json(ranked_experiment, capsys):
    # adam's diverged trial scores +inf loss; a K=1 draw of it makes the mean and p95 infinite.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        code = main(["rank", str(ranked_experiment), "--format", "json", "--resamples", "200",
                     "--budget", "1", "--report", "test_loss"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "Infinity" not in captured.out and "NaN" not in captured.out
    adam = next(o for o in _strict_json(captured.out)["rankings"][0]["optimizers"] if o["optimizer"] == "adam")
    assert adam["mean"] is None and adam["p95"] is None  # +inf -> null
    assert adam["p05"] == pytest.approx(0.21) and math.isclose(sum(adam["rank_probabilities"]), 1.0)


def test_rank_budget_above_the_largest_search(ranked_experiment, capsys):
    assert main(["rank", str(ranked_experiment), "--format", "json", "--resamples", "20", "--budget", "8"]) == 0
    captured = capsys.readouterr()
    assert _strict_json(captured.out)["budget"] == 8
    assert "warning: --budget 8 exceeds the largest search (4 trials; N per search: w/p/adam: 3, w/p/sgd: 4)" in captured.err
    assert main(["rank", str(ranked_experiment), "--budget", "2,401"]) == 2
    assert "--budget 401 is more than 100x the largest search (4 trials); give a budget of at most 400" in capsys.readouterr().err


REFINE_PROTOCOL = {
    "name": "p", "schedule": "constant",
    "optimizers": {"sgd": {"learning_rate": {"min": 1.0e-3, "max": 1.0, "scaling": "log"}}},
}


@pytest.fixture
def refinable_experiment(tmp_path, monkeypatch):
    """sgd under protocol p on workload w: best trials at learning rates 0.9 and 0.1, with the
    protocol text experiment.json records (as 'optcompare run' writes it)."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent / "analysis"))
    from tests.analysis.synthetic import trial, write_experiment

    rates = ((0.2, 0.9), (0.3, 0.1), (0.5, 1e-2), (0.8, 1e-3), (0.01, 0.5))
    trials = [trial(e, tuned={"learning_rate": lr}) for e, lr in rates[:4]]
    trials.append(trial(0.01, tuned={"learning_rate": 0.5}, status="diverged"))
    path = write_experiment(
        tmp_path / "exp", {("w", "p", "sgd"): trials},
        spaces={("p", "sgd"): REFINE_PROTOCOL["optimizers"]["sgd"]},
    )
    meta = json.loads((path / "experiment.json").read_text())
    meta["protocols"] = {"p": REFINE_PROTOCOL}
    (path / "experiment.json").write_text(json.dumps(meta))
    return path


def test_refine_writes_a_protocol_that_loads_and_prints_the_ranges(refinable_experiment, tmp_path, capsys):
    from tuning.spec.protocol import load_protocol

    out = tmp_path / "refined.yaml"
    args = ["refine", str(refinable_experiment), "--protocol", "p", "--out", str(out), "--best-k", "2", "--margin", "0.5"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "sgd" in printed and "learning_rate" in printed and "upper extended" in printed
    assert f"wrote {out}" in printed
    space = load_protocol(str(out)).searches["sgd"].space["learning_rate"]
    # best two completed trials: 0.9 (at 98% of the log width: extended) and 0.1
    assert space == {"min": pytest.approx(0.1 * 10**-0.5), "max": pytest.approx(0.9 * 10**0.5), "scaling": "log"}
    assert main(args) == 2  # --out exists
    assert "--out " in capsys.readouterr().err
    assert main([*args, "--force"]) == 0


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--margin", "0"], "--margin must be a finite number > 0, got 0.0"),
        (["--best-fraction", "0"], "--best-fraction must be in (0, 1], got 0.0"),
        (["--best-fraction", "1.5"], "--best-fraction must be in (0, 1]"),
        (["--best-k", "1"], "--best-k must be an integer >= 2, got 1"),
        (["--protocol", "q"], "--protocol 'q' is not in"),
        (["--workload", "v"], "--workload 'v' is not in"),
    ],
)
def test_refine_bad_input_exits_2_and_writes_nothing(refinable_experiment, tmp_path, capsys, extra, expected):
    out = tmp_path / "refined.yaml"
    assert main(["refine", str(refinable_experiment), "--protocol", "p", "--out", str(out), *extra]) == 2
    assert expected in capsys.readouterr().err
    assert not out.exists()


def test_refine_refuses_a_grid_protocol_and_a_search_without_trials(refinable_experiment, tmp_path, capsys):
    meta_path = refinable_experiment / "experiment.json"
    meta = json.loads(meta_path.read_text())
    grid = {**REFINE_PROTOCOL, "name": "g", "search": "grid",
            "optimizers": {"sgd": {"learning_rate": {"feasible_points": [0.1, 1.0]}}}}
    meta["protocols"]["g"] = grid
    meta["searches"].append({"protocol": "p", "optimizer": "adam", "space": {}})
    meta_path.write_text(json.dumps(meta))
    out = tmp_path / "refined.yaml"
    assert main(["refine", str(refinable_experiment), "--protocol", "g", "--out", str(out)]) == 2
    assert "--protocol 'g' is a grid search" in capsys.readouterr().err
    assert main(["refine", str(refinable_experiment), "--protocol", "p", "--out", str(out)]) == 2
    assert "search w/p/adam has 0 completed trial(s)" in capsys.readouterr().err
    assert not out.exists()


def test_plan_prints_what_each_protocol_s_spaces_express(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text(
        "name: s\nworkloads: [mnist1d-mlp]\noptimizers: [sgd, momentum, adam]\n"
        "protocols: [choi-full, lr-only]\ntrials_per_search: 8\n"
    )
    assert main(["plan", str(config)]) == 0
    out = capsys.readouterr().out
    lines = out[out.index("space inclusion:"):].splitlines()
    assert lines[1:5] == [
        "  choi-full",
        "    sgd <= momentum: covered 100%",
        "    sgd <= adam: not expressible: needs one_minus_beta2 = 1 (beta2 = 0); its range is log [0.0001, 0.1]",
        "    momentum <= adam: not expressible: needs one_minus_beta2 = 1 (beta2 = 0); its range is log "
        "[0.0001, 0.1]; needs lr_ramp in [0, 0.999]; no space of adam under choi-full tunes lr_ramp (it stays "
        "at its default 0)",
    ]
    assert lines[5] == "  lr-only (narrow by design: not covering is its point)"
    assert lines[6] == "    sgd <= momentum: not expressible: needs momentum = 0; momentum fixes momentum = 0.9 under lr-only"
