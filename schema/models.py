"""Model types: scores, explanations, signature, leaderboard and export links."""
from __future__ import annotations

import asyncio
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Optional

import strawberry
from strawberry.scalars import JSON

from services import modeling
from services.modeling import export
from services.storage.tables import Model as ModelRow

from schema.common import Connection, Node, SemanticType, ServiceErrors, UserError, signed_link, to_global_id
from schema.jobs import Job

if TYPE_CHECKING:
    from schema.datasets import Dataset


@strawberry.enum
class Task(Enum):
    CLASSIFICATION = "CLASSIFICATION"
    REGRESSION = "REGRESSION"


@strawberry.enum
class Algorithm(Enum):
    AUTO = "AUTO"
    RANDOM_FOREST = "RANDOM_FOREST"
    HIST_GRADIENT_BOOSTING = "HIST_GRADIENT_BOOSTING"
    EXTRA_TREES = "EXTRA_TREES"
    LINEAR_REGRESSION = "LINEAR_REGRESSION"
    RIDGE = "RIDGE"
    LOGISTIC_REGRESSION = "LOGISTIC_REGRESSION"


# The services' own enum: a status they write is one the schema declares.
ModelStatus = strawberry.enum(modeling.ModelStatus, name="ModelStatus")


@strawberry.enum
class ModelFormat(Enum):
    JOBLIB = "JOBLIB"
    SKOPS = "SKOPS"
    ONNX = "ONNX"


@strawberry.type(description="On the held-out split. Classification: macro averages, binary where there are two "
                             "classes; ROC AUC one-vs-rest for multiclass.")
class Metrics:
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


@strawberry.type
class ConfusionMatrix:
    labels: list[str]
    values: list[list[int]] = strawberry.field(description="Rows: true label; columns: predicted label")


@strawberry.type
class FeatureImportance:
    feature: str
    importance: float = strawberry.field(description="Permutation importance on the held-out split (score drop)")


@strawberry.type
class ModelFeature:
    name: str
    semantic_type: SemanticType
    required: bool = strawberry.field(description="Never missing in training: predict refuses rows without it")
    allowed_values: list[str] | None
    min: float | None
    max: float | None


@strawberry.type
class Candidate:
    algorithm: Algorithm
    params: Optional[JSON] = strawberry.field(description="Hyper-parameters changed from the defaults (tuning), if any")
    metric: str
    score: float
    std: float | None
    fit_seconds: float
    rows: int | None = strawberry.field(description="Training rows the cross-validation ran on: large data is "
                                                    "compared on a sample, and the best two again on a larger one")
    selected: bool


@strawberry.type(description="A trained pipeline (preprocessing inside) and how well it does.")
class Model(Node):
    id: strawberry.ID
    name: str
    version: int = strawberry.field(description="n for the n-th model of this dataset and target")
    target: str
    task: Task
    algorithm: Algorithm
    status: ModelStatus
    error: str | None
    training_seconds: float | None
    created_at: datetime
    row: strawberry.Private[ModelRow]

    @classmethod
    def from_row(cls, row: ModelRow) -> "Model":
        return cls(id=to_global_id("Model", row.id), name=row.name, version=row.version, target=row.target,
                   task=Task(row.task), algorithm=Algorithm(row.algorithm), status=ModelStatus(row.status),
                   error=row.error, training_seconds=row.training_seconds, created_at=row.created_at, row=row)

    @property
    def details(self) -> dict:
        return self.row.details or {}

    @strawberry.field(description="Rows the final model was fitted on (null until READY). Fewer than the dataset's "
                                  "labelled rows when `sampled`.")
    def training_rows(self) -> int | None:
        return self.details.get("training_rows")

    @strawberry.field(description="True when the model was fitted on a stratified sample because all the labelled "
                                  "rows would not fit the job's memory budget (ASSAY_JOB_MEMORY_MB); the job's log "
                                  "says how many rows and why. Null until READY.")
    def sampled(self) -> bool | None:
        return self.details.get("sampled")

    @strawberry.field
    async def dataset(self, info: strawberry.Info) -> Annotated["Dataset", strawberry.lazy("schema.datasets")]:
        from schema.datasets import Dataset
        return Dataset.from_row(await info.context.loaders.dataset.load(self.row.dataset_id))

    @strawberry.field
    def metrics(self) -> Metrics | None:
        return Metrics(**self.details["metrics"]) if self.details.get("metrics") else None

    @strawberry.field
    def cv_metric(self) -> str | None:
        return self.details.get("cv_metric")

    @strawberry.field(description="The selected candidate's cross-validation scores, one per fold")
    def cv_scores(self) -> list[float] | None:
        return self.details.get("cv_scores")

    @strawberry.field
    def confusion_matrix(self) -> ConfusionMatrix | None:
        matrix = self.details.get("confusion_matrix")
        return ConfusionMatrix(**matrix) if matrix else None

    @strawberry.field
    def feature_importances(self, limit: int | None = 20) -> list[FeatureImportance]:
        return [FeatureImportance(**f) for f in self.details.get("feature_importances", [])[: 20 if limit is None else limit]]

    @strawberry.field(description="The input signature predict checks rows against")
    def features(self) -> list[ModelFeature]:
        return [ModelFeature(name=f["name"], semantic_type=SemanticType(f["semantic_type"]), required=f["required"],
                             allowed_values=f["allowed_values"], min=f["min"], max=f["max"])
                for f in self.details.get("features", [])]

    @strawberry.field
    def classes(self) -> list[str] | None:
        return self.details.get("classes")

    @strawberry.field(description="Every candidate compared, with its cross-validation score")
    def leaderboard(self) -> list[Candidate]:
        return [Candidate(algorithm=Algorithm(c["algorithm"]), params=c.get("params"), metric=c["metric"],
                          score=c["score"], std=c["std"],
                          fit_seconds=c["fit_seconds"], rows=c.get("rows"), selected=c["selected"])
                for c in self.details.get("leaderboard", [])]

    @strawberry.field(description="A signed, expiring link. JOBLIB: the whole pipeline; SKOPS: loads with "
                                  "skops.io.load and the trusted types listed in the README; ONNX: one input per "
                                  "feature (float32 or string, [N, 1]); not for models with date features",
                      extensions=[ServiceErrors()])
    async def export_url(self, info: strawberry.Info, format: ModelFormat | None = ModelFormat.JOBLIB) -> str:
        fmt, data_dir = (format or ModelFormat.JOBLIB).value, info.context.settings.resolved_data_dir
        await asyncio.to_thread(export.check_exportable, data_dir, self.row, fmt)
        if fmt == "ONNX":  # convert now, so a pipeline that does not convert is a typed error, not a broken link
            await asyncio.to_thread(export.export_path, data_dir, self.row, fmt)
        return signed_link(info, f"/files/models/{self.row.id}.{fmt.lower()}", owner_id=self.row.owner_id,
                           kind="model", object_id=self.row.id, fmt=fmt)

    @strawberry.field
    async def job(self, info: strawberry.Info) -> Job | None:
        row = await info.context.loaders.job.load(self.row.job_id)
        return Job.from_row(row) if row else None


ModelConnection = Connection[Model]


@strawberry.input
class TrainModelInput:
    dataset_id: strawberry.ID
    target: str
    task: Optional[Task] = strawberry.field(default=None, description="Detected when absent")
    algorithms: Optional[list[Algorithm]] = strawberry.field(
        default=None, description="AUTO when absent: compare candidates with cross-validation, keep the best")
    features: Optional[list[str]] = strawberry.field(default=None, description="All other usable columns when absent")
    test_size: Optional[float] = 0.2
    cv_folds: Optional[int] = 5
    time_budget_seconds: Optional[float] = None
    seed: Optional[int] = 0
    name: Optional[str] = None


@strawberry.type
class TrainModelPayload:
    model: Optional[Model] = None
    job: Optional[Job] = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class PredictInput:
    model_id: strawberry.ID
    rows: list[JSON] = strawberry.field(description='Each row: {"column": value, ...} in the raw dataset shape')


@strawberry.type
class ClassProbability:
    label: str
    probability: float


@strawberry.type
class Prediction:
    value: JSON
    probabilities: list[ClassProbability] | None


@strawberry.type
class PredictPayload:
    predictions: list[Prediction] = strawberry.field(default_factory=list)
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class PredictDatasetInput:
    model_id: strawberry.ID
    dataset_id: strawberry.ID
