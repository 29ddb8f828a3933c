"""Trial bundles: each member's curve equals the same trial trained alone (float tolerance),
for every optimizer preset; a diverging member is finished and dropped without disturbing
the others."""

from __future__ import annotations

import math

import pytest

import workloads
from optcompare.errors import InputError
from optimizers.presets import STRUCTURES
from workloads import BundleMember, bundle_supported, train_bundle
from workloads.mnist1d_mlp import Mnist1dMlp

DECAY = {"decay_steps_factor": 1.0, "decay_factor": 0.1}


def _hparams(name: str, index: int, lr: float | None = None) -> dict[str, float]:
    """Per-member values of every hyperparameter the preset has (a modest learning rate)."""
    base = {"sgd": 0.1, "momentum": 0.03, "nesterov": 0.03, "rmsprop": 3e-3, "adam": 3e-3, "nadam": 3e-3}[name]
    hp = {"learning_rate": lr if lr is not None else base * (1.0 + 0.5 * index), "weight_decay": 1e-4 * index}
    if name in ("momentum", "nesterov"):
        hp["momentum"] = 0.8 + 0.05 * index
    if name == "rmsprop":
        hp.update(momentum=0.5 + 0.2 * index, rho=0.9 + 0.04 * index, epsilon=10.0 ** (-8 + index))
    if name in ("adam", "nadam"):
        hp.update(beta1=0.85 + 0.05 * index, beta2=0.99 + 0.004 * index, epsilon=10.0 ** (-8 + 2 * index))
    return hp


def _assert_same_curve(bundled: workloads.TrialOutcome, alone: workloads.TrialOutcome, examples: int) -> None:
    assert bundled.status == alone.status
    assert bundled.total_steps == alone.total_steps
    assert bundled.steps_to_target == alone.steps_to_target
    assert [r.step for r in bundled.rows] == [r.step for r in alone.rows]
    for b, a in zip(bundled.rows, alone.rows, strict=True):
        assert b.learning_rate == pytest.approx(a.learning_rate, rel=1e-12)
        for key in ("train_loss", "val_loss", "test_loss"):
            assert getattr(b, key) == pytest.approx(getattr(a, key), rel=2e-4), key
        for key in ("val_error", "test_error"):  # a near-tie may flip one prediction
            assert abs(getattr(b, key) - getattr(a, key)) <= 2.0 / examples, key


@pytest.fixture(scope="module")
def mlp() -> workloads.Workload:
    return workloads.get("mnist1d-mlp")


@pytest.mark.parametrize("name", sorted(STRUCTURES))
def test_bundled_curves_equal_each_trial_alone_for_every_preset(mlp, name):
    members = [BundleMember(_hparams(name, i), DECAY, seed=10 + i) for i in range(3)]
    outcomes = train_bundle(mlp, name, members, "linear_decay", steps=60, eval_every=20)
    for member, bundled in zip(members, outcomes, strict=True):
        alone = workloads.train(mlp, name, member.hparams, "linear_decay", DECAY, member.seed, steps=60, eval_every=20)
        assert bundled.status == "completed"
        _assert_same_curve(bundled, alone, examples=1000)


def test_a_diverging_member_is_marked_finished_first_and_dropped(mlp):
    members = [
        BundleMember(_hparams("momentum", 0), DECAY, seed=1),
        BundleMember(_hparams("momentum", 1, lr=300.0), DECAY, seed=2),  # explodes within a few steps
        BundleMember(_hparams("momentum", 2), DECAY, seed=3),
    ]
    finished: list[int] = []
    evals: list[tuple[int, int]] = []
    outcomes = train_bundle(
        mlp, "momentum", members, "linear_decay", steps=60, eval_every=20,
        on_eval=lambda m, row: evals.append((m, row.step)), on_finish=lambda m, o: finished.append(m),
    )
    assert outcomes[1].status == "diverged" and outcomes[1].total_steps < 20
    assert finished[0] == 1 and sorted(finished) == [0, 1, 2]
    assert [s for m, s in evals if m == 1] == [outcomes[1].total_steps]  # one row, at the stop
    for index, member in enumerate(members):
        alone = workloads.train(mlp, "momentum", member.hparams, "linear_decay", DECAY, member.seed, steps=60, eval_every=20)
        _assert_same_curve(outcomes[index], alone, examples=1000)
    # Training time is shared out: the survivors were charged for every segment.
    assert outcomes[0].train_time_s == pytest.approx(outcomes[2].train_time_s)
    assert outcomes[1].train_time_s < outcomes[0].train_time_s


class _LowBound(Mnist1dMlp):
    divergence_loss = 0.5
    """Below the untrained model's loss (about 2.3): every member crosses it on its first step."""


def test_a_finite_loss_above_the_workload_bound_is_divergence_in_a_bundle():
    members = [BundleMember({"learning_rate": 3e-3}, {}, seed=s) for s in (0, 1)]
    outcomes = train_bundle(_LowBound(), "adam", members, "constant", steps=50, eval_every=25)
    for out in outcomes:
        assert out.status == "diverged" and out.total_steps == 0
        assert len(out.rows) == 1 and math.isfinite(out.rows[0].train_loss) and out.rows[0].train_loss > 0.5


def test_every_member_diverging_ends_the_bundle(mlp):
    members = [BundleMember(_hparams("sgd", i, lr=1e4), {}, seed=i) for i in range(2)]
    outcomes = train_bundle(mlp, "sgd", members, "constant", steps=50, eval_every=10)
    assert [o.status for o in outcomes] == ["diverged", "diverged"]
    assert all(len(o.rows) == 1 and math.isfinite(o.wall_time_s) for o in outcomes)


@pytest.mark.parametrize("workload_name", ["mnist1d-cnn", "digits-cnn"])
def test_convolutional_workloads_bundle_to_the_same_curves(workload_name):
    workload = workloads.get(workload_name)
    members = [BundleMember(_hparams("adam", i), DECAY, seed=20 + i) for i in range(2)]
    outcomes = train_bundle(workload, "adam", members, "linear_decay", steps=30, eval_every=15)
    for member, bundled in zip(members, outcomes, strict=True):
        alone = workloads.train(workload, "adam", member.hparams, "linear_decay", DECAY, member.seed, steps=30, eval_every=15)
        _assert_same_curve(bundled, alone, examples=300)


def test_workloads_with_their_own_batching_bundle_through_per_member_iterators(data_root):
    # fashion-mnist-cnn overrides train_transform (uint8 -> normalised): one iterator per member.
    workload = workloads.get("fashion-mnist-cnn", str(data_root / "fashion-mnist-cnn"))
    members = [BundleMember(_hparams("nesterov", i), DECAY, seed=5 + i) for i in range(2)]
    outcomes = train_bundle(workload, "nesterov", members, "linear_decay", steps=4, eval_every=2, batch_size=8)
    for member, bundled in zip(members, outcomes, strict=True):
        alone = workloads.train(
            workload, "nesterov", member.hparams, "linear_decay", DECAY, member.seed, steps=4, eval_every=2, batch_size=8
        )
        _assert_same_curve(bundled, alone, examples=16)


def test_unsupported_workloads_and_optimizers_are_refused_with_the_reason(data_root, user_plugin):
    resnet = workloads.get("cifar10-resnet32", str(data_root / "cifar10-resnet32"))
    assert "does not support bundling" in bundle_supported(resnet, "adam")
    assert bundle_supported(workloads.get_class("tinytext-lstm"), "adam") is not None
    assert bundle_supported(workloads.get_class("mnist1d-mlp"), "adam") is None
    with pytest.raises(InputError, match="cannot bundle.*bundle_size: 1"):
        train_bundle(resnet, "adam", [BundleMember({"learning_rate": 0.1}, {}, 0)], "constant", steps=1)
    class OwnEvaluation(type(workloads.get("mnist1d-mlp"))):
        def evaluate(self, model, split, chunk=None):
            return super().evaluate(model, split, chunk)

    assert "overrides evaluate()" in bundle_supported(OwnEvaluation, "adam")
    import tuning.spec.plugins

    tuning.spec.plugins.load_plugins([user_plugin])
    assert "not a preset" in bundle_supported(workloads.get_class("mnist1d-mlp"), "plain-adagrad")
