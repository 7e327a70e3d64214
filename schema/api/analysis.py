"""Analysis, answer and report operations."""
from __future__ import annotations

import strawberry

from resolvers import analysis as analysis_resolvers
from resolvers.permissions import IsAuthenticated
from services.errors import ServiceError

from schema.common import raw_id, user_error
from schema.jobs import Job, JobPayload
from schema.reports import AnalyzeDatasetInput, AnswerJobInput, GenerateReportInput, ReportPayload, report_type


@strawberry.type
class AnalysisMutation:
    @strawberry.mutation(permission_classes=[IsAuthenticated],
                         description="Upload to insight in one call: an ANALYZE job profiles, finds the target (or asks "
                                     "with NEEDS_INPUT), trains with AUTO, writes a report and checks it")
    async def analyze_dataset(self, info: strawberry.Info, input: AnalyzeDatasetInput) -> JobPayload:
        try:
            job = await analysis_resolvers.analyze(info.context, dataset_id=raw_id(input.dataset_id, "Dataset"),
                                                   target=input.target, theme=analysis_resolvers.theme_input(input.theme))
        except ServiceError as exc:
            return JobPayload(errors=[user_error(exc)])
        return JobPayload(job=Job.from_row(job))

    @strawberry.mutation(permission_classes=[IsAuthenticated], description="Answer a NEEDS_INPUT job; it resumes")
    async def answer_job(self, info: strawberry.Info, input: AnswerJobInput) -> JobPayload:
        try:
            job = await analysis_resolvers.answer(info.context, job_id=raw_id(input.job_id, "Job"), answer=input.answer)
        except ServiceError as exc:
            return JobPayload(errors=[user_error(exc)])
        return JobPayload(job=Job.from_row(job))

    @strawberry.mutation(permission_classes=[IsAuthenticated], description="Write an HTML report in a REPORT job")
    async def generate_report(self, info: strawberry.Info, input: GenerateReportInput) -> ReportPayload:
        try:
            report, job = await analysis_resolvers.generate(
                info.context, dataset_id=raw_id(input.dataset_id, "Dataset"),
                model_id=raw_id(input.model_id, "Model") if input.model_id else None,
                theme=analysis_resolvers.theme_input(input.theme))
        except ServiceError as exc:
            return ReportPayload(errors=[user_error(exc)])
        return ReportPayload(report=report_type(info, report), job=Job.from_row(job))
