"""Derived dataset versions: start a PREPROCESS job, and settle the new version when it (or a PREDICT job,
which also writes a new version) ends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel
from sqlmodel.ext.asyncio.session import AsyncSession

from services import files
from services.datasets import DatasetStatus
from services.datasets.dataset_jobs import submit_on_dataset
from services.datasets.service import get_ready_dataset, new_version
from services.ingest.info import DatasetColumn
from services.jobs.engine import JobEngine
from services.jobs.kinds import JobHooks, JobKindSpec
from services.names import derived_name, given_name
from services.preprocessing.validate import validate_steps
from services.storage.tables import Dataset, Job


class RecipeStep(BaseModel):
    """One step of a version's recipe (`Dataset.recipe`): what it was asked and what it learned."""

    step: str
    params: dict[str, Any]
    fitted: dict[str, Any] | None = None


class VersionResult(BaseModel):
    """The PREPROCESS (and PREDICT) job's result: the new version, as its success hook applies it."""

    row_count: int
    column_count: int
    columns: list[DatasetColumn]
    recipe: list[RecipeStep]


async def start_preprocess(
    session: AsyncSession,
    *,
    jobs: JobEngine,
    owner_id: str,
    dataset_id: str | None,
    steps: list[tuple[str, dict[str, Any]]],
    name: str | None,
    data_dir: Path,
) -> tuple[Dataset, Job]:
    """Validate everything first: a refused request creates no dataset and no job."""
    source = await get_ready_dataset(
        session, owner_id=owner_id, dataset_id=dataset_id, why="; derive from a READY version"
    )
    checked = validate_steps(steps, source.columns)
    version = new_version(source, given_name(name, field=["name"]) or derived_name(f"{source.name} (cleaned)"))
    params = {"source_id": source.id, "steps": [{"step": kind, "params": params} for kind, params in checked]}
    job = await submit_on_dataset(
        session, jobs=jobs, kind="PREPROCESS", dataset=version, data_dir=data_dir, params=params, record=version
    )
    return version, job


async def on_preprocess_start(session: AsyncSession, job: Job, _result: dict[str, Any] | None) -> None:
    version = await session.get(Dataset, job.dataset_id)
    if version is not None:
        version.status = DatasetStatus.INGESTING
        session.add(version)


async def on_preprocess_success(session: AsyncSession, job: Job, result: dict[str, Any] | None) -> None:
    version = await session.get(Dataset, job.dataset_id)
    if version is None or result is None:
        return
    parquet = files.parquet_path(files.job_data_dir(job.params), version.id)
    version.status, version.error = DatasetStatus.READY, None
    version.row_count, version.column_count = result["row_count"], result["column_count"]
    version.columns, version.recipe = result["columns"], result["recipe"]
    version.size_bytes = parquet.stat().st_size if parquet.exists() else 0
    session.add(version)


async def on_preprocess_failure(session: AsyncSession, job: Job, _result: dict[str, Any] | None) -> None:
    """No half-made version: the new dataset ends FAILED with the reason and its files are removed."""
    version = await session.get(Dataset, job.dataset_id)
    if version is not None:
        version.status, version.error = DatasetStatus.FAILED, job.error
        session.add(version)
    files.remove_tree(files.dataset_dir(files.job_data_dir(job.params), job.params["dataset_id"]))


# The life of a new version a job writes (PREPROCESS; PREDICT too, with more to record on success).
VERSION_HOOKS = JobHooks(
    on_start=on_preprocess_start, on_success=on_preprocess_success, on_failure=on_preprocess_failure
)


def public_recipe(recipe: Any) -> Any:
    """The recipe as clients see it: private fitted state (keys starting with "_") left out."""
    if isinstance(recipe, dict):
        return {k: public_recipe(v) for k, v in recipe.items() if not k.startswith("_")}
    if isinstance(recipe, list):
        return [public_recipe(v) for v in recipe]
    return recipe


# This domain's one declaration to the server and workers (services/domains.py lists it).
JOB_KINDS = {
    "PREPROCESS": JobKindSpec(
        work="services.preprocessing.job:run_preprocess",
        queue="imputation",
        hooks=VERSION_HOOKS,
        result=VersionResult,
    )
}
