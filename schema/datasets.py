"""Dataset types: metadata, columns, row pages, versions and download links."""

from __future__ import annotations

import asyncio
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.file_uploads import Upload
from strawberry.scalars import JSON

from schema.charts import Chart, ChartInput, ChartPoint, ChartType
from schema.common import Connection, Node, SemanticType, ServiceErrors, fields_last, payload, signed_link
from schema.conversion import loaded, node_fields
from schema.ingest import CsvOptionsInput, IngestInfo
from schema.jobs import Job, JobConnection, JobPriority, priority_input
from schema.profiles import Plot, PlotKind, Profile
from services import datasets
from services.cache import cached, dataset_key
from services.datasets import service as dataset_service
from services.ingest.info import IngestInfo as StoredIngestInfo
from services.jobs import queries as job_queries
from services.modeling import service as model_service
from services.preprocessing import service as preprocessing_service
from services.profiling import service as profile_service
from services.profiling.stored import StoredProfile
from services.storage.tables import Dataset as DatasetRow

if TYPE_CHECKING:  # names in lazy annotations; strawberry.lazy imports them when the schema is built
    from schema.models import Model
    from schema.reports import Report


# The services' own enum: a status they write is one the schema declares.
DatasetStatus = datasets.DatasetStatus  # made a GraphQL enum in place below (mypy types the class)
strawberry.enum(DatasetStatus, name="DatasetStatus")


@strawberry.enum
class DataFormat(Enum):
    CSV = "CSV"
    PARQUET = "PARQUET"
    REJECTS = "REJECTS"  # the lines ingest rejected, as CSV (line, reason, text)


@strawberry.type
class Column:
    name: str
    index: int
    semantic_type: SemanticType
    dtype: str = strawberry.field(description="Physical type, e.g. int64, float64, bool, string, datetime64[s]")
    null_count: int

    @classmethod
    def from_dict(cls, column: dict[str, Any]) -> Column:
        """From a column as the services describe it (services.ingest.types.describe_columns)."""
        return cls(
            name=column["name"],
            index=column["index"],
            semantic_type=SemanticType(column["semantic_type"]),
            dtype=column["dtype"],
            null_count=column["null_count"],
        )


@strawberry.type(description="A page of rows, row-major.")
class Table:
    columns: list[str]
    rows: list[list[JSON | None]]
    offset: int
    total_rows: int


@strawberry.type(description="An uploaded table and its versions.")
class Dataset(Node):
    name: str
    file_name: str = strawberry.field(description="The uploaded file's base name, for display only")
    size_bytes: float
    status: DatasetStatus
    error: str | None
    row_count: int | None
    column_count: int | None
    created_at: datetime
    row: strawberry.Private[DatasetRow]

    @classmethod
    def from_row(cls, row: DatasetRow) -> Dataset:
        return cls(**node_fields(cls, row, size_bytes=float(row.size_bytes)))

    @strawberry.field
    def columns(self) -> list[Column]:
        return [Column.from_dict(c) for c in self.row.columns]

    @strawberry.field(description="When the periodic clean-up deletes this temporary dataset; null: kept until deleted")
    def expires_at(self) -> datetime | None:
        return self.row.expires_at

    @strawberry.field
    def ingest(self) -> IngestInfo | None:
        return (
            IngestInfo.from_stored(StoredIngestInfo.model_validate(self.row.ingest_info))
            if self.row.ingest_info
            else None
        )

    @strawberry.field(
        description="A page of rows (limit at most 1000). Empty until the dataset is READY.",
        extensions=[ServiceErrors()],
    )
    async def rows(self, info: strawberry.Info, offset: int | None = 0, limit: int | None = 20) -> Table:
        offset, limit = offset or 0, 20 if limit is None else limit
        settings = info.context.settings

        async def page() -> list:
            return list(
                await dataset_service.row_page(
                    settings.resolved_data_dir,
                    self.row,
                    offset=offset,
                    limit=limit,
                    max_limit=settings.max_preview_rows,
                )
            )

        if self.row.status == "READY":  # a page of a dataset still ingesting changes: only READY ones are kept
            names, rows, total = await cached(
                info.context.app.cache, self._key("rows", offset=offset, limit=limit), page
            )
        else:
            names, rows, total = await page()
        return Table(columns=names, rows=rows, offset=offset, total_rows=total)

    @strawberry.field(description="The version this one was derived from")
    async def parent(self, info: strawberry.Info) -> Dataset | None:
        return await loaded(info.context.loaders.dataset, self.row.parent_id, Dataset.from_row)

    @strawberry.field(
        description="The steps that derived this version, with every fitted parameter "
        "(means, medians, levels, scaler parameters); null for uploads"
    )
    def recipe(self) -> JSON | None:
        return preprocessing_service.public_recipe(self.row.recipe)

    @strawberry.field(description="Reports written about this version, newest first")
    async def reports(self, info: strawberry.Info) -> list[Annotated[Report, strawberry.lazy("schema.reports")]]:
        from schema.reports import report_type

        return [report_type(info, row) for row in await info.context.loaders.dataset_reports.load(self.row.id)]

    @strawberry.field(description="Versions derived from this one")
    async def children(self, info: strawberry.Info) -> list[Dataset]:
        return [Dataset.from_row(row) for row in await info.context.loaders.dataset_children.load(self.row.id)]

    @strawberry.field(description="Models trained on this version, newest first", extensions=[ServiceErrors()])
    async def models(
        self, info: strawberry.Info, first: int | None = 20, after: str | None = None
    ) -> Connection[Annotated[Model, strawberry.lazy("schema.models")]]:
        from schema.models import Model, ModelConnection

        context = info.context
        page = await context.owned(model_service.list_models, dataset_id=self.row.id, **context.page(first, after))
        return ModelConnection.from_page(page, Model.from_row)

    @strawberry.field(description="Jobs that worked on this dataset, newest first", extensions=[ServiceErrors()])
    async def jobs(self, info: strawberry.Info, first: int | None = 20, after: str | None = None) -> JobConnection:
        context = info.context
        page = await context.owned(job_queries.list_jobs, dataset_id=self.row.id, **context.page(first, after))
        return JobConnection.from_page(page, Job.from_row)

    @strawberry.field(
        description="Chart-ready points, computed on demand (bad columns or types: INVALID_INPUT)",
        extensions=[ServiceErrors()],
    )
    async def chart(self, info: strawberry.Info, input: ChartInput) -> Chart:
        spec = strawberry.asdict(input) | {
            "type": input.type.value,
            "aggregate": input.aggregate.value if input.aggregate else None,
        }
        settings = info.context.settings

        async def points() -> dict:
            return await dataset_service.chart_points(
                settings.resolved_data_dir,
                self.row,
                spec,
                memory_mb=settings.job_memory_mb,
                scratch_dir=settings.scratch_dir,
            )

        result = await cached(info.context.app.cache, self._key("chart", **spec), points)
        return Chart(
            type=ChartType(result["type"]),
            x=result["x"],
            y=result["y"],
            total_rows=result["total_rows"],
            sampled=result["sampled"],
            points=[ChartPoint(**p) for p in result["points"]],
        )

    def _key(self, what: str, **args: object) -> tuple[str, str]:
        """Cache key of an answer about this version, under its owner (the row was read as the caller's)."""
        return dataset_key(
            owner_id=self.row.owner_id, dataset_id=self.row.id, version=self.row.updated_at, what=what, args=args
        )

    @strawberry.field(description="The stored profile; null until `profileDataset` has run")
    async def profile(self, info: strawberry.Info) -> Profile | None:
        data_dir = info.context.settings.resolved_data_dir
        stamp = await asyncio.to_thread(profile_service.profile_version, data_dir, self.row.id)
        if stamp is None:
            return None

        async def read() -> dict | None:
            return await asyncio.to_thread(profile_service.load_profile, data_dir, self.row.id)

        data = await cached(info.context.app.cache, self._key("profile", version=stamp), read)
        return Profile.from_stored(StoredProfile.model_validate(data)) if data else None

    @strawberry.field(description="PNG plots drawn by the last profile job, with signed expiring URLs")
    async def plots(self, info: strawberry.Info) -> list[Plot]:
        profile = await asyncio.to_thread(
            profile_service.read_profile, info.context.settings.resolved_data_dir, self.row.id
        )
        dataset_id = self.row.id
        return [
            Plot(
                kind=PlotKind(p.kind),
                column=p.column,
                url=signed_link(
                    info,
                    f"/files/plots/{dataset_id}/{p.file}",
                    owner_id=self.row.owner_id,
                    kind="plot",
                    object_id=dataset_id,
                    fmt=p.file,
                ),
            )
            for p in (profile.plots if profile else [])
        ]

    @strawberry.field(description="A signed link that expires (15 minutes by default); opens without a header.")
    def download_url(self, info: strawberry.Info, format: DataFormat | None = DataFormat.CSV) -> str:
        fmt = (format or DataFormat.CSV).value
        return signed_link(
            info,
            f"/files/datasets/{self.row.id}.{fmt.lower()}",
            owner_id=self.row.owner_id,
            kind="dataset",
            object_id=self.row.id,
            fmt=fmt,
        )


DatasetConnection = Connection[Dataset]


TEMPORARY = (
    "A temporary dataset: deleted by the periodic clean-up once it expires, ASSAY_TEMPORARY_DATASET_HOURS "
    "after now unless `expiresAt` says when"
)
EXPIRES_AT = "When this dataset is deleted by the periodic clean-up (implies temporary); must be in the future"


class NewDatasetOptions:
    """What an upload and an import both end with: how to read the file, and the job's and the dataset's lifetime."""

    csv: CsvOptionsInput | None = None
    priority: JobPriority = priority_input()
    temporary: bool = strawberry.field(default=False, description=TEMPORARY)
    expires_at: datetime | None = strawberry.field(default=None, description=EXPIRES_AT)


@strawberry.input
@fields_last
class UploadDatasetInput(NewDatasetOptions):
    file: Upload
    name: str | None = None


@payload
class UploadDatasetPayload:
    dataset: Dataset | None = None
    job: Job | None = None


@strawberry.input(description="A file to fetch from the web and ingest, as an upload would be")
@fields_last
class ImportDatasetInput(NewDatasetOptions):
    url: str = strawberry.field(
        description="An https:// URL of a CSV/TSV/TXT (optionally gzipped), workbook or Parquet "
        "file, or an s3://bucket/key the server's credentials can read; fetched by the "
        "INGEST job, within the upload cap and the free disk"
    )
    name: str | None = strawberry.field(default=None, description="The file name in the URL when absent")


@payload
class ImportDatasetPayload:
    dataset: Dataset | None = None
    job: Job | None = strawberry.field(
        default=None, description="The INGEST job: its log shows the download, then the ingest"
    )


@strawberry.input
class DeleteInput:
    id: strawberry.ID


@payload
class DeletePayload:
    deleted_id: strawberry.ID | None = None
