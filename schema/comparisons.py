"""Comparison types: two dataset versions side by side, with a drift test per column and a verdict."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from schema.checks import DriftMethod  # one GraphQL enum for the services' DriftMethod
from schema.common import Connection, Node, payload, signed_link, to_global_id
from schema.conversion import fields_of, loaded
from schema.jobs import JobPriority, priority_input
from services.comparison import models
from services.storage.tables import Comparison as ComparisonRow

if TYPE_CHECKING:
    from schema.datasets import Dataset
    from schema.jobs import Job

ComparedColumnKind = models.ColumnKind  # made a GraphQL enum in place below (mypy types the class)
strawberry.enum(
    ComparedColumnKind,
    name="ComparedColumnKind",
    description=(
        "NUMERIC: numbers (or times, as epoch seconds) on both sides; CATEGORICAL: anything else, compared by category"
    ),
)


@strawberry.input(
    description="Force a drift test: for `column`, or for every compared column when it is absent "
    "(a test naming a column wins over one that does not)"
)
class DriftTestInput:
    column: str | None = None
    method: DriftMethod | None = strawberry.field(
        default=None, description="Chosen by column type and size when absent"
    )
    threshold: float | None = strawberry.field(
        default=None,
        description=(
            "p-value below which a test drifts, or distance at or above which a distance drifts; "
            "0 < threshold <= 1, except PSI and WASSERSTEIN (any positive number)"
        ),
    )


@strawberry.input
class CompareDatasetsInput:
    reference_id: strawberry.ID = strawberry.field(description="The version compared against (e.g. last month's)")
    current_id: strawberry.ID
    columns: list[str] | None = strawberry.field(default=None, description="Default: every column both versions have")
    tests: list[DriftTestInput] | None = None
    priority: JobPriority = priority_input()


@strawberry.type
class CategoryShare:
    value: str | None
    count: int
    ratio: float = strawberry.field(description="Of the side's non-null values")


@strawberry.type(
    description="One column on one side. Counts and moments are exact over every row; quantiles "
    "are exact unless `sampling.quantilesExact` is false"
)
class ColumnStatistics:
    rows: int
    count: int = strawberry.field(description="Non-null values")
    nulls: int
    null_ratio: float
    distinct: int | None
    distinct_exact: bool = strawberry.field(
        description="False: a HyperLogLog estimate (within ~8%), for numbers with over 1,000 distinct values"
    )
    mean: float | None
    std: float | None
    min: float | None
    p5: float | None
    q1: float | None
    median: float | None
    q3: float | None
    p95: float | None
    max: float | None
    top: list[CategoryShare] = strawberry.field(description="Top categories (categorical columns)")

    @classmethod
    def of(cls, side: models.SideStatistics) -> ColumnStatistics:
        values = side.model_dump(exclude={"top"})
        return cls(**values, top=[CategoryShare(**entry.model_dump()) for entry in side.top])


@strawberry.type
class DriftTestResult:
    method: DriftMethod
    statistic: float | None = strawberry.field(description="None when either side has no values")
    p_value: float | None = strawberry.field(description="KS and CHI_SQUARE only")
    threshold: float
    score: float | None = strawberry.field(description="What met the threshold: the p-value, else the distance")
    drifted: bool
    reference_count: int = strawberry.field(description="Values the test read (of the sample, when sampled)")
    current_count: int
    chosen_by: str = strawberry.field(description="DEFAULT (by column type and size) or USER")


@strawberry.type
class ColumnComparison:
    name: str
    kind: ComparedColumnKind
    reference_dtype: str
    current_dtype: str
    reference: ColumnStatistics
    current: ColumnStatistics
    drift: DriftTestResult | None
    note: str | None = strawberry.field(description="Why the column was not tested")
    plot_url: str | None = strawberry.field(description="Signed link to the PNG overlay (expires)")


@strawberry.type
class SchemaColumn:
    name: str
    dtype: str
    semantic_type: str


@strawberry.type
class ColumnTypeChange:
    name: str
    reference_dtype: str
    current_dtype: str
    reference_semantic_type: str
    current_semantic_type: str


@strawberry.type
class SchemaDifference:
    added: list[SchemaColumn] = strawberry.field(description="In the current version only")
    dropped: list[SchemaColumn] = strawberry.field(description="In the reference version only")
    type_changed: list[ColumnTypeChange]


@strawberry.type(description="How much the drift tests read")
class ComparisonSampling:
    sample_rows: int = strawberry.field(description="ASSAY_COMPARISON_SAMPLE_ROWS: the most rows per side a test reads")
    sampled: bool
    reference_rows: int
    current_rows: int
    reference_test_rows: int
    current_test_rows: int
    method: str = strawberry.field(description="ALL_ROWS or RESERVOIR (a seeded reservoir sample)")
    seed: int
    quantiles_exact: bool


@strawberry.type(description="Two dataset versions compared by a COMPARE job")
class Comparison(Node):
    created_at: datetime
    drift_share: float = strawberry.field(description="Drifted columns / tested columns")
    dataset_drift: bool = strawberry.field(description="The verdict: driftShare >= shareThreshold")
    share_threshold: float
    drifted_columns: list[str]
    tested_columns: int
    schema_difference: SchemaDifference
    columns: list[ColumnComparison]
    sampling: ComparisonSampling
    report_url: str = strawberry.field(description="Signed link to the HTML report (expires)")
    row: strawberry.Private[ComparisonRow]

    @strawberry.field(description="The version compared against")
    async def reference(self, info: strawberry.Info) -> Annotated[Dataset, strawberry.lazy("schema.datasets")] | None:
        from schema.datasets import Dataset

        return await loaded(info.context.loaders.dataset, self.row.reference_id, Dataset.from_row)

    @strawberry.field
    async def current(self, info: strawberry.Info) -> Annotated[Dataset, strawberry.lazy("schema.datasets")] | None:
        from schema.datasets import Dataset

        return await loaded(info.context.loaders.dataset, self.row.current_id, Dataset.from_row)

    @strawberry.field(description="The COMPARE job that made it, with its log")
    async def job(self, info: strawberry.Info) -> Annotated[Job, strawberry.lazy("schema.jobs")] | None:
        from schema.jobs import Job

        return await loaded(info.context.loaders.job, self.row.job_id, Job.from_row)


ComparisonConnection = Connection[Comparison]


@payload
class CompareDatasetsPayload:
    job: Annotated[Job, strawberry.lazy("schema.jobs")] | None = None


def comparison_type(info: strawberry.Info, row: ComparisonRow) -> Comparison:
    found = models.ComparisonResult.model_validate(row.result)

    def link(path: str, kind: str, fmt: str) -> str:
        return signed_link(info, path, owner_id=row.owner_id, kind=kind, object_id=row.id, fmt=fmt)

    columns = [
        ColumnComparison(
            **fields_of(
                ColumnComparison,
                c,
                reference=ColumnStatistics.of(c.reference),
                current=ColumnStatistics.of(c.current),
                drift=DriftTestResult(**fields_of(DriftTestResult, c.drift)) if c.drift else None,
                plot_url=link(f"/files/comparisons/{row.id}/{c.plot}", "comparison-plot", c.plot) if c.plot else None,
            )
        )
        for c in found.columns
    ]
    schema = found.schema_difference
    return Comparison(
        **fields_of(
            Comparison,
            found,
            id=to_global_id("Comparison", row.id),
            created_at=row.created_at,
            schema_difference=SchemaDifference(
                added=[SchemaColumn(**c.model_dump()) for c in schema.added],
                dropped=[SchemaColumn(**c.model_dump()) for c in schema.dropped],
                type_changed=[ColumnTypeChange(**c.model_dump()) for c in schema.type_changed],
            ),
            columns=columns,
            sampling=ComparisonSampling(**found.sampling.model_dump()),
            report_url=link(f"/files/comparisons/{row.id}.html", "comparison", "HTML"),
            row=row,
        )
    )
