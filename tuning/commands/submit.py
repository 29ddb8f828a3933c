"""``optcompare submit``: send a study to a Ray cluster as a Ray Job.

The config's directory travels as the job's working directory (so relative protocol files go
with it) and the job runs ``optcompare run CONFIG --address auto`` on the cluster, whose nodes
must have optcompare installed (``cluster.yaml`` does that). Results are written by the job's
driver on the head node: give the results root as a path there or a shared URI (``s3://...``).
Ray's token authentication stays on: set RAY_AUTH_MODE=token for the client as for the cluster.
"""

from __future__ import annotations

import shlex
import time
from pathlib import Path
from typing import Any, Protocol

from optcompare.errors import InputError, ParameterError
from tuning.plan.resolve import resolve_plan
from tuning.spec.config import load_config

__all__ = ["submit_study", "wait_for_job"]

TERMINAL = {"SUCCEEDED", "FAILED", "STOPPED"}

AGENT_NOT_READY = "No available agent to submit job"
"""What Ray's job server answers (HTTP 500) while no node's job agent is up yet: on a cluster
that just started, for seconds after the server itself answers."""
AGENT_WAIT_S = 120.0
"""How long ``submit`` retries while the answer is :data:`AGENT_NOT_READY`."""


class JobClient(Protocol):
    """What ``submit`` uses of a ``ray.job_submission.JobSubmissionClient``."""

    def submit_job(
        self, *, entrypoint: str, runtime_env: dict[str, Any] | None = None, metadata: dict[str, str] | None = None
    ) -> str: ...

    def get_job_status(self, job_id: str) -> object: ...

    def get_job_logs(self, job_id: str) -> str: ...


def _client(address: str) -> JobClient:
    try:
        from ray.job_submission import JobSubmissionClient
    except ImportError as err:  # pragma: no cover - ray[default] is a dependency
        raise InputError(f"Ray Jobs needs ray[default] ({err}); pip install 'ray[default]'") from None
    try:
        return JobSubmissionClient(address)
    except Exception as err:  # noqa: BLE001 - connection errors come in many types
        raise InputError(
            f"cannot reach the Ray job server at {address} ({type(err).__name__}: {err}); start the "
            "head with a dashboard (ray start --head --dashboard-host=127.0.0.1) or tunnel to it "
            "(ray dashboard cluster.yaml)"
        ) from None


def submit_study(
    config_path: str,
    address: str,
    *,
    results: str,
    name: str | None = None,
    python: str | None = None,
) -> tuple[str, JobClient]:
    """Validate the config locally, submit it, and return (job id, client). The job runs
    ``optcompare run`` on the cluster's Ray, writing under ``results`` (an absolute path on the
    head node or a URI) as ``name`` (default: the config's name).

    The job runs ``optcompare`` from the PATH of the cluster's job shell, or ``PYTHON -m
    optcompare`` when ``python`` names the cluster's interpreter."""

    if "://" not in results and not results.startswith("/"):
        raise ParameterError(
            "results",
            f"{{name}} {results!r}: give an absolute path on the head node or a URI "
            "(s3://...); a relative path would land in the job's temporary working directory",
        )
    config = load_config(config_path)  # bad input fails here, before anything is sent
    plan = resolve_plan(config)
    path = Path(config_path).resolve()
    command = [python, "-m", "optcompare"] if python else ["optcompare"]
    args = [*command, "run", path.name, "--address", "auto", "--results", results, "--quiet"]
    if name:
        args += ["--name", name]
    client = _client(address)
    deadline = time.monotonic() + AGENT_WAIT_S
    while True:
        try:
            job_id = client.submit_job(
                entrypoint=shlex.join(args),
                runtime_env={"working_dir": str(path.parent)},
                metadata={"optcompare_experiment": name or config.name, "planned_trials": str(len(plan))},
            )
        except RuntimeError as err:  # Ray's client raises RuntimeError for an HTTP error
            if AGENT_NOT_READY not in str(err) or time.monotonic() > deadline:
                raise
            time.sleep(1.0)  # a cluster that just started: its job agent comes up shortly
            continue
        return job_id, client


def wait_for_job(client: JobClient, job_id: str, timeout_s: float = 3600.0, poll_s: float = 2.0) -> str:
    """Poll until the job ends; return its final status name."""
    deadline = time.monotonic() + timeout_s
    while True:
        status = str(client.get_job_status(job_id)).rsplit(".", 1)[-1]
        if status in TERMINAL or time.monotonic() > deadline:
            return status
        time.sleep(poll_s)
