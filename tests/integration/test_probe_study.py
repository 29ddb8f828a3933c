"""Inclusion probes end to end through a real in-process Ray: sgd <= momentum under lr-only."""

from __future__ import annotations

import pytest

CONFIG = """name: probes
workloads:
  - {name: mnist1d-mlp, steps: 20, eval_every: 10}
optimizers: [sgd, momentum]
protocols: [lr-only]
trials_per_search: 2
seed: 2
resources: {cpus_per_trial: 1}
probes: true
"""


@pytest.mark.slow
def test_a_study_with_probes_trains_the_imitation_of_the_narrow_best(study):
    ran = study.run(study.write("probes.yaml", CONFIG))
    out, trials = ran.out, ran.trials
    assert "trials: 5/5 finished" in out
    probes = trials[trials["phase"] == "probe"]
    assert len(probes) == 1
    probe = probes.iloc[0]
    assert (probe["optimizer"], probe["trial_id"]) == ("momentum", "mnist1d-mlp/lr-only/momentum/00002")
    sgd = trials[(trials["optimizer"] == "sgd") & (trials["phase"] == "search")]
    completed = sgd[sgd["status"] == "completed"].sort_values(["final_val_error", "trial_index"])
    best = completed.iloc[0]
    assert probe["hp_momentum"] == 0.0
    assert probe["hp_learning_rate"] == best["hp_learning_rate"] and probe["seed"] == best["seed"]
    assert probe["hp_decay_factor"] == best["hp_decay_factor"]
    # sgd <= momentum is exact: the imitation retraces the narrow trajectory.
    assert probe["final_val_error"] == pytest.approx(best["final_val_error"], abs=0.02)
