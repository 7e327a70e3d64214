"""Profiles: start a PROFILE job, record its result, and read the stored profile back."""

from __future__ import annotations

import json
import shutil
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from services import files
from services.datasets import DatasetStatus
from services.datasets.dataset_jobs import submit_on_dataset
from services.datasets.service import get_dataset
from services.errors import conflict, invalid, not_found
from services.ingest.info import IngestInfo
from services.jobs.engine import JobEngine
from services.jobs.kinds import JobHooks, JobKindSpec
from services.profiling.stored import ProfileResult, StoredProfile
from services.storage.tables import Dataset, Job, Profile

MAX_BINS = 100


async def start_profile(
    session: AsyncSession,
    *,
    jobs: JobEngine,
    owner_id: str,
    dataset_id: str | None,
    data_dir: Path,
    plots: bool,
    bins: int | None,
) -> tuple[Dataset, Job]:
    dataset = await get_dataset(session, owner_id=owner_id, dataset_id=dataset_id) if dataset_id else None
    if dataset is None:
        raise not_found("Dataset", ["datasetId"])
    if dataset.status != DatasetStatus.READY:
        raise conflict(f"The dataset is {dataset.status}; it can be profiled once READY", ["datasetId"])
    if bins is not None and not 1 <= bins <= MAX_BINS:
        raise invalid(f"`bins` must be between 1 and {MAX_BINS}", ["bins"])
    ingest_info = IngestInfo.model_validate(dataset.ingest_info or {})
    params = {
        "columns": dataset.columns,
        "plots": plots,
        "bins": bins,
        "ingest_info": ingest_info.model_dump(include={"rejected_lines", "padded_lines"}),
    }
    job = await submit_on_dataset(session, jobs=jobs, kind="PROFILE", dataset=dataset, data_dir=data_dir, params=params)
    return dataset, job


async def on_profile_success(session: AsyncSession, job: Job, result: dict[str, Any] | None) -> None:
    profile = (await session.exec(select(Profile).where(Profile.dataset_id == job.dataset_id))).first()
    assert job.dataset_id is not None, "a PROFILE job always names its dataset"
    profile = profile or Profile(owner_id=job.owner_id, dataset_id=job.dataset_id)
    profile.job_id, profile.duration_ms = job.id, (result or {}).get("duration_ms", 0.0)
    profile.alert_count, profile.plot_count = (result or {}).get("alerts", 0), (result or {}).get("plots", 0)
    profile.updated_at = job.finished_at or profile.updated_at
    session.add(profile)


async def on_profile_failure(session: AsyncSession, job: Job, _result: dict[str, Any] | None) -> None:
    """A failed or cancelled profile leaves the previous one (if any) as it was; only staging is removed."""
    shutil.rmtree(
        files.dataset_dir(files.job_data_dir(job.params), job.params["dataset_id"]) / ".plots.part", ignore_errors=True
    )


def _stored_file(data_dir: Path, dataset_id: str) -> tuple[str, int] | None:
    """The stored profile's local path and version (its file's change time), or None when there is none. With an
    object store the local copy is brought up to date first (its time is set to the stored object's), so every
    replica sees the same version, and one whose cache was lost still finds the profile."""
    try:
        path = files.fetched(files.profile_path(data_dir, dataset_id))
        return str(path), path.stat().st_mtime_ns
    except FileNotFoundError:
        return None


def profile_version(data_dir: Path, dataset_id: str) -> int | None:
    """The stored profile's version, or None when there is none: a new profile is a new key."""
    stored = _stored_file(data_dir, dataset_id)
    return stored[1] if stored else None


def load_profile(data_dir: Path, dataset_id: str) -> dict[str, Any] | None:
    stored = _stored_file(data_dir, dataset_id)
    return _load(*stored) if stored else None


def read_profile(data_dir: Path, dataset_id: str) -> StoredProfile | None:
    """The stored profile, typed (what the API reads); None until the PROFILE job has run."""
    stored = _stored_file(data_dir, dataset_id)
    return _read(*stored) if stored else None


@lru_cache(maxsize=32)
def _read(path: str, stamp: int) -> StoredProfile:
    return StoredProfile.model_validate(_load(path, stamp))


@lru_cache(maxsize=32)
def _load(path: str, _stamp: int) -> dict[str, Any]:
    """Parsed once per file version: repeated reads of a profile don't recompute or re-parse it."""
    parsed: dict[str, Any] = json.loads(Path(path).read_text())
    return parsed


# This domain's one declaration to the server and workers (services/domains.py lists it).
JOB_KINDS = {
    "PROFILE": JobKindSpec(
        work="services.profiling.job:run_profile",
        queue="analysis",
        hooks=JobHooks(on_success=on_profile_success, on_failure=on_profile_failure),
        result=ProfileResult,
    )
}
