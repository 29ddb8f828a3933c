"""The experiment plan (tuning/plan/resolve.py): every trial of every search, as data."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

import optimizers
from tuning.plan.quasirandom import sample
from tuning.plan.resolve import derive_seed, resolve_plan, trial_id
from tuning.spec.config import load_config

DEMO = Path(__file__).resolve().parents[2] / "tuning" / "configs" / "demo.yaml"


def _sha_seed(*parts: object) -> int:
    """The documented derivation, recomputed independently of tuning.plan.resolve.derive_seed."""
    digest = hashlib.sha256("/".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def _with_trials(tmp_path: Path, trials: int, name: str) -> Path:
    """The demo config with ``trials_per_search`` replaced."""
    text = DEMO.read_text()
    text, count = re.subn(r"(?m)^trials_per_search:.*$", f"trials_per_search: {trials}", text)
    assert count == 1
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def demo():
    return load_config(DEMO)


@pytest.fixture(scope="module")
def demo_plan(demo):
    return resolve_plan(demo)


def test_plan_size(demo, demo_plan):
    expected = (
        len(demo.workloads) * len(demo.protocols) * len(demo.optimizers) * demo.trials_per_search
    )
    assert len(demo_plan) == expected
    assert expected > 0


def test_plan_order_workload_protocol_optimizer_index(demo, demo_plan):
    expected = [
        (w.name, p.name, o, i)
        for w in demo.workloads
        for p in demo.protocols
        for o in demo.optimizers
        for i in range(demo.trials_per_search)
    ]
    got = [(t.workload, t.protocol, t.optimizer, t.trial_index) for t in demo_plan]
    assert got == expected


def test_trial_ids_deterministic_unique_and_formatted(demo_plan):
    ids = [t.trial_id for t in demo_plan]
    assert len(set(ids)) == len(ids)
    for t in demo_plan:
        assert t.trial_id == f"{t.workload}/{t.protocol}/{t.optimizer}/{t.trial_index:05d}"
        assert t.trial_id == trial_id(t.workload, t.protocol, t.optimizer, t.trial_index)
    assert trial_id("w", "p", "o", 7) == "w/p/o/00007"


def test_two_resolutions_are_equal(demo, demo_plan):
    assert resolve_plan(demo) == demo_plan
    assert resolve_plan(load_config(DEMO)) == demo_plan


def test_seeds_distinct_and_in_31_bits(demo_plan):
    seeds = [t.seed for t in demo_plan]
    assert len(set(seeds)) == len(seeds)
    assert all(isinstance(s, int) and 0 <= s < 2**31 for s in seeds)


def test_training_seed_follows_documented_derivation(demo, demo_plan):
    for t in demo_plan:
        assert t.seed == _sha_seed(
            demo.seed, t.workload, t.protocol, t.optimizer, t.trial_index, "train"
        )
    assert derive_seed(0, "a", 1) == _sha_seed(0, "a", 1)


def test_plan_hyperparameters_equal_sample_mapped(demo, demo_plan):
    n = demo.trials_per_search
    for workload in demo.workloads:
        for protocol in demo.protocols:
            for opt in demo.optimizers:
                search = protocol.for_optimizer(opt)
                trials = [
                    t
                    for t in demo_plan
                    if (t.workload, t.protocol, t.optimizer) == (workload.name, protocol.name, opt)
                ]
                assert [t.trial_index for t in trials] == list(range(n))
                seed = _sha_seed(demo.seed, workload.name, protocol.name, opt, "halton")
                points = sample(search.space, n, seed) if search.space else [{}] * n
                for t, point in zip(trials, points, strict=True):
                    assert t.tuned == point
                    hparams, schedule = search.resolve(point)
                    assert t.hparams == hparams
                    assert t.schedule_params == schedule
                    assert t.schedule == protocol.schedule
                    assert t.steps == workload.steps
                    assert t.eval_every == workload.eval_every
                    assert t.data_dir == workload.data_dir


def test_every_planned_trial_is_a_valid_optimizer_setting(demo_plan):
    for t in demo_plan:
        assert optimizers.validate_hparams(t.optimizer, t.hparams) == t.hparams
        optimizers.make_schedule(
            t.schedule, t.hparams["learning_rate"], t.steps, **t.schedule_params
        )


def test_model_dump_is_plain_json(demo_plan):
    config = demo_plan[0].model_dump()
    assert isinstance(config, dict)
    assert json.loads(json.dumps(config)) == config
    assert config["trial_id"] == demo_plan[0].trial_id


def test_a_planned_trial_crosses_to_workers_and_back_unchanged(demo_plan):
    from tuning.plan.trial import PlannedTrial

    for t in demo_plan[:: max(1, len(demo_plan) // 20)]:
        back = PlannedTrial.model_validate(json.loads(json.dumps(t.model_dump())))
        assert back == t
        assert all(type(back.hparams[k]) is type(v) for k, v in t.hparams.items())


def test_regression_pin_of_seed_and_first_point(tmp_path):
    # REGRESSION PIN: the values below were computed once from the current derivation
    # (sha256 of "seed/workload/protocol/optimizer/..." -> scrambled Halton -> choi-full ranges)
    # and hard-coded, so that any change of seed derivation, Halton scrambling, dimension order
    # or shipped choi-full ranges is caught. Such a change silently breaks resume of existing
    # experiments; update these numbers only together with a recorded migration.
    # Recorded change: choi-full's Adam/NAdam learning_rate_over_epsilon max went from 1e4 to 1e7
    # (so that choi-full contains lr-only); adam0's ratio and learning rate changed with it.
    # Existing experiments resume on the protocol text recorded in their experiment.json.
    path = tmp_path / "pin.yaml"
    path.write_text(
        "name: pin\nworkloads: [{name: mnist1d-mlp, steps: 3000, eval_every: 250}]\n"
        "optimizers: [sgd, adam]\nprotocols: [choi-full]\ntrials_per_search: 2\nseed: 0\n"
    )
    plan = resolve_plan(load_config(path))
    by_id = {t.trial_id: t for t in plan}

    sgd0 = by_id["mnist1d-mlp/choi-full/sgd/00000"]
    assert plan[0] is sgd0
    assert sgd0.seed == 431400711
    assert sgd0.tuned == pytest.approx(
        {
            "decay_factor": 0.0025966236733589013,
            "decay_steps_factor": 0.8903659779341682,
            "learning_rate": 0.004188651441549892,
        },
        rel=1e-12,
    )

    adam0 = by_id["mnist1d-mlp/choi-full/adam/00000"]
    assert adam0.seed == 493620528
    assert derive_seed(0, "mnist1d-mlp", "choi-full", "adam", "halton") == 1207675858
    assert adam0.tuned == pytest.approx(
        {
            "decay_factor": 0.005137390269043882,
            "decay_steps_factor": 0.5243650723926033,
            "epsilon": 0.002189617782859653,
            "learning_rate_over_epsilon": 219.87569989304967,
            "one_minus_beta1": 0.18986731003217436,
            "one_minus_beta2": 0.00011113692060524313,
        },
        rel=1e-12,
    )
    assert adam0.hparams == pytest.approx(
        {
            "learning_rate": 0.48144374250453387,
            "beta1": 0.8101326899678256,
            "beta2": 0.9998888630793947,
            "epsilon": 0.002189617782859653,
            "weight_decay": 0.0,
            "decoupled_weight_decay": 0.0,
        },
        rel=1e-12,
    )
    assert by_id["mnist1d-mlp/choi-full/adam/00001"].seed == 1057243155


def test_fewer_trials_per_search_is_a_prefix_of_each_search(tmp_path):
    eight = resolve_plan(load_config(_with_trials(tmp_path, 8, "eight.yaml")))
    four = resolve_plan(load_config(_with_trials(tmp_path, 4, "four.yaml")))
    assert len(eight) == 2 * len(four)

    def searches(plan):
        out: dict[tuple[str, str, str], list] = {}
        for t in plan:
            out.setdefault((t.workload, t.protocol, t.optimizer), []).append(t)
        return out

    s8, s4 = searches(eight), searches(four)
    assert s8.keys() == s4.keys()
    for key, trials in s4.items():
        assert len(trials) == 4
        assert s8[key][:4] == trials


def test_seed_changes_the_plan(tmp_path):
    text = DEMO.read_text()
    text, count = re.subn(r"(?m)^seed:.*$", "seed: 1", text)
    assert count == 1
    path = tmp_path / "seed1.yaml"
    path.write_text(text)
    other = resolve_plan(load_config(path))
    base = resolve_plan(load_config(DEMO))
    assert [t.trial_id for t in other] == [t.trial_id for t in base]
    assert all(a.seed != b.seed for a, b in zip(other, base, strict=True))
    assert sum(a.tuned != b.tuned for a, b in zip(other, base, strict=True)) > len(base) // 2


def test_searches_get_distinct_halton_seeds(demo, demo_plan):
    # Same protocol space in two searches must not give identical point sequences.
    protocol = demo.protocols[0].name
    first = {
        t.optimizer: t.tuned for t in demo_plan if t.trial_index == 0 and t.protocol == protocol
    }
    assert first["momentum"] != first["nesterov"]  # identical spaces in choi-full


def test_fully_fixed_protocol_gives_identical_points_with_distinct_seeds(tmp_path):
    (tmp_path / "fixed.yaml").write_text(
        "name: fixed\nschedule: constant\noptimizers:\n  sgd: {learning_rate: 0.1}\n"
    )
    path = tmp_path / "exp.yaml"
    path.write_text(
        "name: exp\nworkloads: [mnist1d-mlp]\noptimizers: [sgd]\nprotocols: [fixed.yaml]\n"
        "trials_per_search: 3\n"
    )
    plan = resolve_plan(load_config(path))
    assert len(plan) == 3
    assert all(t.tuned == {} for t in plan)
    assert all(
        t.hparams == {"learning_rate": 0.1, "weight_decay": 0.0, "decoupled_weight_decay": 0.0}
        for t in plan
    )
    assert all(t.schedule_params == {} for t in plan)
    assert len({t.seed for t in plan}) == 3


def test_workload_defaults_and_data_dir_relative_to_config(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text(
        "name: exp\nworkloads: [{name: mnist1d-mlp, data_dir: data}]\noptimizers: [sgd]\n"
        "protocols: [lr-only]\ntrials_per_search: 1\n"
    )
    config = load_config(path)
    (trial,) = resolve_plan(config)
    assert trial.data_dir == str((tmp_path / "data").resolve())
    import workloads

    cls = workloads.get_class("mnist1d-mlp")
    assert trial.steps == cls.step_budget
    assert trial.eval_every == cls.eval_interval


def test_mixed_precision_reaches_every_planned_trial(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text(
        "name: exp\nmixed_precision: true\noptimizers: [sgd]\nprotocols: [lr-only]\n"
        "trials_per_search: 2\nresources: {gpus_per_trial: 0.5}\n"
        "workloads: [mnist1d-mlp, {name: digits-cnn, mixed_precision: false}]\n"
    )
    config = load_config(path)
    assert [(w.name, w.mixed_precision) for w in config.workloads] == [
        ("mnist1d-mlp", True), ("digits-cnn", False)
    ]
    plan = resolve_plan(config)
    assert {t.workload: t.mixed_precision for t in plan} == {"mnist1d-mlp": True, "digits-cnn": False}
    assert all(t.model_dump()["mixed_precision"] is t.mixed_precision for t in plan)


def test_mixed_precision_defaults_to_false(demo, demo_plan):
    assert all(w.mixed_precision is False for w in demo.workloads)
    assert all(t.mixed_precision is False for t in demo_plan)


@pytest.mark.parametrize("out", ["no/such/dir/p.parquet", "."])
def test_plan_out_in_a_missing_directory_is_bad_input(tmp_path, monkeypatch, capsys, out):
    from optcompare.cli import main

    monkeypatch.chdir(tmp_path)
    code = main(["plan", str(DEMO), "--out", str(tmp_path / out)])
    _, err = capsys.readouterr()
    assert code == 2, err
    assert f"--out {tmp_path / out}" in err
    assert ("does not exist" if out != "." else "is a directory") in err
    assert list(tmp_path.iterdir()) == []


def test_plan_out_writes_the_plan(tmp_path, capsys):
    import pyarrow.parquet as pq

    from optcompare.cli import main

    config = _with_trials(tmp_path, 2, "two.yaml")
    assert main(["plan", str(config), "--sample", "0", "--out", str(tmp_path / "p.parquet")]) == 0
    capsys.readouterr()
    assert pq.read_table(tmp_path / "p.parquet").num_rows == len(resolve_plan(load_config(config)))
