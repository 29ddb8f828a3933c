"""The worker-side bundle runner, without Ray: batched reports, per-trial rows and summaries."""

from __future__ import annotations

import pydantic
import pytest

from tuning.worker.trainable import execute_bundle


def _member(index: int = 0, **over):
    member = {
        "trial_id": f"mnist1d-mlp/p/sgd/{index:05d}", "workload": "mnist1d-mlp", "protocol": "p",
        "optimizer": "sgd", "trial_index": index, "seed": index, "tuned": {},
        "hparams": {"learning_rate": 0.05, "weight_decay": 0.0}, "schedule": "constant",
        "schedule_params": {}, "steps": 40, "eval_every": 10, "data_dir": None,
    }
    member.update(over)
    return member


def _config(members, **worker):
    return {"bundle_id": "bundle-000000", "members": members, "worker": {"threads": 1, **worker}}


def test_rows_are_batched_into_one_final_report_when_reports_are_rare():
    reports = []
    finals = execute_bundle(_config([_member()], report_every_s=3600), reports.append)
    assert len(reports) == 1
    assert reports[0]["final"] is True and reports[0]["finals"] == finals
    assert [r["step"] for r in reports[0]["curve"]] == [10, 20, 30, 40]
    assert {r["trial_id"] for r in reports[0]["curve"]} == {"mnist1d-mlp/p/sgd/00000"}
    summary = finals["mnist1d-mlp/p/sgd/00000"]
    assert summary["status"] == "completed" and summary["total_steps"] == 40


def test_every_row_is_reported_once_when_reports_are_frequent():
    reports = []
    execute_bundle(_config([_member()], report_every_s=0), reports.append)
    steps = [r["step"] for rep in reports for r in rep["curve"]]
    assert steps == [10, 20, 30, 40]
    assert [bool(rep.get("final")) for rep in reports][-1] is True
    assert sum(bool(rep.get("final")) for rep in reports) == 1


def test_a_bundle_reports_each_member_and_a_diverged_member_before_the_end():
    members = [_member(0), _member(1, hparams={"learning_rate": 1e4, "weight_decay": 0.0}), _member(2)]
    reports = []
    finals = execute_bundle(_config(members, report_every_s=0), reports.append)
    assert set(finals) == {m["trial_id"] for m in members}
    assert finals[members[1]["trial_id"]]["status"] == "diverged"
    first_final = next(i for i, rep in enumerate(reports) if rep.get("finals"))
    assert list(reports[first_final]["finals"]) == [members[1]["trial_id"]]  # reported when it stopped
    assert not reports[first_final].get("final")
    rows = [r for rep in reports for r in rep["curve"]]
    for m in (members[0], members[2]):
        assert [r["step"] for r in rows if r["trial_id"] == m["trial_id"]] == [10, 20, 30, 40]
    assert sum(len(rep.get("finals", {})) for rep in reports) == 3


def test_a_member_is_read_as_a_planned_trial_and_a_malformed_one_is_refused():
    member = _member()
    del member["steps"]
    with pytest.raises(pydantic.ValidationError, match="steps"):
        execute_bundle(_config([member]), lambda report: None)
    with pytest.raises(pydantic.ValidationError, match="epochs"):
        execute_bundle(_config([_member(epochs=3)]), lambda report: None)
    # Settings the worker does not know are refused too: driver and worker share one model.
    with pytest.raises(pydantic.ValidationError, match="report_every"):
        execute_bundle(_config([_member()], report_every=1), lambda report: None)
