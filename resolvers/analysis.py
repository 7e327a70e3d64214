"""Analyses, answers to waiting jobs, and reports of the caller."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.dataloader import DataLoader

from resolvers.context import Context
from resolvers.fields import mutation
from resolvers.loaders import Loaders
from schema.common import raw_id
from schema.conversion import loaded
from schema.domain import GraphQLDomain, Made
from schema.jobs import Job, JobPayload
from schema.reports import (
    Analysis,
    AnalyzeDatasetInput,
    AnswerJobInput,
    GenerateReportInput,
    Report,
    ReportPayload,
    analysis_of,
    report_type,
)
from services.analysis import service
from services.storage.tables import Job as JobRow
from services.storage.tables import Report as ReportRow


def _theme_defaults(ctx: Context) -> dict[str, str]:
    return ctx.settings.report_theme


def _theme(theme: Any) -> dict | None:
    """The input's colours and font by the same names, as the report services take them."""
    return None if theme is None else strawberry.asdict(theme)


def _options(input: AnalyzeDatasetInput) -> dict[str, Any]:
    options = {} if input.options is None else strawberry.asdict(input.options)
    return options | {"safe_auto_actions": input.safe_auto_actions}


class AnalysisMutation:
    @mutation(
        description="Upload to insight in one call: an ANALYZE job profiles, finds the target (or asks "
        "with NEEDS_INPUT), trains with AUTO, writes a report and checks it"
    )
    async def analyze_dataset(self, ctx: Context, input: AnalyzeDatasetInput) -> JobPayload:
        settings = ctx.settings
        job = await ctx.with_jobs(
            service.start_analysis,
            dataset_id=raw_id(input.dataset_id, "Dataset"),
            target=input.target,
            theme=_theme(input.theme),
            theme_defaults=_theme_defaults(ctx),
            model_budget=settings.analysis_model_budget_seconds,
            stage_limits=settings.analysis_stage_limits,
            option_defaults=settings.analysis_defaults,
            options=_options(input),
        )
        return JobPayload(job=Job.from_row(job))

    @mutation(description="Answer a NEEDS_INPUT job; it resumes")
    async def answer_job(self, ctx: Context, input: AnswerJobInput) -> JobPayload:
        job = await ctx.owned(
            service.answer_job,
            jobs=ctx.app.jobs,
            job_id=raw_id(input.job_id, "Job"),
            answer=input.answer,
        )
        return JobPayload(job=Job.from_row(job))

    @mutation(description="Write an HTML report in a REPORT job")
    async def generate_report(self, info: strawberry.Info, input: GenerateReportInput) -> ReportPayload:
        ctx: Context = info.context
        report, job = await ctx.with_jobs(
            service.start_report,
            dataset_id=raw_id(input.dataset_id, "Dataset"),
            model_id=raw_id(input.model_id, "Model") if input.model_id else None,
            theme=_theme(input.theme),
            theme_defaults=_theme_defaults(ctx),
        )
        return ReportPayload(report=report_type(info, report), job=Job.from_row(job))


async def _analysis_made(_info: strawberry.Info, job: JobRow) -> Analysis | None:
    return analysis_of(job)


async def _report_made(info: strawberry.Info, job: JobRow) -> Report | None:
    return await loaded(info.context.loaders.report_for_job, job, lambda row: report_type(info, row))


def _report(loaders: Loaders) -> DataLoader[str | None, ReportRow | None]:
    return loaders.by_id(ReportRow)


def _report_for_job(loaders: Loaders) -> DataLoader[JobRow, ReportRow | None]:
    """By job: the report a REPORT or ANALYZE job wrote."""
    data_dir = loaders.context.settings.resolved_data_dir
    return loaders.owned(service.reports_for_jobs, "jobs", key=lambda job: job.id, data_dir=data_dir)


def _dataset_reports(loaders: Loaders) -> DataLoader[str, list[ReportRow]]:
    """By dataset id: its finished reports, newest first."""
    data_dir = loaders.context.settings.resolved_data_dir
    return loaders.owned(service.reports_of_datasets, "dataset_ids", data_dir=data_dir)


# This domain's one declaration to the schema (schema/root.py lists them)
GRAPHQL = GraphQLDomain(
    name="analysis",
    mutation=AnalysisMutation,
    makes={
        "REPORT": (Made(Report, _report_made, link="report"),),
        "ANALYZE": (Made(Analysis, _analysis_made, link="analysis"), Made(Report, _report_made, link="report")),
    },
    loaders={"report": _report, "report_for_job": _report_for_job, "dataset_reports": _dataset_reports},
)
