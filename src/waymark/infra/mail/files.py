"""The embedded mailer: one `.eml` file per message, for development and single-host installs.

Files are readable by their owner only (they carry verification and reset links), written
to a temporary name and renamed so a reader never sees half a message, and named
`<UTC time>-<message id>.eml` so a directory listing is in sending order.
"""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
from pathlib import Path

from waymark.infra.mail.compose import to_email
from waymark.kernel.clock import utcnow
from waymark.kernel.ports import MailMessage

DEFAULT_SENDER = "Waymark <no-reply@localhost>"
_UNSAFE = re.compile(r"[^A-Za-z0-9._@-]")
_TIME_FORMAT = "%Y%m%dT%H%M%S%fZ"
_TIME_GLOB = "????????T????????????Z"  # what _TIME_FORMAT produces, so ids never overlap


class FileMailer:
    def __init__(self, directory: Path, *, sender: str = DEFAULT_SENDER) -> None:
        self.directory = Path(directory)
        self.sender = sender

    async def send(self, message: MailMessage) -> None:
        """Write the message; a message id already written is not written again."""
        data = to_email(message, sender=self.sender).as_bytes()
        await asyncio.to_thread(self._write, file_stem(message.message_id), data)

    def path_for(self, message_id: str) -> Path | None:
        """The file holding the message with this id, if it was written."""
        return self._existing(file_stem(message_id))

    def _write(self, stem: str, data: bytes) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        if self._existing(stem) is not None:
            return  # delivered before: a retry after the relay lost track of the outcome
        final = self.directory / f"{utcnow().strftime(_TIME_FORMAT)}-{stem}.eml"
        fd, temporary = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=".eml")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, final)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def _existing(self, stem: str) -> Path | None:
        found = sorted(self.directory.glob(f"{_TIME_GLOB}-{stem}.eml"))
        return found[0] if found else None


def file_stem(message_id: str) -> str:
    """The message id as a safe file-name part: brackets dropped, other symbols replaced."""
    return _UNSAFE.sub("_", message_id.strip().strip("<>"))[:150] or "message"
