"""The six library optimizers (optimizers/library.py) through ``optcompare run`` on every
embedded workload, under ``modern-wide`` (cosine decay; schedule-free-adamw constant through
``schedules:``): every trial completes, with its schedule's hyperparameters recorded. And a
decaying schedule for Schedule-Free is exit 2 before Ray starts."""

from __future__ import annotations

import pytest

from optcompare.cli import main
from tests.integration.scaffold import study_yaml

LIBRARY = ["adamw", "nadamw", "lion", "muon", "schedule-free-adamw", "soap"]
EMBEDDED = ["mnist1d-mlp", "mnist1d-cnn", "digits-cnn", "tinytext-lstm"]


@pytest.mark.slow
def test_every_library_optimizer_runs_on_every_embedded_workload(study):
    config = study.write("lib.yaml", study_yaml(
        "lib", workloads=[{"name": w, "steps": 8, "eval_every": 4} for w in EMBEDDED],
        optimizers=LIBRARY, protocols=["modern-wide"], trials=1, report_every_s=0, max_failures=0,
    ))
    ran = study.run(config)
    trials = ran.trials
    assert f"trials: {len(LIBRARY) * len(EMBEDDED)}/{len(LIBRARY) * len(EMBEDDED)} finished" in ran.out, ran.out
    assert sorted(zip(trials["workload"], trials["optimizer"], strict=True)) == sorted(
        (w, o) for w in EMBEDDED for o in LIBRARY)
    assert set(trials["status"]) <= {"completed", "diverged"}, trials[["workload", "optimizer", "status", "error"]]
    assert (trials["total_steps"] > 0).all()
    free = trials[trials["optimizer"] == "schedule-free-adamw"]
    assert free["hp_decay_factor"].isna().all() and free["hp_warmup_steps_factor"].notna().all()
    others = trials[trials["optimizer"] != "schedule-free-adamw"]
    assert others["hp_decay_factor"].notna().all()


def test_schedule_free_under_a_decaying_schedule_is_exit_2_naming_the_fix(tmp_path, capsys):
    config = tmp_path / "free.yaml"
    config.write_text(study_yaml("free", optimizers=["schedule-free-adamw"], protocols=["lr-only"]))
    assert main(["run", str(config), "--results", str(tmp_path / "r"), "--quiet"]) == 2  # before Ray starts
    err = " ".join(capsys.readouterr().err.split())
    assert "averages its iterates in place of a decaying schedule" in err
    assert "schedules: {schedule-free-adamw: constant}" in err
    assert not (tmp_path / "r").exists()


def test_plan_warns_when_a_config_does_not_follow_the_ruleset_s_budget(tmp_path, capsys):
    config = tmp_path / "ap.yaml"
    config.write_text(study_yaml("ap", optimizers=["adamw"], protocols=["algoperf-external"], trials=4))
    assert main(["plan", str(config)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert ("warning: protocol 'algoperf-external' follows a ruleset of 5 trials per study and 3 studies, "
            "this config runs 4 and 1") in out
    assert "set trials_per_search: 5 and studies: 3 to follow it" in out
    config.write_text(study_yaml("ap", optimizers=["adamw"], protocols=["algoperf-external"], trials=5, studies=3))
    assert main(["plan", str(config)]) == 0
    assert "follows a ruleset" not in capsys.readouterr().out
