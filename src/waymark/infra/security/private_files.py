"""Files that hold secrets: readable by their owner only, never seen half-written.

The embedded profile keeps its signing keys (and later its data-encryption key) in `var/`;
these helpers are the one way such a file is read or written.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def file_stamp(path: Path) -> tuple[int, int, int]:
    """What changes when the file is rewritten (inode, mtime, size): a cheap "did it change"."""
    st = path.stat()
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def read_private(path: Path) -> tuple[bytes, tuple[int, int, int]]:
    """The file's bytes and stamp; refuses a file that group or others may read, as ssh does
    with private keys."""
    fd = os.open(path, os.O_RDONLY)
    with os.fdopen(fd, "rb") as file:
        st = os.fstat(file.fileno())
        if st.st_mode & 0o077:
            raise PermissionError(
                f"{path} holds private keys but group or others may read it: chmod 600 it"
            )
        return file.read(), (st.st_ino, st.st_mtime_ns, st.st_size)


def write_private(path: Path, data: bytes, *, exclusive: bool) -> None:
    """Write `data` readable by the owner only, never leaving a partial file at `path`:
    a private temporary file, then a link (`exclusive`: fails if `path` exists) or a rename."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as file:
            os.fchmod(file.fileno(), 0o600)
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        if exclusive:
            os.link(temporary, path)
        else:
            os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
