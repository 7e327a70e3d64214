"""Start analyses and reports, answer waiting jobs, and record what the jobs produced."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services import files
from services.analysis.models import AnalysisResult, FailedAnalysis, ReportResult
from services.analysis.options import check_extension, resolve_options
from services.datasets import DatasetStatus
from services.datasets.dataset_jobs import submit_on_dataset
from services.datasets.service import get_ready_dataset, new_version
from services.errors import conflict, invalid
from services.jobs.engine import JobEngine
from services.jobs.kinds import JobHooks, JobKindSpec
from services.jobs.status import JobStatus
from services.modeling import ModelStatus
from services.modeling.checks import ANALYSIS_TEST_SIZE, check_target
from services.modeling.service import get_ready_model
from services.names import MAX_NAME, derived_name
from services.reports.content import content_path
from services.reports.theme import resolve_theme
from services.storage.lookup import owned, owned_by_ids, require_owned
from services.storage.tables import Dataset, Job, Model, Report, new_id


def model_summary(model: Model) -> dict[str, Any]:
    return {
        "task": model.task,
        "target": model.target,
        "algorithm": model.algorithm,
        "version": model.version,
        "details": model.details,
        "dataset_id": model.dataset_id,
    }


async def start_analysis(
    session: AsyncSession,
    *,
    jobs: JobEngine,
    owner_id: str,
    dataset_id: str | None,
    target: str | None,
    theme: dict[str, Any] | None,
    theme_defaults: dict[str, str],
    data_dir: Path,
    model_budget: float,
    stage_limits: dict[str, float],
    option_defaults: dict[str, Any],
    options: dict[str, Any] | None = None,
) -> Job:
    """Everything is checked first: a refused request leaves no job and no new dataset version."""
    dataset = await get_ready_dataset(session, owner_id=owner_id, dataset_id=dataset_id)
    chosen = resolve_options(option_defaults, options, ["options"])
    check_extension(dataset.file_name, chosen, ["datasetId"])
    if target is not None and target not in {c["name"] for c in dataset.columns}:
        raise invalid(f"No column named {target!r}", ["target"])
    if target is not None:  # the checks trainModel makes, so a bad target is refused here, not by the job
        await asyncio.to_thread(
            check_target,
            data_dir,
            dataset.id,
            dataset.columns,
            target,
            None,
            test_size=ANALYSIS_TEST_SIZE,
            cv_folds=chosen.cv_folds,
            field=["target"],
        )
    resolved = resolve_theme(theme, theme_defaults, ["theme"])
    earlier = await session.scalar(select(func.count()).select_from(Model).where(Model.dataset_id == dataset.id)) or 0
    # The fixes go to a new version, as preprocessDataset's do; settled when the job ends.
    working = new_version(dataset, derived_name(f"{dataset.name} (auto-fixed)")) if chosen.safe_auto_actions else None
    params = {
        "model_version": earlier + 1,
        "dataset_name": dataset.name,
        "columns": dataset.columns,
        "target": target,
        "theme": resolved,
        "model_id": new_id(),
        "report_id": new_id(),
        "model_budget_seconds": model_budget,
        "stage_limits": dict(stage_limits),
        "options": chosen.model_dump(mode="json"),
        "dataset_size_bytes": dataset.size_bytes,
        "working_dataset_id": working.id if working else None,
    }
    return await submit_on_dataset(
        session, jobs=jobs, kind="ANALYZE", dataset=dataset, data_dir=data_dir, params=params, record=working
    )


async def answer_job(session: AsyncSession, *, jobs: JobEngine, owner_id: str, job_id: str | None, answer: str) -> Job:
    job = await require_owned(session, Job, owner_id=owner_id, row_id=job_id, what="Job", field=["jobId"])
    if job.status != JobStatus.NEEDS_INPUT:
        raise conflict(f"The job is {job.status}, not waiting for an answer", ["jobId"])
    if answer not in (job.choices or []):
        raise invalid(f"{answer!r} is not one of the choices: {', '.join(job.choices or [])}", ["answer"])
    if job.kind == "ANALYZE":
        await asyncio.to_thread(
            check_target,
            files.job_data_dir(job.params),
            job.params["dataset_id"],
            job.params["columns"],
            answer,
            None,
            test_size=ANALYSIS_TEST_SIZE,
            cv_folds=job.params.get("options", {}).get("cv_folds", 5),
            field=["answer"],
        )
    resumed = await jobs.answer(job.id, answer)
    if resumed is None:
        raise conflict("The job stopped waiting before the answer came", ["jobId"])
    return resumed


async def on_analysis_success(session: AsyncSession, job: Job, result: dict[str, Any] | None) -> None:
    if result is None:
        return
    analysis = AnalysisResult.model_validate(result)
    trained = analysis.model
    working = analysis.working_version
    await _settle_working_version(session, job, working)
    details = {
        k: v for k, v in trained.items() if k not in ("task", "algorithm", "training_seconds", "target", "version")
    }
    session.add(
        Model(
            id=job.params["model_id"],
            owner_id=job.owner_id,
            dataset_id=working.dataset_id if working else job.params["dataset_id"],
            name=f"{job.params['dataset_name']} → {trained['target']} (analysis)"[:MAX_NAME],
            version=job.params.get("model_version", 1),
            target=trained["target"],
            task=trained["task"],
            algorithm=trained["algorithm"],
            status=ModelStatus.READY,
            job_id=job.id,
            training_seconds=trained["training_seconds"],
            details=details,
        )
    )
    await session.flush()
    session.add(
        Report(
            id=job.params["report_id"],
            owner_id=job.owner_id,
            dataset_id=job.params["dataset_id"],
            model_id=job.params["model_id"],
            job_id=job.id,
        )
    )


async def _settle_working_version(session: AsyncSession, job: Job, working: Any) -> None:
    """The auto-fixed version becomes READY with what the job wrote; with nothing to fix it is not kept."""
    version_id = job.params.get("working_dataset_id")
    version = await session.get(Dataset, version_id) if version_id else None
    if version is None:
        return
    if working is None:
        await session.delete(version)
        await session.flush()
        return
    parquet = files.parquet_path(files.job_data_dir(job.params), version.id)
    version.status, version.error = DatasetStatus.READY, None
    version.row_count, version.column_count = working.row_count, working.column_count
    version.columns, version.recipe = working.columns, working.recipe
    version.size_bytes = parquet.stat().st_size if parquet.exists() else 0
    session.add(version)
    await session.flush()


async def on_analysis_failure(session: AsyncSession, job: Job, details: Any) -> None:
    """Nothing half-written: the model, the report (HTML and document) and the auto-fixed version go; the failed
    stage is kept on the job (Job.analysis.failure)."""
    data_dir = files.job_data_dir(job.params)
    files.remove_tree(files.model_dir(data_dir, job.params["model_id"]))
    files.remove_file(files.report_path(data_dir, job.params["report_id"]))
    files.remove_file(content_path(data_dir, job.params["report_id"]))
    version_id = job.params.get("working_dataset_id")
    if version_id:
        version = await session.get(Dataset, version_id)
        if version is not None:
            await session.delete(version)
        files.remove_tree(files.dataset_dir(data_dir, version_id))
    if isinstance(details, dict) and details.get("failure"):
        job.result = FailedAnalysis(failure=details["failure"]).model_dump(mode="json")
        session.add(job)


async def start_report(
    session: AsyncSession,
    *,
    jobs: JobEngine,
    owner_id: str,
    dataset_id: str | None,
    model_id: str | None,
    theme: dict[str, Any] | None,
    theme_defaults: dict[str, str],
    data_dir: Path,
) -> tuple[Report, Job]:
    dataset = await get_ready_dataset(session, owner_id=owner_id, dataset_id=dataset_id)
    model = await get_ready_model(session, owner_id=owner_id, model_id=model_id) if model_id is not None else None
    resolved = resolve_theme(theme, theme_defaults, ["theme"])
    report = Report(owner_id=owner_id, dataset_id=dataset.id, model_id=model.id if model else None)
    params = {
        "dataset_name": dataset.name,
        "columns": dataset.columns,
        "report_id": report.id,
        "theme": resolved,
        "model": model_summary(model) if model else None,
        "model_id": model.id if model else None,
    }
    job = await submit_on_dataset(
        session, jobs=jobs, kind="REPORT", dataset=dataset, data_dir=data_dir, params=params, record=report
    )
    return report, job


async def on_report_failure(session: AsyncSession, job: Job, _result: Any) -> None:
    report = await session.get(Report, job.params["report_id"])
    if report is not None:
        await session.delete(report)
    files.remove_file(files.report_path(files.job_data_dir(job.params), job.params["report_id"]))
    files.remove_file(content_path(files.job_data_dir(job.params), job.params["report_id"]))


async def reports_of_datasets(
    session: AsyncSession, *, owner_id: str, dataset_ids: list[str], data_dir: Path
) -> dict[str, list[Report]]:
    """By dataset id, its reports whose file is complete (one still being written is not listed), newest first;
    for many datasets in one query."""
    rows = (
        await session.exec(
            select(Report)
            .where(Report.owner_id == owner_id, col(Report.dataset_id).in_(set(dataset_ids)))
            .order_by(col(Report.created_at).desc())
        )
    ).all()
    reports: dict[str, list[Report]] = {dataset_id: [] for dataset_id in dataset_ids}
    for report in rows:
        if await asyncio.to_thread(files.kept, files.report_path(data_dir, report.id)):
            reports[report.dataset_id].append(report)
    return reports


async def get_report(session: AsyncSession, *, owner_id: str, report_id: str | None) -> Report | None:
    return await owned(session, Report, owner_id=owner_id, row_id=report_id)


REPORTING_KINDS = ("ANALYZE", "REPORT")


async def reports_for_jobs(
    session: AsyncSession, *, owner_id: str, jobs: list[Job], data_dir: Path
) -> dict[str, Report]:
    """By job id, the report each ANALYZE or REPORT job wrote, once its file is there; in one query."""
    wanted = {job.id: (job.params or {}).get("report_id") for job in jobs if job.kind in REPORTING_KINDS}
    rows = await owned_by_ids(session, Report, owner_id=owner_id, ids=wanted.values())
    found = {job_id: rows.get(report_id) for job_id, report_id in wanted.items() if report_id}
    return {
        job_id: report
        for job_id, report in found.items()
        if report is not None and await asyncio.to_thread(files.kept, files.report_path(data_dir, report.id))
    }


def report_content(data_dir: Path, report: Report) -> str | None:
    """The report's document as JSON (None for a report written before documents were kept); read off the loop."""
    path = content_path(data_dir, report.id)
    return path.read_text(encoding="utf-8") if path.exists() else None


# This domain's one declaration to the server and workers (services/domains.py lists it), in the order GraphQL's
# JobKind lists them.
JOB_KINDS = {
    "REPORT": JobKindSpec(
        work="services.reports.job:run_report",
        queue="analysis",
        # no success hook: the Report row was made with the job, and its file now exists
        hooks=JobHooks(on_failure=on_report_failure),
        result=ReportResult,
    ),
    "ANALYZE": JobKindSpec(
        work="services.analysis.job:run_analysis",
        queue="analysis",
        hooks=JobHooks(on_success=on_analysis_success, on_failure=on_analysis_failure),
        result=AnalysisResult,
    ),
}
