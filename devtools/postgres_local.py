"""A throwaway PostgreSQL from the machine's binaries: for tests, `make cluster` and trying the scaled-out profile.

The server runs in a temp dir on a free 127.0.0.1 port with trust auth and no durability (fsync off):
fast, private, gone when stopped. PostgreSQL refuses to run as root, so as root it runs as the
`postgres` user the Debian package creates; Debian's `postgresql` is installed when no binaries exist.

    with local_postgres() as pg:
        url = pg.create_database("assay")   # postgresql+asyncpg://postgres@127.0.0.1:PORT/assay
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from devtools.local_server import free_port

SUPERUSER = "postgres"
_DATABASE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL binaries, and none could be installed (not root, or apt failed)."""


def find_binaries(install: bool = True) -> Path:
    """The newest /usr/lib/postgresql/*/bin holding `postgres`; installs Debian's package when none does (as root)."""
    found = _installed_bin_dirs()
    if not found and install and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-q"], env=env, check=False, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-q", "postgresql"], env=env, check=False, capture_output=True)
        found = _installed_bin_dirs()
    if not found:
        raise PostgresUnavailable(
            "PostgreSQL binaries not found under /usr/lib/postgresql/*/bin; "
            "install them with `apt-get install postgresql` (Debian/Ubuntu)"
        )
    return found[-1]


def _installed_bin_dirs() -> list[Path]:
    dirs = [p for p in Path("/usr/lib/postgresql").glob("*/bin") if (p / "postgres").exists()]
    return sorted(dirs, key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)


class LocalPostgres:
    """One running throwaway server. `url` points at its `postgres` database; `create_database` makes more.

    `directory` (default: a new temp dir, removed on stop) must be reachable by the `postgres` user when run
    as root; a given directory is kept, and a cluster already in it is started again rather than re-created."""

    def __init__(self, directory: Path | None = None, port: int | None = None) -> None:
        self.bin_dir = find_binaries()
        self._owns_directory = directory is None
        # mkdtemp's 0700 dir under /tmp is reachable by the postgres user once chowned (pytest's tmp dirs are not)
        self.directory = Path(directory or tempfile.mkdtemp(prefix="assay-pg-")).resolve()
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.data_dir = self.directory / "data"
        self.socket_dir = self.directory / "socket"
        self.log_path = self.directory / "postgres.log"
        self._run_as = SUPERUSER if os.geteuid() == 0 else None
        self.running = False

    @property
    def url(self) -> str:
        return self.url_for(SUPERUSER)

    def url_for(self, database: str) -> str:
        return f"postgresql+asyncpg://{SUPERUSER}@{self.host}:{self.port}/{database}"

    def start(self) -> LocalPostgres:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        self.log_path.touch()
        if self._run_as:
            entry = pwd.getpwnam(self._run_as)
            for path in (self.directory, self.socket_dir, self.log_path):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        if not (self.data_dir / "PG_VERSION").exists():  # a caller's directory may hold a cluster from before
            self._server_command(
                "initdb",
                "-D",
                str(self.data_dir),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            )
        options = (
            f"-p {self.port} -k {self.socket_dir} -c listen_addresses={self.host} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300 "
            "-c shared_buffers=64MB"
        )
        self._server_command(
            "pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_path), "-o", options, "-w", "-t", "60", "start"
        )
        self.running = True
        return self

    def stop(self) -> None:
        """Stop the server (immediately: nothing in it is worth keeping) and remove what it wrote."""
        if self.running:
            self._server_command("pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "stop", check=False)
            self.running = False
        if self._owns_directory:
            shutil.rmtree(self.directory, ignore_errors=True)

    def create_database(self, name: str) -> str:
        """Create database `name` (lower-case identifier) and return its asyncpg URL."""
        self.psql(f'CREATE DATABASE "{_checked(name)}"')
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        self.psql(f'DROP DATABASE IF EXISTS "{_checked(name)}" WITH (FORCE)')

    def psql(self, sql: str, database: str = SUPERUSER) -> str:
        """Run one SQL statement as the superuser and return psql's unaligned output."""
        result = subprocess.run(
            [
                str(self.bin_dir / "psql"),
                "-X",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                self.host,
                "-p",
                str(self.port),
                "-U",
                SUPERUSER,
                "-d",
                database,
                "-c",
                sql,
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if result.returncode != 0:
            raise RuntimeError(f"psql failed: {result.stderr.strip()}")
        return result.stdout.strip()

    def _server_command(self, program: str, *args: str, check: bool = True) -> None:
        command = [str(self.bin_dir / program), *args]
        if self._run_as:
            command = ["runuser", "-u", self._run_as, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=self.directory)
        if check and result.returncode != 0:
            log = self.log_path.read_text(errors="replace")[-2000:] if self.log_path.exists() else ""
            raise RuntimeError(f"{program} failed ({result.returncode}): {result.stderr.strip()}\n{log}")


def _checked(name: str) -> str:
    if not _DATABASE_NAME.match(name):
        raise ValueError(f"not a plain database name: {name!r}")
    return name


def start_local_postgres(directory: Path | None = None, port: int | None = None) -> LocalPostgres:
    """Start one and return it; the caller calls `.stop()` (for code that cannot use a `with`)."""
    return LocalPostgres(directory, port).start()


@contextmanager
def local_postgres(directory: Path | None = None, port: int | None = None) -> Iterator[LocalPostgres]:
    server = LocalPostgres(directory, port)
    try:
        yield server.start()
    finally:
        server.stop()


if __name__ == "__main__":  # `python -m devtools.postgres_local [database]`: serve until Ctrl-C
    import sys
    import time

    with local_postgres() as running:
        print(running.create_database(sys.argv[1]) if len(sys.argv) > 1 else running.url, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
