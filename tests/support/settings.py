"""Settings for a test's data dir, and SQL straight on the test's database for checks of stored state."""

from __future__ import annotations

import asyncio
import atexit
import os
import shutil
import sqlite3
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import text

from server.settings import Settings
from services.storage import db


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values = {
        "data_dir": tmp_path / "data",
        "secret_key": "test-secret-key-that-is-long-enough-for-hs256",
        "max_concurrent_jobs": 2,
        "job_heartbeat_seconds": 0.5,
        "job_retry_backoff_seconds": 0.05,  # a transiently failed job's re-run waits 50 ms, not 2 s
        # Argon2id at its floor: a registration or sign-in otherwise costs ~0.3 s of CPU, a thousand times a run.
        "password_hash_time_cost": 1,
        "password_hash_memory_kib": 32,
        # An analysis's model search tunes until its budget (30 s by default) is spent: a test needs a model, not
        # the best one. Tests about the budget itself set their own.
        "analysis_model_budget_seconds": 3,
        **overrides,
    }
    if "data_dir" not in overrides and "database_url" not in overrides and not os.environ.get("ASSAY_DATABASE_URL"):
        _place_migrated_sqlite(values["data_dir"] / "assay.db")
    return Settings(_env_file=None, **values)  # a developer's .env must not change what a test sees


def _place_migrated_sqlite(target: Path) -> None:
    """A copy of a database migrated once per process, where the app would otherwise migrate a new one.

    On SQLite, start-up migrates the data dir's database from nothing: 17 revisions, about 1 s per test on a
    busy machine, for each of several hundred tests. A copy of one already at head makes start-up's migration a
    version check, as PostgreSQL's clone of the migrated template does (tests/conftest.py). Migrating from
    nothing is still run once per process (here), and the migration tests step their own databases."""
    if target.exists():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_migrated_sqlite_template(), target)


@cache
def _migrated_sqlite_template() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="assay-sqlite-template-"))  # per process: xdist workers each have one
    atexit.register(shutil.rmtree, folder, True)
    template = folder / "assay.db"
    db.migrate(f"sqlite+aiosqlite:///{template}")
    connection = sqlite3.connect(template)
    try:  # everything in the one file, nothing left in a -wal beside it
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()
    return template


def run_sql(settings: Settings, statements: dict[str, str] | str, **params: Any) -> list[tuple]:
    """Run SQL on the test's database (per dialect when it differs) and return the rows; for checks of stored state."""

    async def run() -> list[tuple]:
        engine = db.create_engine(settings.resolved_database_url)
        try:
            async with engine.begin() as connection:
                sql = statements if isinstance(statements, str) else statements[connection.dialect.name]
                result = await connection.execute(text(sql), params)
                return [tuple(row) for row in result] if result.returns_rows else [(result.rowcount,)]
        finally:
            await engine.dispose()

    return asyncio.run(run())
