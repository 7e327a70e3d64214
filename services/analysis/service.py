"""Start analyses and reports, answer waiting jobs, and record what the jobs produced."""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services import files
from services.analysis.result import AnalysisResult
from services.datasets import DatasetStatus
from services.datasets.service import MAX_NAME, get_dataset
from services.errors import conflict, invalid, not_found
from services.jobs.engine import JobEngine
from services.jobs.kinds import JobKindSpec
from services.jobs.status import JobStatus
from services.modeling import ModelStatus
from services.modeling.checks import ANALYSIS_CV_FOLDS, ANALYSIS_TEST_SIZE, check_target
from services.modeling.service import get_model
from services.reports.theme import resolve_theme
from services.storage.lookup import owned_by_ids
from services.storage.tables import Dataset, Job, Model, Report, new_id


async def _ready_dataset(session: AsyncSession, owner_id: str, dataset_id: str | None) -> Dataset:
    dataset = await get_dataset(session, owner_id=owner_id, dataset_id=dataset_id) if dataset_id else None
    if dataset is None:
        raise not_found("Dataset", ["datasetId"])
    if dataset.status != DatasetStatus.READY:
        raise conflict(f"The dataset is {dataset.status}, not READY", ["datasetId"])
    return dataset


def model_summary(model: Model) -> dict[str, Any]:
    return {"task": model.task, "target": model.target, "algorithm": model.algorithm, "version": model.version,
            "details": model.details, "dataset_id": model.dataset_id}


async def start_analysis(session: AsyncSession, *, jobs: JobEngine, owner_id: str, dataset_id: str | None,
                         target: str | None, theme: dict | None, theme_defaults: dict[str, str], data_dir: Path,
                         model_budget: float, stage_timeout: float) -> Job:
    dataset = await _ready_dataset(session, owner_id, dataset_id)
    if target is not None and target not in {c["name"] for c in dataset.columns}:
        raise invalid(f"No column named {target!r}", ["target"])
    if target is not None:  # the checks trainModel makes, so a bad target is refused here, not by the job
        await asyncio.to_thread(check_target, data_dir, dataset.id, dataset.columns, target, None,
                                test_size=ANALYSIS_TEST_SIZE, cv_folds=ANALYSIS_CV_FOLDS, field=["target"])
    resolved = resolve_theme(theme, theme_defaults, ["theme"])
    earlier = await session.scalar(select(func.count()).select_from(Model).where(Model.dataset_id == dataset.id)) or 0
    job = await jobs.enqueue(session, owner_id=owner_id, kind="ANALYZE", dataset_id=dataset.id, params={
        "model_version": earlier + 1,
        "dataset_id": dataset.id, "dataset_name": dataset.name, "data_dir": str(data_dir), "columns": dataset.columns,
        "target": target, "theme": resolved, "model_id": new_id(), "report_id": new_id(),
        "model_budget_seconds": model_budget, "stage_timeout_seconds": stage_timeout})
    await session.commit()
    jobs.launch(job)
    return job


async def answer_job(session: AsyncSession, *, jobs: JobEngine, owner_id: str, job_id: str | None, answer: str) -> Job:
    job = await session.get(Job, job_id) if job_id else None
    if job is None or job.owner_id != owner_id:
        raise not_found("Job", ["jobId"])
    if job.status != JobStatus.NEEDS_INPUT:
        raise conflict(f"The job is {job.status}, not waiting for an answer", ["jobId"])
    if answer not in (job.choices or []):
        raise invalid(f"{answer!r} is not one of the choices: {', '.join(job.choices or [])}", ["answer"])
    if job.kind == "ANALYZE":
        await asyncio.to_thread(check_target, Path(job.params["data_dir"]), job.params["dataset_id"],
                                job.params["columns"], answer, None, test_size=ANALYSIS_TEST_SIZE,
                                cv_folds=ANALYSIS_CV_FOLDS, field=["answer"])
    resumed = await jobs.answer(job.id, answer)
    if resumed is None:
        raise conflict("The job stopped waiting before the answer came", ["jobId"])
    return resumed


async def on_analysis_success(session: AsyncSession, job: Job, result: dict[str, Any] | None) -> None:
    if result is None:
        return
    trained = AnalysisResult.model_validate(result).model
    session.add(Model(id=job.params["model_id"], owner_id=job.owner_id, dataset_id=job.params["dataset_id"],
                      name=f"{job.params['dataset_name']} → {trained.target} (analysis)"[:MAX_NAME],
                      version=job.params.get("model_version", 1), target=trained.target, task=trained.task,
                      algorithm=trained.algorithm, status=ModelStatus.READY, job_id=job.id,
                      training_seconds=trained.training_seconds, details=trained.stored()))
    await session.flush()
    session.add(Report(id=job.params["report_id"], owner_id=job.owner_id, dataset_id=job.params["dataset_id"],
                       model_id=job.params["model_id"], job_id=job.id))


async def on_analysis_failure(session: AsyncSession, job: Job, _result: Any) -> None:
    data_dir = Path(job.params["data_dir"])
    files.remove_tree(files.model_dir(data_dir, job.params["model_id"]))
    files.report_path(data_dir, job.params["report_id"]).unlink(missing_ok=True)


async def start_report(session: AsyncSession, *, jobs: JobEngine, owner_id: str, dataset_id: str | None,
                       model_id: str | None, theme: dict | None, theme_defaults: dict[str, str], data_dir: Path
                       ) -> tuple[Report, Job]:
    dataset = await _ready_dataset(session, owner_id, dataset_id)
    model = None
    if model_id is not None:
        model = await get_model(session, owner_id=owner_id, model_id=model_id)
        if model is None:
            raise not_found("Model", ["modelId"])
        if model.status != ModelStatus.READY:
            raise conflict(f"The model is {model.status}", ["modelId"])
    resolved = resolve_theme(theme, theme_defaults, ["theme"])
    report = Report(owner_id=owner_id, dataset_id=dataset.id, model_id=model.id if model else None)
    session.add(report)
    await session.flush()
    job = await jobs.enqueue(session, owner_id=owner_id, kind="REPORT", dataset_id=dataset.id, params={
        "dataset_id": dataset.id, "dataset_name": dataset.name, "data_dir": str(data_dir), "columns": dataset.columns,
        "report_id": report.id, "theme": resolved, "model": model_summary(model) if model else None,
        "model_id": model.id if model else None})
    await session.flush()
    report.job_id = job.id
    await session.commit()
    jobs.launch(job)
    return report, job


async def on_report_success(session: AsyncSession, job: Job, _result: Any) -> None:
    """Nothing to record: the Report row was made with the job, and its file now exists."""


async def on_report_failure(session: AsyncSession, job: Job, _result: Any) -> None:
    report = await session.get(Report, job.params["report_id"])
    if report is not None:
        await session.delete(report)
    files.report_path(Path(job.params["data_dir"]), job.params["report_id"]).unlink(missing_ok=True)


async def reports_of_datasets(session: AsyncSession, *, owner_id: str, dataset_ids: list[str], data_dir: Path
                              ) -> dict[str, list[Report]]:
    """By dataset id, its reports whose file is complete (one still being written is not listed), newest first;
    for many datasets in one query."""
    rows = (await session.exec(select(Report).where(Report.owner_id == owner_id, col(Report.dataset_id).in_(set(dataset_ids)))
                               .order_by(col(Report.created_at).desc()))).all()
    reports: dict[str, list[Report]] = {dataset_id: [] for dataset_id in dataset_ids}
    for report in rows:
        if files.report_path(data_dir, report.id).exists():
            reports[report.dataset_id].append(report)
    return reports


async def get_report(session: AsyncSession, *, owner_id: str, report_id: str | None) -> Report | None:
    report = await session.get(Report, report_id) if report_id else None
    return report if report is not None and report.owner_id == owner_id else None


REPORTING_KINDS = ("ANALYZE", "REPORT")


async def reports_for_jobs(session: AsyncSession, *, owner_id: str, jobs: list[Job], data_dir: Path) -> dict[str, Report]:
    """By job id, the report each ANALYZE or REPORT job wrote, once its file is there; in one query."""
    wanted = {job.id: (job.params or {}).get("report_id") for job in jobs if job.kind in REPORTING_KINDS}
    rows = await owned_by_ids(session, Report, owner_id=owner_id, ids=wanted.values())
    found = {job_id: rows.get(report_id) for job_id, report_id in wanted.items() if report_id}
    return {job_id: report for job_id, report in found.items()
            if report is not None and files.report_path(data_dir, report.id).exists()}


JOB_KINDS = {
    "ANALYZE": JobKindSpec(work="services.analysis.job:run_analysis", queue="analysis",
                           on_success=on_analysis_success, on_failure=on_analysis_failure),
    "REPORT": JobKindSpec(work="services.reports.job:run_report", queue="analysis",
                          on_success=on_report_success, on_failure=on_report_failure),
}
