"""What a TRAIN job found, as the model row keeps it (`Model.details`, a JSON column) and the schema reads it.

The search builds a `TrainResult`; the success hook keeps all but the columns the row has of its own as
`ModelDetails`. Every field has a default, so rows written before a field existed still load.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from services.stored import StoredModel


class Metrics(StoredModel):
    """Held-out scores: the classification ones or the regression ones."""

    accuracy: float | None = None
    balanced_accuracy: float | None = None
    precision: float | None = None
    recall: float | None = None
    f1: float | None = None
    roc_auc: float | None = None
    log_loss: float | None = None
    r2: float | None = None
    mae: float | None = None
    rmse: float | None = None
    mape: float | None = None


class ConfusionMatrix(StoredModel):
    labels: list[str]
    values: list[list[int]]  # rows: true label; columns: predicted label


class FeatureImportance(StoredModel):
    feature: str
    importance: float


class Feature(StoredModel):
    """One input of the signature predict checks rows against."""

    name: str
    semantic_type: str
    required: bool
    allowed_values: list[str] | None = None
    min: float | None = None
    max: float | None = None


class Candidate(StoredModel):
    """One leaderboard entry: a candidate compared by cross-validation."""

    algorithm: str
    params: dict[str, Any] | None = None
    metric: str
    score: float
    std: float | None = None
    fit_seconds: float
    rows: int | None = None
    selected: bool


class ModelDetails(StoredModel):
    metrics: Metrics | None = None
    cv_metric: str | None = None
    cv_scores: list[float] | None = None
    confusion_matrix: ConfusionMatrix | None = None
    feature_importances: list[FeatureImportance] = Field(default_factory=list)
    features: list[Feature] = Field(default_factory=list)
    classes: list[str] | None = None
    leaderboard: list[Candidate] = Field(default_factory=list)
    training_rows: int | None = None
    labelled_rows: int | None = None
    sampled: bool | None = None

    @field_validator("cv_scores", mode="before")
    @classmethod
    def _without_failed_folds(cls, scores: Any) -> Any:
        """Servers before the search refused failed folds stored their NaN scores as nulls: leave them out."""
        return [s for s in scores if s is not None] if isinstance(scores, list) else scores

    @field_validator("leaderboard", mode="before")
    @classmethod
    def _without_unscored_candidates(cls, candidates: Any) -> Any:
        if not isinstance(candidates, list):
            return candidates
        return [c for c in candidates if not (isinstance(c, dict) and c.get("score", 0) is None)]


class TrainResult(ModelDetails):
    """The TRAIN job's result: the details plus what the model row keeps in columns of its own."""

    task: str
    algorithm: str
    training_seconds: float

    def details(self) -> ModelDetails:
        return ModelDetails.model_validate(
            self.model_dump(exclude={"task", "algorithm", "training_seconds"}, exclude_unset=True)
        )

    def stored(self) -> dict[str, Any]:
        """The model row's details column: what was set (the metrics of its task only), as before the model."""
        return self.details().model_dump(exclude_unset=True)
