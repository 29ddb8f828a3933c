"""LM1B text shards: a BPE vocabulary built offline from the training shards, and token caches.

Layout in ``data_dir``, which is the folder ``1-billion-word-language-modeling-benchmark-r13output/``
that the release tarball extracts to:
``training-monolingual.tokenized.shuffled/news.en-000NN-of-00100`` (training shards) and
``heldout-monolingual.tokenized.shuffled/news.en.heldout-000NN-of-00050`` (held-out shards),
plain UTF-8 text, one tokenised sentence per line.

The tokenizer is trained on the first ``sample_bytes`` of the sorted training shards and cached
with the token arrays under ``data_dir/optcompare-cache/`` (or under the default cache when
``data_dir`` is read-only). Each shard is tokenised on first use (one array per shard, written
atomically under a file lock), so the first epoch of the first trial pays the cost once; call
:func:`prepare` to tokenise everything up front.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .bpe import BpeTokenizer
from .common import atomic_save_npy, atomic_write_text, file_lock, writable_cache_dir

TRAIN_DIR = "training-monolingual.tokenized.shuffled"
HELDOUT_DIR = "heldout-monolingual.tokenized.shuffled"
TRAIN_GLOB = "news.en-*"
HELDOUT_GLOB = "news.en.heldout-*"


def shards(data_dir: Path) -> tuple[list[Path], list[Path]]:
    """Sorted training and held-out shard paths."""
    return sorted((data_dir / TRAIN_DIR).glob(TRAIN_GLOB)), sorted((data_dir / HELDOUT_DIR).glob(HELDOUT_GLOB))


def _read_lines(path: Path) -> Iterator[str]:
    with open(path, encoding="utf-8", errors="replace") as handle:
        yield from handle


def _sample(paths: list[Path], sample_bytes: int) -> Iterator[str]:
    taken = 0
    for path in paths:
        for line in _read_lines(path):
            taken += len(line)
            yield line
            if taken >= sample_bytes:
                return


class Lm1bCorpus:
    """The tokenizer and per-shard token arrays of one LM1B directory."""

    def __init__(self, data_dir: Path, vocab_size: int, sample_bytes: int) -> None:
        self.data_dir = data_dir
        self.train_paths, self.heldout_paths = shards(data_dir)
        self.cache = writable_cache_dir(data_dir / "optcompare-cache", str(data_dir.resolve()))
        self.vocab_size = vocab_size
        self.sample_bytes = sample_bytes
        self._tokenizer: BpeTokenizer | None = None

    @property
    def tokenizer(self) -> BpeTokenizer:
        if self._tokenizer is None:
            path = self.cache / f"bpe-{self.vocab_size}-{self.sample_bytes}.json"
            if not path.exists():
                with file_lock(self.cache / (path.name + ".lock")):
                    if not path.exists():
                        tok = BpeTokenizer.train(_sample(self.train_paths, self.sample_bytes), self.vocab_size)
                        atomic_write_text(path, tok.dumps())
            self._tokenizer = BpeTokenizer.loads(path.read_text(encoding="utf-8"))
        return self._tokenizer

    def tokens(self, shard: Path) -> np.ndarray:
        """Token ids of every sentence of ``shard`` (memory-mapped from the cache)."""
        folder = self.cache / f"tokens-{self.vocab_size}-{self.sample_bytes}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{shard.parent.name}--{shard.name}.npy"
        if not path.exists():
            with file_lock(folder / (path.name + ".lock")):
                if not path.exists():
                    atomic_save_npy(path, self.tokenizer.encode_lines(_read_lines(shard)))
        return np.load(path, mmap_mode="r")

    def prepare(self) -> None:
        """Build the tokenizer and tokenise every shard now."""
        for shard in (*self.train_paths, *self.heldout_paths):
            self.tokens(shard)
