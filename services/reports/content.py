"""JSON-first reports: the report is a typed document (these models) before it is HTML.

`build_document` gathers the profile, the model, the critique and the rest into a ReportDocument and validates
it; the HTML is rendered from the validated document (services/reports/render.py), and the document is kept
beside the HTML as `<report id>.json`, which `Report.content` serves, so a frontend can draw the report
without parsing HTML. When the document does not validate (a statistic JSON cannot carry, such as an infinite
mean), the deterministic renderer (services/reports/html.py, straight from the profile) writes the HTML and
the kept document is a short one saying so: `renderer` DETERMINISTIC and the reason.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services import files
from services.analysis.models import AutoAction, AutoActionKind, Finding
from services.profiling.stored import ColumnCounts

MAX_COLUMN_SECTIONS = 40


class Renderer(StrEnum):
    JSON_FIRST = "JSON_FIRST"  # the HTML was rendered from this validated document
    DETERMINISTIC = "DETERMINISTIC"  # the document did not validate: the HTML came straight from the profile


class Section(BaseModel):
    # JSON (and GraphQL's Float) carries no NaN or infinity: a document holding one is invalid.
    model_config = ConfigDict(allow_inf_nan=False, extra="forbid")


class Overview(Section):
    rows: int
    columns: int
    missing_cells: int
    missing_ratio: float
    duplicate_rows: int
    memory_bytes: int


class ReportAlert(Section):
    kind: str
    message: str


class TopValue(Section):
    value: str
    count: int


class Histogram(Section):
    edges: list[float]
    counts: list[int]


class ColumnSection(Section, ColumnCounts):
    mean: float | None = None
    std: float | None = None
    min: float | None = None
    median: float | None = None
    max: float | None = None
    top_values: list[TopValue] = Field(default_factory=list)
    histogram: Histogram | None = None


class Correlations(Section):
    method: str
    columns: list[str]
    values: list[list[float | None]]


class MissingPattern(Section):
    columns: list[str]
    count: int
    ratio: float


class LeaderboardEntry(Section):
    algorithm: str
    metric: str
    score: float
    std: float
    fit_seconds: float
    selected: bool


class Metric(Section):
    name: str
    value: float


class ConfusionMatrix(Section):
    labels: list[str]
    values: list[list[int]]


class FeatureImportance(Section):
    feature: str
    importance: float


class SignatureFeature(Section):
    name: str
    semantic_type: str
    required: bool
    allowed_values: list[str] = Field(default_factory=list)
    min: str | None = None
    max: str | None = None


class ModelSection(Section):
    task: str
    target: str
    algorithm: str
    version: int
    leaderboard: list[LeaderboardEntry]
    metrics: list[Metric]
    confusion_matrix: ConfusionMatrix | None = None
    feature_importances: list[FeatureImportance] = Field(default_factory=list)
    signature: list[SignatureFeature] = Field(default_factory=list)


class Contribution(Section):
    feature: str
    value: str
    contribution: float


class ExplainedRow(Section):
    kind: str
    row: int
    label: str | None = None
    base_value: float
    output: float
    top: list[Contribution]
    other: float


class WhySection(Section):
    method: str
    space: str
    exact: bool
    rows: list[ExplainedRow]


class Timing(Section):
    stage: str
    seconds: float


class AppliedAction(Section):
    kind: AutoActionKind
    columns: list[str]
    rows: int
    reason: str


class ReportDocument(Section):
    title: str
    generated_at: datetime
    renderer: Renderer = Renderer.JSON_FIRST
    fallback_reason: str | None = None
    overview: Overview | None = None
    alerts: list[ReportAlert] = Field(default_factory=list)
    columns: list[ColumnSection] = Field(default_factory=list)
    correlations: Correlations | None = None
    missing_patterns: list[MissingPattern] = Field(default_factory=list)
    model: ModelSection | None = None
    why: WhySection | None = None
    critique: list[Finding] = Field(default_factory=list)
    auto_actions: list[AppliedAction] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    timings: list[Timing] = Field(default_factory=list)


def content_path(data_dir: Path, report_id: str) -> Path:
    return files.report_path(data_dir, report_id).with_suffix(".json")


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _columns(profile: dict[str, Any]) -> list[dict[str, Any]]:
    sections = []
    for column in profile["columns"][:MAX_COLUMN_SECTIONS]:
        numeric = column.get("numeric") or {}
        sections.append(
            {
                **{key: column[key] for key in ColumnCounts.model_fields},
                **{key: numeric.get(key) for key in ("mean", "std", "min", "median", "max")},
                "top_values": [
                    {"value": str(v["value"]), "count": v["count"]} for v in column.get("top_values", [])[:10]
                ],
                "histogram": column.get("histogram") or None,
            }
        )
    return sections


def _model(model: dict[str, Any]) -> dict[str, Any]:
    details = model["details"]
    matrix = details.get("confusion_matrix")
    return {
        "task": model["task"],
        "target": model["target"],
        "algorithm": model["algorithm"],
        "version": model["version"],
        "leaderboard": [
            {key: c[key] for key in ("algorithm", "metric", "score", "std", "fit_seconds", "selected")}
            for c in details["leaderboard"]
        ],
        "metrics": [{"name": k, "value": v} for k, v in details["metrics"].items() if v is not None],
        "confusion_matrix": {"labels": [str(label) for label in matrix["labels"]], "values": matrix["values"]}
        if matrix
        else None,
        "feature_importances": [
            {"feature": f["feature"], "importance": f["importance"]}
            for f in details.get("feature_importances", [])[:15]
        ],
        "signature": [
            {
                "name": f["name"],
                "semantic_type": f["semantic_type"],
                "required": f["required"],
                "allowed_values": [str(v) for v in (f.get("allowed_values") or [])[:10]],
                "min": _text(f.get("min")),
                "max": _text(f.get("max")),
            }
            for f in details["features"]
        ],
    }


def build_document(
    *,
    title: str,
    profile: dict[str, Any],
    model: dict[str, Any] | None,
    timings: list[dict[str, Any]],
    why: dict[str, Any] | None = None,
    critique: list[Finding] | None = None,
    auto_actions: list[AutoAction] | None = None,
    notes: list[str] | None = None,
) -> tuple[ReportDocument, str | None]:
    """The validated document and None, or (when it does not validate) the fallback document and the reason."""
    generated = datetime.now(UTC)
    pearson = profile["correlations"]["values"].get("PEARSON")
    raw = {
        "title": title,
        "generated_at": generated,
        "overview": {
            "rows": profile["row_count"],
            "columns": profile["column_count"],
            "missing_cells": profile["missing_cells"],
            "missing_ratio": profile["missing_cells_ratio"],
            "duplicate_rows": profile["duplicate_rows"],
            "memory_bytes": profile["memory_bytes"],
        },
        "alerts": [{"kind": a["kind"], "message": a["message"]} for a in profile["alerts"]],
        "columns": _columns(profile),
        "correlations": {
            "method": "PEARSON",
            "columns": profile["correlations"]["columns"]["PEARSON"],
            "values": pearson,
        }
        if pearson
        else None,
        "missing_patterns": [
            {"columns": p["columns"], "count": p["count"], "ratio": p["ratio"]}
            for p in profile["missing_patterns"][:10]
        ],
        "model": _model(model) if model else None,
        "why": why if why and why.get("rows") else None,
        "critique": [f.model_dump() for f in critique or []],
        "auto_actions": [a.model_dump(include={"kind", "columns", "rows", "reason"}) for a in auto_actions or []],
        "notes": list(notes or []),
        "timings": [{"stage": t["stage"], "seconds": (t.get("duration_ms") or 0) / 1000} for t in timings],
    }
    try:
        return ReportDocument.model_validate(raw), None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        reason = f"The report document did not validate ({exc.error_count()} error(s); first: {where}: {first['msg']})"
        return ReportDocument(
            title=title,
            generated_at=generated,
            renderer=Renderer.DETERMINISTIC,
            fallback_reason=reason,
            critique=list(critique or []),
            notes=list(notes or []),
        ), reason
