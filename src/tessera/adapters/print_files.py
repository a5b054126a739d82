"""Print files: the only place plain voucher codes are ever written.

A file is created owner-only (0600) next to its final name with a ``.partial`` suffix and
renamed when the batch is complete, so a file without the suffix is always whole. It is
handed out once: ``take`` opens it and unlinks it before the first byte is sent, so the
codes leave the disk even if the download is interrupted.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

PARTIAL = ".partial"


def partial_path(path: Path) -> Path:
    return path.with_name(path.name + PARTIAL)


class PrintFileWriter:
    """Writes rows, keeps their SHA-256, and publishes the file under its final name."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._partial = partial_path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._file: BinaryIO = os.fdopen(fd, "wb", buffering=1 << 20)
        self._sha = hashlib.sha256()

    def write(self, text: str) -> None:
        data = text.encode("utf-8")
        self._sha.update(data)
        self._file.write(data)

    def finish(self) -> str:
        """Flushes to disk, renames to the final name and returns the SHA-256 (hex)."""
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        os.replace(self._partial, self.path)
        return self._sha.hexdigest()

    def __enter__(self) -> PrintFileWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self._file.closed:  # not finished: the codes must not stay behind
            self._file.close()
            discard(self.path)


def discard(path: Path) -> None:
    """Removes a print file, whole or partial; a missing file is not an error."""
    for candidate in (path, partial_path(path)):
        with contextlib.suppress(FileNotFoundError):
            candidate.unlink()


def take(path: Path, chunk_size: int = 1 << 16) -> Iterator[bytes] | None:
    """Opens the file and removes it from the disk at once; returns its content as chunks,
    or None when the file is no longer there."""
    try:
        file = path.open("rb")
    except FileNotFoundError:
        return None
    path.unlink()

    def chunks() -> Iterator[bytes]:
        with file:
            while block := file.read(chunk_size):
                yield block

    return chunks()
