"""Pipeline types and inputs: a source, optional steps and a sink, saved and rerunnable."""

from __future__ import annotations

import asyncio
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, cast

import strawberry
from strawberry.scalars import JSON

from schema.checks import PipelineCheckInput, PipelineCheckResult
from schema.common import Connection, Node, ServiceErrors, listed
from schema.config_shapes import shown_config
from schema.conversion import fields_of, loaded, node_fields
from schema.datasets import Column, Dataset, Table
from schema.jobs import Job, JobPriority, priority_input
from schema.preprocessing import PreprocessStepInput
from services import pipelines
from services.pagination import checked_count
from services.pipelines import runs, sinks
from services.pipelines.results import CheckResult
from services.pipelines.service import pipeline_config, run_config
from services.storage.tables import Pipeline as PipelineRow
from services.storage.tables import PipelineRun as RunRow

DELAY_DESCRIPTION = "Seconds to wait between one page's request and the next (politeness; at most 60)"


@strawberry.enum(description="How an http source's reply is read")
class SourceFormat(Enum):
    AUTO = "AUTO"
    JSON = "JSON"
    CSV = "CSV"


@strawberry.input
class HttpSourceInput:
    url: str
    method: str | None = "GET"
    headers: JSON | None = strawberry.field(default=None, description="Stored; shown masked in `config`")
    params: JSON | None = None
    records_path: str | None = strawberry.field(default=None, description="Dotted path to the list of records")
    next_page_path: str | None = strawberry.field(default=None, description="Dotted path to the next page's URL")
    cursor_path: str | None = strawberry.field(
        default=None,
        description=(
            "Dotted path to the next page's cursor in each reply; sent back as the query parameter `cursorParam` "
            "until a reply has none"
        ),
    )
    cursor_param: str | None = None
    page_param: str | None = strawberry.field(
        default=None,
        description=("Query parameter for a page number, from `firstPage` up, until a page has no records"),
    )
    first_page: int | None = strawberry.field(default=None, description="With pageParam; 1 when left out")
    offset_param: str | None = strawberry.field(
        default=None,
        description=(
            "Query parameter for an offset: 0, then advanced by the records each page held, until a page has none"
        ),
    )
    max_pages: int | None = 100
    retries: int | None = strawberry.field(
        default=3, description="On connection errors, 429 and 5xx, with exponential backoff, jitter and Retry-After"
    )
    timeout_seconds: float | None = 30
    delay_seconds: float | None = strawberry.field(default=0, description=DELAY_DESCRIPTION)
    format: SourceFormat | None = strawberry.field(
        default=SourceFormat.AUTO,
        description=("AUTO: CSV when the reply says text/csv (or the URL ends in .csv, .tsv, .csv.gz), JSON otherwise"),
    )


@strawberry.input
class ScrapeFieldInput:
    name: str
    selector: str = strawberry.field(description="CSS selector inside the row ('' for the row itself)")
    attribute: str | None = strawberry.field(default=None, description="e.g. href; relative links are made absolute")


@strawberry.input
class ScrapeSourceInput:
    url: str
    row_selector: str
    fields: list[ScrapeFieldInput]
    next_page_selector: str | None = strawberry.field(
        default=None,
        description="CSS selector of the link to the next page (its href, resolved against the "
        "page's URL); pages are followed until there is none, a URL repeats, or maxPages",
    )
    max_pages: int | None = strawberry.field(
        default=None, description="With nextPageSelector: at most this many pages (default 100)"
    )
    headers: JSON | None = strawberry.field(
        default=None,
        description=("Request headers (cookies, a token, a User-Agent of your own); stored, shown masked in `config`"),
    )
    retries: int | None = strawberry.field(
        default=3, description="On connection errors, 429 and 5xx, with exponential backoff, jitter and Retry-After"
    )
    timeout_seconds: float | None = 30
    delay_seconds: float | None = strawberry.field(default=0, description=DELAY_DESCRIPTION)


@strawberry.input
class DatasetSourceInput:
    dataset_id: strawberry.ID


@strawberry.input(
    description="A CSV file on the server, under one of ASSAY_IMPORT_DIRS (administrators only; "
    "symlinks are resolved and must stay inside)"
)
class FileSourceInput:
    path: str = strawberry.field(description="Absolute, or relative to an import directory")


@strawberry.input(one_of=True)
class SourceInput:
    dataset: DatasetSourceInput | None = strawberry.UNSET
    http: HttpSourceInput | None = strawberry.UNSET
    scrape: ScrapeSourceInput | None = strawberry.UNSET
    file: FileSourceInput | None = strawberry.UNSET


@strawberry.input
class DatasetSinkInput:
    name: str


@strawberry.input(description="Versioned: each run writes version n+1 atomically; old versions stay readable")
class ParquetSinkInput:
    name: str


@strawberry.input(description="A table in your own SQLite file under the data directory")
class SqliteSinkInput:
    table: str
    mode: str | None = strawberry.field(
        default="replace",
        description=("replace, append or upsert (update the row with the same `key`, insert the others)"),
    )
    key: list[str] | None = strawberry.field(
        default=None,
        description=("Columns that identify a row: the table's primary key. Needed by upsert; not taken by append"),
    )
    indexes: list[list[str]] | None = strawberry.field(
        default=None, description=("Indexes to keep on the table, each over one or more columns; created when missing")
    )


@strawberry.input(one_of=True)
class SinkInput:
    dataset: DatasetSinkInput | None = strawberry.UNSET
    parquet: ParquetSinkInput | None = strawberry.UNSET
    sqlite: SqliteSinkInput | None = strawberry.UNSET


@strawberry.input(description="Run the pipeline every `intervalSeconds`, the first time that long after saving")
class ScheduleInput:
    interval_seconds: int = strawberry.field(description="At least ASSAY_MIN_SCHEDULE_SECONDS (60 by default)")
    paused: bool | None = strawberry.field(default=False, description="Keep the schedule but start nothing")


@strawberry.type
class PipelineSchedule:
    interval_seconds: int
    paused: bool
    next_run_at: datetime | None = strawberry.field(description="When the next scheduled run starts (null when paused)")


@strawberry.enum(description="What started a run")
class RunTrigger(Enum):
    MANUAL = "MANUAL"
    SCHEDULE = "SCHEDULE"


@strawberry.input
class CreatePipelineInput:
    name: str
    source: SourceInput
    steps: list[PreprocessStepInput] | None = None
    sink: SinkInput
    checks: list[PipelineCheckInput] | None = strawberry.field(
        default=None, description=("Data checks on the output before it is stored")
    )
    schedule: ScheduleInput | None = strawberry.field(default=None, description="Run it on its own, regularly")


@strawberry.input
class UpdatePipelineInput:
    id: strawberry.ID
    name: str | None = None
    source: SourceInput | None = None
    steps: list[PreprocessStepInput] | None = None
    sink: SinkInput | None = None
    checks: list[PipelineCheckInput] | None = strawberry.field(
        default=None, description=("Replaces the checks; [] removes them")
    )
    schedule: ScheduleInput | None = strawberry.field(
        default=strawberry.UNSET, description=("Replaces the schedule; null removes it; left out, it stays as it is")
    )


@strawberry.input
class RunPipelineInput:
    id: strawberry.ID
    priority: JobPriority = priority_input()


@strawberry.input(
    description="A Parquet or SQLite sink's output as a new dataset, to profile, chart, train or analyse like an upload"
)
class ImportPipelineOutputInput:
    pipeline_id: strawberry.ID
    run_id: strawberry.ID | None = strawberry.field(
        default=None, description="Default: the last successful run. A SQLite sink's table is read as it is now"
    )
    name: str | None = None
    priority: JobPriority = priority_input()


# The services' own enum: a status they write is one the schema declares.
if TYPE_CHECKING:  # the services' enum, as mypy sees it; strawberry wraps it as the GraphQL RunStatus
    from services.pipelines import RunStatus
else:
    RunStatus = strawberry.enum(pipelines.RunStatus, name="RunStatus")


@strawberry.type
class PipelineRun(Node):
    status: RunStatus
    started_at: datetime | None
    finished_at: datetime | None
    rows_in: int | None
    rows_out: int | None
    version: int | None = strawberry.field(description="The output version this run wrote (dataset and parquet sinks)")
    error: str | None
    config: JSON = strawberry.field(description="The configuration this run ran with (secrets masked)")
    row: strawberry.Private[RunRow]

    @classmethod
    def from_row(cls, row: RunRow) -> PipelineRun:
        return cls(**node_fields(cls, row, config=cast(JSON, shown_config(run_config(row)))))

    @strawberry.field
    def trigger(self) -> RunTrigger:
        return RunTrigger(self.row.trigger)

    @strawberry.field(description="Each check rule's result, in the order configured (empty when there are none)")
    def checks(self) -> list[PipelineCheckResult]:
        checks = [CheckResult.model_validate(c) for c in self.row.checks or []]
        return [PipelineCheckResult(**fields_of(PipelineCheckResult, c)) for c in checks]

    @strawberry.field(
        description=(
            "A page of what this run stored: its own Parquet version or dataset, so earlier outputs stay readable "
            "(a SQLite table is shared by the runs: it shows as it is now). Null unless the run succeeded"
        ),
        extensions=[ServiceErrors()],
    )
    async def data(self, info: strawberry.Info, offset: int | None = 0, limit: int | None = 20) -> Table | None:
        offset, limit = offset or 0, 20 if limit is None else limit
        return await stored_page(info, self.row, offset=offset, limit=limit)

    @strawberry.field(description="The output, when the sink makes a dataset")
    async def dataset(self, info: strawberry.Info) -> Dataset | None:
        return await loaded(info.context.loaders.dataset, self.row.dataset_id, Dataset.from_row)

    @strawberry.field
    async def job(self, info: strawberry.Info) -> Job | None:
        return await loaded(info.context.loaders.job, self.row.job_id, Job.from_row)


PipelineRunConnection = Connection[PipelineRun]


def check_page(info: strawberry.Info, offset: int, limit: int) -> None:
    checked_count(offset, name="offset", default=0, most=None)
    checked_count(limit, name="limit", default=20, most=info.context.settings.max_preview_rows)


async def stored_page(info: strawberry.Info, run: RunRow | None, *, offset: int, limit: int) -> Table | None:
    """What `run` stored: its own Parquet version or dataset (a SQLite table is shared, so: as it is now)."""
    check_page(info, offset, limit)
    if run is None or run.status != "SUCCEEDED" or not run.output:
        return None
    names, rows, total = await asyncio.to_thread(
        sinks.read_output, info.context.settings.resolved_data_dir, run.owner_id, run.output, offset=offset, limit=limit
    )
    return Table(columns=names, rows=rows, offset=offset, total_rows=total)


@strawberry.type
class PipelineStats:
    runs: int
    succeeded: int
    failed: int
    mean_seconds: float | None
    rows_out: int


@strawberry.type(description="A saved source -> steps -> sink; run it as often as you like")
class Pipeline(Node):
    name: str
    created_at: datetime
    updated_at: datetime = strawberry.field(description="When the name or config last changed")
    row: strawberry.Private[PipelineRow]

    @classmethod
    def from_row(cls, row: PipelineRow) -> Pipeline:
        return cls(**node_fields(cls, row))

    @strawberry.field(description="Null when the pipeline only runs when asked")
    def schedule(self) -> PipelineSchedule | None:
        if self.row.schedule_seconds is None:
            return None
        return PipelineSchedule(
            interval_seconds=self.row.schedule_seconds,
            paused=self.row.schedule_paused,
            next_run_at=self.row.next_run_at,
        )

    @strawberry.field(description="As given, with header values masked")
    def config(self) -> JSON:
        return cast(JSON, shown_config(pipeline_config(self.row)))

    @strawberry.field(extensions=[ServiceErrors()])
    async def runs(
        self, info: strawberry.Info, first: int | None = 20, after: str | None = None
    ) -> PipelineRunConnection:
        page = await listed(info, runs.list_runs, first, after, pipeline_id=self.row.id)
        return PipelineRunConnection.from_page(page, PipelineRun.from_row)

    async def _last_run(self, info: strawberry.Info, *, succeeded: bool = False) -> RunRow | None:
        loaders = info.context.loaders
        return await (loaders.last_succeeded_run if succeeded else loaders.last_run).load(self.row.id)

    @strawberry.field
    async def last_run(self, info: strawberry.Info) -> PipelineRun | None:
        row = await self._last_run(info)
        return PipelineRun.from_row(row) if row else None

    @strawberry.field
    async def stats(self, info: strawberry.Info) -> PipelineStats:
        return PipelineStats(**await info.context.loaders.pipeline_stats.load(self.row.id))

    @strawberry.field(description="Columns of the latest successful output")
    async def output_schema(self, info: strawberry.Info) -> list[Column]:
        row = await self._last_run(info, succeeded=True)
        return [Column.from_dict(c) for c in (row.columns if row else [])]

    @strawberry.field(description="A page of the latest output", extensions=[ServiceErrors()])
    async def data(self, info: strawberry.Info, offset: int | None = 0, limit: int | None = 20) -> Table | None:
        offset, limit = offset or 0, 20 if limit is None else limit
        check_page(info, offset, limit)
        return await stored_page(info, await self._last_run(info, succeeded=True), offset=offset, limit=limit)


PipelineConnection = Connection[Pipeline]
