"""Crash-safe file writes: a reader sees the old file or the new one, never half of one."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["write_atomic", "append_line", "fsync_directory"]


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder, then rename.

    A rename within one folder is atomic, so a crash leaves either the previous file or
    the complete new one; the temporary file is removed if anything fails.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "aliases.json"
    >>> write_atomic(target, b"{}")
    >>> target.read_bytes()
    b'{}'
    """
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)


def append_line(path: Path, line: str) -> None:
    """Append one line and flush it to disk (for append-only logs).

    If a crash cut the last line short, the new line starts on a line of its own, so
    a reader loses only the broken line, never the event written after it.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> log = pathlib.Path(tempfile.mkdtemp()) / "history.jsonl"
    >>> _ = log.write_bytes(b'{"event": "prom')  # a line cut short by a crash
    >>> append_line(log, '{"event": "rollback"}')
    >>> log.read_text().splitlines()
    ['{"event": "prom', '{"event": "rollback"}']
    """
    with open(path, "a+b") as file:
        file.seek(0, os.SEEK_END)
        prefix = b""
        if file.tell() > 0:
            file.seek(-1, os.SEEK_END)
            if file.read(1) != b"\n":
                prefix = b"\n"
        file.write(prefix + line.rstrip("\n").encode("utf-8") + b"\n")
        file.flush()
        os.fsync(file.fileno())


def fsync_directory(path: Path) -> None:
    """Make a rename inside ``path`` durable; a no-op where folders cannot be opened (Windows)."""
    try:
        handle = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)
