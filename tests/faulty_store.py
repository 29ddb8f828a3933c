"""Filesystems for storage-fault tests: a pyarrow filesystem that wraps another one, records
every call, and fails chosen writes (the Nth output stream opened, or every one from the Nth on)
the way a full disk does."""

from __future__ import annotations

import errno
from collections.abc import Callable

from pyarrow import fs as pafs


def part_files(path: str) -> bool:
    """Whether ``path`` is a part file (or its temporary): the writes of the results sink."""
    return path.rsplit("/", 1)[-1].startswith(("part-", ".part-"))


class FaultyHandler(pafs.FileSystemHandler):
    """Delegates to ``base``; ``fails(n)`` (n = 1, 2, ... per output stream opened on a path
    that ``counted`` picks) decides whether that write raises ENOSPC. ``calls`` records
    ``(method, path)``."""

    def __init__(self, base: pafs.FileSystem, fails: Callable[[int], bool] = lambda n: False,
                 *, renames_atomically: bool | None = None,
                 counted: Callable[[str], bool] = lambda path: True) -> None:
        self.base = base
        self.fails = fails
        self.counted = counted
        self.writes = 0
        self.calls: list[tuple[str, str]] = []
        self.renames_atomically = (
            isinstance(base, pafs.LocalFileSystem) if renames_atomically is None else renames_atomically
        )

    def _record(self, name: str, path: str) -> None:
        self.calls.append((name, path))

    def get_type_name(self) -> str:
        return f"faulty-{self.base.type_name}"

    def normalize_path(self, path: str) -> str:
        return self.base.normalize_path(path)

    def get_file_info(self, paths):  # noqa: ANN001, ANN201
        return self.base.get_file_info(paths)

    def get_file_info_selector(self, selector):  # noqa: ANN001, ANN201
        return self.base.get_file_info(selector)

    def create_dir(self, path: str, recursive: bool) -> None:
        self._record("create_dir", path)
        self.base.create_dir(path, recursive=recursive)

    def delete_dir(self, path: str) -> None:
        self._record("delete_dir", path)
        self.base.delete_dir(path)

    def delete_dir_contents(self, path: str, missing_dir_ok: bool = False) -> None:
        self.base.delete_dir_contents(path, missing_dir_ok=missing_dir_ok)

    def delete_root_dir_contents(self) -> None:
        self.base.delete_dir_contents("/", accept_root_dir=True)

    def delete_file(self, path: str) -> None:
        self._record("delete_file", path)
        self.base.delete_file(path)

    def move(self, src: str, dest: str) -> None:
        self._record("move", dest)
        self.base.move(src, dest)

    def copy_file(self, src: str, dest: str) -> None:
        self._record("copy_file", dest)
        self.base.copy_file(src, dest)

    def open_input_stream(self, path: str):  # noqa: ANN201
        return self.base.open_input_stream(path)

    def open_input_file(self, path: str):  # noqa: ANN201
        return self.base.open_input_file(path)

    def open_output_stream(self, path: str, metadata):  # noqa: ANN001, ANN201
        self._record("open_output_stream", path)
        if not self.counted(path):
            return self.base.open_output_stream(path, metadata=metadata)
        self.writes += 1
        if self.fails(self.writes):
            raise OSError(errno.ENOSPC, "No space left on device (injected)", path)
        return self.base.open_output_stream(path, metadata=metadata)

    def open_append_stream(self, path: str, metadata):  # noqa: ANN001, ANN201
        return self.base.open_append_stream(path, metadata=metadata)


def faulty(base: pafs.FileSystem, fails: Callable[[int], bool], **kwargs: object) -> tuple[pafs.PyFileSystem, FaultyHandler]:
    """(the wrapping filesystem, its handler)."""
    handler = FaultyHandler(base, fails, **kwargs)
    return pafs.PyFileSystem(handler), handler
