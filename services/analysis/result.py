"""The ANALYZE job's result: the trained model (a TRAIN result plus its target and version), the report
written and the QA findings. The job writes it, the success hook reads it to add the model and report rows."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from services.modeling.details import TrainResult


class AnalyzedModel(TrainResult):
    target: str
    version: int | None = None


class AnalysisResult(BaseModel):
    model_config = ConfigDict(extra="ignore")
    target: str
    model: AnalyzedModel
    report: dict[str, Any] = {}  # report_id, bytes
    qa: dict[str, Any] = {}      # findings
