"""The MAINTENANCE job body: delete expired refresh tokens, old logs of finished jobs, temporary datasets past
their expiry, and files under the data dir that nothing refers to any more (orphan dataset/model/report files,
stale uploads and spill space).

It runs in a job process like any other body, so it opens its own database connection (the URL is in
its params). Files younger than `grace_seconds` are never touched: a dataset's folder may be written
a moment before its row commits, and an upload may still be arriving.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from sqlalchemy import delete
from sqlmodel import col, select

from services import files
from services.errors import ServiceError
from services.jobs.context import JobContext
from services.jobs.status import ACTIVE, TERMINAL
from services.registry.service import refuse_if_aliased
from services.storage import db, objects
from services.storage.tables import Comparison, Dataset, Job, JobLog, Model, RefreshToken, Report, utcnow

STAGING_FOLDER = "uploads"  # server/uploads.py's staging folder (a service may not import the server)
SCRATCH_FOLDER = "scratch"  # Settings.scratch_dir: each job's spill space, data_dir/scratch/<job id>


class MaintenanceReport(BaseModel):
    """What one run removed: the job's result, and the lines of its log."""

    expired_refresh_tokens: int = 0
    expired_datasets: int = 0
    job_log_lines: int = 0
    orphan_folders: int = 0
    orphan_files: int = 0
    temporary_files: int = 0
    bytes_freed: int = 0
    stored_orphans: int = 0  # objects in the object store (ASSAY_STORAGE_URL) whose dataset, model or report is gone
    aborted_uploads: int = 0  # incomplete multipart uploads of killed writers, older than the bound


def run_maintenance(ctx: JobContext) -> dict[str, Any]:
    data_dir = Path(ctx.params["data_dir"])
    grace = float(ctx.params.get("grace_seconds", 3600))
    report = MaintenanceReport()
    ctx.stage("database")
    expired, kept_back = asyncio.run(_delete_expired_datasets(ctx.params["database_url"], data_dir))
    report.expired_datasets = expired
    ctx.log(f"Removed {expired:,} expired temporary dataset(s)")
    for line in kept_back:
        ctx.log(line, "WARNING")
    tokens, logs, known = asyncio.run(
        _clean_database(ctx.params["database_url"], retention_days=int(ctx.params["log_retention_days"]))
    )
    report.expired_refresh_tokens, report.job_log_lines = tokens, logs
    ctx.log(f"Removed {tokens:,} expired refresh token(s)")
    ctx.log(f"Removed {logs:,} log line(s) of jobs finished more than {ctx.params['log_retention_days']} day(s) ago")
    ctx.progress(0.4)
    ctx.checkpoint()
    ctx.stage("files")
    cutoff = time.time() - grace
    for folder, ids in (
        (files.DATASETS, known["datasets"]),
        (files.MODELS, known["models"]),
        (files.COMPARISONS, known["comparisons"]),
    ):

        def is_orphan(entry: Path, ids: set[str] = ids) -> bool:
            return entry.is_dir() and entry.name not in ids

        count, size = _remove_entries(data_dir / folder, is_orphan, cutoff)
        report.orphan_folders += count
        report.bytes_freed += size
        ctx.log(f"Removed {count:,} orphan {folder[:-1]} folder(s) ({size:,} bytes)")
    count, size = _remove_entries(
        data_dir / files.REPORTS,
        lambda entry: entry.suffix in (".html", ".json") and entry.stem not in known["reports"],
        cutoff,
    )
    report.orphan_files += count
    report.bytes_freed += size
    ctx.log(f"Removed {count:,} orphan report file(s) ({size:,} bytes)")
    temporary, size = _remove_entries(data_dir / STAGING_FOLDER, lambda entry: entry.name.endswith(".part"), cutoff)
    spill, spill_size = _remove_entries(
        data_dir / SCRATCH_FOLDER, lambda entry: entry.name not in known["running"], cutoff
    )
    partial, partial_size = _remove_partial_writes(data_dir, cutoff)
    report.temporary_files = temporary + spill + partial
    report.bytes_freed += size + spill_size + partial_size
    ctx.log(
        f"Removed {report.temporary_files:,} temporary file(s) and folder(s): {temporary:,} stale upload(s), "
        f"{spill:,} spill folder(s) of ended jobs, {partial:,} unfinished write(s) "
        f"({size + spill_size + partial_size:,} bytes)"
    )
    ctx.log(f"Freed {report.bytes_freed:,} bytes in all")
    if (store := objects.current()) is not None:
        ctx.stage("object store")
        _sweep_store(ctx, store, known, cutoff, report)
    ctx.progress(1.0)
    return report.model_dump()


async def _delete_expired_datasets(database_url: str, data_dir: Path) -> tuple[int, list[str]]:
    """Temporary datasets past their `expires_at`, with their models' and reports' files, as deleteDataset does.

    One with an unfinished job or an aliased model is kept for a later run, saying why (this process has no job
    engine to cancel through). Cached answers need no purge: they are keyed by the dataset's id, which every read
    checks first."""
    engine = db.create_engine(database_url)
    deleted, kept_back = 0, []
    try:
        sessions = db.session_factory(engine)
        async with sessions() as session:
            expired = (
                await session.exec(
                    select(Dataset).where(col(Dataset.expires_at).is_not(None), col(Dataset.expires_at) < utcnow())
                )
            ).all()
            for dataset in expired:
                busy = (
                    await session.exec(select(Job.id).where(Job.dataset_id == dataset.id, col(Job.status).in_(ACTIVE)))
                ).first()
                model_ids = list((await session.exec(select(Model.id).where(Model.dataset_id == dataset.id))).all())
                try:
                    await refuse_if_aliased(session, model_ids=model_ids, field=["id"], what="a model of this dataset")
                except ServiceError as exc:
                    kept_back.append(f"Kept expired dataset {dataset.id} for now: {exc.message}")
                    continue
                if busy is not None:
                    kept_back.append(f"Kept expired dataset {dataset.id} for now: its job {busy} has not finished")
                    continue
                report_ids = list((await session.exec(select(Report.id).where(Report.dataset_id == dataset.id))).all())
                await session.delete(dataset)
                await session.commit()
                files.remove_tree(files.dataset_dir(data_dir, dataset.id))
                for model_id in model_ids:
                    files.remove_tree(files.model_dir(data_dir, model_id))
                for report_id in report_ids:
                    files.report_path(data_dir, report_id).unlink(missing_ok=True)
                deleted += 1
        return deleted, kept_back
    finally:
        await engine.dispose()


async def _clean_database(database_url: str, *, retention_days: int) -> tuple[int, int, dict[str, set[str]]]:
    """Delete what expired, and read the ids the file sweep must keep (each in one query)."""
    engine = db.create_engine(database_url)
    try:
        sessions = db.session_factory(engine)
        now = utcnow()
        async with sessions() as session:
            tokens = (await session.exec(delete(RefreshToken).where(col(RefreshToken.expires_at) < now))).rowcount or 0
            old_jobs = select(Job.id).where(
                col(Job.status).in_(TERMINAL), col(Job.finished_at) < now - timedelta(days=retention_days)
            )
            logs = (await session.exec(delete(JobLog).where(col(JobLog.job_id).in_(old_jobs)))).rowcount or 0
            await session.commit()
            known = {
                "datasets": set((await session.exec(select(Dataset.id))).all()),
                "models": set((await session.exec(select(Model.id))).all()),
                "reports": set((await session.exec(select(Report.id))).all()),
                "running": set((await session.exec(select(Job.id).where(col(Job.status).in_(ACTIVE)))).all()),
            }
            # A COMPARE job writes its folder before its row exists (the row comes with its success).
            comparing = (
                await session.exec(select(Job.params).where(Job.kind == "COMPARE", col(Job.status).in_(ACTIVE)))
            ).all()
            known["comparisons"] = set((await session.exec(select(Comparison.id))).all()) | {
                str(params["comparison_id"]) for params in comparing if (params or {}).get("comparison_id") is not None
            }
        return tokens, logs, known
    finally:
        await engine.dispose()


def _sweep_store(
    ctx: JobContext, store: objects.ObjectStore, known: dict[str, set[str]], cutoff: float, report: MaintenanceReport
) -> None:
    """The same orphan rule in the bucket (whose objects outlive any one data dir), then the killed writers' uploads."""
    for folder, ids in (
        (files.DATASETS, known["datasets"]),
        (files.MODELS, known["models"]),
        (files.REPORTS, known["reports"]),
        (files.COMPARISONS, known["comparisons"]),
    ):
        gone = [name for name, changed in store.object_folders(folder).items() if name not in ids and changed < cutoff]
        for name in gone:
            start = f"{store.prefix}{folder}/{name}"
            keys = [item.key for item in store.listing(start) if item.key[len(start) :][:1] in ("/", ".")]
            store.delete(keys)
            report.stored_orphans += len(keys)
    report.aborted_uploads = store.abort_stale_uploads(store.abandoned_after)
    ctx.log(
        f"Removed {report.stored_orphans:,} orphan object(s) from the object store; aborted "
        f"{report.aborted_uploads:,} incomplete upload(s) begun over {store.abandoned_after} ago"
    )


def _remove_entries(folder: Path, is_garbage: Callable[[Path], bool], cutoff: float) -> tuple[int, int]:
    """Remove the entries of `folder` that `is_garbage` picks and that were last changed before `cutoff`."""
    if not folder.is_dir():
        return 0, 0
    count = size = 0
    for entry in folder.iterdir():
        if entry.is_symlink() or not is_garbage(entry) or _last_change(entry) >= cutoff:
            continue
        size += files.directory_size(entry) if entry.is_dir() else entry.stat().st_size
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        count += 1
    return count, size


def _remove_partial_writes(data_dir: Path, cutoff: float) -> tuple[int, int]:
    """`atomic_output`'s temporary files left by a process killed mid-write, in dataset and model folders."""
    count = size = 0
    for folder in (files.DATASETS, files.MODELS):
        for partial in (data_dir / folder).glob("*/.*.part"):
            if partial.is_file() and partial.stat().st_mtime < cutoff:
                size += partial.stat().st_size
                partial.unlink(missing_ok=True)
                count += 1
    return count, size


def _last_change(entry: Path) -> float:
    """The newest modification time in the entry (a folder being written to counts as recent)."""
    newest = entry.stat().st_mtime
    if entry.is_dir():
        for root, _dirs, names in os.walk(entry):
            for name in names:
                try:
                    newest = max(newest, os.stat(os.path.join(root, name)).st_mtime)
                except FileNotFoundError:
                    continue
    return newest
