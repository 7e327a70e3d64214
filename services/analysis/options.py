"""The knobs of an analysis (the seed's CV_FOLDS, EARLY_STOP_SAMPLE, HGB_MIN_ROWS, ALLOWED_EXTS, LARGE_FILE_MB and
the stage time limits): defaults from ASSAY_ANALYSIS_* settings, overridden per analyzeDataset call, checked once
here for both, so a bad value is INVALID_INPUT naming its field (or a start-up error naming its variable)."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from services.errors import ServiceError, invalid

EXTENSION = re.compile(r"^[a-z0-9]{1,10}$")
# What each option is called in the API and in the environment, for errors that name the thing to fix.
API_NAMES = {
    "cv_folds": "cvFolds",
    "early_stop_sample": "earlyStopSample",
    "hgb_min_rows": "hgbMinRows",
    "allowed_exts": "allowedExts",
    "large_file_mb": "largeFileMb",
    "safe_auto_actions": "safeAutoActions",
}
SETTING_NAMES = {
    "cv_folds": "ASSAY_ANALYSIS_CV_FOLDS",
    "early_stop_sample": "ASSAY_ANALYSIS_EARLY_STOP_SAMPLE",
    "hgb_min_rows": "ASSAY_ANALYSIS_HGB_MIN_ROWS",
    "allowed_exts": "ASSAY_ANALYSIS_ALLOWED_EXTS",
    "large_file_mb": "ASSAY_ANALYSIS_LARGE_FILE_MB",
    "safe_auto_actions": "ASSAY_ANALYSIS_SAFE_AUTO_ACTIONS",
    "eda": "ASSAY_ANALYSIS_EDA_TIMEOUT_SECONDS",
    "model": "ASSAY_ANALYSIS_MODEL_TIMEOUT_SECONDS",
    "report": "ASSAY_ANALYSIS_REPORT_TIMEOUT_SECONDS",
}


class AnalysisOptions(BaseModel):
    """What one analysis runs with; kept in the job's params and shown on `Job.analysis.options`."""

    model_config = ConfigDict(extra="forbid")

    cv_folds: int = Field(5, ge=2, le=20, description="Cross-validation folds each candidate is scored with")
    early_stop_sample: int = Field(
        20_000,
        ge=100,
        le=10_000_000,
        description="Candidates are compared on at most this many training rows "
        "before the winner is fitted on all of them",
    )
    hgb_min_rows: int = Field(0, ge=0, description="Gradient boosting is a candidate only from this many training rows")
    allowed_exts: list[str] = Field(
        default_factory=list, description="File extensions an analysis accepts (lower case, no dot); empty: all"
    )
    large_file_mb: float = Field(1024, gt=0, description="Above this stored size the model is fitted on a sample")
    safe_auto_actions: bool = False

    @field_validator("allowed_exts", mode="before")
    @classmethod
    def _extensions(cls, value: Any) -> list[str]:
        if isinstance(value, str):
            value = [part for part in value.split(",") if part.strip()]
        names = []
        for part in value or []:
            name = str(part).strip().lower().lstrip(".")
            if not EXTENSION.match(name):
                raise ValueError(f"{str(part)[:20]!r} is not a file extension (letters and digits, e.g. csv)")
            names.append(name)
        return list(dict.fromkeys(names))


class StageLimits(BaseModel):
    """Seconds each group of stages may run (EDA: ingest-check, profile, clarify, auto-actions; MODEL: modeling;
    REPORT: report, qa); enforced while the stage runs."""

    eda: float = Field(600, gt=0)
    model: float = Field(600, gt=0)
    report: float = Field(600, gt=0)


def _first_error(exc: ValidationError) -> tuple[str, str]:
    error = exc.errors()[0]
    return str(error["loc"][0]) if error["loc"] else "", error["msg"].removeprefix("Value error, ")


def resolve_options(defaults: dict[str, Any], requested: dict[str, Any] | None, field: list[str]) -> AnalysisOptions:
    """The settings' defaults overlaid with what was asked (None: not given); INVALID_INPUT names the bad field."""
    given = {key: value for key, value in (requested or {}).items() if value is not None}
    try:
        return AnalysisOptions(**{**defaults, **given})
    except ValidationError as exc:
        key, message = _first_error(exc)
        raise invalid(f"{API_NAMES.get(key, key)}: {message}", [*field, API_NAMES.get(key, key)]) from exc


def check_option_settings(defaults: dict[str, Any], limits: dict[str, Any]) -> None:
    """The ASSAY_ANALYSIS_* settings at start-up; ValueError names the variable."""
    for model, values in ((AnalysisOptions, defaults), (StageLimits, limits)):
        try:
            model(**values)
        except ValidationError as exc:
            key, message = _first_error(exc)
            raise ValueError(f"{SETTING_NAMES.get(key, key)}: {message}") from exc


def check_extension(file_name: str, options: AnalysisOptions, field: list[str]) -> None:
    """ALLOWED_EXTS: a dataset whose file is of another type is refused (UNSUPPORTED_FILE) before any job starts."""
    if not options.allowed_exts:
        return
    name = file_name.lower()
    extension = name.rsplit(".", 1)[-1] if "." in name else ""
    if name.endswith(".gz") and name.count(".") >= 2:  # data.csv.gz is a csv file, compressed
        extension = name.rsplit(".", 2)[-2] if extension == "gz" and "gz" not in options.allowed_exts else extension
    if extension not in options.allowed_exts:
        from services.errors import ErrorCode

        raise ServiceError(
            ErrorCode.UNSUPPORTED_FILE,
            f"The analysis accepts {', '.join(options.allowed_exts)} files (allowedExts); {file_name!r} is not one",
            field,
        )
