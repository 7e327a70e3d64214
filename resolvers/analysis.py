"""Analyses, answers to waiting jobs, and reports of the caller."""
from __future__ import annotations

from typing import Any

from services import files
from services.analysis import service
from services.storage.tables import Dataset, Job, Report

from resolvers.context import Context


def _theme_defaults(ctx: Context) -> dict[str, str]:
    settings = ctx.settings
    return {"primary": settings.report_primary, "accent": settings.report_accent, "background": settings.report_background,
            "text": settings.report_text, "font_family": settings.report_font_family}


async def analyze(ctx: Context, *, dataset_id: str | None, target: str | None, theme: dict | None) -> Job:
    settings = ctx.settings
    async with ctx.session() as session:
        return await service.start_analysis(session, jobs=ctx.app.jobs, owner_id=ctx.user_id, dataset_id=dataset_id,
                                            target=target, theme=theme, theme_defaults=_theme_defaults(ctx),
                                            data_dir=settings.resolved_data_dir,
                                            model_budget=settings.analysis_model_budget_seconds,
                                            stage_timeout=settings.analysis_stage_timeout_seconds)


async def answer(ctx: Context, *, job_id: str | None, answer: str) -> Job:
    async with ctx.session() as session:
        return await service.answer_job(session, jobs=ctx.app.jobs, owner_id=ctx.user_id, job_id=job_id, answer=answer)


async def generate(ctx: Context, *, dataset_id: str | None, model_id: str | None, theme: dict | None) -> tuple[Report, Job]:
    async with ctx.session() as session:
        return await service.start_report(session, jobs=ctx.app.jobs, owner_id=ctx.user_id, dataset_id=dataset_id,
                                          model_id=model_id, theme=theme, theme_defaults=_theme_defaults(ctx),
                                          data_dir=ctx.settings.resolved_data_dir)


async def reports(ctx: Context, dataset: Dataset) -> list[Report]:
    async with ctx.session() as session:
        return await service.list_reports(session, owner_id=ctx.user_id, dataset_id=dataset.id,
                                          data_dir=ctx.settings.resolved_data_dir)


async def get(ctx: Context, report_id: str | None) -> Report | None:
    async with ctx.session() as session:
        return await service.get_report(session, owner_id=ctx.user_id, report_id=report_id)


async def for_job(ctx: Context, job: Job) -> Report | None:
    report_id = job.params.get("report_id") if job.kind in ("ANALYZE", "REPORT") else None
    report = await get(ctx, report_id)
    return report if report is not None and files.report_path(ctx.settings.resolved_data_dir, report.id).exists() else None


def url(ctx: Context, report: Report) -> str:
    token = files.sign_download(secret=ctx.settings.resolved_secret_key, owner_id=report.owner_id, kind="report",
                                object_id=report.id, fmt="HTML", minutes=ctx.settings.download_url_minutes)
    return f"/files/reports/{report.id}.html?token={token}"


def theme_input(theme: Any) -> dict | None:
    if theme is None:
        return None
    return {"primary": theme.primary, "accent": theme.accent, "background": theme.background, "text": theme.text,
            "font_family": theme.font_family, "logo_url": theme.logo_url}
