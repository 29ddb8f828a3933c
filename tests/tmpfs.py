"""A real small filesystem for fault tests: a tmpfs mounted for the test (root only; skips
otherwise), optionally remounted read-only once filled."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True, check=False)


@contextlib.contextmanager
def tmpfs(where: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` (``mount -o size=``) at ``where`` (created), unmounted on the way out."""
    where.mkdir()
    mounted = _run("mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where))
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip() or mounted.returncode}); needs root")
    try:
        yield where
    finally:
        _run("umount", "-l", str(where))


def remount_read_only(where: Path) -> None:
    """Make the tmpfs at ``where`` read-only (what a read-only network mount looks like)."""
    done = _run("mount", "-o", "remount,ro", str(where))
    assert done.returncode == 0, done.stderr
