"""The paper's workloads on tiny files in their real on-disk formats (written by conftest)."""

from __future__ import annotations

import math
import pickletools
import re
import shutil
import warnings

import numpy as np
import pytest
import torch

import workloads
from optcompare.errors import InputError
from tests.workloads.data_files import OPTIONS, WRITERS, write_idx, write_lm1b
from workloads.data.bpe import BpeTokenizer
from workloads.data.common import holdout
from workloads.data.imagefolder import random_resized_crop_box
from workloads.data.images import read_cifar_batch, read_idx

DATA = tuple(WRITERS)


def make(name: str, root) -> workloads.Workload:
    return workloads.get(name, str(root / name), **OPTIONS.get(name, {}))


def curve(out: workloads.TrialOutcome) -> list[tuple]:
    return [(r.step, r.train_loss, r.val_error, r.val_loss, r.test_error, r.test_loss) for r in out.rows]


HEAVY = {"cifar10-vgg16", "imagenet-resnet50", "lm1b-transformer"}
"""Data workloads whose few steps take more than 2 s on 2 cores (VGG-16, ResNet-50 on JPEGs, a BPE
tokenizer and a transformer)."""


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in HEAVY else n for n in DATA])
def test_trains_evaluates_and_is_deterministic(name, data_root):
    w = make(name, data_root)

    def run(seed: int) -> workloads.TrialOutcome:
        return workloads.train(
            w, "adam", {"learning_rate": 1e-3}, "constant", {}, seed=seed, steps=2, eval_every=2, batch_size=8
        )

    a, b, c = run(3), run(3), run(4)
    assert a.status == "completed" and a.total_steps == 2 and len(a.rows) == 1
    row = a.rows[0]
    assert 0.0 <= row.val_error <= 1.0 and 0.0 <= row.test_error <= 1.0
    assert all(math.isfinite(v) for v in (row.train_loss, row.val_loss, row.test_loss))
    assert curve(a) == curve(b)
    assert c.status == "completed" and curve(c) != curve(a)  # the seed matters (init, batches)


@pytest.mark.parametrize("name", DATA)
def test_missing_data_names_the_files_and_where_to_get_them(name, tmp_path):
    cls = workloads.get_class(name)
    with pytest.raises(InputError, match="no data_dir was given"):
        workloads.train(workloads.get(name), "adam", {"learning_rate": 1e-3}, "constant", {}, 0, steps=1)
    w = workloads.get(name, str(tmp_path / "nowhere"))
    with pytest.raises(InputError) as info:
        w.check_data()
    message = str(info.value)
    assert name in message and "nowhere" in message and cls.expected_files[0] in message
    assert cls.data_source in message
    assert isinstance(info.value, ValueError)


def test_one_missing_file_is_named(data_root, tmp_path):
    shutil.copytree(data_root / "cifar10-resnet32", tmp_path / "c10")
    (tmp_path / "c10" / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(InputError, match=r"missing under .*: cifar-10-batches-py/data_batch_3"):
        workloads.get("cifar10-resnet32", str(tmp_path / "c10")).check_data()


def test_cifar_splits_hold_out_a_fixed_validation_set(data_root):
    w = make("cifar10-resnet32", data_root)
    splits = w.data(torch.device("cpu"))
    assert {k: len(v) for k, v in splits.items()} == {"train": 52, "val": 13, "test": 16}
    assert splits["train"].x.dtype == torch.uint8 and splits["train"].x.shape[1:] == (3, 32, 32)
    train_idx, val_idx = holdout(65, 5000)
    assert len(set(train_idx) & set(val_idx)) == 0 and len(train_idx) + len(val_idx) == 65
    assert np.array_equal(holdout(65, 5000)[1], val_idx)
    c100 = make("cifar100-cnn", data_root).data(torch.device("cpu"))
    assert int(c100["train"].y.max()) < 100


def test_cifar_pickle_cannot_run_code(tmp_path):
    path = tmp_path / "data_batch_1"
    path.write_bytes(b"cos\nsystem\n(S'echo owned'\ntR.")  # protocol 0: os.system("echo owned")
    with pytest.raises(InputError, match="refusing to load os.system"):
        read_cifar_batch(path, b"labels")


def test_reads_a_python2_cifar_pickle_without_warnings(python2_cifar_batch):
    path, data, labels = python2_cifar_batch
    raw = path.read_bytes()
    # The fixture is what Python 2 wrote: str keys as SHORT_BINSTRING, numpy.core's _reconstruct.
    assert raw.startswith(b"\x80\x02}q\x01(U\x04dataq\x02cnumpy.core.multiarray\n_reconstruct\n")
    ops = {op.name for op, _, _ in pickletools.genops(raw)}
    assert {"SHORT_BINSTRING", "BINSTRING", "LONG_BINPUT", "NEWFALSE"} <= ops and "BINBYTES" not in ops
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x, y = read_cifar_batch(path, b"labels")
    assert x.shape == (300, 3, 32, 32) and x.dtype == np.uint8 and y.dtype == np.int64
    assert np.array_equal(x.reshape(300, -1), data) and y.tolist() == labels


def test_the_cifar10_fixture_files_are_python2_pickles(data_root):
    raw = (data_root / "cifar10-resnet32" / "cifar-10-batches-py" / "data_batch_1").read_bytes()
    assert raw.startswith(b"\x80\x02}q\x01(U\x04data")


def _copy_cifar10_with_labels(data_root, tmp_path, labels: list[int]):
    from tests.workloads.data_files import python2_cifar_pickle

    root = tmp_path / "c10"
    shutil.copytree(data_root / "cifar10-resnet32", root)
    bad = root / "cifar-10-batches-py" / "data_batch_2"
    data = np.zeros((len(labels), 3072), dtype=np.uint8)
    bad.write_bytes(python2_cifar_pickle(data, labels, b"labels"))
    return root, bad


@pytest.mark.parametrize("label", [10, -1])
def test_cifar_labels_out_of_range_are_an_input_error_naming_the_file(data_root, tmp_path, label):
    root, bad = _copy_cifar10_with_labels(data_root, tmp_path, [0, 1, label, 3])
    with pytest.raises(InputError, match=rf"{re.escape(str(bad))}: 1 label\(s\) outside 0\.\.9 \(e\.g\. {label}\)"):
        workloads.get("cifar10-resnet32", str(root)).data(torch.device("cpu"))


def test_cifar_data_and_labels_of_different_lengths_are_an_input_error(tmp_path):
    from tests.workloads.data_files import python2_cifar_pickle

    path = tmp_path / "data_batch_1"
    path.write_bytes(python2_cifar_pickle(np.zeros((3, 3072), dtype=np.uint8), [0, 1], b"labels"))
    with pytest.raises(InputError, match=re.escape(str(path))):
        read_cifar_batch(path, b"labels")


def _fashion_copy(data_root, tmp_path):
    root = tmp_path / "fashion"
    shutil.copytree(data_root / "fashion-mnist-cnn", root)
    return root


@pytest.mark.parametrize(
    ("file", "array", "message"),
    [
        ("train-labels-idx1-ubyte.gz", np.arange(63) % 10, r"has shape \(64, 28, 28\) and .*has shape \(63,\)"),
        ("t10k-images-idx3-ubyte.gz", np.zeros((16, 27, 28)), r"has shape \(16, 27, 28\)"),
        ("t10k-labels-idx1-ubyte.gz", np.zeros((16, 2)), r"has shape \(16, 2\)"),
        ("train-labels-idx1-ubyte.gz", np.arange(64) % 11, r"5 label\(s\) outside 0\.\.9 \(e\.g\. 10\)"),
    ],
)
def test_fashion_shape_and_label_errors_are_input_errors_naming_the_file(data_root, tmp_path, file, array, message):
    root = _fashion_copy(data_root, tmp_path)
    write_idx(root / file, array)
    with pytest.raises(InputError, match=message) as info:
        workloads.get("fashion-mnist-cnn", str(root)).data(torch.device("cpu"))
    assert str(root / file) in str(info.value)


def test_idx_reader_round_trip_and_errors(tmp_path):
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "a.gz", array)
    assert np.array_equal(read_idx(tmp_path / "a.gz"), array)
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04rest")
    with pytest.raises(InputError, match="not an IDX file"):
        read_idx(tmp_path / "bad")


def test_fashion_accepts_decompressed_files(data_root, tmp_path):
    import gzip

    for src in (data_root / "fashion-mnist-cnn").iterdir():
        (tmp_path / src.name.removesuffix(".gz")).write_bytes(gzip.decompress(src.read_bytes()))
    splits = workloads.get("fashion-mnist-cnn", str(tmp_path)).data(torch.device("cpu"))
    assert {k: len(v) for k, v in splits.items()} == {"train": 52, "val": 12, "test": 16}


def test_imagenet_streams_with_standard_transforms(data_root):
    w = make("imagenet-resnet50", data_root)
    splits = w.data(torch.device("cpu"))
    assert w.classes == ["n01440764", "n01443537"]
    assert (len(splits["train"]), len(splits["val"]), len(splits["test"])) == (20, 4, 6)
    x, y = next(iter(w.eval_batches(splits["test"], 4)))
    assert x.shape == (4, 3, 32, 32) and x.dtype == torch.float32 and y.tolist() == [0, 0, 0, 1]
    first = next(w.train_batches(splits["train"], seed=1, batch_size=4))
    # Same batches with decoding in a worker process.
    pooled = workloads.get("imagenet-resnet50", str(data_root / "imagenet-resnet50"), image_size=32, loader_workers=1)
    again = next(pooled.train_batches(pooled.data(torch.device("cpu"))["train"], seed=1, batch_size=4))
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])


def test_random_resized_crop_box_stays_inside():
    rng = np.random.default_rng(0)
    for width, height in [(500, 375), (64, 40), (10, 300)]:
        for _ in range(50):
            left, top, right, bottom = random_resized_crop_box(width, height, rng)
            assert 0 <= left < right <= width and 0 <= top < bottom <= height


def test_bpe_round_trip_and_vocabulary_size():
    lines = ["the cat sat on the mat .", "the dog sat on the log ."] * 20
    tok = BpeTokenizer.train(lines, vocab_size=280)
    assert 257 < len(tok) <= 280
    ids = tok.encode(lines[0])
    assert ids[-1] == 0 and len(ids) < len(lines[0])
    assert tok.decode(ids).strip() == lines[0]
    assert BpeTokenizer.loads(tok.dumps()).encode(lines[1]) == tok.encode(lines[1])
    assert tok.decode(tok.encode("unseen wörds")).strip() == "unseen wörds"  # byte fallback


def test_lm1b_builds_and_caches_its_tokenizer_in_data_dir(tmp_path):
    root = write_lm1b(tmp_path / "lm1b", train_lines=30, heldout_lines=5)
    w = workloads.get("lm1b-transformer", str(root), seq_len=8, vocab_size=300)
    splits = w.data(torch.device("cpu"))
    cache = root / "optcompare-cache"
    assert any(cache.glob("bpe-300-*.json")) and splits["val"].x.shape[1] == 8
    assert len(w.corpus.tokenizer) <= 300
    (root / "heldout-monolingual.tokenized.shuffled" / "news.en.heldout-00001-of-00050").unlink()
    with pytest.raises(InputError, match="at least 2 held-out shards"):
        workloads.get("lm1b-transformer", str(root), seq_len=8, vocab_size=300).data(torch.device("cpu"))


def test_warpeace_splits_are_contiguous_fractions(data_root):
    w = make("warpeace-lstm", data_root)
    splits = w.data(torch.device("cpu"))
    counts = {k: int((v.y != -100).sum()) for k, v in splits.items()}
    assert counts["train"] == round(0.72 * 12_000) - 1 and counts["val"] == round(0.08 * 12_000) - 1
    assert splits["train"].x.shape[1] == 50


def test_lm1b_window_stream_continues_where_it_was_saved(tmp_path):
    from workloads.checkpoint import load_state, save_state

    root = write_lm1b(tmp_path / "lm1b", train_lines=30, heldout_lines=5)
    w = workloads.get("lm1b-transformer", str(root), seq_len=8, vocab_size=300)
    train = w.data(torch.device("cpu"))["train"]
    # The first batch by hand: epoch 0's seeded shard order, that shard's seeded window order.
    k = int(np.random.default_rng([3, 0]).permutation(len(train.paths))[0])
    tokens = w.corpus.tokens(train.paths[k])
    starts = np.random.default_rng([3, 0, k]).permutation((len(tokens) - 1) // 8)[:16] * 8
    rows = torch.from_numpy(np.asarray(tokens[starts[:, None] + np.arange(9)], dtype=np.int64))
    first = w.train_batches(train, 3, batch_size=16)
    x, y = next(first)
    assert torch.equal(x, rows[:, :-1]) and torch.equal(y, rows[:, 1:])
    for _ in range(4):
        next(first)
    state = first.state_dict()
    expected = [next(first) for _ in range(40)]  # several epochs: shards, carries, epoch ends
    assert first.epoch >= 2
    second = w.train_batches(train, 3, batch_size=16)
    second.load_state_dict(load_state(save_state(state)))
    for (x, y), (x2, y2) in zip(expected, (next(second) for _ in range(40)), strict=True):
        assert torch.equal(x, x2) and torch.equal(y, y2)
