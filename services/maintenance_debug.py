"""The administrators' view of one job (seed 000's /debug/{task_id}): where it runs, what this replica
holds for it, and whether the files it reads and writes exist in the data dir.

The job engine answers the first two (services/jobs/debug.py knows no domain); the files are derived
here from the job row's dataset and the models and reports it produced, with the same path functions
the jobs write with.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from services import files
from services.errors import not_found
from services.jobs.debug import JobWhereabouts, locate_job
from services.jobs.engine import JobEngine
from services.storage import objects
from services.storage.tables import Job, Model, Report, utcnow


@dataclass
class StoredFile:
    name: str  # what the file is, in the user's words ("dataset Parquet copy")
    object_id: str
    path: str  # relative to the data dir
    exists: bool
    size_bytes: int | None


@dataclass
class JobDebug:
    job: Job
    whereabouts: JobWhereabouts
    heartbeat_age_seconds: float | None
    files: list[StoredFile]


async def debug_job(
    session: AsyncSession, *, jobs: JobEngine, job_id: str | None, data_dir: Path, now: datetime | None = None
) -> JobDebug:
    """Any user's job (the caller is an administrator); NOT_FOUND for an unknown id."""
    job = await session.get(Job, job_id) if job_id else None
    if job is None:
        raise not_found("Job", ["id"])
    now = now or utcnow()
    age = (now - job.heartbeat_at).total_seconds() if job.heartbeat_at else None
    return JobDebug(
        job=job,
        whereabouts=await locate_job(jobs, job.id),
        heartbeat_age_seconds=age,
        files=await _files_of(session, job, data_dir),
    )


async def _files_of(session: AsyncSession, job: Job, data_dir: Path) -> list[StoredFile]:
    wanted: list[tuple[str, str, Path]] = []
    dataset_id = job.dataset_id or job.params.get("dataset_id")
    if dataset_id:
        wanted += [
            ("dataset original upload", dataset_id, files.original_path(data_dir, dataset_id)),
            ("dataset Parquet copy", dataset_id, files.parquet_path(data_dir, dataset_id)),
        ]
        if job.kind == "PROFILE":
            wanted.append(("dataset profile", dataset_id, files.profile_path(data_dir, dataset_id)))
    input_model = job.params.get("model_id")
    if isinstance(input_model, str):
        wanted.append(("model file", input_model, files.model_path(data_dir, input_model)))
    for model_id in (await session.exec(select(Model.id).where(Model.job_id == job.id))).all():
        if model_id != input_model:
            wanted.append(("model file", model_id, files.model_path(data_dir, model_id)))
    for report_id in (await session.exec(select(Report.id).where(Report.job_id == job.id))).all():
        wanted.append(("report", report_id, files.report_path(data_dir, report_id)))
    return await asyncio.to_thread(
        lambda: [_check(name, object_id, path, data_dir) for name, object_id, path in wanted]
    )


def _check(name: str, object_id: str, path: Path, data_dir: Path) -> StoredFile:
    """Where files are kept: the object store when there is one (this replica's cache may lack them), else the disk."""
    store = objects.current()
    key = store.key(path) if store is not None else None
    if store is not None and key is not None:
        stored = store.head(key)
        return StoredFile(
            name=name,
            object_id=object_id,
            path=str(path.relative_to(data_dir)),
            exists=stored is not None,
            size_bytes=stored.size if stored is not None else None,
        )
    exists = path.is_file()
    return StoredFile(
        name=name,
        object_id=object_id,
        path=str(path.relative_to(data_dir)),
        exists=exists,
        size_bytes=path.stat().st_size if exists else None,
    )
