"""Report and analysis types."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from pydantic import BaseModel
from strawberry.experimental import pydantic as from_model

from schema.common import Node, payload, signed_link, to_global_id
from schema.conversion import loaded
from schema.jobs import JobPriority, priority_input
from services.analysis import models as analysis_models
from services.analysis.options import AnalysisOptions as AnalysisOptionsModel
from services.reports import content
from services.storage.tables import Report as ReportRow

if TYPE_CHECKING:
    from schema.datasets import Dataset
    from schema.jobs import Job
    from schema.models import Model
    from services.storage.tables import Job as JobRowType


@strawberry.input(description="Colours are CSS colours (#hex, rgb(), hsl() or names); defaults from ASSAY_REPORT_*")
class ReportThemeInput:
    primary: str | None = None
    accent: str | None = None
    background: str | None = None
    text: str | None = None
    font_family: str | None = None
    logo_url: str | None = strawberry.field(
        default=None, description="http(s); the only external URL a report may hold (default ASSAY_REPORT_LOGO_URL)"
    )
    surface: str | None = strawberry.field(default=None, description="Background of cards and notes")
    muted: str | None = strawberry.field(default=None, description="Secondary text and borders")
    ok: str | None = strawberry.field(default=None, description="Marks what passed (no QA finding)")
    warn: str | None = strawberry.field(default=None, description="Marks WARNING findings")
    error: str | None = strawberry.field(default=None, description="Marks CRITICAL findings and a renderer fallback")


@strawberry.input(description="The seed's analysis knobs; each absent one is its ASSAY_ANALYSIS_* setting")
class AnalysisOptionsInput:
    cv_folds: int | None = strawberry.field(default=None, description="Cross-validation folds, 2-20 (CV_FOLDS)")
    early_stop_sample: int | None = strawberry.field(
        default=None,
        description="Candidates are compared on at most this many training rows before the winner is "
        "fitted on all of them, >= 100 (EARLY_STOP_SAMPLE)",
    )
    hgb_min_rows: int | None = strawberry.field(
        default=None, description="Gradient boosting is a candidate only from this many training rows (HGB_MIN_ROWS)"
    )
    allowed_exts: list[str] | None = strawberry.field(
        default=None,
        description='File extensions the analysis accepts, e.g. ["csv"]; another file type is '
        "UNSUPPORTED_FILE (ALLOWED_EXTS); empty: all",
    )
    large_file_mb: float | None = strawberry.field(
        default=None,
        description="Above this stored size the model is fitted on a sample, and the analysis says so (LARGE_FILE_MB)",
    )


@strawberry.input
class AnalyzeDatasetInput:
    dataset_id: strawberry.ID
    target: str | None = strawberry.field(default=None, description="Chosen by heuristics, or asked, when absent")
    theme: ReportThemeInput | None = None
    priority: JobPriority = priority_input()
    options: AnalysisOptionsInput | None = None
    safe_auto_actions: bool | None = strawberry.field(
        default=None,
        description="Let the analysis drop identifier and constant columns and exact duplicate rows and "
        "impute columns (not the target) missing few values, on a NEW dataset version (the "
        "analysed one is untouched); each fix is listed on Job.analysis.autoActions. "
        "Default ASSAY_ANALYSIS_SAFE_AUTO_ACTIONS",
    )


@strawberry.input
class AnswerJobInput:
    job_id: strawberry.ID
    answer: str = strawberry.field(description="One of the job's `choices`")


@strawberry.input
class GenerateReportInput:
    dataset_id: strawberry.ID
    model_id: strawberry.ID | None = None
    theme: ReportThemeInput | None = None
    priority: JobPriority = priority_input()


@strawberry.type(description="A self-contained HTML report; `url` is a signed link that expires")
class Report(Node):
    url: str
    created_at: datetime
    row: strawberry.Private[ReportRow]

    @classmethod
    def from_row(cls, row: ReportRow, url: str) -> Report:
        return cls(id=to_global_id("Report", row.id), url=url, created_at=row.created_at, row=row)

    @strawberry.field
    async def dataset(self, info: strawberry.Info) -> Annotated[Dataset, strawberry.lazy("schema.datasets")]:
        from schema.datasets import Dataset

        return Dataset.from_row(await info.context.loaders.dataset.load(self.row.dataset_id))

    @strawberry.field
    async def model(self, info: strawberry.Info) -> Annotated[Model, strawberry.lazy("schema.models")] | None:
        from schema.models import Model

        return await loaded(info.context.loaders.model, self.row.model_id, Model.from_row)

    @strawberry.field(
        description="The report as a typed document (the one its HTML was rendered from); null for a "
        "report written before documents were kept"
    )
    async def content(self, info: strawberry.Info) -> ReportContent | None:
        return await report_content(info, self.row)


@payload
class ReportPayload:
    report: Report | None = None
    job: Annotated[Job, strawberry.lazy("schema.jobs")] | None = None


def report_type(info: strawberry.Info, row: ReportRow) -> Report:
    return Report.from_row(
        row,
        signed_link(
            info, f"/files/reports/{row.id}.html", owner_id=row.owner_id, kind="report", object_id=row.id, fmt="HTML"
        ),
    )


# ---------------------------------------------------------------- report content (JSON-first) and the analysis
# The GraphQL types are generated from the pydantic models the jobs write (services/reports/content.py,
# services/analysis/models.py), so the document a frontend reads is the one the HTML was rendered from.

FindingKind = analysis_models.FindingKind  # made a GraphQL enum in place below (mypy types the class)
strawberry.enum(FindingKind, name="FindingKind", description="What a critique finding is about")
FindingSeverity = analysis_models.Severity  # made a GraphQL enum in place below (mypy types the class)
strawberry.enum(FindingSeverity, name="FindingSeverity")
AutoActionKind = analysis_models.AutoActionKind  # made a GraphQL enum in place below (mypy types the class)
strawberry.enum(AutoActionKind, name="AutoActionKind", description="A conservative fix safeAutoActions may apply")
ReportRenderer = content.Renderer  # made a GraphQL enum in place below (mypy types the class)
strawberry.enum(ReportRenderer, name="ReportRenderer", description="Which renderer wrote the report's HTML")


@from_model.type(
    model=analysis_models.Finding,
    all_fields=True,
    name="CritiqueFinding",
    description="A QA finding: target leakage, class imbalance, small data, or drift between the "
    "training and held-out split",
)
class CritiqueFinding:
    pass


# The report document's parts, each one pydantic model of services/reports/content.py shown as it is; strawberry
# finds each part's type by its model when ReportContent, which holds them, is declared below.
_PARTS: dict[str, type[BaseModel]] = {
    "ReportOverview": content.Overview,
    "ReportAlert": content.ReportAlert,
    "ReportTopValue": content.TopValue,
    "ReportHistogram": content.Histogram,
    "ReportColumn": content.ColumnSection,
    "ReportCorrelations": content.Correlations,
    "ReportMissingPattern": content.MissingPattern,
    "ReportLeaderboardEntry": content.LeaderboardEntry,
    "ReportMetric": content.Metric,
    "ReportConfusionMatrix": content.ConfusionMatrix,
    "ReportFeatureImportance": content.FeatureImportance,
    "ReportSignatureFeature": content.SignatureFeature,
    "ReportModel": content.ModelSection,
    "ReportContribution": content.Contribution,
    "ReportExplainedRow": content.ExplainedRow,
    "ReportWhy": content.WhySection,
    "ReportTiming": content.Timing,
    "ReportAutoAction": content.AppliedAction,
}
_PART_DESCRIPTIONS = {
    "ReportHistogram": "Bin edges (one more than the counts) and the count in each bin",
    "ReportCorrelations": "`values[i][j]`: the correlation of columns i and j (null: not computable)",
    "ReportConfusionMatrix": "`values[true][predicted]` over `labels`",
    "ReportWhy": "Typical and extreme rows, each with the features that moved its prediction most",
}
for _name, _model in _PARTS.items():
    from_model.type(model=_model, all_fields=True, name=_name, description=_PART_DESCRIPTIONS.get(_name))(
        type(_name, (), {})
    )


@from_model.type(
    model=content.ReportDocument,
    all_fields=True,
    name="ReportContent",
    description="The report as a typed document, the one its HTML was rendered from: a frontend can "
    "draw it without parsing HTML. `renderer` DETERMINISTIC (with `fallbackReason`) when "
    "the document did not validate and the HTML came straight from the profile; the "
    "sections are then empty.",
)
class ReportContent:
    pass


@from_model.type(
    model=analysis_models.AutoAction,
    name="AutoAction",
    description="A fix safeAutoActions applied to the analysis's new dataset version, and why",
)
class AutoAction:
    kind: strawberry.auto
    columns: strawberry.auto
    rows: int = strawberry.field(description="Rows the fix removed (duplicates) or filled (imputation)")
    reason: strawberry.auto


@from_model.type(
    model=analysis_models.AnalysisFailure,
    all_fields=True,
    name="AnalysisFailure",
    description="Where a failed analysis stopped: the stage, the error code (TIMEOUT when a stage "
    "limit stopped it) and the message",
)
class AnalysisFailure:
    pass


@from_model.type(
    model=AnalysisOptionsModel,
    all_fields=True,
    name="AnalysisOptions",
    description="The knobs an analysis ran with: analyzeDataset's `options` over ASSAY_ANALYSIS_*",
)
class AnalysisOptions:
    pass


async def report_content(info: strawberry.Info, row: ReportRow) -> ReportContent | None:
    import asyncio

    from services.analysis.service import report_content as read_content

    text = await asyncio.to_thread(read_content, info.context.settings.resolved_data_dir, row)
    return ReportContent.from_pydantic(content.ReportDocument.model_validate_json(text)) if text else None


@strawberry.type(
    description="What an ANALYZE job decided and found: its options, the critique (QA findings), the "
    "fixes safeAutoActions applied and the version they were applied to, sampling notes, "
    "and where it failed. The critique and fixes are there once the job SUCCEEDED."
)
class Analysis:
    options: AnalysisOptions
    target: str | None
    critique: list[CritiqueFinding]
    auto_actions: list[AutoAction]
    sampled_rows: int | None = strawberry.field(
        description="Rows the model was fitted from when the file was over largeFileMb; null when not sampled"
    )
    notes: list[str]
    failure: AnalysisFailure | None
    working_dataset_id: strawberry.Private[str | None]

    @strawberry.field(
        description="The new dataset version safeAutoActions wrote and the model was trained on "
        "(its parent is the analysed dataset); null when nothing was fixed"
    )
    async def working_dataset(
        self, info: strawberry.Info
    ) -> Annotated[Dataset, strawberry.lazy("schema.datasets")] | None:
        from schema.datasets import Dataset

        if not self.working_dataset_id:
            return None
        return await loaded(info.context.loaders.dataset, self.working_dataset_id, Dataset.from_row)


def analysis_of(row: JobRowType) -> Analysis | None:
    """The analysis an ANALYZE job row holds: its params, and its result (or its failure's details)."""
    from services.analysis.job import options_of

    options = AnalysisOptions.from_pydantic(options_of(row.params))
    result = row.result or {}
    if "target" not in result:  # it failed (or has not ended): only where and why it stopped, if anything
        failure = analysis_models.FailedAnalysis.model_validate(result).failure if result else None
        return Analysis(
            options=options,
            target=None,
            critique=[],
            auto_actions=[],
            sampled_rows=None,
            notes=[],
            failure=AnalysisFailure.from_pydantic(failure) if failure else None,
            working_dataset_id=None,
        )
    done = analysis_models.AnalysisResult.model_validate(result)
    return Analysis(
        options=options,
        target=done.target,
        critique=[CritiqueFinding.from_pydantic(f) for f in done.critique],
        auto_actions=[AutoAction.from_pydantic(a) for a in done.auto_actions],
        sampled_rows=done.sampled_rows,
        notes=done.notes,
        failure=None,
        working_dataset_id=done.working_version.dataset_id if done.working_version else None,
    )
