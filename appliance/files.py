"""Opening a file that someone else could have put in place: only a regular file of a bounded
size, never through a final symbolic link, and never hanging on a FIFO."""

from __future__ import annotations

import os
import stat
from pathlib import Path


class NotRegularFile(OSError):
    """A directory, FIFO, device or socket where a regular file was expected."""


class FileTooLarge(OSError):
    """A regular file over the size the caller accepts."""


def open_regular(path: str | Path, max_bytes: int) -> int:
    """A read-only descriptor of PATH (blocking again once checked): opened without following a
    final symbolic link and non-blocking, so a FIFO cannot hang the open itself; then refused
    (the descriptor closed) unless it is a regular file of at most MAX_BYTES. Raises OSError
    (NotRegularFile, FileTooLarge, or the open's own)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFile(f"{path}: not a regular file")
        if st.st_size > max_bytes:
            raise FileTooLarge(f"{path}: larger than {max_bytes} bytes")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd
