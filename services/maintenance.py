"""Admin operations on the whole store: migrate to head, and delete everything (rows and data files)."""

from __future__ import annotations

import asyncio
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel import SQLModel, col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.errors import ErrorCode, ServiceError, invalid
from services.jobs.engine import JobEngine
from services.jobs.status import ACTIVE, JobStatus
from services.storage import db
from services.storage.tables import Job

# What the caller of resetDatabase must type: long enough that no one sends it by accident
RESET_CONFIRMATION = "DELETE EVERYTHING"
KEPT_FILES = {"secret.key"}  # configuration, not data: tokens of a recreated admin stay verifiable


@dataclass
class MigrationResult:
    previous_revision: str | None
    revision: str | None


@dataclass
class ResetResult:
    deleted_rows: int
    deleted_files: int


async def initialize_database(*, engine: AsyncEngine, database_url: str) -> MigrationResult:
    """Migrate to head (under the same advisory lock as start-up on PostgreSQL); a no-op when already there."""
    previous = await db.current_revision(engine)
    await asyncio.to_thread(db.migrate, database_url)
    return MigrationResult(previous_revision=previous, revision=await db.current_revision(engine))


async def reset_database(
    *,
    sessions: async_sessionmaker[AsyncSession],
    jobs: JobEngine,
    data_dir: Path,
    database_url: str,
    allowed: bool,
    confirmation: str,
    stop_timeout: float = 15,
) -> ResetResult:
    """Stop every unfinished job, delete every row of every table in one transaction, then every data file."""
    if not allowed:
        raise ServiceError(
            ErrorCode.FORBIDDEN,
            "Resetting the database is disabled on this server (set ASSAY_ALLOW_DATABASE_RESET=true to allow it)",
        )
    if confirmation != RESET_CONFIRMATION:
        raise invalid(f'Type exactly "{RESET_CONFIRMATION}" to confirm', ["confirmation"])
    await _stop_unfinished_jobs(sessions, jobs, stop_timeout)
    deleted_rows = 0
    async with sessions() as session:
        for table in reversed(SQLModel.metadata.sorted_tables):  # children before the rows they reference
            deleted_rows += (await session.exec(delete(table))).rowcount or 0
        await session.commit()
    return ResetResult(
        deleted_rows=deleted_rows, deleted_files=await asyncio.to_thread(_delete_data_files, data_dir, database_url)
    )


async def _stop_unfinished_jobs(sessions: async_sessionmaker[AsyncSession], jobs: JobEngine, timeout: float) -> None:  # noqa: ASYNC109 - a bound handed to the engine's own wait
    """Cancel through the engine, so workers stop writing before their rows and files go."""
    async with sessions() as session:
        unfinished = (await session.exec(select(Job.id).where(col(Job.status).in_(ACTIVE)))).all()
    for job_id in unfinished:
        await jobs.cancel(job_id, reason="The database is being reset")
    # Wait for each runner's own confirmation (it leaves RUNNING once its process stopped), wherever it
    # runs: this process's runner, or a Celery worker on another machine.
    deadline = time.monotonic() + timeout
    while unfinished and time.monotonic() < deadline:
        async with sessions() as session:
            still_running = (
                await session.exec(
                    select(func.count())
                    .select_from(Job)
                    .where(col(Job.id).in_(unfinished), Job.status == JobStatus.RUNNING)
                )
            ).one()
        if not still_running and not jobs.active_job_ids:
            return
        await asyncio.sleep(0.1)


def _delete_data_files(data_dir: Path, database_url: str) -> int:
    kept = set(KEPT_FILES)
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database:  # emptied above; the open engine keeps its file
        database = Path(url.database).resolve()
        kept |= (
            {database.name + suffix for suffix in ("", "-wal", "-shm", "-journal")}
            if database.parent == data_dir
            else set()
        )
    deleted = 0
    for entry in data_dir.iterdir():
        if entry.name in kept:
            continue
        if entry.is_dir() and not entry.is_symlink():
            deleted += sum(1 for path in entry.rglob("*") if path.is_file())
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
            deleted += 1
    return deleted
