"""Data-parallel trials through a real Ray: ``workers_per_trial: 2`` runs each trial as a Ray
Train job of 2 gloo workers started from its Tune trial. Its curves equal the one-worker
study's within the tolerance of tests/workloads/test_data_parallel.py (float32 reduction
order); a 2-worker trial whose worker is killed after a checkpoint continues from it."""

from __future__ import annotations

import math

import pytest
from killer_plugin import KILL_PLUGIN

from analysis.load import load_table, open_experiment

LOSS_RTOL = 1e-4
"""As tests/workloads/test_data_parallel.py (its docstring gives the reasoning)."""

CONFIG = """name: {name}
workloads: [{{name: mnist1d-cnn, steps: 60, eval_every: 20, workers_per_trial: {workers}, checkpoint_every_s: {every}}}]
optimizers: [{optimizer}]
protocols: [lr-only]
trials_per_search: 2
max_failures: 1
report_every_s: 0
{plugins}
"""



def _curves(results, name):
    table = load_table(*open_experiment(str(results / name)), "curves").table.to_pandas()
    return table.sort_values(["trial_id", "attempt", "step"]).reset_index(drop=True)


@pytest.mark.slow
def test_two_workers_per_trial_train_the_curves_of_one(tmp_path, run_config_file):
    config = tmp_path / "c.yaml"
    frames = {}
    for workers in (1, 2):
        name = f"w{workers}"
        config.write_text(CONFIG.format(name=name, workers=workers, every=600, optimizer="adam", plugins=""))
        out, trials = run_config_file(config, name)
        assert "trials: 2/2 finished (2 completed" in out, out
        assert set(trials["status"]) == {"completed"} and set(trials["attempt"]) == {0}
        frames[workers] = _curves(tmp_path / "r", name)
    one, two = frames[1], frames[2]
    assert list(one["trial_id"]) == list(two["trial_id"]) and list(one["step"]) == list(two["step"])
    assert len(one) == 2 * 3
    for column in ("train_loss", "val_loss", "test_loss"):
        for a, b in zip(one[column], two[column], strict=True):
            assert math.isclose(a, b, rel_tol=LOSS_RTOL), (column, a, b)
    for column in ("val_error", "test_error"):
        assert (abs(one[column] - two[column]) <= 1 / 1000 + 1e-12).all(), column  # one example of 1000


@pytest.mark.slow
def test_a_killed_data_parallel_trial_continues_from_its_rank_0_checkpoint(
    tmp_path, install_plugin, monkeypatch, run_config_file
):
    module = install_plugin("optcompare_ddp_kill_plugin", KILL_PLUGIN)
    faults = tmp_path / "faults"
    faults.mkdir()
    monkeypatch.setenv("OPTCOMPARE_FAULT_DIR", str(faults))
    config = tmp_path / "k.yaml"
    config.write_text(
        CONFIG.format(name="killed", workers=2, every=0.05, optimizer="killer-sgd", plugins=f"plugins: [{module}]")
        .replace("trials_per_search: 2", "trials_per_search: 1")
    )
    out, trials = run_config_file(config, "killed")
    assert (faults / "killed").exists() and "trials: 1/1 finished (1 completed" in out, out
    (row,) = trials.to_dict("records")
    assert row["attempt"] == 1 and 0 < row["resumed_from_step"] < 40
    curves = _curves(tmp_path / "r", "killed")
    retried = curves[curves["attempt"] == 1]
    assert list(retried["step"]) == [20, 40, 60]  # the whole curve, no step twice
    assert not list((tmp_path / "r" / "killed" / "_tune").rglob("checkpoint_*/state.pt"))  # deleted at the end


@pytest.mark.slow
def test_a_stalled_data_parallel_trial_is_retried_and_failed_saying_it_stalled(tmp_path, install_plugin, run_config_file):
    from test_limits import HANG_PLUGIN

    module = install_plugin("optcompare_ddp_hang_plugin", HANG_PLUGIN)
    config = tmp_path / "hang.yaml"
    config.write_text(
        f"name: hang\nplugins: [{module}]\n"
        "workloads: [{name: mnist1d-cnn, steps: 50, eval_every: 10, stall_timeout_s: 2, workers_per_trial: 2}]\n"
        "optimizers: [hanging-sgd]\nprotocols: [lr-only]\ntrials_per_search: 1\nmax_failures: 1\nreport_every_s: 0\n"
    )
    out, trials = run_config_file(config, "hang")
    assert "trials: 1/1 finished (0 completed, 0 diverged, 1 failed)" in out, out
    (row,) = trials.to_dict("records")
    assert row["status"] == "failed" and row["attempt"] == 1  # every attempt's workers hang at step 5
    assert "stalled: no training step for " in row["error"] and "after step 4" in row["error"], row["error"]
    assert not list((tmp_path / "r" / "hang" / "_tune").rglob("STALLED"))  # its Train runs went with the row
