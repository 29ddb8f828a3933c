"""Fixtures of the workload tests: the tiny data sets of :mod:`tests.workloads.data_files`,
written once per session, and one torch thread."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.workloads.data_files import WRITERS, python2_cifar_pickle, write_cifar10


@pytest.fixture(scope="session")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One directory per data workload's format, written once per session."""
    root = tmp_path_factory.mktemp("workload-data")
    written: dict[object, Path] = {}
    for name, writer in WRITERS.items():
        if writer not in written:
            written[writer] = writer(root / name)
    (root / "cifar10-vgg16").symlink_to(written[write_cifar10])
    return root


@pytest.fixture
def python2_cifar_batch(tmp_path: Path) -> tuple[Path, np.ndarray, list[int]]:
    """A CIFAR-10 batch file written as Python 2's cPickle wrote the real ones, with its data
    and labels."""
    data = np.random.default_rng(6).integers(0, 256, (300, 3072)).astype(np.uint8)  # > 255 memo entries
    labels = [int(v) for v in np.random.default_rng(7).integers(0, 10, 300)]
    path = tmp_path / "data_batch_1"
    path.write_bytes(python2_cifar_pickle(data, labels, b"labels"))
    return path, data, labels


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """One intra-op thread, as a trial runs: timings stay steady on a shared 2-core machine
    (two spinning threads stall when another process holds a core)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
