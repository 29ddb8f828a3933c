"""``lm1b-transformer``: Transformer language model on LM1B (One Billion Word), Choi et al. 2019.

Data: the benchmark's text shards in ``data_dir``, the folder
``1-billion-word-language-modeling-benchmark-r13output/`` that the release tarball extracts to
(see :mod:`workloads.data.lm1b`). Tokens: a byte-level BPE vocabulary of ``vocab_size``
(default 32,768, close to the ~32k subwords of Tensor2Tensor's ``lm1b_32k`` that the paper's
3.45 target refers to) built offline from the training shards and cached in ``data_dir``.
Sentences end with an end-of-sentence token and are packed into windows of ``seq_len`` tokens.
Splits: training shards for training (streamed shard by shard, never all in memory); held-out
shard 00000 (the usual LM1B test set) for test and held-out shard 00001 for validation; the
training loss is measured on the first 1,024 windows of the first training shard. Loss and
target: mean cross-entropy per token (nats). Model: 35.8M parameters at the default vocabulary.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from optcompare.errors import InputError

from .base import Split, Workload
from .data.lm1b import HELDOUT_DIR, HELDOUT_GLOB, TRAIN_DIR, TRAIN_GLOB, Lm1bCorpus
from .data.text import windows
from .models import TransformerLm


@dataclass(frozen=True)
class TrainShards:
    """The training split: shard paths, tokenised on demand by the corpus."""

    paths: tuple[Path, ...]

    def __len__(self) -> int:
        return len(self.paths)


class Lm1bTransformer(Workload):
    name = "lm1b-transformer"
    declares_hidden_matrices = True  # tests/workloads/test_hidden_matrices.py
    description = "Transformer LM (6 layers, d_model 512, 8 heads) on LM1B with a 32k byte-level BPE, batch 256 x 256 tokens"
    batch_size = 256
    step_budget = 750_000
    eval_interval = 10_000
    target_metric = "val_loss"
    target_value = 3.45
    """Validation cross-entropy per token ~3.45 (Choi et al. 2019; unconfirmed with this vocabulary)."""
    train_eval_size = 1024
    eval_chunk = 64
    supports_bundling = False
    """35.8M parameters at the default 32,768-token vocabulary (16.8M of them the tied embedding)
    and 256 x 256-token batches: one trial already keeps an accelerator busy."""
    expected_files = (f"{TRAIN_DIR}/{TRAIN_GLOB}", f"{HELDOUT_DIR}/{HELDOUT_GLOB}")
    data_description = (
        "LM1B text shards, one sentence per line (at least 2 held-out shards: 00000 is test, 00001 validation); "
        "a BPE vocabulary and token arrays are built and cached in data_dir/optcompare-cache"
    )
    data_source = (
        "Get 1-billion-word-language-modeling-benchmark-r13output.tar.gz (https://www.statmt.org/lm-benchmark/) "
        "and extract it: it creates the folder 1-billion-word-language-modeling-benchmark-r13output/ holding "
        "the two shard folders; set data_dir to that folder."
    )

    def __init__(
        self, data_dir: str | Path | None = None, *, seq_len: int = 256, vocab_size: int = 32_768,
        tokenizer_sample_bytes: int = 50_000_000,
    ) -> None:
        """``seq_len`` tokens per window (the model's context); ``vocab_size`` of the BPE, built
        from the first ``tokenizer_sample_bytes`` of the training shards."""
        super().__init__(data_dir)
        self.seq_len = int(seq_len)
        self.vocab_size = int(vocab_size)
        self.tokenizer_sample_bytes = int(tokenizer_sample_bytes)
        self._corpus: Lm1bCorpus | None = None
        self._device = torch.device("cpu")

    @property
    def corpus(self) -> Lm1bCorpus:
        if self._corpus is None:
            self.check_data()
            assert self.data_dir is not None
            self._corpus = Lm1bCorpus(self.data_dir, self.vocab_size, self.tokenizer_sample_bytes)
            if len(self._corpus.heldout_paths) < 2:
                raise InputError(
                    f"workload {self.name!r}: needs at least 2 held-out shards ({HELDOUT_DIR}/{HELDOUT_GLOB}) "
                    f"under {str(self.data_dir)!r}: 00000 is the test set, 00001 the validation set"
                )
        return self._corpus

    def prepare(self) -> None:
        """Build the tokenizer and tokenise every shard now (otherwise done on first use)."""
        self.corpus.prepare()

    def _windows(self, path: Path, limit: int | None = None) -> Split:
        tokens = self.corpus.tokens(path)
        if limit is not None:
            tokens = tokens[: limit * self.seq_len + 1]
        x, y = windows(np.asarray(tokens, dtype=np.int64), self.seq_len)
        return Split(torch.from_numpy(x), torch.from_numpy(y))

    def load_splits(self) -> dict[str, Any]:
        corpus = self.corpus
        return {
            "train": TrainShards(tuple(corpus.train_paths)),
            "val": self._windows(corpus.heldout_paths[1]),
            "test": self._windows(corpus.heldout_paths[0]),
        }

    def data(self, device: torch.device) -> dict[str, Any]:
        self._device = torch.device(device)
        return super().data(device)

    def train_eval_split(self, train: TrainShards) -> Split:
        return self._windows(train.paths[0], self.train_eval_size).to(self._device)

    def build_model(self, seed: int) -> nn.Module:
        torch.manual_seed(seed)
        return TransformerLm(len(self.corpus.tokenizer), max_len=self.seq_len)

    def train_batches(
        self, train: TrainShards, seed: int, batch_size: int | None = None
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Endless batches of windows: each epoch visits the shards in a seeded order and each
        shard's windows in a seeded order (last partial window of a shard and last partial batch
        of an epoch dropped; batches may span two shards). A :class:`WindowStream`, whose
        position can be saved and restored (checkpoints)."""
        return WindowStream(self, train, seed, int(batch_size or self.batch_size), self._device)


class WindowStream:
    """The training windows of :meth:`Lm1bTransformer.train_batches`, with a state: the epoch,
    the position in that epoch's shard order, the next window of the current shard and the
    windows already taken towards the next batch (``carry``). Shard orders and window orders
    are pure functions of (seed, epoch[, shard]), recomputed when needed."""

    def __init__(
        self, workload: Lm1bTransformer, train: TrainShards, seed: int, batch: int, device: torch.device
    ) -> None:
        self.workload, self.train, self.seed, self.batch, self.device = workload, train, int(seed), batch, device
        self.span = np.arange(workload.seq_len + 1)
        self.epoch = 0
        self.shard = 0
        """Position in the epoch's shard order."""
        self.window = 0
        """Next window (in the shard's seeded order) of the current shard."""
        self.carry: list[np.ndarray] = []
        self.produced = False
        """Whether this epoch has yielded a batch (an epoch that cannot is an error)."""

    def __iter__(self) -> WindowStream:
        return self

    def __next__(self) -> tuple[torch.Tensor, torch.Tensor]:
        w, batch, seq_len = self.workload, self.batch, self.workload.seq_len
        while True:
            order = np.random.default_rng([self.seed, self.epoch]).permutation(len(self.train.paths))
            if self.shard == len(order):
                if not self.produced:
                    raise InputError(
                        f"workload {w.name!r}: training shards hold fewer than {batch} windows of {seq_len} "
                        "tokens; use a smaller batch size or seq_len, or more training shards"
                    )
                self.carry, self.epoch, self.shard, self.window, self.produced = [], self.epoch + 1, 0, 0, False
                continue
            k = int(order[self.shard])
            tokens = w.corpus.tokens(self.train.paths[k])
            count = (len(tokens) - 1) // seq_len
            starts = np.random.default_rng([self.seed, self.epoch, k]).permutation(count) * seq_len
            while self.window < len(starts):
                have = sum(len(c) for c in self.carry)
                take = starts[self.window : self.window + batch - have]
                self.carry.append(np.asarray(tokens[take[:, None] + self.span], dtype=np.int64))
                self.window += len(take)
                if have + len(take) == batch:
                    rows = torch.from_numpy(np.concatenate(self.carry))
                    self.carry, self.produced = [], True
                    dev = self.device
                    return rows[:, :-1].to(dev, non_blocking=True), rows[:, 1:].to(dev, non_blocking=True)
            self.shard, self.window = self.shard + 1, 0

    def state_dict(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch, "shard": self.shard, "window": self.window, "produced": self.produced,
            "carry": [torch.from_numpy(c) for c in self.carry],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch, self.shard, self.window = int(state["epoch"]), int(state["shard"]), int(state["window"])
        self.produced = bool(state["produced"])
        self.carry = [c.numpy() for c in state["carry"]]
