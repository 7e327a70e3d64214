"""A real SMTP server process (aiosmtpd's own command) that keeps every mail it receives in a Maildir."""

from __future__ import annotations

import mailbox
import subprocess
import sys
import time
from email.message import Message
from pathlib import Path

from devtools.local_server import free_port, listening, wait_until_ready


class SmtpServer:
    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.maildir = folder / "maildir"
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                f"127.0.0.1:{self.port}",
                "-c",
                "aiosmtpd.handlers.Mailbox",
                str(self.maildir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until_ready("the SMTP server", self.process, 30, listening(self.port))

    def env(self) -> dict[str, str]:
        return {
            "ASSAY_SMTP_HOST": "127.0.0.1",
            "ASSAY_SMTP_PORT": str(self.port),
            "ASSAY_SMTP_STARTTLS": "false",
            "ASSAY_SMTP_FROM": "assay@example.com",
        }

    def mail_to(self, address: str, timeout: float = 30, count: int = 1) -> list[Message]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.maildir.exists():
                found = [m for m in mailbox.Maildir(self.maildir, create=False) if address in (m["To"] or "")]
                if len(found) >= count:
                    return found
            time.sleep(0.1)
        raise AssertionError(f"no mail to {address} arrived")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
