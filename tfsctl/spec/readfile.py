"""Reading an input file (a spec, a model.config) with its size limit applied while reading.

`Path.read_bytes()` reads to the end before any limit can be checked: `validate /dev/zero`
read until memory ran out, and a FIFO blocked forever in `open()`. Here the file is opened
without blocking, refused unless it is a regular file, and read for at most `limit + 1`
bytes, so an endless or oversized file costs at most that much memory.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


class InputFileError(Exception):
    """The file cannot be used as input; `message` says why and `hint` what to do."""

    def __init__(self, message: str, hint: str):
        super().__init__(message)
        self.message = message
        self.hint = hint


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def read_limited(file: Path, limit: int, what: str = "file") -> bytes:
    """The bytes of regular file `file`; raises InputFileError if it cannot be read, is not a
    regular file, or holds more than `limit` bytes."""
    try:
        fd = os.open(file, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise InputFileError(f"cannot read the {what}: {exc.strerror}",
                             "check the path and its permissions") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise InputFileError(f"the {what} is {_kind(mode)}, not a regular file",
                             f"pass the path of a {what} on disk")
    with os.fdopen(fd, "rb") as stream:
        try:
            raw = stream.read(limit + 1)
        except OSError as exc:
            raise InputFileError(f"cannot read the {what}: {exc.strerror}",
                                 "check the path and its permissions") from None
    if len(raw) > limit:
        raise InputFileError(f"the {what} is larger than {limit} bytes",
                             "split it, or check that this is the right file")
    return raw
