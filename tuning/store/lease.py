"""One driver per experiment: a lease file ``RESULTS/NAME/.lease`` that ``run`` and ``resume``
hold while they drive the study.

The lease is a small JSON object: ``host``, ``pid``, ``pid_started`` (the process's start time,
so a reused pid is not taken for the holder), ``started`` and ``heartbeat`` (UTC, ISO 8601, and
``heartbeat_unix``), a random ``token`` and, once the driver started Ray in-process, ``ray``
(its node id, session directory and process ids: what :func:`tuning.driver.ray_processes.stop_session`
stops after the driver was killed). A heartbeat thread rewrites it every
:data:`HEARTBEAT_S` seconds; :meth:`Lease.release` deletes it.

A driver that finds a lease whose holder is alive gets :class:`LeaseHeld` (exit 2, naming the
holder). A lease is *stale*, and is taken over with a warning, when its heartbeat is older than
:data:`TIMEOUT_S` (the holder died or was cut off; the hosts' clocks must agree to within a
few seconds), or at once when its holder ran on this host and that process is gone.

Atomicity. Every write is a compare-and-swap on the lease's version:

- local or shared POSIX filesystem: the lease is created whole by ``link(2)`` of a temporary
  file (which, like ``O_CREAT | O_EXCL``, fails if the name exists); a renewal or
  takeover first creates ``.lease.<version>.swap`` exclusively (only one writer may swap from a
  given version), checks the version is still current, and replaces the file by ``rename``;
- ``s3://``: ``PutObject`` with ``If-None-Match: *`` to create and ``If-Match: <ETag>`` to
  renew or take over (boto3, which reads ``AWS_ENDPOINT_URL`` like pyarrow does). A store that
  ignores these headers (or an ``s3://`` root without boto3, or any other URI scheme) gets an
  *advisory* lease, with a warning: written by plain overwrite and read back after
  :data:`SETTLE_S`; a second driver started after the first one's lease is written is refused,
  two started within the same moment may both run.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import secrets
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from optcompare.errors import InputError
from tuning.store.sink import open_filesystem

__all__ = [
    "HEARTBEAT_S",
    "LEASE_FILE",
    "TIMEOUT_S",
    "Lease",
    "LeaseHeld",
    "acquire",
    "process_alive",
    "read_lease",
]

LEASE_FILE = ".lease"
HEARTBEAT_S = 10.0
"""Seconds between renewals."""
TIMEOUT_S = 60.0
"""A lease whose heartbeat is older than this is stale (six missed renewals)."""
SETTLE_S = 0.5
"""How long an advisory lease waits before reading itself back."""
SWAP_STALE_S = 30.0
"""A ``.swap`` marker older than this was left by a writer that died mid-swap; it is removed."""


class LeaseHeld(InputError):
    """Another live driver holds the experiment's lease."""


# --------------------------------------------------------------------------- the process


def _process_started(pid: int) -> float | None:
    """The start time of process ``pid`` in clock ticks since boot (``/proc``), None if there is
    no such process (or no ``/proc``)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
        return float(fields[19])
    except (OSError, IndexError, ValueError):
        return None


def process_alive(pid: int, started: float | None = None) -> bool:
    """Whether process ``pid`` runs on this host (and, given ``started``, is the same process:
    its start time matches, so a reused pid does not count)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, another user's
    if started is None:
        return True
    now = _process_started(pid)
    return now is None or now == started


def _now() -> tuple[str, float]:
    moment = dt.datetime.now(dt.UTC)
    return moment.isoformat(timespec="seconds"), moment.timestamp()


def _holder_text(record: dict[str, Any]) -> str:
    return (
        f"pid {record.get('pid')} on host {record.get('host')!r} since {record.get('started')} "
        f"(last heartbeat {record.get('heartbeat')})"
    )


def stale_reason(record: dict[str, Any], *, timeout_s: float = TIMEOUT_S, now: float | None = None) -> str | None:
    """Why the lease ``record`` is stale (None: its holder counts as alive)."""
    pid = record.get("pid")
    if record.get("host") == socket.gethostname() and isinstance(pid, int) and not process_alive(
        pid, record.get("pid_started")
    ):
        return f"its driver (pid {record['pid']} on this host) is gone"
    beat = record.get("heartbeat_unix")
    age = (time.time() if now is None else now) - float(beat) if isinstance(beat, (int, float)) else None
    if age is None:
        return "it has no heartbeat"
    if age > timeout_s:
        return f"its last heartbeat is {age:.0f} s old (timeout {timeout_s:g} s)"
    return None


# --------------------------------------------------------------------------- the stores


class LeaseStore(Protocol):
    """Where the lease lives; every write is conditional on a version (module docstring)."""

    atomic: bool
    where: str

    def create(self, data: bytes) -> str | None:
        """Write ``data`` if there is no lease; its version, or None if one exists."""

    def read(self) -> tuple[bytes, str] | None:
        """(data, version) of the lease, None if there is none."""

    def swap(self, data: bytes, version: str) -> str | None:
        """Replace the lease if it is still at ``version``; the new version, or None."""

    def delete(self, version: str) -> None:
        """Delete the lease if it is still at ``version``."""


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:24]


class LocalStore:
    """A lease file on a local or shared POSIX filesystem."""

    atomic = True

    def __init__(self, path: str) -> None:
        self.path = path
        self.where = path

    def _written(self, data: bytes) -> str:
        """A hidden temporary file beside the lease holding ``data`` (its path); a write that
        fails (a full disk) leaves no temporary file behind."""
        tmp = f"{self.path}.{secrets.token_hex(4)}.tmp"
        try:
            with open(tmp, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return tmp

    def create(self, data: bytes) -> str | None:
        # link(2) fails if the name exists, like O_EXCL, and the file appears whole.
        tmp = self._written(data)
        try:
            os.link(tmp, self.path)
        except FileExistsError:
            return None
        finally:
            os.unlink(tmp)
        return _digest(data)

    def read(self) -> tuple[bytes, str] | None:
        try:
            with open(self.path, "rb") as lease:
                data = lease.read()
        except FileNotFoundError:
            return None
        return data, _digest(data)

    def _take_marker(self, version: str) -> str | None:
        """Create the swap marker of ``version`` (its path), None while another writer holds it;
        a marker left by a writer that died mid-swap is removed after :data:`SWAP_STALE_S`."""
        marker = f"{self.path}.{version}.swap"
        for _ in range(2):
            try:
                os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
                return marker
            except FileExistsError:
                with contextlib.suppress(OSError):
                    if time.time() - os.stat(marker).st_mtime > SWAP_STALE_S:
                        os.unlink(marker)
        return None

    @contextlib.contextmanager
    def _swapping(self, version: str) -> Iterator[bool]:
        """Hold the swap marker of ``version`` while inside (False: another writer holds it)."""
        marker = self._take_marker(version)
        try:
            yield marker is not None
        finally:
            if marker is not None:
                with contextlib.suppress(OSError):
                    os.unlink(marker)

    def swap(self, data: bytes, version: str) -> str | None:
        with self._swapping(version) as mine:
            current = self.read()
            if not mine or current is None or current[1] != version:
                return None
            tmp = self._written(data)
            try:
                os.replace(tmp, self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
            return _digest(data)

    def delete(self, version: str) -> None:
        with self._swapping(version) as mine:
            current = self.read()
            if mine and current is not None and current[1] == version:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.path)


class S3Store:
    """A lease object on S3 (or an S3-compatible store) through boto3's conditional puts."""

    atomic = True

    def __init__(self, bucket: str, key: str) -> None:
        import boto3

        self.client = boto3.client("s3")
        self.bucket, self.key = bucket, key
        self.where = f"s3://{bucket}/{key}"

    def _put(self, data: bytes, **condition: str) -> str | None:
        from botocore.exceptions import ClientError

        try:
            answer = self.client.put_object(Bucket=self.bucket, Key=self.key, Body=data, **condition)
        except ClientError as err:
            code = err.response.get("Error", {}).get("Code", "")
            status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in ("PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey") or status in (404, 409, 412):
                return None
            raise OSError(f"{self.where}: {err}") from err
        return str(answer["ETag"])

    def create(self, data: bytes) -> str | None:
        return self._put(data, IfNoneMatch="*")

    def read(self) -> tuple[bytes, str] | None:
        from botocore.exceptions import ClientError

        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self.key)
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise OSError(f"{self.where}: {err}") from err
        return answer["Body"].read(), str(answer["ETag"])

    def swap(self, data: bytes, version: str) -> str | None:
        return self._put(data, IfMatch=version)

    def delete(self, version: str) -> None:
        from botocore.exceptions import ClientError

        with contextlib.suppress(ClientError):
            self.client.delete_object(Bucket=self.bucket, Key=self.key, IfMatch=version)


class AdvisoryStore:
    """A lease on any pyarrow filesystem, by plain overwrite: not atomic (module docstring)."""

    atomic = False

    def __init__(self, experiment_dir: str) -> None:
        self.filesystem, root = open_filesystem(experiment_dir)
        self.path = f"{root.rstrip('/')}/{LEASE_FILE}"
        self.where = f"{experiment_dir.rstrip('/')}/{LEASE_FILE}"

    def _write(self, data: bytes) -> str:
        with self.filesystem.open_output_stream(self.path) as out:
            out.write(data)
        return _digest(data)

    def create(self, data: bytes) -> str | None:
        return None if self.read() is not None else self._write(data)

    def read(self) -> tuple[bytes, str] | None:
        try:
            with self.filesystem.open_input_stream(self.path) as lease:
                data = lease.read()
        except FileNotFoundError:
            return None
        return data, _digest(data)

    def swap(self, data: bytes, version: str) -> str | None:
        current = self.read()
        return None if current is None or current[1] != version else self._write(data)

    def delete(self, version: str) -> None:
        current = self.read()
        if current is not None and current[1] == version:
            with contextlib.suppress(OSError):
                self.filesystem.delete_file(self.path)


def lease_store(experiment_dir: str, warn: Callable[[str], None]) -> LeaseStore:
    """The store of ``experiment_dir``'s lease: local file, S3 object, or advisory."""
    if experiment_dir.startswith("file://"):
        experiment_dir = experiment_dir[len("file://"):]
    if "://" not in experiment_dir:
        os.makedirs(experiment_dir, exist_ok=True)
        return LocalStore(os.path.join(os.path.abspath(experiment_dir), LEASE_FILE))
    if experiment_dir.startswith("s3://"):
        try:
            import boto3  # noqa: F401 - only probing that it is there
        except ImportError:
            warn(f"{experiment_dir}: boto3 is not installed, so the lease is advisory (pip install boto3 for conditional puts)")
        else:
            bucket, _, prefix = experiment_dir[len("s3://"):].partition("/")
            return S3Store(bucket, f"{prefix.strip('/')}/{LEASE_FILE}".lstrip("/"))
    else:
        warn(f"{experiment_dir}: this store has no conditional writes here, so the lease is advisory")
    return AdvisoryStore(experiment_dir)


# --------------------------------------------------------------------------- the lease


def _warn(message: str) -> None:
    print(f"optcompare: warning: {message}", file=sys.stderr, flush=True)


class Lease:
    """A held lease: renewed by a heartbeat thread while entered, released at exit.

    ``previous`` is the stale lease this one took over (None: there was none); ``lost`` turns
    true if a renewal finds another driver's lease (this driver was presumed dead), and
    ``on_lost`` is then called once with the message.
    """

    def __init__(
        self, store: LeaseStore, record: dict[str, Any], version: str, *,
        previous: dict[str, Any] | None = None, heartbeat_s: float = HEARTBEAT_S,
    ) -> None:
        self.store = store
        self.record = record
        self.version = version
        self.previous = previous
        self.heartbeat_s = heartbeat_s
        self.lost = False
        self.on_lost: Callable[[str], None] | None = None
        self.released = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def token(self) -> str:
        return str(self.record["token"])

    def update(self, **fields: Any) -> None:  # noqa: ANN401
        """Add ``fields`` to the record (e.g. ``ray=...``) and renew now."""
        self.record.update(fields)
        self.renew()

    def renew(self) -> bool:
        """Rewrite the heartbeat; False (and :attr:`lost`) if another driver holds the lease."""
        with self._lock:
            if self.released or self.lost:
                return not self.lost
            self.record["heartbeat"], self.record["heartbeat_unix"] = _now()
            version = self.store.swap(_encode(self.record), self.version)
            if version is None:
                self.lost = True
            else:
                self.version = version
        if self.lost:
            message = (
                f"the lease {self.store.where} was taken over by another driver (this one was "
                f"presumed dead: no heartbeat for {TIMEOUT_S:g} s)"
            )
            if self.on_lost is not None:
                self.on_lost(message)
            return False
        return True

    def release(self) -> None:
        """Delete the lease (if it is still this driver's); idempotent, safe in a signal handler's
        last moments."""
        self._stop.set()
        with self._lock:
            if self.released:
                return
            self.released = True
            if not self.lost:
                with contextlib.suppress(OSError):
                    self.store.delete(self.version)

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            try:
                if not self.renew():
                    return
            except OSError as err:  # the store is unreachable now: try again at the next beat
                _warn(f"cannot renew the lease {self.store.where}: {err}")

    def __enter__(self) -> Lease:
        self._thread = threading.Thread(target=self._beat, name="optcompare-lease", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
        if self._thread is not None:
            self._thread.join(timeout=5)


def _encode(record: dict[str, Any]) -> bytes:
    return json.dumps(record, indent=2, sort_keys=True).encode()


def _decode(data: bytes) -> dict[str, Any]:
    try:
        record = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return {}
    return record if isinstance(record, dict) else {}


def read_lease(experiment_dir: str) -> dict[str, Any] | None:
    """The lease record of ``experiment_dir`` (None: no lease; ``{}``: unreadable)."""
    found = lease_store(experiment_dir, lambda message: None).read()
    return None if found is None else _decode(found[0])


def _new_record(command: str) -> dict[str, Any]:
    started, unix = _now()
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "pid_started": _process_started(os.getpid()),
        "started": started,
        "heartbeat": started,
        "heartbeat_unix": unix,
        "token": secrets.token_hex(16),
        "command": command,
    }


def acquire(
    experiment_dir: str,
    *,
    command: str | None = None,
    heartbeat_s: float = HEARTBEAT_S,
    timeout_s: float = TIMEOUT_S,
    warn: Callable[[str], None] = _warn,
) -> Lease:
    """Take the lease of ``experiment_dir`` (creating the directory if it is local and absent);
    :class:`LeaseHeld` if a live driver holds it; a stale one is taken over with ``warn``.

    Use the result as a context manager: it renews the lease while inside and releases it on
    the way out."""
    store = lease_store(experiment_dir, warn)
    record = _new_record(command or " ".join(["optcompare", *sys.argv[1:2]]))
    data = _encode(record)
    for _ in range(5):
        try:
            version = store.create(data)
        except OSError as err:
            raise InputError(
                f"{experiment_dir}: cannot write the lease {store.where} ({err}); a study's driver "
                "writes its results directory: give one this user can write to (a copy of the "
                "experiment, if this one must stay read-only)"
            ) from None
        previous = None
        if version is None:
            found = store.read()
            if found is None:
                continue  # released meanwhile: create again
            previous = _decode(found[0])
            reason = stale_reason(previous, timeout_s=timeout_s) if previous else "it is unreadable"
            if reason is None:
                raise LeaseHeld(
                    f"{experiment_dir}: another driver is running this experiment: "
                    f"{_holder_text(previous)}; wait for it to finish, or stop it first (a lease "
                    f"with no heartbeat for {timeout_s:g} s is taken over)"
                )
            version = store.swap(data, found[1])
            if version is None:
                continue  # another driver swapped first: look again
            warn(f"{experiment_dir}: took over a stale lease ({reason}): {_holder_text(previous)}")
        if not store.atomic:
            time.sleep(SETTLE_S)
            back = store.read()
            if back is None or _decode(back[0]).get("token") != record["token"]:
                raise LeaseHeld(f"{experiment_dir}: another driver took the lease at the same moment")
            version = back[1]
        return Lease(store, record, version, previous=previous, heartbeat_s=heartbeat_s)
    raise LeaseHeld(f"{experiment_dir}: the lease {store.where} keeps changing; another driver is starting")
