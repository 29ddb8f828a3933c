"""An S3-compatible server on 127.0.0.1 for the tests (moto's server mode, a test dependency):
started once per session when a test first asks for it, stopped at the end of the session.

``s3_results`` gives a test a fresh bucket and an ``s3://BUCKET/results`` root; it points the
AWS environment at the server (``AWS_ENDPOINT_URL``, which pyarrow's S3 filesystem and boto3
both read; dummy credentials; a region), so this process and the Ray workers it starts reach it.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import NamedTuple

import pytest

_BUCKETS = itertools.count()


class S3Server(NamedTuple):
    endpoint: str
    """``http://127.0.0.1:PORT``."""


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield S3Server(f"http://{host}:{port}")
    finally:
        server.stop()


@pytest.fixture
def s3_results(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> str:
    """``s3://BUCKET/results`` in a fresh bucket of the session's server, with the AWS
    environment pointing at it."""
    import boto3

    for name, value in {
        "AWS_ENDPOINT_URL": s3_server.endpoint,
        "AWS_ACCESS_KEY_ID": "optcompare-test",
        "AWS_SECRET_ACCESS_KEY": "optcompare-test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    bucket = f"optcompare-test-{next(_BUCKETS)}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    return f"s3://{bucket}/results"
