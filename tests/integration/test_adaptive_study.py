"""An adaptive (TPE) search end to end through a real in-process Ray, with one slot: a study
stopped after three trials and resumed asks the points the uninterrupted study asked."""

from __future__ import annotations

import json

import pytest

PROTOCOL = """name: tpe
schedule: constant
search: tpe
sampler_options: {n_startup_trials: 2}
optimizers:
  sgd: {learning_rate: {min: 1.0e-3, max: 1.0, scaling: log}}
"""

CONFIG = """name: {name}
workloads:
  - {{name: mnist1d-mlp, steps: 30, eval_every: 30}}
optimizers: [sgd]
protocols: [tpe.yaml]
trials_per_search: {trials}
seed: 7
resources: {{cpus_per_trial: 1, max_concurrent_trials: 1}}
"""


@pytest.mark.slow
def test_a_resumed_tpe_study_asks_what_the_uninterrupted_one_asked(study):
    study.write("tpe.yaml", PROTOCOL)
    ran = study.run(study.write("whole.yaml", CONFIG.format(name="whole", trials=6)))
    out, uninterrupted = ran.out, ran.trials
    assert "tpe (adaptive, tpe): 1 search x 6 trials = 6, asked as slots free" in out
    assert "trials: 6/6 finished" in out

    # The "stopped" study: the same search run for three trials, then given its full budget.
    experiment = study.run(study.write("part.yaml", CONFIG.format(name="part", trials=3))).experiment
    record = json.loads((experiment / "experiment.json").read_text())
    record["config"]["trials_per_search"] = record["trials_per_search"] = 6
    (experiment / "experiment.json").write_text(json.dumps(record))
    resumed = study.resume("part").trials

    columns = ["trial_id", "trial_index", "seed", "tuned_learning_rate", "hp_learning_rate", "stage", "phase"]
    whole_rows = uninterrupted.sort_values("trial_index")[columns].reset_index(drop=True)
    resumed_rows = resumed.sort_values("trial_index")[columns].reset_index(drop=True)
    assert whole_rows["trial_index"].tolist() == list(range(6))
    assert (whole_rows["stage"] == "final").all() and (whole_rows["phase"] == "search").all()
    assert whole_rows.equals(resumed_rows)
