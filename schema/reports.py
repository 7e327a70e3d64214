"""Report and analysis types."""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Optional

import strawberry

from services.storage.tables import Report as ReportRow

from schema.common import Node, UserError, signed_link, to_global_id
from schema.jobs import JobPriority, priority_input

if TYPE_CHECKING:
    from schema.datasets import Dataset
    from schema.jobs import Job
    from schema.models import Model


@strawberry.input(description="Colours are CSS colours (#hex, rgb(), hsl() or names); defaults from ASSAY_REPORT_*")
class ReportThemeInput:
    primary: Optional[str] = None
    accent: Optional[str] = None
    background: Optional[str] = None
    text: Optional[str] = None
    font_family: Optional[str] = None
    logo_url: Optional[str] = strawberry.field(default=None, description="http(s); the only external URL a report may hold")


@strawberry.input
class AnalyzeDatasetInput:
    dataset_id: strawberry.ID
    target: Optional[str] = strawberry.field(default=None, description="Chosen by heuristics, or asked, when absent")
    theme: Optional[ReportThemeInput] = None
    priority: JobPriority = priority_input()


@strawberry.input
class AnswerJobInput:
    job_id: strawberry.ID
    answer: str = strawberry.field(description="One of the job's `choices`")


@strawberry.input
class GenerateReportInput:
    dataset_id: strawberry.ID
    model_id: Optional[strawberry.ID] = None
    theme: Optional[ReportThemeInput] = None
    priority: JobPriority = priority_input()


@strawberry.type(description="A self-contained HTML report; `url` is a signed link that expires")
class Report(Node):
    id: strawberry.ID
    url: str
    created_at: datetime
    row: strawberry.Private[ReportRow]

    @classmethod
    def from_row(cls, row: ReportRow, url: str) -> "Report":
        return cls(id=to_global_id("Report", row.id), url=url, created_at=row.created_at, row=row)

    @strawberry.field
    async def dataset(self, info: strawberry.Info) -> Annotated["Dataset", strawberry.lazy("schema.datasets")]:
        from schema.datasets import Dataset
        return Dataset.from_row(await info.context.loaders.dataset.load(self.row.dataset_id))

    @strawberry.field
    async def model(self, info: strawberry.Info) -> Optional[Annotated["Model", strawberry.lazy("schema.models")]]:
        from schema.models import Model
        row = await info.context.loaders.model.load(self.row.model_id)
        return Model.from_row(row) if row else None


@strawberry.type
class ReportPayload:
    report: Optional[Report] = None
    job: Optional[Annotated["Job", strawberry.lazy("schema.jobs")]] = None
    errors: list[UserError] = strawberry.field(default_factory=list)


def report_type(info: strawberry.Info, row: ReportRow) -> Report:
    return Report.from_row(row, signed_link(info, f"/files/reports/{row.id}.html", owner_id=row.owner_id, kind="report",
                                            object_id=row.id, fmt="HTML"))
