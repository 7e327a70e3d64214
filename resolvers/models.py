"""Model operations: train, list, predict, predict a dataset, delete."""

from __future__ import annotations

import asyncio

import strawberry
from strawberry.dataloader import DataLoader

from resolvers.context import Context
from resolvers.fields import mutation, query
from resolvers.loaders import Loaders
from resolvers.registry import model_argument
from schema.common import payload, raw_id, to_global_id
from schema.conversion import loaded
from schema.datasets import Dataset, DeleteInput, DeletePayload
from schema.domain import GraphQLDomain, Made
from schema.jobs import Job
from schema.models import (
    ClassProbability,
    Explanation,
    Model,
    ModelConnection,
    PredictDatasetInput,
    PredictInput,
    Prediction,
    PredictPayload,
    TrainModelInput,
    TrainModelPayload,
)
from services.errors import not_found
from services.modeling import service as models
from services.modeling.spec import TrainingSpec
from services.storage.tables import Job as JobRow
from services.storage.tables import Model as ModelRow


@payload
class PredictDatasetPayload:
    dataset: Dataset | None = strawberry.field(default=None, description="The input plus prediction columns")
    job: Job | None = None


class ModelsQuery:
    @query(description="The caller's models, newest first")
    async def models(
        self,
        ctx: Context,
        first: int | None = 20,
        after: str | None = None,
        dataset_id: strawberry.ID | None = None,
    ) -> ModelConnection:
        page = await ctx.owned(
            models.list_models,
            dataset_id=raw_id(dataset_id, "Dataset") if dataset_id else None,
            **ctx.page(first, after),
        )
        return ModelConnection.from_page(page, Model.from_row)

    @query(
        description="By id, or by registry reference: 'churn@champion' (the model its alias points to now), 'churn/3'"
    )
    async def model(self, ctx: Context, id: strawberry.ID) -> Model | None:
        model_id, reference = model_argument(id, field="id")
        if reference is None:
            row = await ctx.loaders.model.load(model_id)
        else:
            row = await ctx.owned(models.find_model, model_id=None, reference=reference)
        return Model.from_row(row) if row else None


class ModelsMutation:
    @mutation(description="Train in a TRAIN job")
    async def train_model(self, ctx: Context, input: TrainModelInput) -> TrainModelPayload:
        spec = TrainingSpec.requested(
            dataset_id=raw_id(input.dataset_id, "Dataset"),
            target=input.target,
            task=input.task.value if input.task else None,
            algorithms=[a.value for a in input.algorithms] if input.algorithms else None,
            features=input.features,
            test_size=input.test_size,
            cv_folds=input.cv_folds,
            time_budget_seconds=input.time_budget_seconds,
            seed=input.seed,
            name=input.name,
        )
        model, job = await ctx.with_jobs(models.start_training, spec=spec)
        return TrainModelPayload(model=Model.from_row(model), job=Job.from_row(job))

    @mutation(description="Predict up to 1,000 raw rows at once, in the request (no job)")
    async def predict(self, ctx: Context, input: PredictInput) -> PredictPayload:
        model_id, reference = model_argument(input.model_id)
        model = await ctx.owned(models.find_model, model_id=model_id, reference=reference)
        if model is None:
            raise not_found("Model", ["modelId"])
        rows = list(input.rows)
        results = await asyncio.to_thread(
            models.predict_rows, ctx.settings.resolved_data_dir, model, rows, explain=bool(input.explain)
        )
        if ctx.app.recorder is not None:  # memory only: a background task writes it (services.monitoring)
            ctx.app.recorder.record(
                owner_id=ctx.user_id,
                model_id=model.id,
                classes=model.task == "CLASSIFICATION",
                rows=rows,
                outputs=[r["value"] for r in results],
            )
        return PredictPayload(
            predictions=[
                Prediction(
                    value=r["value"],
                    probabilities=[ClassProbability(**p) for p in r["probabilities"]]
                    if r["probabilities"] is not None
                    else None,
                    explanation=Explanation.from_result(r["explanation"]) if "explanation" in r else None,
                )
                for r in results
            ]
        )

    @mutation(description="Score a whole dataset in a PREDICT job; the result is a new dataset version")
    async def predict_dataset(self, ctx: Context, input: PredictDatasetInput) -> PredictDatasetPayload:
        model_id, reference = model_argument(input.model_id)
        version, job = await ctx.with_jobs(
            models.start_predict_dataset,
            model_id=model_id,
            reference=reference,
            dataset_id=raw_id(input.dataset_id, "Dataset"),
            explain=bool(input.explain),
            monitor=ctx.app.monitor_config.job_params() if ctx.app.recorder else None,
        )
        return PredictDatasetPayload(dataset=Dataset.from_row(version), job=Job.from_row(job))

    @mutation()
    async def delete_model(self, ctx: Context, input: DeleteInput) -> DeletePayload:
        model_id = raw_id(input.id, "Model")
        await ctx.with_jobs(models.delete_model, model_id=model_id)
        return DeletePayload(deleted_id=to_global_id("Model", model_id or ""))


async def _model_made(info: strawberry.Info, job: JobRow) -> Model | None:
    return await loaded(info.context.loaders.model_for_job, job, Model.from_row)


def _model(loaders: Loaders) -> DataLoader[str | None, ModelRow | None]:
    return loaders.by_id(ModelRow)


def _model_for_job(loaders: Loaders) -> DataLoader[JobRow, ModelRow | None]:
    """By job: the model a TRAIN job made."""
    return loaders.owned(models.models_for_jobs, "jobs", key=lambda job: job.id)


# This domain's one declaration to the schema (schema/root.py lists them)
GRAPHQL = GraphQLDomain(
    name="models",
    query=ModelsQuery,
    mutation=ModelsMutation,
    makes={"TRAIN": (Made(Model, _model_made),)},
    loaders={"model": _model, "model_for_job": _model_for_job},
)
