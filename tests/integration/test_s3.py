"""``--results s3://...`` end to end against a real S3 API (moto's server on 127.0.0.1, reached
through AWS_ENDPOINT_URL; issue 16, probe 8): ``run``, ``rank``, ``query``, ``report``, and
``resume`` after a SIGKILL of the driver, with the rows counted from the Parquet objects."""

from __future__ import annotations

import os
import signal
import time

import pyarrow.parquet as pq
import pytest
from pyarrow import fs as pafs

from analysis.load import load_results
from optcompare.cli import main
from tests.integration.driver_process import start

TINY = (
    "name: tiny\nworkloads: [{name: mnist1d-mlp, steps: 20, eval_every: 10}]\n"
    "optimizers: [sgd, adam]\nprotocols: [lr-only]\ntrials_per_search: 2\n"
)


def _objects(uri: str) -> list[pafs.FileInfo]:
    filesystem, root = pafs.FileSystem.from_uri(uri)
    selector = pafs.FileSelector(root, recursive=True, allow_not_found=True)
    return [i for i in filesystem.get_file_info(selector) if i.type == pafs.FileType.File]


def _trial_ids(uri: str, table: str) -> list[str]:
    """Every trial_id of ``table``, read object by object (repeats kept)."""
    filesystem, _ = pafs.FileSystem.from_uri(uri)
    ids: list[str] = []
    for info in _objects(f"{uri}/{table}"):
        if info.base_name.startswith("part-"):
            ids += pq.read_table(info.path, filesystem=filesystem, columns=["trial_id"]).column("trial_id").to_pylist()
    return ids


@pytest.mark.slow
def test_run_rank_query_and_report_with_results_on_s3(tmp_path, capsys, s3_results, shared_ray):
    config = tmp_path / "tiny.yaml"
    config.write_text(TINY)
    assert main(["run", str(config), "--results", s3_results, "--num-cpus", "2", "--quiet"]) == 0
    experiment = f"{s3_results}/tiny"
    assert f"results in {experiment}" in capsys.readouterr().out
    ids = _trial_ids(experiment, "trials")
    assert len(ids) == 4 and len(set(ids)) == 4
    assert len(_trial_ids(experiment, "curves")) == 4 * 2  # two evaluations per trial
    names = [i.base_name for i in _objects(experiment)]
    assert "experiment.json" in names and not [n for n in names if n.endswith(".tmp")]

    assert main(["rank", experiment, "--resamples", "50"]) == 0
    assert "sgd" in capsys.readouterr().out
    assert main(["query", experiment, "select count(*) as n from trials", "--format", "csv"]) == 0
    assert capsys.readouterr().out.split() == ["n", "4"]
    assert main(["query", experiment, f"copy trials to '{tmp_path}/x.csv'"]) == 2
    assert not (tmp_path / "x.csv").exists()
    assert main(["report", experiment, "--out", str(tmp_path / "report"), "--resamples", "50"]) == 0
    assert (tmp_path / "report" / "index.html").is_file() or list((tmp_path / "report").iterdir())


@pytest.mark.slow
def test_resume_on_s3_after_a_sigkill_runs_every_trial_exactly_once(tmp_path, capsys, use_plugin, s3_results, shared_ray):
    module = use_plugin("slow_sgd")
    config = tmp_path / "long.yaml"
    config.write_text(
        f"name: long\nplugins: [{module}]\nworkloads: [{{name: mnist1d-mlp, steps: 300, eval_every: 100}}]\n"
        "optimizers: [slow-sgd, slow-sgd-2]\nprotocols: [lr-only]\ntrials_per_search: 4\nreport_every_s: 0\n"
    )
    experiment = f"{s3_results}/long"
    driver = start(["run", str(config), "--results", s3_results, "--num-cpus", "2", "--quiet"], tmp_path / "driver.log")
    try:
        deadline = time.monotonic() + 240
        while not _trial_ids(experiment, "trials"):
            assert time.monotonic() < deadline, "timed out waiting for a finished trial on S3"
            assert driver.poll() is None, "the driver ended before it was killed"
            time.sleep(0.3)
    finally:
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait(timeout=60)
    before = len(set(_trial_ids(experiment, "trials")))
    assert 0 < before < 8
    assert main(["resume", experiment, "--num-cpus", "2", "--quiet"]) == 0
    assert f"{before} trials finished, {8 - before} to run" in capsys.readouterr().out
    ids = _trial_ids(experiment, "trials")
    assert len(ids) == 8 and len(set(ids)) == 8  # every planned trial once, from the objects
    loaded = load_results(experiment)
    assert loaded.skipped == () and loaded.repeated == {"trials": 0, "curves": 0}
