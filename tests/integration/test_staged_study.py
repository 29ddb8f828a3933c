"""A two-stage protocol with repeated studies end to end through a real in-process Ray: each
study's final stage runs in the space refined from its own initial stage, in one run."""

from __future__ import annotations

import json

import pytest

PROTOCOL = """name: two-stage
schedule: constant
stages:
  - {name: initial, fraction: 0.5}
  - {name: final, fraction: 0.5, refine: {best_k: 2, margin: 0.25}}
optimizers:
  sgd: {learning_rate: {min: 1.0e-3, max: 1.0, scaling: log}}
  momentum: {learning_rate: {min: 1.0e-3, max: 1.0, scaling: log}, momentum: 0.9}
"""

CONFIG = """name: staged
workloads:
  - {name: mnist1d-mlp, steps: 20, eval_every: 10}
optimizers: [sgd, momentum]
protocols: [two-stage.yaml]
trials_per_search: 4
studies: 2
seed: 3
resources: {cpus_per_trial: 1}
probes: true
bundle_size: 2
"""


@pytest.mark.slow
def test_a_two_stage_study_refines_each_study_and_probes_its_final_best(study):
    study.write("two-stage.yaml", PROTOCOL)
    ran = study.run(study.write("staged.yaml", CONFIG))
    out, trials = ran.out, ran.trials
    # 2 optimizers x 2 studies x (2 initial + 2 final) + 1 probe (sgd <= momentum) per study.
    assert "trials: 18/18 finished" in out
    assert trials["trial_id"].is_unique
    search = trials[trials["phase"] == "search"]
    counts = search.groupby(["optimizer", "study", "stage"]).size().to_dict()
    assert counts == {(o, s, st): 2 for o in ("momentum", "sgd") for s in (0, 1) for st in ("final", "initial")}
    meta = json.loads((ran.experiment / "experiment.json").read_text())
    assert meta["stages"] == {"two-stage": ["initial", "final"]} and meta["studies"] == 2
    refined = {(r["optimizer"], r["study"]): r for r in meta["refined"]}
    assert sorted(refined) == [("momentum", 0), ("momentum", 1), ("sgd", 0), ("sgd", 1)]
    for (optimizer, study), record in refined.items():
        rows = search[(search["optimizer"] == optimizer) & (search["study"] == study)]
        initial = rows[rows["stage"] == "initial"].sort_values(["final_val_error", "trial_index"])
        assert record["best_trial_ids"] == list(initial["trial_id"][:2])
        space = record["coordinates"][0]["new"]
        final = rows[rows["stage"] == "final"]
        assert sorted(final["trial_index"]) == [2, 3]  # rows arrive in the order trials finish
        assert final["hp_learning_rate"].between(space["min"], space["max"]).all()
    probes = trials[trials["phase"] == "probe"].sort_values("study")
    assert probes["trial_id"].tolist() == [
        "mnist1d-mlp/two-stage/momentum/00004", "mnist1d-mlp/two-stage/momentum/s1/00004",
    ]
    assert (probes["stage"] == "final").all()
