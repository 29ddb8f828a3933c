"""Data-parallel trials through a real Ray: ``workers_per_trial: 2`` runs each trial as a Ray
Train job of 2 gloo workers started from its Tune trial. A 2-worker trial whose worker is killed
after a checkpoint continues from it, and its curve equals the same planned trial's trained on
one worker (by the worker's code, in the test's process) within the tolerance of tests/workloads/test_data_parallel.py, in float32 with SGD (that docstring says why
not Adam: it amplifies the reduction order's rounding into the curve); a stalled rank fails the
trial, saying so."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from analysis.load import load_table, open_experiment
from tests.workloads.ddp_runs import GLOO
from tuning.plan.resolve import resolve_plan
from tuning.plan.trial import BundleTask, WorkerSettings
from tuning.spec.config import load_config
from tuning.worker.trainable import execute_bundle

pytestmark = GLOO

LOSS_RTOL = 1e-4
"""As tests/workloads/test_data_parallel.py (its docstring gives the reasoning)."""

# Half a CPU per worker: two workers fit the shared Ray's one CPU (tests/conftest.py); each still
# trains on one torch thread (a trial's whole CPUs, at least one).
CONFIG = """name: {name}
workloads: [{{name: mnist1d-cnn, steps: 60, eval_every: 20, workers_per_trial: {workers}, checkpoint_every_s: {every}}}]
optimizers: [{optimizer}]
protocols: [{protocol}]
trials_per_search: 1
max_failures: {max_failures}
report_every_s: 0
resources: {{cpus_per_trial: 0.5}}
{plugins}
"""


def _trained_in_this_process(planned, plugin):
    """The curve of ``planned`` trained here by a trial's worker code (one torch thread, as a
    trial of one CPU; restored after), without Ray: a DataFrame of its rows by step."""
    import torch

    task = BundleTask(bundle_id="reference", members=[planned],
                      worker=WorkerSettings(report_every_s=0, threads=1, plugins=(plugin,)))
    reports: list[dict] = []
    threads = torch.get_num_threads()
    try:
        execute_bundle(task.model_dump(), reports.append)
    finally:
        torch.set_num_threads(threads)
    rows = [row for report in reports for row in report["curve"]]
    return pd.DataFrame(rows).sort_values("step").reset_index(drop=True)


def _curves(results, name):
    table = load_table(*open_experiment(str(results / name)), "curves").table.to_pandas()
    return table.sort_values(["trial_id", "attempt", "step"]).reset_index(drop=True)


@pytest.mark.slow
def test_a_killed_two_worker_trial_continues_from_rank_0_s_checkpoint_on_the_curve_of_one_worker(
    study, use_plugin, fault_dir
):
    # The same planned trial (killer-sgd: SGD, so float32 rounding is not amplified) trained in
    # this process on one worker, as a trial's worker trains it (not killed: the marker exists),
    # and in a two-worker study whose worker is killed at step 40, after its first checkpoints.
    module = use_plugin("killer_sgd")
    config = study.write("w2.yaml", CONFIG.format(
        name="w2", workers=2, every=0.05, optimizer="killer-sgd", protocol="lr-only",
        plugins=f"plugins: [{module}]", max_failures=2,
    ))
    (planned,) = resolve_plan(load_config(config))
    (fault_dir / "killed").touch()
    one = _trained_in_this_process(planned.model_copy(update={"workers": 1}), module)
    (fault_dir / "killed").unlink()
    ran = study.run(config)
    assert "trials: 1/1 finished (1 completed" in ran.out, ran.out
    assert (fault_dir / "killed").exists()
    (row,) = ran.trials.to_dict("records")
    # The plugin kills one worker once (its marker). In 2 of 4 suite runs of 2026-12-07 a second
    # attempt's worker also died unexpectedly ("Worker unexpectedly exits with a connection error
    # code 2", its peer's gloo "Connection reset by peer"), cause not found (docs/decisions.md);
    # so the study allows one more attempt, and the test checks the last one: it continued from
    # a checkpoint, on the curve of one worker.
    assert row["attempt"] >= 1 and 0 < row["resumed_from_step"] < 60
    assert planned.hparams["learning_rate"] == row["hp_learning_rate"] and planned.seed == row["seed"]
    two = _curves(study.results, "w2")
    two = two[two["attempt"] == row["attempt"]].reset_index(drop=True)
    assert list(one["step"]) == list(two["step"]) == [20, 40, 60]  # the whole curve, no step twice
    assert one["train_loss"].iloc[-1] < one["train_loss"].iloc[0]  # it trains
    for column in ("train_loss", "val_loss", "test_loss"):
        for a, b in zip(one[column], two[column], strict=True):
            assert math.isclose(a, b, rel_tol=LOSS_RTOL), (column, a, b)
    for column in ("val_error", "test_error"):
        assert (abs(one[column] - two[column]) <= 1 / 1000 + 1e-12).all(), column  # one example of 1000
    assert not list((study.results / "w2" / "_tune").rglob("checkpoint_*/state.pt"))  # deleted at the end


@pytest.mark.slow
def test_a_stalled_data_parallel_trial_is_failed_saying_it_stalled(study, use_plugin):
    # One attempt: a stalled trial's retry is tested in one worker (tests/integration/test_limits.py)
    # and a data-parallel trial's retry after a killed worker above; what is particular here is
    # that a stalled rank of a Train run is noticed, ends the run and is recorded.
    ran = study.run(study.config(
        "hang", plugins=[use_plugin("hanging_sgd")],
        workload={"name": "mnist1d-cnn", "steps": 50, "eval_every": 10, "stall_timeout_s": 2, "workers_per_trial": 2},
        optimizers=["hanging-sgd"], max_failures=0, report_every_s=0, resources={"cpus_per_trial": 0.5},
    ))
    out, trials = ran.out, ran.trials
    assert "trials: 1/1 finished (0 completed, 0 diverged, 1 failed)" in out, out
    (row,) = trials.to_dict("records")
    assert row["status"] == "failed" and row["attempt"] == 0  # its workers hang at step 5
    assert "stalled: no training step for " in row["error"] and "after step 4" in row["error"], row["error"]
    assert not list((study.results / "hang" / "_tune").rglob("STALLED"))  # its Train runs went with the row
