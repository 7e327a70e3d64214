"""Starting a job that works on one dataset (profile, preprocess, train, predict, validate, report, analyze, export):
what such a job's row and params always carry is written here once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from services.jobs.engine import JobEngine
from services.storage.tables import Dataset, Job


async def submit_on_dataset(
    session: AsyncSession,
    *,
    jobs: JobEngine,
    kind: str,
    dataset: Dataset,
    data_dir: Path,
    params: dict[str, Any],
    record: SQLModel | None = None,
) -> Job:
    """Queue, commit and launch (`JobEngine.submit`) a job of `kind` on `dataset`, for the dataset's owner (the
    caller has checked it is theirs). The job's row names the dataset (what `jobs(datasetId:)` finds it by); its
    params are the kind's own plus what every such body and end hook reads: the dataset's id and the data directory.
    `dataset` is the one the job writes when it makes a new version (PREPROCESS, PREDICT)."""
    return await jobs.submit(
        session,
        owner_id=dataset.owner_id,
        kind=kind,
        dataset_id=dataset.id,
        params={**params, "dataset_id": dataset.id, "data_dir": str(data_dir)},
        record=record,
    )
