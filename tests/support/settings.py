"""Settings for a test's data dir, and SQL straight on the test's database for checks of stored state."""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from sqlalchemy import text

from server.settings import Settings
from services.storage import db


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values = {"data_dir": tmp_path / "data", "secret_key": "test-secret-key-that-is-long-enough-for-hs256",
              "max_concurrent_jobs": 2, "job_heartbeat_seconds": 0.5,
              "job_retry_backoff_seconds": 0.05, **overrides}  # a transiently failed job's re-run waits 50 ms, not 2 s
    return Settings(_env_file=None, **values)  # a developer's .env must not change what a test sees


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
