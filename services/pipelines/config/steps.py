"""A pipeline's preprocessing steps, as the config names them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from services.pipelines.config.base import Config

StepKind = Literal[
    "impute",
    "encode",
    "scale",
    "dropColumns",
    "renameColumns",
    "cast",
    "datetimeFeatures",
    "dropDuplicates",
    "clipOutliers",
    "derive",
]


class PipelineStep(Config):
    """A preprocessing step: its parameters (Python names) are checked by services.preprocessing, which
    owns them (against the columns, which only a run or a dataset source knows)."""

    step: StepKind
    params: dict[str, Any] = Field(default_factory=dict)
