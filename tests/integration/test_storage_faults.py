"""Storage faults through a real study (issue 16, probe 7): a results store that stops taking
writes mid-study is retried within the sink's bounds, then the study stops with exit 1 naming
the store and the error; every Parquet file written reads, and ``resume`` finishes the study
with every planned trial exactly once. Once with a filesystem wrapper that fails every write
from the Nth on, once on a real small filesystem (a tmpfs filled up mid-study; mounting needs
root, the test is skipped otherwise)."""

from __future__ import annotations

import contextlib
import errno
import os
import threading
import time
from pathlib import Path

import pytest
from pyarrow import fs as pafs

import tuning.store.sink as sink_module
from analysis.load import load_results
from optcompare.cli import main
from tests.faulty_store import faulty, part_files
from tests.tmpfs import tmpfs

CONFIG = (
    "name: full\nworkloads: [{name: mnist1d-mlp, steps: 20, eval_every: 10}]\n"
    "optimizers: [sgd, adam]\nprotocols: [lr-only]\ntrials_per_search: 3\nreport_every_s: 0\n"
)
PLANNED = 6


def _check_readable_and_resume(experiment: Path, capsys) -> None:
    """Every part file reads; resume then leaves exactly one row per planned trial."""
    loaded = load_results(str(experiment))
    assert loaded.skipped == ()
    before = len(set(loaded.trials.column("trial_id").to_pylist()))
    assert before < PLANNED
    assert main(["resume", str(experiment), "--num-cpus", "2", "--quiet"]) == 0
    assert f"{before} trials finished, {PLANNED - before} to run" in capsys.readouterr().out
    loaded = load_results(str(experiment))
    ids = loaded.trials.column("trial_id").to_pylist()
    assert loaded.skipped == () and len(ids) == PLANNED and len(set(ids)) == PLANNED
    assert loaded.repeated == {"trials": 0, "curves": 0}
    assert not list(experiment.rglob(".*.tmp"))


@pytest.mark.slow
def test_a_store_failing_from_the_nth_write_stops_the_study_and_resume_finishes(tmp_path, capsys, monkeypatch, shared_ray):
    config = tmp_path / "full.yaml"
    config.write_text(CONFIG)
    real_open = sink_module.open_filesystem
    filesystem, handler = faulty(pafs.LocalFileSystem(), lambda n: n >= 3, counted=part_files)
    monkeypatch.setattr(sink_module, "open_filesystem", lambda root: (filesystem, os.path.abspath(root)))
    monkeypatch.setattr(sink_module, "RETRY_SECONDS", 3.0)
    started = time.monotonic()
    code = main(["run", str(config), "--results", str(tmp_path / "r"), "--num-cpus", "2", "--quiet"])
    err = capsys.readouterr().err
    assert code == 1, err
    experiment = tmp_path / "r" / "full"
    assert f"StorageError: cannot write results to {experiment}" in err
    assert "No space left on device (injected)" in err and "the limit is 3 s" in err
    assert f"'optcompare resume {experiment}'" in err
    assert handler.writes > 3  # retried
    assert time.monotonic() - started < 120
    monkeypatch.setattr(sink_module, "open_filesystem", real_open)
    _check_readable_and_resume(experiment, capsys)


def _fill_when(ready: Path, filler: Path, stop: threading.Event) -> None:
    """Once ``ready`` holds a trials part file, write ``filler`` until the disk is full."""
    while not stop.is_set() and not list((ready / "trials").rglob("part-*.parquet")):
        time.sleep(0.05)
    with contextlib.suppress(OSError), filler.open("wb") as out:
        while not stop.is_set():
            out.write(b"\0" * 65536)
            out.flush()


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_a_real_filesystem_filling_up_mid_study(tmp_path, capsys, monkeypatch, use_plugin, shared_ray):
    # Trials of 2 s (200 steps x 10 ms), so the disk fills while most of them still run.
    module = use_plugin("slow_sgd")
    config = tmp_path / "full.yaml"
    config.write_text(
        f"name: full\nplugins: [{module}]\nworkloads: [{{name: mnist1d-mlp, steps: 200, eval_every: 100}}]\n"
        "optimizers: [slow-sgd, slow-sgd-2]\nprotocols: [lr-only]\ntrials_per_search: 3\nreport_every_s: 0\n"
    )
    monkeypatch.setattr(sink_module, "RETRY_SECONDS", 3.0)
    with tmpfs(tmp_path / "small", "64m") as disk:
        experiment = disk / "r" / "full"
        filler = disk / "filler"
        stop = threading.Event()
        thread = threading.Thread(target=_fill_when, args=(experiment, filler, stop), daemon=True)
        thread.start()
        try:
            code = main(["run", str(config), "--results", str(disk / "r"), "--num-cpus", "2", "--quiet"])
        finally:
            stop.set()
            thread.join(timeout=30)
        err = capsys.readouterr().err
        assert filler.exists(), "the disk was never filled"
        assert code == 1, err
        assert "No space left on device" in err or f"[Errno {errno.ENOSPC}]" in err, err
        filler.unlink()
        _check_readable_and_resume(experiment, capsys)
