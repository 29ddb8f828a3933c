"""Data-parallel trials through a real Ray: ``workers_per_trial: 2`` runs each trial as a Ray
Train job of 2 gloo workers started from its Tune trial. Its curves equal the one-worker
study's within the tolerance of tests/workloads/test_data_parallel.py, in float32 with SGD (that
docstring says why not Adam: it amplifies the reduction order's rounding into the curve); a
2-worker trial whose worker is killed after a checkpoint continues from it."""

from __future__ import annotations

import math

import pytest

from analysis.load import load_table, open_experiment

LOSS_RTOL = 1e-4
"""As tests/workloads/test_data_parallel.py (its docstring gives the reasoning)."""

CONFIG = """name: {name}
workloads: [{{name: mnist1d-cnn, steps: 60, eval_every: 20, workers_per_trial: {workers}, checkpoint_every_s: {every}}}]
optimizers: [{optimizer}]
protocols: [{protocol}]
trials_per_search: 1
max_failures: 1
report_every_s: 0
{plugins}
"""

FIXED_SGD = "name: fixed-sgd\nschedule: constant\noptimizers:\n  sgd: {learning_rate: 0.1}\n"
"""One trial of SGD at a learning rate that trains mnist1d-cnn in 60 steps."""


def _curves(results, name):
    table = load_table(*open_experiment(str(results / name)), "curves").table.to_pandas()
    return table.sort_values(["trial_id", "attempt", "step"]).reset_index(drop=True)


@pytest.mark.slow
def test_two_workers_per_trial_train_the_curves_of_one(study):
    study.write("fixed-sgd.yaml", FIXED_SGD)
    frames = {}
    for workers in (1, 2):
        name = f"w{workers}"
        ran = study.run(study.write(f"{name}.yaml", CONFIG.format(
            name=name, workers=workers, every=600, optimizer="sgd", protocol="fixed-sgd.yaml", plugins="",
        )))
        out, trials = ran.out, ran.trials
        assert "trials: 1/1 finished (1 completed" in out, out
        assert set(trials["status"]) == {"completed"} and set(trials["attempt"]) == {0}
        frames[workers] = _curves(study.results, name)
    one, two = frames[1], frames[2]
    assert list(one["trial_id"]) == list(two["trial_id"]) and list(one["step"]) == list(two["step"])
    assert len(one) == 3 and one["train_loss"].iloc[-1] < one["train_loss"].iloc[0]  # it trains
    for column in ("train_loss", "val_loss", "test_loss"):
        for a, b in zip(one[column], two[column], strict=True):
            assert math.isclose(a, b, rel_tol=LOSS_RTOL), (column, a, b)
    for column in ("val_error", "test_error"):
        assert (abs(one[column] - two[column]) <= 1 / 1000 + 1e-12).all(), column  # one example of 1000


@pytest.mark.slow
def test_a_killed_data_parallel_trial_continues_from_its_rank_0_checkpoint(study, use_plugin, fault_dir):
    module = use_plugin("killer_sgd")
    ran = study.run(study.write("k.yaml", (
        CONFIG.format(name="killed", workers=2, every=0.05, optimizer="killer-sgd", protocol="lr-only",
                      plugins=f"plugins: [{module}]")
    )))
    out, trials = ran.out, ran.trials
    assert (fault_dir / "killed").exists() and "trials: 1/1 finished (1 completed" in out, out
    (row,) = trials.to_dict("records")
    assert row["attempt"] == 1 and 0 < row["resumed_from_step"] < 40
    curves = _curves(study.results, "killed")
    retried = curves[curves["attempt"] == 1]
    assert list(retried["step"]) == [20, 40, 60]  # the whole curve, no step twice
    assert not list((study.results / "killed" / "_tune").rglob("checkpoint_*/state.pt"))  # deleted at the end


@pytest.mark.slow
def test_a_stalled_data_parallel_trial_is_failed_saying_it_stalled(study, use_plugin):
    # One attempt: a stalled trial's retry is tested in one worker (tests/integration/test_limits.py)
    # and a data-parallel trial's retry after a killed worker above; what is particular here is
    # that a stalled rank of a Train run is noticed, ends the run and is recorded.
    ran = study.run(study.config(
        "hang", plugins=[use_plugin("hanging_sgd")],
        workload={"name": "mnist1d-cnn", "steps": 50, "eval_every": 10, "stall_timeout_s": 2, "workers_per_trial": 2},
        optimizers=["hanging-sgd"], max_failures=0, report_every_s=0,
    ))
    out, trials = ran.out, ran.trials
    assert "trials: 1/1 finished (0 completed, 0 diverged, 1 failed)" in out, out
    (row,) = trials.to_dict("records")
    assert row["status"] == "failed" and row["attempt"] == 0  # its workers hang at step 5
    assert "stalled: no training step for " in row["error"] and "after step 4" in row["error"], row["error"]
    assert not list((study.results / "hang" / "_tune").rglob("STALLED"))  # its Train runs went with the row
