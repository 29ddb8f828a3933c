"""Results users already have: a small experiment written by optcompare at commit c8d4b3f (the
last release before the layering and analysis-anchor work; tests/data/experiment-c8d4b3f, 16
trials of mnist1d-mlp, sgd and momentum under choi-two-stage and lr-only, 40 steps each) still
ranks, reports, answers queries and resumes to the same plan under this version.

Written with (from a checkout of that commit): ``optcompare run CONFIG --name tiny`` of the
config recorded in its experiment.json (``config``); Ray Tune's ``_tune`` folder left out."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from analysis.report_data import analyse
from optcompare.cli import main
from tuning.commands.resume import load_resume_state
from tuning.plan.resolve import resolve_plan
from tuning.store.experiment import plan_digest

FIXTURE = Path(__file__).resolve().parent / "data" / "experiment-c8d4b3f"


@pytest.fixture
def experiment(tmp_path) -> str:
    copy = tmp_path / "tiny"
    shutil.copytree(FIXTURE, copy)
    return str(copy)


def test_rank_and_query_read_it(experiment, capsys):
    assert main(["rank", experiment, "--format", "json", "--resamples", "50"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["budget"] == 2  # choi-two-stage's final stage: 2 of 4 trials per search
    assert document["select"] == {"choi-two-stage": "val_error", "lr-only": "val_error"}
    assert {(r["protocol"], len(r["optimizers"])) for r in document["rankings"]} == {
        ("choi-two-stage", 2), ("lr-only", 2)
    }
    assert main(["query", experiment, "select phase, count(*) as n from trials group by phase", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"phase": "search", "n": 16}]


def test_the_report_keeps_the_target_it_recorded(experiment):
    data = analyse(experiment, n_resamples=50)
    assert {s.target for s in data.speed} == {0.5}  # mnist1d-mlp's target then, not today's
    assert {(v.protocol, v.narrow, v.wide) for v in data.hierarchy.verdicts} == {
        ("choi-two-stage", "sgd", "momentum"), ("lr-only", "sgd", "momentum")
    }
    assert data.lost_ground is not None  # the diagnostic runs on an experiment without reruns


def test_resume_re_derives_the_plan_and_the_refined_spaces_and_keeps_the_target(experiment):
    record = json.loads((Path(experiment) / "experiment.json").read_text())
    state = load_resume_state(experiment)  # raises if a refined space re-derives differently
    assert state.pending == [] and state.finished == 16
    assert state.refined == record["refined"]
    # resume refuses a plan whose digest differs; here it is recomputed and compared directly
    assert plan_digest(resolve_plan(state.config)) == record["plan_digest"]
    assert state.config.workloads[0].target_value == 0.5
