"""Helpers shared by the data loaders: fixed hold-out splits and locked, atomic cache files."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

HOLDOUT_SEED = 0
"""Seed of every carved validation hold-out: the same examples for every trial and run."""


def default_cache_dir() -> Path:
    """``$OPTCOMPARE_CACHE`` or ``~/.cache/optcompare``."""
    return Path(os.environ.get("OPTCOMPARE_CACHE", Path.home() / ".cache" / "optcompare"))


def holdout(n: int, size: int, seed: int = HOLDOUT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train, val)`` of a fixed, seeded validation hold-out carved from ``n``
    training examples: ``min(size, n // 5)`` examples (at least 1), both sorted ascending.

    The cap only matters for small test files; the real data sets are far larger than 5 * size.
    """
    take = max(1, min(int(size), n // 5))
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[take:]), np.sort(perm[:take])


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``path`` (created if needed) for the duration of the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def writable_cache_dir(preferred: Path, fallback_key: str) -> Path:
    """``preferred`` if it can be created and written, else a directory under the default cache
    named after ``fallback_key`` (for read-only data directories)."""
    try:
        preferred.mkdir(parents=True, exist_ok=True)
        probe = preferred / f".probe.{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
        return preferred
    except OSError:
        digest = hashlib.sha256(fallback_key.encode()).hexdigest()[:16]
        path = default_cache_dir() / f"{preferred.name}-{digest}"
        path.mkdir(parents=True, exist_ok=True)
        return path


def atomic_save_npy(path: Path, array: np.ndarray) -> None:
    """Write ``array`` to ``path`` under a temporary name, then rename it into place."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as handle:
        np.save(handle, array)
    os.replace(tmp, path)


def atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
