"""The embedded CPU-sized workloads: data, determinism, learning."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import workloads
from workloads.base import IGNORE_INDEX
from workloads.data.mnist1d import load_mnist1d
from workloads.data.text import char_vocab, encode, windows
from workloads.digits_cnn import load_digits_splits
from workloads.tinytext_lstm import TEXT_PATH

ADAM = ("adam", {"learning_rate": 3e-3}, "constant", {})


def curve(out: workloads.TrialOutcome) -> list[tuple]:
    return [(r.step, r.train_loss, r.val_error, r.val_loss, r.test_error, r.test_loss) for r in out.rows]


@pytest.mark.parametrize("name", ["mnist1d-cnn", "digits-cnn", "tinytext-lstm"])
def test_same_seed_same_curve_and_training_learns(name):
    w = workloads.get(name)
    a = workloads.train(w, *ADAM, seed=1, steps=30, eval_every=15)
    b = workloads.train(w, *ADAM, seed=1, steps=30, eval_every=15)
    c = workloads.train(w, *ADAM, seed=2, steps=30, eval_every=15)
    assert curve(a) == curve(b)
    assert curve(a) != curve(c)
    assert a.status == "completed" and [r.step for r in a.rows] == [15, 30]
    assert a.rows[-1].train_loss < a.rows[0].train_loss + 0.05
    assert all(0.0 <= r.val_error <= 1.0 and np.isfinite(r.val_loss) for r in a.rows)


def test_mnist1d_splits_are_disjoint_sized_and_cached(tmp_path):
    arrays = load_mnist1d(tmp_path)
    assert arrays["x_train"].shape == (3000, 40)
    assert arrays["x_val"].shape == (1000, 40) and arrays["x_test"].shape == (1000, 40)
    assert set(np.unique(arrays["y_train"])) == set(range(10))
    # No example appears in two splits.
    rows = {split: {r.tobytes() for r in arrays[f"x_{split}"]} for split in ("train", "val", "test")}
    assert not rows["train"] & rows["val"] and not rows["train"] & rows["test"] and not rows["val"] & rows["test"]
    # The cache is reused: a second load returns identical arrays without regenerating.
    again = load_mnist1d(tmp_path)
    assert all(np.array_equal(arrays[k], again[k]) for k in arrays)
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".tmp"] == []


def test_digits_split_is_fixed_disjoint_and_sized():
    splits = load_digits_splits()
    assert {k: len(v[1]) for k, v in splits.items()} == {"train": 1197, "val": 300, "test": 300}
    from sklearn.datasets import load_digits

    # Together the splits are exactly the data set: a partition, each image once.
    def rows(x: np.ndarray, y: np.ndarray) -> list[bytes]:
        return sorted(xi.astype(np.float32).tobytes() + bytes([int(yi)]) for xi, yi in zip(x, y, strict=True))

    digits = load_digits()
    full = rows((digits.images.astype(np.float32) / 16.0 - 0.5).reshape(-1, 1, 8, 8), digits.target)
    assert sorted(r for x, y in splits.values() for r in rows(x, y)) == full
    again = load_digits_splits()
    assert all(np.array_equal(splits[k][0], again[k][0]) for k in splits)
    assert splits["train"][0].shape[1:] == (1, 8, 8) and splits["train"][0].dtype == np.float32


def test_tinytext_ships_a_few_tens_of_kb():
    text = TEXT_PATH.read_text(encoding="utf-8")
    assert 20_000 <= len(text.encode()) <= 60_000
    assert "public domain" in text[:400]
    w = workloads.get("tinytext-lstm")
    splits = w.data(torch.device("cpu"))
    counted = sum(int((s.y != IGNORE_INDEX).sum()) for s in splits.values())
    assert counted == len(text) - 3  # every next-character prediction within each split, once
    assert len(w.vocab) == len(set(text))


def test_windows_cover_every_prediction_once():
    ids = np.arange(11)
    x, y = windows(ids, 4)
    assert x.shape == y.shape == (3, 4)
    assert x.tolist() == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 0, 0]]
    assert y.tolist() == [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, IGNORE_INDEX, IGNORE_INDEX]]
    assert encode("abca", char_vocab("cab")).tolist() == [0, 1, 2, 0]


class _Lookup(torch.nn.Module):
    """Predicts a fixed next character: logits favour ``answer`` everywhere."""

    def __init__(self, vocab: int, answer: int) -> None:
        super().__init__()
        self.vocab, self.answer = vocab, answer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = torch.zeros(*x.shape, self.vocab)
        logits[..., self.answer] = 1.0
        return logits


def test_character_error_and_loss_are_per_character_with_padding_excluded():
    w = workloads.get("tinytext-lstm")
    x, y = windows(np.array([0, 1, 1, 2, 1]), 3)  # targets 1 1 2 1 (+2 padding)
    split = workloads.Split(torch.from_numpy(x), torch.from_numpy(y))
    error, loss = w.evaluate(_Lookup(3, 1), split)
    assert error == pytest.approx(1 / 4)
    p1 = np.e / (np.e + 2)
    p2 = 1 / (np.e + 2)
    assert loss == pytest.approx((-3 * np.log(p1) - np.log(p2)) / 4, rel=1e-5)
