"""Checkpoints inside a trial (workloads/checkpoint.py, workloads/batches.py): a run stopped
after a checkpoint and continued from it ends bitwise where the uninterrupted run ends."""

from __future__ import annotations

import math

import pytest
import torch

import workloads
from workloads.checkpoint import load_state, save_state
from workloads.run import Checkpointing

TIMING = ("wall_time_s", "train_time_s")


class StepClock:
    """A clock that advances one second per call: ``every_s = k`` saves every k-th check."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


class Killed(Exception):
    pass


LINEAR = ("linear_decay", {"decay_steps_factor": 1.0, "decay_factor": 0.1})


def _train(name, hparams, steps=40, optimizer="momentum", schedule=LINEAR, **kwargs):
    return workloads.train(workloads.get(name), optimizer, hparams, schedule[0], schedule[1], 3, steps=steps,
                           eval_every=10, **kwargs)


def _rows(outcome):
    return [{k: v for k, v in row.as_dict().items() if k != "wall_time_s"} for row in outcome.rows]


def _final(outcome):
    return {k: v for k, v in outcome.summary().items() if k not in (*TIMING, "resumed_from_step")}


@pytest.mark.parametrize(("name", "optimizer", "hparams", "schedule"), [
    ("mnist1d-mlp", "momentum", {"learning_rate": 0.05, "momentum": 0.9, "weight_decay": 0.0}, LINEAR),
    ("mnist1d-cnn", "adam", {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8, "weight_decay": 0.0}, LINEAR),
    # The optimizers from their libraries (schedule-free: constant, evaluated in its eval mode).
    ("mnist1d-mlp", "adamw", {"learning_rate": 3e-3, "decoupled_weight_decay": 0.05}, LINEAR),
    ("mnist1d-mlp", "nadamw", {"learning_rate": 3e-3, "decoupled_weight_decay": 0.05}, LINEAR),
    ("mnist1d-mlp", "lion", {"learning_rate": 3e-4, "decoupled_weight_decay": 0.1}, LINEAR),
    ("mnist1d-mlp", "muon", {"learning_rate": 3e-3, "decoupled_weight_decay": 0.05}, LINEAR),
    ("mnist1d-mlp", "soap", {"learning_rate": 3e-3, "decoupled_weight_decay": 0.05}, LINEAR),
    ("mnist1d-mlp", "schedule-free-adamw", {"learning_rate": 3e-3}, ("constant", {"warmup_steps_factor": 0.1})),
])
def test_a_run_continued_from_its_checkpoint_is_bitwise_the_uninterrupted_run(name, optimizer, hparams, schedule):
    plain = _train(name, hparams, optimizer=optimizer, schedule=schedule)
    saved = []

    def kill_after_the_checkpoint(step):
        if saved and step == 27:
            raise Killed  # the worker dies 4 steps after its checkpoint at step 23

    every = Checkpointing(23.0, lambda step, state: saved.append((step, save_state(state))), clock=StepClock())
    with pytest.raises(Killed):
        _train(name, hparams, optimizer=optimizer, schedule=schedule, checkpointing=every,
               heartbeat=kill_after_the_checkpoint)
    (step, blob), = saved
    assert step == 23
    replayed, beats = [], []
    restored = Checkpointing(math.inf, lambda s, st: None, restored=load_state(blob))
    resumed = _train(name, hparams, optimizer=optimizer, schedule=schedule, checkpointing=restored,
                     on_eval=replayed.append, heartbeat=beats.append)
    assert beats == list(range(24, 41))  # it trained only the 17 steps after the checkpoint
    assert _rows(resumed) == _rows(plain) and _final(resumed) == _final(plain)
    assert (resumed.resumed_from_step, plain.resumed_from_step) == (23, None)
    # The continued run hands over the whole curve: rows before the checkpoint first.
    assert [r.step for r in replayed] == [10, 20, 30, 40]


def test_the_minibatch_stream_continues_where_it_was_saved():
    workload = workloads.get("mnist1d-mlp")
    train = workload.data(torch.device("cpu"))["train"]
    first = workload.train_batches(train, 7, batch_size=500)  # a few batches per epoch
    for _ in range(13):
        next(first)
    state = first.state_dict()
    expected = [next(first) for _ in range(20)]  # crosses an epoch boundary
    second = workload.train_batches(train, 7, batch_size=500)
    second.load_state_dict(load_state(save_state(state)))
    for (x, y), (x2, y2) in zip(expected, (next(second) for _ in range(20)), strict=True):
        assert torch.equal(x, x2) and torch.equal(y, y2)


def test_no_checkpoint_is_taken_before_every_s_and_none_at_the_end():
    saved = []
    every = Checkpointing(1e9, lambda step, state: saved.append(step), clock=StepClock())
    _train("mnist1d-mlp", {"learning_rate": 0.05, "momentum": 0.9, "weight_decay": 0.0}, steps=20, checkpointing=every)
    assert saved == []
    every = Checkpointing(5.0, lambda step, state: saved.append(step), clock=StepClock())
    _train("mnist1d-mlp", {"learning_rate": 0.05, "momentum": 0.9, "weight_decay": 0.0}, steps=20, checkpointing=every)
    assert saved == [5, 10, 15]  # one clock call per step after the first; none at step 20 (done)


def _bundle(members, steps=40, **kwargs):
    from workloads.bundle import train_bundle

    return train_bundle(workloads.get("mnist1d-mlp"), "momentum", members, "constant", steps=steps, eval_every=10, **kwargs)


def _members():
    from workloads.bundle import BundleMember

    return [BundleMember({"learning_rate": lr, "momentum": 0.9, "weight_decay": 0.0}, {}, seed)
            for seed, lr in ((1, 0.02), (2, 0.05), (3, 0.1))]


def test_a_bundle_continues_from_its_checkpoint_whole_or_with_only_its_unfinished_members():
    members = _members()
    plain = _bundle(members)
    saved = []

    def kill(step):
        if saved and step == 30:
            raise Killed

    keys = ["a", "b", "c"]
    every = Checkpointing(23.0, lambda step, state: saved.append(save_state(state)), clock=StepClock(), members=keys)
    with pytest.raises(Killed):
        _bundle(members, checkpointing=every, heartbeat=kill)
    (blob,) = saved
    beats = []
    whole = _bundle(members, heartbeat=beats.append,
                    checkpointing=Checkpointing(math.inf, lambda s, st: None, restored=load_state(blob), members=keys))
    assert beats == list(range(24, 41))
    for resumed, reference in zip(whole, plain, strict=True):
        assert _rows(resumed) == _rows(reference) and _final(resumed) == _final(reference)
    # Member "a" finished meanwhile (say): the retry continues "c" and "b" only, in its own order.
    subset = _bundle([members[2], members[1]],
                     checkpointing=Checkpointing(math.inf, lambda s, st: None, restored=load_state(blob), members=["c", "b"]))
    for resumed, reference in zip(subset, (plain[2], plain[1]), strict=True):
        assert [r["step"] for r in _rows(resumed)] == [10, 20, 30, 40]
        for got, want in zip(_rows(resumed), _rows(reference), strict=True):
            assert got == pytest.approx(want, rel=1e-6)
    with pytest.raises(ValueError, match="holds no training state for d"):
        _bundle(members[:1], checkpointing=Checkpointing(math.inf, lambda s, st: None, restored=load_state(blob), members=["d"]))


@pytest.mark.slow
def test_a_streamed_image_run_continues_from_its_checkpoint_bitwise(tmp_path):
    """ImageNet's DataLoader stream saves the batches taken (its draws are keyed by seed, epoch
    and position), so a continued run decodes exactly the batches the uninterrupted one did."""
    from tests.workloads.data_files import OPTIONS, write_imagenet

    data = str(write_imagenet(tmp_path / "imagenet", per_class=10))

    def train(**kwargs):
        workload = workloads.get("imagenet-resnet50", data, **OPTIONS["imagenet-resnet50"])
        return workloads.train(workload, "sgd", {"learning_rate": 0.01, "weight_decay": 0.0}, "constant", {}, 5,
                               steps=9, eval_every=3, batch_size=4, **kwargs)

    plain = train()
    saved = []

    def kill(step):
        if saved and step == 6:
            raise Killed

    with pytest.raises(Killed):
        train(checkpointing=Checkpointing(4.0, lambda s, st: saved.append((s, save_state(st))), clock=StepClock()), heartbeat=kill)
    (step, blob), = saved
    assert step == 4
    assert load_state(blob)["learner"]["batches"] == {"taken": 4}
    beats = []
    resumed = train(checkpointing=Checkpointing(math.inf, lambda s, st: None, restored=load_state(blob)), heartbeat=beats.append)
    assert beats == list(range(5, 10))
    assert _rows(resumed) == _rows(plain) and _final(resumed) == _final(plain)


def test_a_streamed_image_batch_splits_into_rank_shards(tmp_path):
    from tests.workloads.data_files import OPTIONS, write_imagenet

    workload = workloads.get("imagenet-resnet50", str(write_imagenet(tmp_path / "imagenet")), **OPTIONS["imagenet-resnet50"])
    train = workload.data(torch.device("cpu"))["train"]
    whole = workload.train_batches(train, 2, batch_size=6)
    shards = [workload.train_batches(train, 2, batch_size=6).shard(r, 3) for r in range(3)]
    for _ in range(4):  # past an epoch of the tiny set: epochs and positions carry over too
        x, y = next(whole)
        parts = [next(s) for s in shards]
        assert torch.equal(torch.cat([p[0] for p in parts]), x) and torch.equal(torch.cat([p[1] for p in parts]), y)
