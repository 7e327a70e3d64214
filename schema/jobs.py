"""Job types: status, stages, logs and live events."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from schema.common import Connection, ErrorCode, Node, ServiceErrors, payload
from schema.conversion import fields_of, loaded, node_fields
from schema.domain import made
from schema.fanout import SharedEvents
from services.domains import job_kinds as registered_kinds
from services.jobs import queries
from services.jobs import status as job_status
from services.jobs.priority import Priority
from services.jobs.recording import AttemptRecord, StageTime
from services.jobs.telemetry import JobTelemetry as TelemetryRecord
from services.storage.tables import Job as JobRow
from services.storage.tables import JobLog

if TYPE_CHECKING:
    from schema.comparisons import Comparison
    from schema.datasets import Dataset
    from schema.models import Model
    from schema.pipelines import PipelineRun
    from schema.reports import Analysis, Report
    from schema.root import JobOutput


# Generated from the registered kinds (services/domains.py), in their order: a kind the workers run is one the
# schema declares (tests/schema/test_job_kinds.py).
if TYPE_CHECKING:
    JobKind = Enum  # to a type checker any enum: its members exist only once the registry is read
else:
    JobKind = strawberry.enum(Enum("JobKind", {name: name for name in registered_kinds()}), name="JobKind")


# The engine's own enum: a status it writes is one the schema declares.
JobStatus = job_status.JobStatus  # made a GraphQL enum in place below (mypy types the class)
strawberry.enum(JobStatus, name="JobStatus")

JobPriority = Priority  # made a GraphQL enum in place below (mypy types the class)
strawberry.enum(
    JobPriority,
    name="JobPriority",
    description="Which waiting job gets the next free worker slot first: HIGH, then NORMAL, "
    "then LOW (first come first served within one). Running jobs are never "
    "pre-empted.",
)


@strawberry.type(
    description="One run of a job: the first, a re-run after a transient failure, or after its worker stopped"
)
class JobAttempt:
    attempt: int
    started_at: datetime | None
    finished_at: datetime | None
    outcome: str = strawberry.field(
        description="RETRYING (failed transiently; ran again), SUCCEEDED, FAILED, CANCELLED or WORKER_LOST"
    )
    error: str | None
    transient: bool = strawberry.field(
        description="Whether the failure was one that may pass (a lost connection, a source timing out)"
    )
    retry_in_seconds: float | None = strawberry.field(description="The backoff waited before the next attempt")
    error_code: ErrorCode | None = strawberry.field(
        default=None,
        description="Why it failed, as a code: OVER_BUDGET when it needed more memory than "
        "ASSAY_JOB_MEMORY_MB, INTERNAL for a bug; null unless it failed",
    )

    @classmethod
    def from_json(cls, stored: dict) -> JobAttempt:
        entry = AttemptRecord.model_validate(stored)  # the model the runner wrote it from
        return cls(**fields_of(cls, entry, error_code=ErrorCode(entry.code) if entry.code else None))


@strawberry.type(description="How long one stage of a finished job took")
class StageDuration:
    stage: str
    duration_ms: float | None


@strawberry.type(
    description="What a finished job did, as recorded when it ended (also one line of <data dir>/telemetry/jobs.jsonl)"
)
class JobTelemetry:
    status: JobStatus
    priority: JobPriority
    attempts: int = strawberry.field(description="Attempts made, the last included")
    retries: int = strawberry.field(description="Re-runs after transient failures")
    queued_ms: float | None = strawberry.field(description="From creation to the first start")
    run_ms: float | None = strawberry.field(description="From the last start to the end")
    total_ms: float | None = strawberry.field(description="From creation to the end")
    stages: list[StageDuration]
    tools: list[str] = strawberry.field(description="What the job chose or applied: algorithms tried, steps applied")
    features: list[str] = strawberry.field(description="The columns a model used")
    warnings: list[str] = strawberry.field(description="Its WARNING log lines (the first 50)")
    warning_count: int

    @classmethod
    def from_json(cls, data: dict) -> JobTelemetry:
        record = TelemetryRecord.model_validate(data)
        return cls(
            **fields_of(
                cls,
                record,
                priority=Priority[record.priority],
                attempts=record.attempt,
                stages=[StageDuration(stage=s.stage, duration_ms=s.duration_ms) for s in record.stages],
            )
        )


@strawberry.enum
class LogLevel(Enum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


@strawberry.enum
class JobEventKind(Enum):
    LOG = "LOG"
    PROGRESS = "PROGRESS"
    STATUS = "STATUS"


@strawberry.type(description="One log line of a job; `seq` is gapless per job, so clients can resume after it.")
class LogEntry:
    seq: int
    time: datetime
    level: LogLevel
    stage: str | None
    message: str

    @classmethod
    def from_row(cls, row: JobLog) -> LogEntry:
        return cls(seq=row.seq, time=row.time, level=LogLevel(row.level), stage=row.stage, message=row.message)


@strawberry.type
class StageTiming:
    stage: str
    started_at: datetime
    finished_at: datetime | None
    duration_ms: float | None


@strawberry.type(description="A long operation run in the background. Watch it with the `jobEvents` subscription.")
class Job(Node):
    kind: JobKind
    status: JobStatus
    stage: str | None
    progress: float = strawberry.field(description="0..1")
    question: str | None = strawberry.field(description="What the job needs when NEEDS_INPUT")
    choices: list[str] | None
    error: str | None
    attempt: int = strawberry.field(
        description="1 for the first run; higher after a restart or a transient failure re-ran it"
    )
    priority: JobPriority = strawberry.field(
        description="Asked for by the operation that started it (NORMAL by default)"
    )
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None
    row: strawberry.Private[JobRow]

    @classmethod
    def from_row(cls, row: JobRow) -> Job:
        return cls(
            **node_fields(
                cls,
                row,
                priority=Priority[row.priority or "NORMAL"],
            )
        )

    @strawberry.field
    def timeline(self) -> list[StageTiming]:
        timeline = [StageTime.model_validate(entry) for entry in self.row.timeline]
        return [
            StageTiming(stage=t.stage, started_at=t.started_at, finished_at=t.finished_at, duration_ms=t.duration_ms)
            for t in timeline
        ]

    @strawberry.field(
        description="Why a FAILED job failed, as a code (its last attempt's): OVER_BUDGET when it "
        "needed more memory than its budget (ASSAY_JOB_MEMORY_MB), with the budget and "
        "the estimated need in `error`; null otherwise"
    )
    def error_code(self) -> ErrorCode | None:
        if self.row.status != "FAILED" or not self.row.attempts:
            return None
        code = AttemptRecord.model_validate(self.row.attempts[-1]).code
        return ErrorCode(code) if code else None

    @strawberry.field(
        description="Each ended attempt, oldest first: why it ended and, when it failed transiently, "
        "how long the job waited before running again"
    )
    def attempts(self) -> list[JobAttempt]:
        return [JobAttempt.from_json(entry) for entry in self.row.attempts or []]

    @strawberry.field(
        description="Durations per stage, tools and features used, warnings; null until the job ended "
        "in its runner (a job cancelled before it started has none)"
    )
    def telemetry(self) -> JobTelemetry | None:
        return JobTelemetry.from_json(self.row.telemetry) if self.row.telemetry else None

    @strawberry.field(
        description="The newest `last` log entries, oldest first (at most 1000).", extensions=[ServiceErrors()]
    )
    async def logs(self, info: strawberry.Info, last: int | None = 100) -> list[LogEntry]:
        async with info.context.session() as session:
            rows = await queries.newest_logs(session, job_id=self.row.id, last=100 if last is None else last)
        return [LogEntry.from_row(r) for r in rows]

    @strawberry.field
    async def dataset(self, info: strawberry.Info) -> Annotated[Dataset, strawberry.lazy("schema.datasets")] | None:
        from schema.datasets import Dataset

        return await loaded(info.context.loaders.dataset, self.row.dataset_id, Dataset.from_row)

    @strawberry.field(
        description="The model this job trains (TRAIN, ANALYZE once modeled), else the one it uses (PREDICT, REPORT)"
    )
    async def model(self, info: strawberry.Info) -> Annotated[Model, strawberry.lazy("schema.models")] | None:
        from schema.models import Model

        return await loaded(info.context.loaders.model_for_job, self.row, Model.from_row)

    # What a job made comes from its kind's declaration (GraphQLDomain.makes in resolvers/<domain>.py).
    @strawberry.field(description="The pipeline run a PIPELINE job carries out")
    async def pipeline_run(
        self, info: strawberry.Info
    ) -> Annotated[PipelineRun, strawberry.lazy("schema.pipelines")] | None:
        return await made(info, self.row, link="pipeline_run")

    @strawberry.field(description="An ANALYZE job's analysis: options, critique, automatic fixes, failed stage")
    async def analysis(self, info: strawberry.Info) -> Annotated[Analysis, strawberry.lazy("schema.reports")] | None:
        return await made(info, self.row, link="analysis")

    @strawberry.field(description="The report an ANALYZE or REPORT job wrote, once written")
    async def report(self, info: strawberry.Info) -> Annotated[Report, strawberry.lazy("schema.reports")] | None:
        return await made(info, self.row, link="report")

    @strawberry.field(description="The comparison a COMPARE job stored, once it succeeded")
    async def comparison(
        self, info: strawberry.Info
    ) -> Annotated[Comparison, strawberry.lazy("schema.comparisons")] | None:
        return await made(info, self.row, link="comparison")

    @strawberry.field(
        description="What this job made, as its kind declares (the Dataset an INGEST reads in, the Model "
        "a TRAIN fits, a PipelineRun, Analysis, Report, Comparison or DatasetExport); null "
        "until it exists, or for a kind that declares none"
    )
    async def output(self, info: strawberry.Info) -> Annotated[JobOutput, strawberry.lazy("schema.root")] | None:
        return await made(info, self.row)


JobConnection = Connection[Job]


@strawberry.type(description="A change to a job: a new log line, progress or a status change.")
class JobEvent:
    kind: JobEventKind
    job: Job
    log: LogEntry | None = strawberry.field(description="The log line (with `batch`, the last of `logs`)")
    logs: list[LogEntry] = strawberry.field(
        description="Every log line this event carries, in order: one, or with `batch: true` all that were waiting"
    )

    @classmethod
    def from_event(cls, event: dict, shared: SharedEvents) -> JobEvent:
        """One object per bus event, shared by every subscriber, so its execution can be shared too."""
        return shared.node(event, lambda: cls._build(event))

    @classmethod
    def _build(cls, event: dict) -> JobEvent:
        log = event.get("log")
        logs = event.get("logs")
        if logs is None:
            logs = [log] if log is not None else []
        return cls(
            kind=JobEventKind(event["kind"]),
            job=Job.from_row(event["job"]),
            log=LogEntry.from_row(log) if log is not None else None,
            logs=[LogEntry.from_row(r) for r in logs],
        )


@strawberry.input
class CancelJobInput:
    id: strawberry.ID


@payload
class JobPayload:
    job: Job | None = None


def priority_input() -> Any:
    """The `priority` field every job-starting input ends with (resolvers/fields.py applies it to the enqueue)."""
    return strawberry.field(
        default=Priority.NORMAL,
        description="Which waiting job runs first when workers are busy: HIGH, NORMAL (the default) or LOW",
    )
