"""A tiny study end to end through a real in-process Ray: plan -> Tune -> Parquet -> rank."""

from __future__ import annotations

import json
from dataclasses import replace

import pyarrow.parquet as pq
import pytest

from analysis.load import load_experiment, load_table, open_experiment
from optcompare.cli import main

CONFIG = """name: tiny
workloads:
  - {name: mnist1d-mlp, steps: 60, eval_every: 20}
optimizers: [sgd, adam]
protocols: [choi-full, lr-only]
trials_per_search: 3
seed: 1
resources: {cpus_per_trial: 1}
report_every_s: 0
"""


@pytest.mark.slow
def test_tiny_study_through_ray(study, capsys):
    ran = study.run(study.write("tiny.yaml", CONFIG))
    out = ran.out
    assert "trials: 12/12 finished" in out
    # One warning per pair choi-full does not cover (sgd <= adam needs beta2 = 0); none for
    # lr-only, narrow by design. experiment.json records the check of both.
    warnings = [line for line in ran.err.splitlines() if line.startswith("optcompare: warning: ")]
    assert warnings == [
        "optcompare: warning: choi-full: adam cannot imitate sgd: needs one_minus_beta2 = 1 (beta2 = 0); "
        "its range is log [0.0001, 0.1]"
    ]
    assert 0 < float(out.split("training fraction ")[1].split()[0]) <= 1
    experiment = study.experiment("tiny")

    meta, loaded = load_experiment(str(experiment))
    assert meta["plan_size"] == 12 and meta["versions"]["torch"].startswith("2.")
    assert [(c["protocol"], c["narrow"], c["wide"], c["status"], c["narrow_by_design"]) for c in meta["space_inclusion"]] == [
        ("choi-full", "sgd", "adam", "not expressible", False), ("lr-only", "sgd", "adam", "not expressible", True)
    ]
    assert loaded.skipped == []
    trials = loaded.table.to_pandas()
    assert len(trials) == 12 and trials["trial_id"].is_unique
    assert set(trials["status"]) <= {"completed", "diverged"}
    assert set(trials["attempt"]) == {0}
    assert sorted(trials.groupby(["protocol", "optimizer"]).size().tolist()) == [3, 3, 3, 3]
    adam = trials[trials["optimizer"] == "adam"]
    assert {"hp_learning_rate", "hp_beta1", "hp_beta2", "hp_epsilon", "hp_decay_factor"} <= set(adam.columns)
    choi = adam[adam["protocol"] == "choi-full"]
    assert choi["tuned_one_minus_beta1"].notna().all()
    assert (1 - choi["tuned_one_minus_beta1"] - choi["hp_beta1"]).abs().max() < 1e-12
    lr_only = adam[adam["protocol"] == "lr-only"]
    assert lr_only["tuned_one_minus_beta1"].isna().all() and lr_only["tuned_learning_rate"].notna().all()
    assert adam["hp_beta1"].notna().all()

    # report_every_s: 0 makes every evaluation its own report; all rows arrive, once each.
    curves = load_table(*open_experiment(str(experiment)), "curves").table.to_pandas()
    completed = trials[trials["status"] == "completed"]
    for _, row in completed.iterrows():
        steps = curves.loc[curves["trial_id"] == row["trial_id"], "step"].tolist()
        assert sorted(steps) == [20, 40, 60]
        last = curves[(curves["trial_id"] == row["trial_id"]) & (curves["step"] == 60)].iloc[0]
        assert last["val_error"] == row["final_val_error"]
        assert last["test_error"] == row["final_test_error"]

    # Files are hive-partitioned parquet and no temporary file is left behind.
    parts = list((experiment / "trials").rglob("*"))
    assert not [p for p in parts if p.name.startswith(".")]
    some = next(p for p in parts if p.suffix == ".parquet")
    assert some.parent.name.startswith("optimizer=") and "protocol=" in str(some)
    assert "trial_id" in pq.read_schema(some).names

    assert main(["rank", str(experiment), "--format", "json", "--resamples", "200"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["budget"] == 3 and payload["report"] == "test_error"
    assert payload["select"] == {"choi-full": "val_error", "lr-only": "val_error"}  # each protocol's recorded one
    assert {(r["workload"], r["protocol"]) for r in payload["rankings"]} == {
        ("mnist1d-mlp", "choi-full"), ("mnist1d-mlp", "lr-only")
    }
    for ranking in payload["rankings"]:
        scores = ranking["optimizers"]
        assert [s["rank"] for s in scores] == [1, 2]
        assert scores[0]["mean"] <= scores[1]["mean"]
        assert all(s["p05"] <= s["mean"] <= s["p95"] for s in scores)


@pytest.mark.slow
def test_plugin_optimizer_runs_in_ray_workers(study, user_plugin):
    ran = study.run(study.config(
        "plug", plugins=[user_plugin], workload={"name": "mnist1d-mlp", "steps": 40, "eval_every": 20},
        optimizers=["plain-adagrad"], trials=2, report_every_s=0,
    ))
    out, trials = ran.out, ran.trials
    assert "trials: 2/2 finished (2 completed" in out
    assert set(trials["optimizer"]) == {"plain-adagrad"}
    assert trials["hp_epsilon"].between(1e-10, 1e-6).all()


@pytest.mark.slow
def test_best_trial_is_rerun_with_new_seeds_through_ray(study):
    study.write(
        "mini-deepobs.yaml",
        "name: mini-deepobs\nschedule: constant\nsearch: grid\nrerun_best: {seeds: 2}\n"
        "optimizers:\n  sgd:\n    learning_rate: {min: 1.0e-3, max: 1.0e-1, scaling: log, num: 3}\n",
    )
    ran = study.run(study.config(
        "rr", workload={"name": "mnist1d-mlp", "steps": 40, "eval_every": 20}, protocols=["mini-deepobs.yaml"],
    ))
    out, trials = ran.out, ran.trials
    assert "trials: 5/5 finished" in out
    trials = trials.sort_values("trial_index")
    assert trials["trial_index"].tolist() == [0, 1, 2, 3, 4]
    assert trials["phase"].tolist() == ["search"] * 3 + ["rerun"] * 2
    search = trials[trials["phase"] == "search"]
    best = search.loc[search["final_val_error"].idxmin()]
    reruns = trials[trials["phase"] == "rerun"]
    assert (reruns["hp_learning_rate"] == best["hp_learning_rate"]).all()
    assert reruns["seed"].nunique() == 2 and best["seed"] not in set(reruns["seed"])


@pytest.mark.slow
def test_plan_runs_in_chunks_with_reruns_across_them(tmp_path, shared_ray):
    from tuning.driver.ray_env import RayTarget
    from tuning.driver.run_study import run_study
    from tuning.driver.study_options import StudyOptions
    from tuning.plan.resolve import resolve_plan
    from tuning.spec.config import parse_config

    (tmp_path / "grid.yaml").write_text(
        "name: grid\nschedule: constant\nsearch: grid\nrerun_best: {seeds: 2}\n"
        "optimizers:\n  sgd:\n    learning_rate: {min: 1.0e-3, max: 1.0e-1, scaling: log, num: 4}\n"
    )
    raw = {"name": "chunks", "workloads": [{"name": "mnist1d-mlp", "steps": 20, "eval_every": 20}],
           "optimizers": ["sgd"], "protocols": ["grid.yaml", "lr-only"], "trials_per_search": 3}
    config = parse_config(raw, "test", tmp_path)
    plan = resolve_plan(config)  # 4 grid + 3 lr-only = 7 trials, then 2 reruns
    options = StudyOptions.from_config(config, ray=RayTarget(num_cpus=2), progress=False)
    summary = run_study(plan, str(tmp_path / "r"), replace(options, trials_per_fit=3))
    assert summary.finished == 9 and summary.failed == 0
    trials = load_table(*_local(tmp_path / "r"), "trials").table.to_pandas()
    assert len(trials) == 9 and trials["trial_id"].is_unique
    assert sorted(trials.loc[trials["phase"] == "rerun", "trial_index"]) == [4, 5]
    assert len(list((tmp_path / "r" / "_tune").iterdir())) >= 3  # one Tune run per chunk


def _local(path):
    from pyarrow import fs as pafs

    return pafs.LocalFileSystem(), str(path)


@pytest.mark.slow
def test_fractional_gpus_pack_trials_and_concurrency_caps_them(tmp_path, own_ray):
    """On a (simulated) 1-GPU, 2-CPU node, gpus_per_trial 0.25 with cpus_per_trial 0.5 runs 4
    trials at once; max_concurrent_trials: 1 runs them one by one."""
    import ray

    from tuning.driver.ray_internals import local_ray_setup
    from tuning.driver.run_study import run_study
    from tuning.driver.study_options import StudyOptions
    from tuning.plan.resolve import resolve_plan
    from tuning.spec.config import parse_config

    raw = {"name": "gpu", "workloads": [{"name": "mnist1d-mlp", "steps": 20, "eval_every": 20}],
           "optimizers": ["sgd"], "protocols": ["lr-only"], "trials_per_search": 4,
           "resources": {"cpus_per_trial": 0.5, "gpus_per_trial": 0.25}}
    with local_ray_setup():  # on 127.0.0.1, as a study's own Ray
        ray.init(address="local", num_cpus=2, num_gpus=1, include_dashboard=False)
    try:
        config = parse_config(raw, "test", tmp_path)
        options = StudyOptions.from_config(config, progress=False)
        summary = run_study(resolve_plan(config), str(tmp_path / "a"), options)
        assert summary.slots == 4 and summary.finished == 4 and summary.failed == 0
        raw["resources"]["max_concurrent_trials"] = 1
        config = parse_config(raw, "test", tmp_path)
        options = StudyOptions.from_config(config, progress=False)
        summary = run_study(resolve_plan(config), str(tmp_path / "b"), options)
        assert summary.slots == 1 and summary.finished == 4
    finally:
        ray.shutdown()


@pytest.mark.slow
def test_demo_command_end_to_end(tmp_path, capsys, monkeypatch, shared_ray):
    """`optcompare demo` (what `make demo` runs) on a tiny stand-in config: a ranking, the run
    summary and the HTML report, all from one command."""
    import optcompare.demo as demo

    config = tmp_path / "demo.yaml"
    config.write_text(CONFIG.replace("name: tiny", "name: demo").replace("trials_per_search: 3", "trials_per_search: 2"))
    shipped = demo.demo_config_path
    monkeypatch.setattr(demo, "demo_config_path", lambda name="demo": config if name == "demo" else shipped(name))
    results = tmp_path / "results"
    assert main(["demo", "--results", str(results), "--name", "d", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "trials: 8/8 finished" in out
    fraction = float(out.split("training fraction ")[1].split()[0])
    assert 0 < fraction <= 1
    assert "choi-full" in out and "lr-only" in out and "adam" in out and "sgd" in out
    assert (results / "d" / "report" / "index.html").is_file()
    assert "optcompare rank" in out
    # The verdicts follow the ranking, one line per (workload, protocol) at least; any violation
    # comes with its evidence and the commands to try next.
    assert "inclusion verdicts at K=2 " in out or "inclusion verdicts: none checked" in out
    if " violated in " in out:
        assert " levels per coordinate" in out and f"optcompare refine {results / 'd'} --protocol" in out
        assert "optcompare run " in out and "reproduce.yaml" in out
    assert main(["rank", str(results / "d"), "--format", "json"]) == 0
    assert {p["protocol"] for p in json.loads(capsys.readouterr().out)["rankings"]} == {"choi-full", "lr-only"}
