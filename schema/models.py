"""Model types: scores, explanations, signature, leaderboard and export links."""

from __future__ import annotations

import asyncio
from datetime import datetime
from enum import Enum
from functools import cached_property
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.experimental import pydantic as from_model
from strawberry.scalars import JSON

from schema.common import Connection, Node, SemanticType, ServiceErrors, payload, signed_link
from schema.conversion import fields_of, loaded, node_fields
from schema.jobs import Job, JobPriority, priority_input
from services import modeling
from services.modeling import details, export
from services.modeling.details import ModelDetails
from services.pagination import checked_count
from services.storage.tables import Model as ModelRow

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
ModelStatus = modeling.ModelStatus  # made a GraphQL enum in place below (mypy types the class)
strawberry.enum(ModelStatus, name="ModelStatus")


@strawberry.enum
class ModelFormat(Enum):
    JOBLIB = "JOBLIB"
    PICKLE = "PICKLE"
    SKOPS = "SKOPS"
    ONNX = "ONNX"


@from_model.type(
    model=details.Metrics,
    all_fields=True,
    name="Metrics",
    description="On the held-out split. Classification: macro averages, binary where there are two "
    "classes; ROC AUC one-vs-rest for multiclass.",
)
class Metrics:
    """The stored metrics' own fields (services.modeling.details.Metrics), so a new metric is declared once."""


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
    params: JSON | None = strawberry.field(description="Hyper-parameters changed from the defaults (tuning), if any")
    metric: str
    score: float
    std: float | None
    fit_seconds: float
    rows: int | None = strawberry.field(
        description="Training rows the cross-validation ran on: large data is "
        "compared on a sample, and the best two again on a larger one"
    )
    selected: bool


@strawberry.type(description="A trained pipeline (preprocessing inside) and how well it does.")
class Model(Node):
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
    def from_row(cls, row: ModelRow) -> Model:
        return cls(**node_fields(cls, row))

    @cached_property
    def details(self) -> ModelDetails:
        return ModelDetails.model_validate(self.row.details or {})

    @strawberry.field(
        description="Rows the final model was fitted on (null until READY). Fewer than the dataset's "
        "labelled rows when `sampled`."
    )
    def training_rows(self) -> int | None:
        return self.details.training_rows

    @strawberry.field(
        description="True when the model was fitted on a stratified sample because all the labelled "
        "rows would not fit the job's memory budget (ASSAY_JOB_MEMORY_MB); the job's log "
        "says how many rows and why. Null until READY."
    )
    def sampled(self) -> bool | None:
        return self.details.sampled

    @strawberry.field
    async def dataset(self, info: strawberry.Info) -> Annotated[Dataset, strawberry.lazy("schema.datasets")]:
        from schema.datasets import Dataset

        return Dataset.from_row(await info.context.loaders.dataset.load(self.row.dataset_id))

    @strawberry.field
    def metrics(self) -> Metrics | None:
        metrics = self.details.metrics
        return Metrics.from_pydantic(metrics) if metrics else None

    @strawberry.field
    def cv_metric(self) -> str | None:
        return self.details.cv_metric

    @strawberry.field(description="The selected candidate's cross-validation scores, one per fold")
    def cv_scores(self) -> list[float] | None:
        return self.details.cv_scores

    @strawberry.field
    def confusion_matrix(self) -> ConfusionMatrix | None:
        matrix = self.details.confusion_matrix
        return ConfusionMatrix(labels=matrix.labels, values=matrix.values) if matrix else None

    @strawberry.field(
        description="The most important features, most important first (`limit` 0-10,000)", extensions=[ServiceErrors()]
    )
    def feature_importances(self, limit: int | None = 20) -> list[FeatureImportance]:
        limit = checked_count(limit, name="limit", default=20, most=10_000)
        return [
            FeatureImportance(feature=f.feature, importance=f.importance)
            for f in self.details.feature_importances[:limit]
        ]

    @strawberry.field(description="The input signature predict checks rows against")
    def features(self) -> list[ModelFeature]:
        return [ModelFeature(**fields_of(ModelFeature, f)) for f in self.details.features]

    @strawberry.field
    def classes(self) -> list[str] | None:
        return self.details.classes

    @strawberry.field(description="Every candidate compared, with its cross-validation score")
    def leaderboard(self) -> list[Candidate]:
        return [
            Candidate(**fields_of(Candidate, c, params=None if c.params is None else JSON(c.params)))
            for c in self.details.leaderboard
        ]

    @strawberry.field(
        description="A signed, expiring link. JOBLIB: the whole pipeline (joblib.load); PICKLE: the "
        "same pipeline for plain pickle.load — like joblib, never load a file you do not "
        "trust, it can run any code; SKOPS: loads with "
        "skops.io.load and the trusted types listed in the README; ONNX: one input per "
        "feature (float32 or string, [N, 1]); not for models with date features",
        extensions=[ServiceErrors()],
    )
    async def export_url(self, info: strawberry.Info, format: ModelFormat | None = ModelFormat.JOBLIB) -> str:
        return await export_link(info, self.row, format)

    @strawberry.field
    async def job(self, info: strawberry.Info) -> Job | None:
        return await loaded(info.context.loaders.job, self.row.job_id, Job.from_row)


ModelConnection = Connection[Model]


async def export_link(info: strawberry.Info, row: ModelRow, format: ModelFormat | None) -> str:
    """Model.exportUrl, and exportModel's url (a model named by reference)."""
    fmt, data_dir = (format or ModelFormat.JOBLIB).value, info.context.settings.resolved_data_dir
    await asyncio.to_thread(export.check_exportable, data_dir, row, fmt)
    if fmt == "ONNX":  # convert now, so a pipeline that does not convert is a typed error, not a broken link
        await asyncio.to_thread(export.export_path, data_dir, row, fmt)
    return signed_link(
        info, f"/files/models/{row.id}.{fmt.lower()}", owner_id=row.owner_id, kind="model", object_id=row.id, fmt=fmt
    )


@strawberry.input
class TrainModelInput:
    dataset_id: strawberry.ID
    target: str
    task: Task | None = strawberry.field(default=None, description="Detected when absent")
    algorithms: list[Algorithm] | None = strawberry.field(
        default=None, description="AUTO when absent: compare candidates with cross-validation, keep the best"
    )
    features: list[str] | None = strawberry.field(default=None, description="All other usable columns when absent")
    test_size: float | None = 0.2
    cv_folds: int | None = 5
    time_budget_seconds: float | None = None
    seed: int | None = 0
    name: str | None = None
    priority: JobPriority = priority_input()


@payload
class TrainModelPayload:
    model: Model | None = None
    job: Job | None = None


MODEL_REFERENCE = (
    "A model id, or a registered model: 'churn@champion' (where its alias points, resolved once for "
    "the whole request) or 'churn/3' (its version 3)"
)


@strawberry.input
class PredictInput:
    model_id: strawberry.ID = strawberry.field(description=MODEL_REFERENCE)
    rows: list[JSON] = strawberry.field(description='Each row: {"column": value, ...} in the raw dataset shape')
    explain: bool | None = strawberry.field(
        default=False,
        description=(
            "Also each feature's contribution to each prediction (Prediction.explanation); at most 50 rows when the "
            "model's method is KERNEL_SHAP"
        ),
    )


@strawberry.type
class ClassProbability:
    label: str
    probability: float


@strawberry.enum(description="Where base value + contributions = output holds (see docs/explanations.md)")
class OutputSpace(Enum):
    VALUE = strawberry.enum_value("VALUE", description="Regression: the predicted value, in the target's units")
    PROBABILITY = strawberry.enum_value("PROBABILITY", description="The class's predicted probability")
    LOG_ODDS = strawberry.enum_value(
        "LOG_ODDS",
        description=(
            "Two classes: log(p / (1 - p)) of the class's probability p; the two classes' explanations are each "
            "other's negation"
        ),
    )
    MULTICLASS_LOGIT = strawberry.enum_value(
        "MULTICLASS_LOGIT",
        description=(
            "More than two classes: the per-class score softmax turns into probabilities (p_k = exp(s_k) / sum exp(s))"
        ),
    )


@strawberry.enum(description="How the contributions were computed")
class ExplanationMethod(Enum):
    LINEAR_EXACT = strawberry.enum_value(
        "LINEAR_EXACT",
        description=(
            "Linear models, exact: coefficient x (transformed value - its mean over a training sample), one-hot levels "
            "and date parts summed to the input feature they came from"
        ),
    )
    TREE_SHAP = strawberry.enum_value(
        "TREE_SHAP",
        description=(
            "Tree ensembles: exact Shapley values of the trees (TreeSHAP, path-dependent, from the shap library)"
        ),
    )
    KERNEL_SHAP = strawberry.enum_value(
        "KERNEL_SHAP",
        description=(
            "Any other model: KernelSHAP approximation within the stated budget (evaluationsPerRow coalitions, each "
            "averaged over backgroundRows training rows)"
        ),
    )


@strawberry.type
class FeatureContribution:
    feature: str = strawberry.field(description="An input feature of the model's signature")
    contribution: float = strawberry.field(
        description="How much this feature's value moved the output from the base value, in the output space"
    )


@strawberry.type
class ExplainedOutput:
    label: str | None = strawberry.field(description="The class this output is for; null for regression")
    base_value: float = strawberry.field(description="The expected output over the training data")
    output: float = strawberry.field(description="The model's output for this row: base value + the contributions")
    contributions: list[FeatureContribution] = strawberry.field(description="One per feature, in signature order")


@strawberry.type(description="Why the model predicted what it did for one row")
class Explanation:
    method: ExplanationMethod
    output_space: OutputSpace
    exact: bool = strawberry.field(description="False for KERNEL_SHAP: the values are estimated, their sum is exact")
    evaluations_per_row: int | None = strawberry.field(description="KERNEL_SHAP's budget: coalitions evaluated per row")
    background_rows: int | None = strawberry.field(
        description="KERNEL_SHAP: training rows each evaluation averages over"
    )
    outputs: list[ExplainedOutput] = strawberry.field(description="One per class (classification), else one")

    @classmethod
    def from_result(cls, row: Any) -> Explanation:
        """From services.modeling.explain.RowExplanation."""
        return cls(
            method=ExplanationMethod(row.method),
            output_space=OutputSpace(row.output_space),
            exact=row.exact,
            evaluations_per_row=row.evaluations_per_row,
            background_rows=row.background_rows,
            outputs=[
                ExplainedOutput(
                    label=o.label,
                    base_value=o.base_value,
                    output=o.output,
                    contributions=[FeatureContribution(feature=f, contribution=c) for f, c in o.contributions],
                )
                for o in row.outputs
            ],
        )


@strawberry.type
class Prediction:
    value: JSON
    probabilities: list[ClassProbability] | None
    explanation: Explanation | None = strawberry.field(default=None, description="With explain: true")


@payload
class PredictPayload:
    predictions: list[Prediction] = strawberry.field(default_factory=list)


@strawberry.input
class PredictDatasetInput:
    model_id: strawberry.ID = strawberry.field(description=MODEL_REFERENCE)
    dataset_id: strawberry.ID
    explain: bool | None = strawberry.field(
        default=False,
        description=(
            "Also write each feature's contribution: columns contrib__<feature> and base_value (regression), or "
            "contrib__<class>__<feature> and base_value__<class> per class; models with an exact method only"
        ),
    )
    priority: JobPriority = priority_input()
