"""The experiment lease (tuning/store/lease.py) on a local directory and on a real S3 API (moto):
one holder, a live holder refuses a second driver naming it, a stale lease is taken over with a
warning, racing drivers get exactly one lease, renewals notice a takeover, release deletes it."""

from __future__ import annotations

import json
import re
import socket
import threading
import time

import pytest

from tests.waiting import wait_for
from tuning.store.lease import LEASE_FILE, LeaseHeld, acquire, read_lease, stale_reason


@pytest.fixture(params=["local", "s3"])
def experiment(request, tmp_path) -> str:
    if request.param == "local":
        return str(tmp_path / "exp")
    return f"{request.getfixturevalue('s3_results')}/exp"


def _write_lease(experiment: str, record: dict) -> None:
    """Plant a lease as another driver would have left it."""
    from tuning.store.lease import lease_store

    store = lease_store(experiment, lambda message: None)
    assert store.create(json.dumps(record).encode()) is not None


def _other_driver(heartbeat_age_s: float) -> dict:
    now = time.time()
    return {"host": "elsewhere", "pid": 4242, "started": "2026-01-01T00:00:00+00:00",
            "heartbeat": "then", "heartbeat_unix": now - heartbeat_age_s, "token": "theirs"}


def test_one_holder_and_a_second_driver_is_refused_naming_it(experiment):
    with acquire(experiment) as lease:
        record = read_lease(experiment)
        assert record["token"] == lease.token and record["host"] == socket.gethostname()
        with pytest.raises(LeaseHeld, match=rf"another driver is running this experiment: pid {lease.record['pid']} on host"):
            acquire(experiment)
    assert read_lease(experiment) is None  # released
    with acquire(experiment):  # free again
        pass


def test_a_live_foreign_lease_is_respected_and_a_stale_one_taken_over(experiment):
    _write_lease(experiment, _other_driver(heartbeat_age_s=5))
    with pytest.raises(LeaseHeld, match="pid 4242 on host 'elsewhere' since 2026-01-01"):
        acquire(experiment, warn=pytest.fail)
    warnings: list[str] = []
    with acquire(experiment, timeout_s=3, warn=warnings.append) as lease:
        assert lease.previous["token"] == "theirs"
        assert read_lease(experiment)["token"] == lease.token
    assert len(warnings) == 1 and re.search(r"took over a stale lease \(its last heartbeat is \d+ s old", warnings[0])


def test_a_lease_of_a_dead_process_on_this_host_is_stale_at_once():
    record = {"host": socket.gethostname(), "pid": 2**22 + 1, "heartbeat_unix": time.time()}
    assert "is gone" in stale_reason(record)
    assert stale_reason({**record, "pid": __import__("os").getpid()}) is None


@pytest.mark.parametrize("stale", [False, True], ids=["fresh", "stale"])
def test_racing_drivers_get_exactly_one_lease(experiment, stale):
    if stale:
        _write_lease(experiment, _other_driver(heartbeat_age_s=600))
    won, refused = [], []
    start = threading.Barrier(6)

    def driver() -> None:
        start.wait()
        try:
            won.append(acquire(experiment, warn=lambda message: None))
        except LeaseHeld:
            refused.append(1)

    threads = [threading.Thread(target=driver) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert (len(won), len(refused)) == (1, 5)
    assert read_lease(experiment)["token"] == won[0].token
    won[0].release()


def test_renewal_moves_the_heartbeat_and_notices_a_takeover(experiment):
    lost: list[str] = []
    with acquire(experiment, heartbeat_s=0.2) as lease:
        lease.on_lost = lost.append
        first = read_lease(experiment)["heartbeat_unix"]
        wait_for(lambda: read_lease(experiment)["heartbeat_unix"] > first, 30, "a renewed heartbeat")
        lease.update(ray={"node_id": "n"})
        assert read_lease(experiment)["ray"] == {"node_id": "n"}
        # Another driver presumed this one dead and took over:
        with pytest.raises(LeaseHeld):
            acquire(experiment)
        newer = acquire(experiment, timeout_s=0, warn=lambda message: None)
        wait_for(lambda: lease.lost and lost, 30, "the renewal to notice the takeover")
        assert "taken over by another driver" in lost[0]
    assert read_lease(experiment)["token"] == newer.token  # the lost lease's exit leaves it alone
    newer.release()


def test_the_lease_is_a_hidden_file_of_the_experiment(tmp_path):
    with acquire(str(tmp_path / "exp")):
        assert (tmp_path / "exp" / LEASE_FILE).is_file()
    assert not list((tmp_path / "exp").iterdir())  # no swap markers or temporaries left


def test_a_lease_write_that_fails_leaves_no_temporary_file(tmp_path, monkeypatch):
    """A full disk during a renewal (the tmpfs test found it): the lease's temporary file goes."""
    import builtins

    from tuning.store.lease import LocalStore

    store = LocalStore(str(tmp_path / ".lease"))
    real_open = builtins.open

    class Full:
        def __init__(self, handle):
            self.handle = handle

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

        def write(self, data):
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(builtins, "open", lambda path, mode="r", *a, **k: Full(real_open(path, mode, *a, **k))
                        if str(path).endswith(".tmp") else real_open(path, mode, *a, **k))
    with pytest.raises(OSError, match="No space left"):
        store.create(b"{}")
    assert list(tmp_path.iterdir()) == []
