"""Models: start training, record results, list and delete them, predict a dataset (a PREDICT job)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import Any

from sqlalchemy import func, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services import files
from services.datasets.dataset_jobs import submit_on_dataset
from services.datasets.service import get_ready_dataset, new_version
from services.errors import conflict, invalid, not_found
from services.jobs.engine import JobEngine
from services.jobs.kinds import JobHooks, JobKindSpec
from services.modeling import ModelStatus
from services.modeling.checks import check_numbers, check_target
from services.modeling.details import TrainResult

# Predicting in process lives in services/modeling/predict.py; its entry points are still reachable from here.
from services.modeling.predict import check_explainable_in_bulk
from services.modeling.predict import check_rows as check_rows
from services.modeling.predict import checked_columns as checked_columns
from services.modeling.predict import load_pipeline as load_pipeline
from services.modeling.predict import predict_rows as predict_rows
from services.modeling.spec import TrainingSpec
from services.modeling.tasks import CLASSIFIERS, REGRESSORS
from services.monitoring.jobs import record_job_sample
from services.names import MAX_NAME, derived_name, given_name
from services.pagination import Listing
from services.preprocessing import service as preprocessing
from services.registry.names import ModelReference
from services.registry.service import refuse_if_aliased, resolve_model
from services.storage.lookup import owned, require_owned
from services.storage.tables import Dataset, Job, Model


async def start_training(
    session: AsyncSession, *, jobs: JobEngine, owner_id: str, data_dir: Path, spec: TrainingSpec
) -> tuple[Model, Job]:
    name = given_name(spec.name, field=["name"])
    dataset = await get_ready_dataset(session, owner_id=owner_id, dataset_id=spec.dataset_id)
    names = {c["name"] for c in dataset.columns}
    target = spec.target
    if target not in names:
        raise invalid(f"No column named {target!r}", ["target"])
    for feature in spec.features or []:
        if feature not in names or feature == target:
            raise invalid(f"{feature!r} is not a usable feature (missing, or the target)", ["features"])
    if spec.features is not None and not spec.features:
        raise invalid("`features` is empty; leave it out to use every usable column", ["features"])
    check_numbers(
        test_size=spec.test_size, cv_folds=spec.cv_folds, seed=spec.seed, time_budget_seconds=spec.time_budget_seconds
    )
    task = await asyncio.to_thread(
        check_target,
        data_dir,
        dataset.id,
        dataset.columns,
        target,
        spec.task,
        test_size=spec.test_size,
        cv_folds=spec.cv_folds,
        field=["target"],
    )
    allowed = set(CLASSIFIERS if task == "CLASSIFICATION" else REGRESSORS) | {"AUTO"}
    wrong = [a for a in spec.algorithms if a not in allowed]
    if wrong:
        raise invalid(f"{', '.join(wrong)} cannot do {task}", ["algorithms"])
    previous = (
        await session.scalar(
            select(func.max(Model.version)).where(
                Model.owner_id == owner_id, Model.dataset_id == dataset.id, Model.target == target
            )
        )
        or 0
    )
    model = Model(
        owner_id=owner_id,
        dataset_id=dataset.id,
        target=target,
        task=task,
        version=previous + 1,
        algorithm=spec.algorithms[0] if len(spec.algorithms) == 1 else "AUTO",
        name=name or derived_name(f"{dataset.name} → {target}"),
    )
    job_spec = replace(spec, dataset_id=dataset.id, task=task)
    params = {"model_id": model.id, "columns": dataset.columns, **job_spec.to_params()}
    job = await submit_on_dataset(
        session, jobs=jobs, kind="TRAIN", dataset=dataset, data_dir=data_dir, params=params, record=model
    )
    return model, job


async def on_train_success(session: AsyncSession, job: Job, result: dict[str, Any] | None) -> None:
    model = await session.get(Model, job.params["model_id"])
    if model is None or result is None:
        return
    trained = TrainResult.model_validate(result)
    model.status, model.task, model.algorithm = ModelStatus.READY, trained.task, trained.algorithm
    model.training_seconds = trained.training_seconds
    model.details = trained.stored()
    session.add(model)


async def on_train_failure(session: AsyncSession, job: Job, _result: dict[str, Any] | None) -> None:
    model = await session.get(Model, job.params["model_id"])
    if model is not None:
        model.status, model.error = ModelStatus.FAILED, job.error
        session.add(model)
    files.remove_tree(files.model_dir(files.job_data_dir(job.params), job.params["model_id"]))


async def get_model(session: AsyncSession, *, owner_id: str, model_id: str | None) -> Model | None:
    return await owned(session, Model, owner_id=owner_id, row_id=model_id)


async def find_model(
    session: AsyncSession, *, owner_id: str, model_id: str | None, reference: ModelReference | None = None
) -> Model | None:
    """The model by id, or by a registry reference (`churn@champion`, `churn/3`) resolved once, here."""
    if reference is not None:
        return await resolve_model(session, owner_id=owner_id, reference=reference)
    return await get_model(session, owner_id=owner_id, model_id=model_id)


async def require_model(
    session: AsyncSession, *, owner_id: str, model_id: str | None, reference: ModelReference | None = None
) -> Model:
    """The caller's model (by id or 'name@alias': the version it resolves to now); anyone else's is NOT_FOUND."""
    model = await find_model(session, owner_id=owner_id, model_id=model_id, reference=reference)
    if model is None:
        raise not_found("Model", ["modelId"])
    return model


async def get_ready_model(
    session: AsyncSession, *, owner_id: str, model_id: str | None, reference: ModelReference | None = None
) -> Model:
    """The caller's model for work that uses it: one still training or failed is refused."""
    model = await require_model(session, owner_id=owner_id, model_id=model_id, reference=reference)
    if model.status != ModelStatus.READY:
        raise conflict(f"The model is {model.status}", ["modelId"])
    return model


async def models_for_jobs(session: AsyncSession, *, owner_id: str, jobs: list[Job]) -> dict[str, Model]:
    """By job id, the model each job made (TRAIN, ANALYZE), else the one it worked with (PREDICT, REPORT), in one
    query; jobs without one are absent."""
    job_ids = [job.id for job in jobs]
    used = {job.id: (job.params or {}).get("model_id") for job in jobs}
    if not job_ids:
        return {}
    rows = (
        await session.exec(
            select(Model).where(
                col(Model.owner_id) == owner_id,
                or_(col(Model.job_id).in_(job_ids), col(Model.id).in_([i for i in used.values() if i])),
            )
        )
    ).all()
    made = {row.job_id: row for row in rows if row.job_id}
    by_id = {row.id: row for row in rows}
    found = {job_id: made.get(job_id) or by_id.get(used[job_id] or "") for job_id in job_ids}  # "": names no model
    return {job_id: model for job_id, model in found.items() if model is not None}


list_models = Listing(Model, "owner_id", "dataset_id")


async def delete_model(
    session: AsyncSession, *, owner_id: str, model_id: str | None, data_dir: Path, jobs: JobEngine
) -> None:
    model = await require_owned(session, Model, owner_id=owner_id, row_id=model_id, what="Model", field=["id"])
    await refuse_if_aliased(session, model_ids=[model.id], field=["id"])
    if model.status == ModelStatus.TRAINING and model.job_id:
        await jobs.cancel(model.job_id, reason="The model was deleted")
    await session.delete(model)
    try:
        await session.commit()
    except IntegrityError:  # an alias was pointed at it between the check above and this delete
        await session.rollback()
        raise conflict("An alias was just pointed at this model; move or delete it first", ["id"]) from None
    await asyncio.to_thread(files.remove_tree, files.model_dir(data_dir, model.id))


async def start_predict_dataset(
    session: AsyncSession,
    *,
    jobs: JobEngine,
    owner_id: str,
    model_id: str | None,
    dataset_id: str | None,
    data_dir: Path,
    reference: ModelReference | None = None,
    explain: bool = False,
    monitor: dict[str, Any] | None = None,
) -> tuple[Dataset, Job]:
    """`monitor`: the window length and sample size the job records its rows with (None: monitoring is off)."""
    model = await get_ready_model(session, owner_id=owner_id, model_id=model_id, reference=reference)
    source = await get_ready_dataset(session, owner_id=owner_id, dataset_id=dataset_id)
    available = {c["name"] for c in source.columns}
    absent = [f["name"] for f in model.details["features"] if f["name"] not in available]
    if absent:
        raise invalid(f"The dataset lacks the model's feature(s): {', '.join(absent)}", ["datasetId"])
    if explain:
        await asyncio.to_thread(check_explainable_in_bulk, data_dir, model)
    version = new_version(source, f"{source.name} + predictions ({model.name} v{model.version})"[:MAX_NAME])
    params = {
        "model_id": model.id,
        "source_id": source.id,
        "features": model.details["features"],
        "task": model.task,
        "columns": source.columns,
        **({"explain": True, "training_dataset_id": model.dataset_id} if explain else {}),
        **({"monitor": monitor} if monitor else {}),
    }
    job = await submit_on_dataset(
        session, jobs=jobs, kind="PREDICT", dataset=version, data_dir=data_dir, params=params, record=version
    )
    return version, job


async def on_predict_success(session: AsyncSession, job: Job, result: dict[str, Any] | None) -> None:
    await preprocessing.on_preprocess_success(session, job, result)
    await record_job_sample(session, job)


# This domain's one declaration to the server and workers (services/domains.py lists it).
JOB_KINDS = {
    "TRAIN": JobKindSpec(
        work="services.modeling.job:run_train",
        queue="modeling",
        hooks=JobHooks(on_success=on_train_success, on_failure=on_train_failure),
        result=TrainResult,
    ),
    # A prediction over a dataset is a new version of it, with the same life as a preprocessed one.
    "PREDICT": JobKindSpec(
        work="services.modeling.job:run_predict",
        queue="modeling",
        hooks=replace(preprocessing.VERSION_HOOKS, on_success=on_predict_success),
        result=preprocessing.VersionResult,
    ),
}
