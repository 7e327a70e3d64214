"""What an ANALYZE job leaves behind, as typed models: written by the job (its result, or its failure's details),
read by the schema (`Job.analysis`)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from services.errors import ErrorCode


class FindingKind(StrEnum):
    LEAKAGE = "LEAKAGE"
    CLASS_IMBALANCE = "CLASS_IMBALANCE"
    SMALL_DATA = "SMALL_DATA"
    DRIFT = "DRIFT"


class Severity(StrEnum):
    INFO = "INFO"
    WARNING = "WARNING"
    CRITICAL = "CRITICAL"


class AutoActionKind(StrEnum):
    DROP_ID_COLUMN = "DROP_ID_COLUMN"
    DROP_CONSTANT_COLUMN = "DROP_CONSTANT_COLUMN"
    DROP_DUPLICATE_ROWS = "DROP_DUPLICATE_ROWS"
    IMPUTE_COLUMN = "IMPUTE_COLUMN"


class Finding(BaseModel):
    """One QA finding of the critique."""

    kind: FindingKind
    severity: Severity
    message: str
    columns: list[str] = Field(default_factory=list)


class AutoAction(BaseModel):
    """A conservative fix the analysis applied to its working version (safeAutoActions)."""

    kind: AutoActionKind
    columns: list[str] = Field(default_factory=list)
    rows: int = 0  # rows the action removed or filled
    reason: str
    step: dict[str, Any]  # the preprocessing step it ran, as previewPreprocess/preprocessDataset take it


class AnalysisFailure(BaseModel):
    stage: str
    code: ErrorCode
    message: str
    limit_seconds: float | None = None


class FailedAnalysis(BaseModel):
    """What a failed ANALYZE job's result holds: where and why it stopped (services.analysis.service)."""

    failure: AnalysisFailure | None = None


class WorkingVersion(BaseModel):
    """The new dataset version auto-actions wrote, as the job found it (the row is settled when the job ends)."""

    dataset_id: str
    row_count: int
    column_count: int
    columns: list[dict[str, Any]]
    recipe: list[dict[str, Any]]


class AnalysisResult(BaseModel):
    """The job's result; `model`/`report` keep the shapes the stage outputs always had."""

    target: str
    model: dict[str, Any]
    report: dict[str, Any]
    qa: dict[str, Any]
    critique: list[Finding] = Field(default_factory=list)
    auto_actions: list[AutoAction] = Field(default_factory=list)
    working_version: WorkingVersion | None = None  # the version the model was trained on, when auto-actions made one
    sampled_rows: int | None = None  # rows the model was fitted from when LARGE_FILE_MB made it sample
    notes: list[str] = Field(default_factory=list)
    failure: AnalysisFailure | None = None


class ReportResult(BaseModel):
    """The REPORT job's result: the report it wrote (the Report row was made with the job)."""

    report_id: str
