"""The worker-side trial runner, without Ray: batched reports and the final summary."""

from __future__ import annotations

from tuning.trainable import execute_trial


def _config(**over):
    config = {
        "trial_id": "mnist1d-mlp/p/sgd/00000", "workload": "mnist1d-mlp", "protocol": "p",
        "optimizer": "sgd", "trial_index": 0, "seed": 0, "tuned": {},
        "hparams": {"learning_rate": 0.05, "weight_decay": 0.0}, "schedule": "constant",
        "schedule_params": {}, "steps": 40, "eval_every": 10, "data_dir": None,
        "threads": 1,
    }
    config.update(over)
    return config


def test_rows_are_batched_into_one_final_report_when_reports_are_rare():
    reports = []
    summary = execute_trial(_config(report_every_s=3600), reports.append)
    assert len(reports) == 1
    assert reports[0]["final"] is True and reports[0]["summary"] == summary
    assert [r["step"] for r in reports[0]["curve"]] == [10, 20, 30, 40]
    assert summary["status"] == "completed" and summary["total_steps"] == 40


def test_every_row_is_reported_once_when_reports_are_frequent():
    reports = []
    execute_trial(_config(report_every_s=0), reports.append)
    steps = [r["step"] for rep in reports for r in rep["curve"]]
    assert steps == [10, 20, 30, 40]
    assert [bool(rep.get("final")) for rep in reports][-1] is True
    assert sum(bool(rep.get("final")) for rep in reports) == 1
