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
from schema.common import Connection, Node, SemanticType, ServiceErrors, UserError, signed_link
from schema.conversion import fields_of, loaded, node_fields
from schema.jobs import Job, JobConnection, JobPriority, priority_input
from schema.profiles import Plot, PlotKind, Profile
from services import datasets
from services.cache import cached, dataset_key
from services.datasets import exports
from services.datasets import service as dataset_service
from services.ingest.info import IngestInfo as StoredIngestInfo
from services.jobs import queries as job_queries
from services.jobs.status import JobStatus
from services.modeling import service as model_service
from services.pagination import checked_count
from services.preprocessing import service as preprocessing_service
from services.profiling import service as profile_service
from services.profiling.stored import StoredProfile
from services.storage.tables import Dataset as DatasetRow
from services.storage.tables import Job as JobRow

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


@strawberry.enum(description="What to do with a line whose field count is not the header's")
class BadLines(Enum):
    PAD = strawberry.enum_value(
        "PAD",
        description="Default: pad short lines with nulls, drop extra fields that are "
        "all empty, reject other long lines (kept, counted, downloadable)",
    )
    SKIP = strawberry.enum_value("SKIP", description="As PAD, but reject short lines too")
    FAIL = strawberry.enum_value("FAIL", description="Fail the upload at the first such line")


@strawberry.enum(description="What the uploaded file was read as")
class FileFormat(Enum):
    TEXT = "TEXT"
    GZIP = "GZIP"
    XLSX = "XLSX"
    XLS = "XLS"
    ODS = "ODS"
    PARQUET = "PARQUET"


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


@strawberry.type(description="A line ingest did not load: its number in the file, its text, and why.")
class RejectedLine:
    line: int
    text: str
    reason: str


@strawberry.type(description="Something about how the file was read that the user should check.")
class IngestAlert:
    code: str = strawberry.field(description="ENCODING_UNCERTAIN: the detected encoding is a low-confidence guess")
    message: str


@strawberry.type(description="How the file was read: detected or given.")
class IngestInfo:
    encoding: str | None
    delimiter: str | None
    has_header: bool | None
    decimal: str | None
    skipped_lines: int | None = strawberry.field(
        description="Lines above the header that were skipped: blank, "
        "comment, or with another field count than the table"
    )
    format: FileFormat | None = None
    quote_char: str | None = strawberry.field(default=None, description="Detected like the delimiter: \" or '")
    sheet: str | None = strawberry.field(default=None, description="The workbook sheet that was read")
    padded_lines: int = strawberry.field(default=0, description="Short lines padded with nulls")
    trimmed_lines: int = strawberry.field(default=0, description="Long lines whose extra, empty fields were dropped")
    rejected_lines: int = strawberry.field(
        default=0, description="Lines not loaded; see `rejects` and `downloadUrl(format: REJECTS)`"
    )
    nul_bytes_removed: int = strawberry.field(default=0, description="Stray NUL bytes removed from the text")
    encoding_confidence: float | None = strawberry.field(
        default=None,
        description="How sure encoding detection was, 0-1 (1: a byte-order mark or valid UTF-8); "
        "null when the encoding was given or the file is not text",
    )
    info: strawberry.Private[StoredIngestInfo]

    @strawberry.field(description="Warnings about how the file was read (e.g. an uncertain encoding)")
    def alerts(self) -> list[IngestAlert]:
        return [IngestAlert(code=a.code, message=a.message) for a in self.info.alerts]

    @strawberry.field(
        description="The first rejected lines (`first` 0-100; all of them in the download)",
        extensions=[ServiceErrors()],
    )
    def rejects(self, first: int | None = 10) -> list[RejectedLine]:
        first = checked_count(first, name="first", default=10, most=100)
        return [RejectedLine(line=r.line, text=r.text, reason=r.reason) for r in self.info.rejects[:first]]


@strawberry.type(description="An uploaded table and its versions.")
class Dataset(Node):
    id: strawberry.ID
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
        return cls(**node_fields(cls, row, size_bytes=float(row.size_bytes), status=DatasetStatus(row.status)))

    @strawberry.field
    def columns(self) -> list[Column]:
        return [Column.from_dict(c) for c in self.row.columns]

    @strawberry.field(description="When the periodic clean-up deletes this temporary dataset; null: kept until deleted")
    def expires_at(self) -> datetime | None:
        return self.row.expires_at

    @strawberry.field
    def ingest(self) -> IngestInfo | None:
        if not self.row.ingest_info:
            return None
        info = StoredIngestInfo.model_validate(self.row.ingest_info)
        return IngestInfo(
            **fields_of(
                IngestInfo,
                info,
                skipped_lines=info.skip_rows,
                format=FileFormat(info.format) if info.format else None,
                info=info,
            )
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


@strawberry.input
class CsvOptionsInput:
    delimiter: str | None = strawberry.field(default=None, description="Sniffed when absent")
    encoding: str | None = strawberry.field(default=None, description="Detected when absent")
    has_header: bool | None = strawberry.field(default=None, description="Detected when absent")
    na_values: list[str] | None = strawberry.field(default=None, description="Replaces the default null tokens")
    on_bad_lines: BadLines | None = strawberry.field(
        default=None, description="Lines with another field count than the header (PAD when absent)"
    )
    sheet: str | None = strawberry.field(default=None, description="The workbook sheet to read (the first when absent)")


TEMPORARY = (
    "A temporary dataset: deleted by the periodic clean-up once it expires, ASSAY_TEMPORARY_DATASET_HOURS "
    "after now unless `expiresAt` says when"
)
EXPIRES_AT = "When this dataset is deleted by the periodic clean-up (implies temporary); must be in the future"


@strawberry.input
class UploadDatasetInput:
    file: Upload
    name: str | None = None
    csv: CsvOptionsInput | None = None
    priority: JobPriority = priority_input()
    temporary: bool = strawberry.field(default=False, description=TEMPORARY)
    expires_at: datetime | None = strawberry.field(default=None, description=EXPIRES_AT)


@strawberry.type
class UploadDatasetPayload:
    dataset: Dataset | None = None
    job: Job | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input(description="A file to fetch from the web and ingest, as an upload would be")
class ImportDatasetInput:
    url: str = strawberry.field(
        description="An https:// URL of a CSV/TSV/TXT (optionally gzipped), workbook or Parquet "
        "file, or an s3://bucket/key the server's credentials can read; fetched by the "
        "INGEST job, within the upload cap and the free disk"
    )
    name: str | None = strawberry.field(default=None, description="The file name in the URL when absent")
    csv: CsvOptionsInput | None = None
    priority: JobPriority = priority_input()
    temporary: bool = strawberry.field(default=False, description=TEMPORARY)
    expires_at: datetime | None = strawberry.field(default=None, description=EXPIRES_AT)


@strawberry.type
class ImportDatasetPayload:
    dataset: Dataset | None = None
    job: Job | None = strawberry.field(
        default=None, description="The INGEST job: its log shows the download, then the ingest"
    )
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class DeleteInput:
    id: strawberry.ID


@strawberry.type
class DeletePayload:
    deleted_id: strawberry.ID | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


ExportFormat = exports.ExportFormat  # made a GraphQL enum in place below (mypy types the class)
strawberry.enum(
    ExportFormat,
    name="DatasetExportFormat",
    description="CSV (UTF-8, comma, a header line), PARQUET (zstd) or JSONL (one JSON object per line)",
)


@strawberry.input(description="Write a dataset version as one file in an EXPORT job, then download it")
class ExportDatasetInput:
    dataset_id: strawberry.ID = strawberry.field(description="One of your READY datasets")
    format: ExportFormat = ExportFormat.CSV
    priority: JobPriority = priority_input()


@strawberry.type
class ExportDatasetPayload:
    job: Job | None = strawberry.field(
        default=None,
        description="The EXPORT job: once SUCCEEDED, its `output` is the DatasetExport with the download link",
    )
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type(description="A dataset version written as one file by an EXPORT job")
class DatasetExport:
    format: ExportFormat
    rows: int
    bytes: int = strawberry.field(description="The file's size")
    url: str = strawberry.field(
        description="A signed link that expires (15 minutes by default); opens without a "
        "header, for the job's owner only"
    )


async def export_made(info: strawberry.Info, job: JobRow) -> DatasetExport | None:
    """A SUCCEEDED EXPORT job's file, with a fresh link (the job's output: resolvers/datasets.py declares it)."""
    if job.status != JobStatus.SUCCEEDED or not job.result:
        return None
    done = exports.ExportResult.model_validate(job.result)
    return DatasetExport(
        format=done.format,
        rows=done.rows,
        bytes=done.bytes,
        url=signed_link(info, f"/files/jobs/{job.id}", owner_id=job.owner_id, kind="job", object_id=job.id, fmt="FILE"),
    )
