"""Tokens on disk: one JSON file only its user can read, keyed by server URL, changed under a lock."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import platformdirs


def config_dir() -> Path:
    configured = os.environ.get("ASSAY_CONFIG_DIR")
    return Path(configured) if configured else Path(platformdirs.user_config_dir("assay"))


class CredentialStore:
    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or config_dir()
        self.path = self.directory / "credentials.json"

    def get(self, url: str) -> dict | None:
        return self._read().get(url)

    def put(self, url: str, entry: dict) -> None:
        with self.locked():
            self.put_while_locked(url, entry)

    def put_while_locked(self, url: str, entry: dict) -> None:
        """For a caller that already holds `locked()` (flock is per open file: taking it twice would wait forever)."""
        self._write({**self._read(), url: entry})

    def remove(self, url: str) -> bool:
        with self.locked():
            servers = self._read()
            found = servers.pop(url, None) is not None
            self._write(servers)
        return found

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Held while refreshing, so two commands never spend the same one-time refresh token (a replay
        would revoke the whole login)."""
        self._ensure_directory()
        with os.fdopen(os.open(self.directory / "credentials.lock", os.O_RDWR | os.O_CREAT, 0o600)) as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _ensure_directory(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)

    def _read(self) -> dict:
        try:
            return json.loads(self.path.read_text()).get("servers", {})
        except (FileNotFoundError, ValueError):
            return {}

    def _write(self, servers: dict) -> None:
        """Written to a 0600 temporary file and renamed, so the tokens are never readable by others nor half-written."""
        self._ensure_directory()
        handle, temporary = tempfile.mkstemp(dir=self.directory, prefix=".credentials-")  # mkstemp makes it 0600
        try:
            with os.fdopen(handle, "w") as file:
                json.dump({"servers": servers}, file, indent=2)
            os.replace(temporary, self.path)
        except BaseException:
            os.unlink(temporary)
            raise
