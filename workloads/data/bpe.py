"""A byte-level BPE tokenizer trained offline (no downloads, numpy-free core).

Words are whitespace-separated; each word is encoded as the UTF-8 bytes of ``" " + word`` and
merges never cross words. Ids: 0 is end-of-sentence, ``1 + b`` is byte ``b``, ``257 + r`` is
merge ``r``. Training counts words in a text sample and applies the most frequent adjacent pair
merge repeatedly (ties broken by the smaller pair), with incremental pair counts and a lazy
heap, until the vocabulary is full or no pair occurs twice.
"""

from __future__ import annotations

import heapq
import json
from collections import Counter, defaultdict
from collections.abc import Iterable

import numpy as np

EOS = 0
_BYTE_OFFSET = 1
_MERGE_OFFSET = 257


class BpeTokenizer:
    """Encode sentences to token ids with a list of merges (pairs of internal symbol ids)."""

    def __init__(self, merges: list[tuple[int, int]]) -> None:
        self.merges = [tuple(m) for m in merges]
        self.ranks = {pair: r for r, pair in enumerate(self.merges)}
        self._cache: dict[str, list[int]] = {}

    def __len__(self) -> int:
        return _MERGE_OFFSET + len(self.merges)

    @classmethod
    def train(cls, lines: Iterable[str], vocab_size: int) -> BpeTokenizer:
        counts = Counter(word for line in lines for word in line.split())
        return cls(_learn_merges({(" " + w).encode(): c for w, c in counts.items()}, vocab_size - _MERGE_OFFSET))

    def dumps(self) -> str:
        return json.dumps({"format": "optcompare-bpe-v1", "merges": self.merges})

    @classmethod
    def loads(cls, text: str) -> BpeTokenizer:
        data = json.loads(text)
        if data.get("format") != "optcompare-bpe-v1":
            raise ValueError("not an optcompare BPE tokenizer file")
        return cls([tuple(m) for m in data["merges"]])

    def encode_word(self, word: str) -> list[int]:
        cached = self._cache.get(word)
        if cached is not None:
            return cached
        symbols = list((" " + word).encode())
        ranks = self.ranks
        while len(symbols) > 1:
            best = min(
                (ranks.get(pair, len(ranks)), i) for i, pair in enumerate(zip(symbols, symbols[1:], strict=False))
            )
            rank = best[0]
            if rank == len(ranks):
                break
            a, b = self.merges[rank]
            merged: list[int] = []
            i = 0
            while i < len(symbols):
                if i + 1 < len(symbols) and symbols[i] == a and symbols[i + 1] == b:
                    merged.append(256 + rank)
                    i += 2
                else:
                    merged.append(symbols[i])
                    i += 1
            symbols = merged
        ids = [s + _BYTE_OFFSET for s in symbols]
        if len(self._cache) < 2_000_000:
            self._cache[word] = ids
        return ids

    def encode(self, line: str) -> list[int]:
        """Token ids of one sentence, ending with :data:`EOS`."""
        out: list[int] = []
        for word in line.split():
            out += self.encode_word(word)
        out.append(EOS)
        return out

    def encode_lines(self, lines: Iterable[str]) -> np.ndarray:
        """Concatenated ids of many sentences (uint16 when the vocabulary fits, else int32)."""
        ids: list[int] = []
        for line in lines:
            if line.strip():
                ids += self.encode(line)
        return np.asarray(ids, dtype=np.uint16 if len(self) <= 65_536 else np.int32)

    def decode(self, ids: Iterable[int]) -> str:
        """Text of ``ids``: sentences joined by newlines, words by single spaces."""
        expand: dict[int, bytes] = {i: bytes([i]) for i in range(256)}
        for r, (a, b) in enumerate(self.merges):
            expand[256 + r] = expand[a] + expand[b]
        parts: list[bytes] = []
        for i in ids:
            parts.append(b"\n" if i == EOS else expand[int(i) - _BYTE_OFFSET])
        return b"".join(parts).decode(errors="replace").replace("\n ", "\n").strip(" ")


def _learn_merges(word_counts: dict[bytes, int], num_merges: int) -> list[tuple[int, int]]:
    words = [list(w) for w in word_counts]
    freq = list(word_counts.values())
    pair_counts: dict[tuple[int, int], int] = defaultdict(int)
    where: dict[tuple[int, int], set[int]] = defaultdict(set)
    for wi, w in enumerate(words):
        for pair in zip(w, w[1:], strict=False):
            pair_counts[pair] += freq[wi]
            where[pair].add(wi)
    heap = [(-c, pair) for pair, c in pair_counts.items()]
    heapq.heapify(heap)
    merges: list[tuple[int, int]] = []
    while heap and len(merges) < num_merges:
        neg, pair = heapq.heappop(heap)
        count = pair_counts.get(pair, 0)
        if count != -neg:
            if count > 0:
                heapq.heappush(heap, (-count, pair))
            continue
        if count < 2:
            break
        new = 256 + len(merges)
        merges.append(pair)
        touched: set[tuple[int, int]] = set()
        a, b = pair
        for wi in where.pop(pair, ()):
            w = words[wi]
            if len(w) < 2:
                continue
            c = freq[wi]
            for p in zip(w, w[1:], strict=False):
                pair_counts[p] -= c
                touched.add(p)
            merged: list[int] = []
            i = 0
            while i < len(w):
                if i + 1 < len(w) and w[i] == a and w[i + 1] == b:
                    merged.append(new)
                    i += 2
                else:
                    merged.append(w[i])
                    i += 1
            words[wi] = merged
            for p in zip(merged, merged[1:], strict=False):
                pair_counts[p] += c
                where[p].add(wi)
                touched.add(p)
        pair_counts.pop(pair, None)
        for p in touched:
            c = pair_counts.get(p, 0)
            if c > 0:
                heapq.heappush(heap, (-c, p))
            elif p in pair_counts:
                del pair_counts[p]
    return merges
