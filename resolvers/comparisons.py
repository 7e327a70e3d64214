"""Compare two dataset versions, and read the caller's comparisons."""

from __future__ import annotations

import strawberry
from strawberry.dataloader import DataLoader

from resolvers.context import Context
from resolvers.fields import mutation, query
from resolvers.loaders import Loaders
from schema.common import raw_id
from schema.comparisons import (
    CompareDatasetsInput,
    CompareDatasetsPayload,
    Comparison,
    ComparisonConnection,
    comparison_type,
)
from schema.conversion import loaded
from schema.domain import GraphQLDomain, Made
from schema.jobs import Job
from services.comparison import service as comparisons
from services.storage.tables import Comparison as ComparisonRow
from services.storage.tables import Job as JobRow


class ComparisonsQuery:
    @query(description="One of the caller's comparisons")
    async def comparison(self, info: strawberry.Info, id: strawberry.ID) -> Comparison | None:
        ctx: Context = info.context
        row = await ctx.owned(comparisons.get_comparison, comparison_id=raw_id(id, "Comparison"))
        return comparison_type(info, row) if row else None

    @query(description="The caller's comparisons, newest first; with `datasetId`, those the dataset is either side of")
    async def comparisons(
        self,
        info: strawberry.Info,
        first: int | None = 20,
        after: str | None = None,
        dataset_id: strawberry.ID | None = None,
    ) -> ComparisonConnection:
        ctx: Context = info.context
        page = await ctx.owned(
            comparisons.list_comparisons,
            dataset_id=raw_id(dataset_id, "Dataset") if dataset_id else None,
            **ctx.page(first, after),
        )
        return ComparisonConnection.from_page(page, lambda row: comparison_type(info, row))


class ComparisonsMutation:
    @mutation(
        description="Compare two dataset versions in a COMPARE job: schema differences, per column both sides' "
        "statistics and a drift test, the drift share and a verdict, an HTML report and overlays"
    )
    async def compare_datasets(self, ctx: Context, input: CompareDatasetsInput) -> CompareDatasetsPayload:
        tests = [
            comparisons.TestRequest(column=t.column, method=t.method.value if t.method else None, threshold=t.threshold)
            for t in input.tests or []
        ]
        job = await ctx.with_jobs(
            comparisons.start_comparison,
            reference_id=raw_id(input.reference_id, "Dataset"),
            current_id=raw_id(input.current_id, "Dataset"),
            columns=input.columns,
            tests=tests,
            sample_rows=ctx.settings.comparison_sample_rows,
            theme=ctx.settings.report_theme,
        )
        return CompareDatasetsPayload(job=Job.from_row(job))


def _comparison_for_job(loaders: Loaders) -> DataLoader[JobRow, ComparisonRow | None]:
    """By job: the comparison a COMPARE job stored."""
    return loaders.owned(comparisons.comparisons_for_jobs, "jobs", key=lambda job: job.id)


async def _comparison_made(info: strawberry.Info, job: JobRow) -> Comparison | None:
    return await loaded(info.context.loaders.comparison_for_job, job, lambda row: comparison_type(info, row))


# This domain's one declaration to the schema (schema/root.py lists them)
GRAPHQL = GraphQLDomain(
    name="comparisons",
    query=ComparisonsQuery,
    mutation=ComparisonsMutation,
    makes={"COMPARE": (Made(Comparison, _comparison_made, link="comparison"),)},
    loaders={"comparison_for_job": _comparison_for_job},
)
