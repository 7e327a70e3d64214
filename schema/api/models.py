"""Model operations."""
from __future__ import annotations

from typing import Optional

import strawberry

from resolvers import models as model_resolvers
from resolvers.permissions import IsAuthenticated
from services.errors import ServiceError
from services.modeling.spec import TrainingSpec

from schema.common import UserError, field_error, raw_id, to_global_id, user_error
from schema.datasets import Dataset, DeleteInput, DeletePayload
from schema.jobs import Job
from schema.models import (ClassProbability, Model, ModelConnection, PredictDatasetInput, Prediction, PredictInput,
                           PredictPayload, TrainModelInput, TrainModelPayload)


@strawberry.type
class PredictDatasetPayload:
    dataset: Optional[Dataset] = strawberry.field(default=None, description="The input plus prediction columns")
    job: Optional[Job] = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ModelsQuery:
    @strawberry.field(permission_classes=[IsAuthenticated], description="The caller's models, newest first")
    async def models(self, info: strawberry.Info, first: int | None = 20, after: str | None = None,
                     dataset_id: strawberry.ID | None = None) -> ModelConnection:
        try:
            page = await model_resolvers.list_page(info.context, first=20 if first is None else first, after=after,
                                                   dataset_id=raw_id(dataset_id, "Dataset") if dataset_id else None)
        except ServiceError as exc:
            raise field_error(exc) from exc
        return ModelConnection.from_page(page)

    @strawberry.field(permission_classes=[IsAuthenticated])
    async def model(self, info: strawberry.Info, id: strawberry.ID) -> Model | None:
        row = await model_resolvers.get(info.context, raw_id(id, "Model"))
        return Model.from_row(row) if row else None


@strawberry.type
class ModelsMutation:
    @strawberry.mutation(permission_classes=[IsAuthenticated], description="Train in a TRAIN job")
    async def train_model(self, info: strawberry.Info, input: TrainModelInput) -> TrainModelPayload:
        spec = TrainingSpec.requested(
            dataset_id=raw_id(input.dataset_id, "Dataset"), target=input.target,
            task=input.task.value if input.task else None,
            algorithms=[a.value for a in input.algorithms] if input.algorithms else None, features=input.features,
            test_size=input.test_size, cv_folds=input.cv_folds, time_budget_seconds=input.time_budget_seconds,
            seed=input.seed, name=input.name)
        try:
            model, job = await model_resolvers.train(info.context, spec)
        except ServiceError as exc:
            return TrainModelPayload(errors=[user_error(exc)])
        return TrainModelPayload(model=Model.from_row(model), job=Job.from_row(job))

    @strawberry.mutation(permission_classes=[IsAuthenticated],
                         description="Predict up to 1,000 raw rows at once, in the request (no job)")
    async def predict(self, info: strawberry.Info, input: PredictInput) -> PredictPayload:
        try:
            results = await model_resolvers.predict(info.context, raw_id(input.model_id, "Model"), list(input.rows))
        except ServiceError as exc:
            return PredictPayload(errors=[user_error(exc)])
        return PredictPayload(predictions=[
            Prediction(value=r["value"], probabilities=[ClassProbability(**p) for p in r["probabilities"]]
                       if r["probabilities"] is not None else None) for r in results])

    @strawberry.mutation(permission_classes=[IsAuthenticated],
                         description="Score a whole dataset in a PREDICT job; the result is a new dataset version")
    async def predict_dataset(self, info: strawberry.Info, input: PredictDatasetInput) -> PredictDatasetPayload:
        try:
            version, job = await model_resolvers.predict_dataset(info.context, raw_id(input.model_id, "Model"),
                                                                 raw_id(input.dataset_id, "Dataset"))
        except ServiceError as exc:
            return PredictDatasetPayload(errors=[user_error(exc)])
        return PredictDatasetPayload(dataset=Dataset.from_row(version), job=Job.from_row(job))

    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def delete_model(self, info: strawberry.Info, input: DeleteInput) -> DeletePayload:
        try:
            deleted = await model_resolvers.delete(info.context, raw_id(input.id, "Model"))
        except ServiceError as exc:
            return DeletePayload(errors=[user_error(exc)])
        return DeletePayload(deleted_id=to_global_id("Model", deleted))
