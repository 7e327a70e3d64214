"""Models: start training, record results, predict (in process, cached), predict a dataset, export, delete."""

from __future__ import annotations

import asyncio
import gc
import math
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import func, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services import files
from services.datasets.service import get_ready_dataset
from services.errors import conflict, invalid, not_found
from services.jobs.engine import JobEngine
from services.jobs.kinds import Domain, JobKindSpec
from services.modeling import ModelStatus, few_rows
from services.modeling.checks import check_numbers, check_target
from services.modeling.details import TrainResult
from services.modeling.spec import TrainingSpec
from services.modeling.tasks import CLASSIFIERS, REGRESSORS
from services.monitoring.jobs import record_job_sample
from services.names import MAX_NAME, derived_name, given_name
from services.pagination import Page, paginate
from services.preprocessing import service as preprocessing
from services.registry.names import ModelReference
from services.registry.service import refuse_if_aliased, resolve_model
from services.storage.tables import Dataset, Job, Model

MAX_PREDICT_ROWS = 1000


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
    session.add(model)
    await session.flush()
    job_spec = replace(spec, dataset_id=dataset.id, task=task)
    job = await jobs.enqueue(
        session,
        owner_id=owner_id,
        kind="TRAIN",
        dataset_id=dataset.id,
        params={"model_id": model.id, "data_dir": str(data_dir), "columns": dataset.columns, **job_spec.to_params()},
    )
    model.job_id = job.id
    await session.commit()
    jobs.launch(job)
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
    model = await session.get(Model, model_id) if model_id else None
    return model if model is not None and model.owner_id == owner_id else None


async def find_model(
    session: AsyncSession, *, owner_id: str, model_id: str | None, reference: ModelReference | None = None
) -> Model | None:
    """The model by id, or by a registry reference (`churn@champion`, `churn/3`) resolved once, here."""
    if reference is not None:
        return await resolve_model(session, owner_id=owner_id, reference=reference)
    return await get_model(session, owner_id=owner_id, model_id=model_id)


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


async def list_models(
    session: AsyncSession,
    *,
    owner_id: str,
    first: int,
    after: str | None,
    max_first: int,
    dataset_id: str | None = None,
) -> Page[Model]:
    filters = [col(Model.owner_id) == owner_id]
    if dataset_id:
        filters.append(col(Model.dataset_id) == dataset_id)
    return await paginate(session, Model, filters=filters, first=first, after=after, max_first=max_first)


async def delete_model(
    session: AsyncSession, *, owner_id: str, model_id: str | None, data_dir: Path, jobs: JobEngine
) -> None:
    model = await get_model(session, owner_id=owner_id, model_id=model_id)
    if model is None:
        raise not_found("Model", ["id"])
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


@lru_cache(maxsize=16)
def _load(path: str, _stamp: int) -> Any:
    # with scikit-learn: loaded by the API process only when a model is first used
    from services.modeling.estimators import load_model_artifact

    pipeline = load_model_artifact(path)
    # scikit-learn's and scipy's modules (imported just now, after start-up froze the heap) and the
    # model would otherwise be swept by every full collection: 25-56 ms pauses, the p99 of predict.
    # Collect first so no garbage is frozen; a model evicted from this cache is still freed by
    # reference counting (fitted pipelines hold no reference cycles).
    gc.collect()
    gc.freeze()
    return pipeline


def load_pipeline(data_dir: Path, model_id: str) -> Any:
    """The fitted pipeline, loaded once per process and file version."""
    path = files.fetched(files.model_path(data_dir, model_id))
    return _load(str(path), path.stat().st_mtime_ns)


def check_rows(rows: list[Any], features: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows in the raw column shape, checked against the signature; errors name the row and the column."""
    return pd.DataFrame(checked_columns(rows, features))


def checked_columns(rows: list[Any], features: list[dict[str, Any]]) -> dict[str, Any]:
    """`check_rows`'s columns (name -> values typed as in training), before any DataFrame is built: for
    one row, building it cost more than the checks."""
    if not rows:
        raise invalid("Give at least one row", ["rows"])
    if len(rows) > MAX_PREDICT_ROWS:
        raise invalid(f"At most {MAX_PREDICT_ROWS} rows per call; use predictDataset for more", ["rows"])
    known = {f["name"]: f for f in features}
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            raise invalid(f"Row {index} must be an object of column to value", ["rows", str(index)])
        for column, value in row.items():
            feature = known.get(column)
            if feature is None:
                raise invalid(f"Row {index}: unknown column {column!r}", ["rows", str(index), column])
            if value is None:
                continue
            semantic = feature["semantic_type"]
            ok = {
                "NUMERIC": isinstance(value, (int, float)) and not isinstance(value, bool) and _is_finite(value),
                "BOOLEAN": isinstance(value, bool) or (isinstance(value, int) and value in (0, 1)),
                "DATETIME": isinstance(value, str) and not pd.isna(pd.to_datetime(value, errors="coerce")),
            }.get(semantic, isinstance(value, (str, int, float, bool)))
            if not ok:
                raise invalid(
                    f"Row {index}: {column} should be {semantic}, got {value!r}", ["rows", str(index), column]
                )
        for feature in features:
            if feature["required"] and row.get(feature["name"]) is None:
                raise invalid(
                    f"Row {index}: {feature['name']} is required (it was never missing in training)",
                    ["rows", str(index), feature["name"]],
                )
    return {f["name"]: _typed_column([row.get(f["name"]) for row in rows], f["semantic_type"]) for f in features}


def _is_finite(number: int | float) -> bool:
    """Whether a JSON number is a finite float; an integer beyond float range (1e309) is not."""
    try:
        return math.isfinite(number)
    except OverflowError:
        return False


def _typed_column(values: list[Any], semantic: str) -> Any:
    """A column built straight in its training type; per-column pandas conversions were most of a 1-row predict."""
    if semantic in ("NUMERIC", "BOOLEAN"):
        return np.asarray(values, dtype=float)  # None becomes NaN, booleans 0/1; values were checked above
    if semantic == "DATETIME":
        # each value parsed on its own, as check_rows did; zone-aware ones in UTC (a mix of zones cannot share a dtype)
        return pd.to_datetime(pd.Series(values, dtype=object), errors="coerce", utc=True, format="mixed")
    return np.asarray(values, dtype=object)


@lru_cache(maxsize=1)
def _thread_pools() -> Any:
    from threadpoolctl import ThreadpoolController  # scikit-learn's own dependency; scans the loaded libraries once

    return ThreadpoolController()


def predict_rows(data_dir: Path, model: Model, rows: list[Any], *, explain: bool = False) -> list[dict[str, Any]]:
    """Each row's prediction; with `explain`, also its RowExplanation under "explanation"."""
    if model.status != ModelStatus.READY:
        raise conflict(f"The model is {model.status}", ["modelId"])
    columns = checked_columns(rows, model.details["features"])
    pipeline = load_pipeline(data_dir, model.id)
    # One OpenMP thread: called from a worker thread, HistGradientBoosting's parallel predict took
    # 14 ms for one row instead of 2.5 ms, and at most 1,000 rows gain nothing from the API's cores.
    with _thread_pools().limit(limits=1, user_api="openmp"):
        predicted = _predicted(pipeline, model.task, columns, len(rows))
        if explain:
            explanations = load_explainer(data_dir, model).explain_rows(pd.DataFrame(columns))
            for result, explanation in zip(predicted, explanations, strict=True):
                result["explanation"] = explanation
        return predicted


def load_explainer(data_dir: Path, model: Model) -> Any:
    """The model's explanations.Explainer, built once per process and file version."""
    path = files.fetched(files.model_path(data_dir, model.id))
    return _explainer(
        str(data_dir),
        model.id,
        model.dataset_id,
        model.task,
        tuple(f["name"] for f in model.details["features"]),
        path.stat().st_mtime_ns,
    )


def check_explainable_in_bulk(data_dir: Path, model: Model) -> None:
    """predictDataset explains only with an exact method: KernelSHAP over a whole dataset would take hours."""
    from services.modeling.explain import MAX_SAMPLED_ROWS, exact_method

    pipeline = load_pipeline(data_dir, model.id)  # the type of its model is enough: no need for shap here
    if exact_method(pipeline) is None:
        raise invalid(
            f"This model ({type(pipeline[-1]).__name__}) has no exact explanation, only a sampled one "
            f"(KERNEL_SHAP): predict explains up to {MAX_SAMPLED_ROWS} rows of it at a time, "
            "predictDataset none",
            ["explain"],
        )


@lru_cache(maxsize=16)
def _explainer(
    data_dir: str, model_id: str, dataset_id: str | None, task: str, features: tuple[str, ...], stamp: int
) -> Any:
    from services.modeling.explain import Explainer, read_background

    background = read_background(Path(data_dir), model_id, dataset_id, list(features))
    explainer = Explainer(
        load_pipeline(Path(data_dir), model_id), task=task, features=list(features), background=background
    )
    gc.collect()  # as in _load: shap's modules and the converted trees stay out of every later collection
    gc.freeze()
    return explainer


def _predicted(pipeline: Any, task: str, columns: dict[str, Any], count: int) -> list[dict[str, Any]]:
    if task != "CLASSIFICATION":
        return [{"value": float(v), "probabilities": None} for v in _estimates(pipeline, columns, count, "predict")]
    # One pass: every candidate's predict is the class of highest probability, and calling both
    # ran the whole pipeline twice (a forest's predict is its predict_proba plus an argmax).
    probabilities = _estimates(pipeline, columns, count, "predict_proba")
    predictions = pipeline.classes_.take(probabilities.argmax(axis=1))
    labels = [str(c) for c in pipeline.classes_]
    return [
        {
            "value": str(v),
            "probabilities": [{"label": label, "probability": float(p)} for label, p in zip(labels, row, strict=True)],
        }
        for v, row in zip(predictions, probabilities, strict=True)
    ]


def _estimates(pipeline: Any, columns: dict[str, Any], count: int, method: str) -> np.ndarray:
    """`pipeline.<method>` of the rows; for a few, prepared without scikit-learn's per-call overhead
    (services.modeling.few_rows) and, for a forest, averaged directly (see `forest_aware`)."""
    plan = few_rows.plan_for(pipeline) if count <= few_rows.FEW_ROWS else None
    if plan is None:
        return forest_aware(pipeline, pd.DataFrame(columns), method)
    features = few_rows.prepared(plan, columns)
    forest = _forest(pipeline[-1], count)
    return _forest_average(forest, features, method) if forest is not None else getattr(pipeline[-1], method)(features)


FOREST_DIRECT_ROWS = 100


def forest_aware(pipeline: Any, frame: pd.DataFrame, method: str) -> np.ndarray:
    """`pipeline.<method>(frame)`; for a forest and a few rows, its trees' average computed directly.

    A forest averages its trees through joblib even with n_jobs=1, and for one row that dispatch is
    4 of its 5 ms. Summing the trees' own `method` in the forest's order, in float64, then dividing,
    is the arithmetic scikit-learn does, so the result is the same to the bit (tested).
    """
    forest = _forest(pipeline[-1], len(frame))
    if forest is None:
        predicted: np.ndarray = getattr(pipeline, method)(frame)
        return predicted
    return _forest_average(forest, pipeline[:-1].transform(frame), method)


def _forest(estimator: Any, count: int) -> Any:
    """The estimator, when it is a single-output forest and `count` rows are few enough to average directly."""
    from sklearn.ensemble import (  # loaded with the model already
        ExtraTreesClassifier,
        ExtraTreesRegressor,
        RandomForestClassifier,
        RandomForestRegressor,
    )

    forests = (RandomForestClassifier, RandomForestRegressor, ExtraTreesClassifier, ExtraTreesRegressor)
    if not isinstance(estimator, forests) or count > FOREST_DIRECT_ROWS or getattr(estimator, "n_outputs_", 1) != 1:
        return None
    return estimator


def _forest_average(forest: Any, features: Any, method: str) -> np.ndarray:
    from services.modeling.estimators import forest_average

    if hasattr(features, "toarray"):  # one-hot output may be sparse; a few rows are cheap to densify
        features = features.toarray()
    return forest_average(forest, features, method)


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
    model = await find_model(session, owner_id=owner_id, model_id=model_id, reference=reference)
    if model is None:
        raise not_found("Model", ["modelId"])
    if model.status != ModelStatus.READY:
        raise conflict(f"The model is {model.status}", ["modelId"])
    source = await get_ready_dataset(session, owner_id=owner_id, dataset_id=dataset_id)
    available = {c["name"] for c in source.columns}
    absent = [f["name"] for f in model.details["features"] if f["name"] not in available]
    if absent:
        raise invalid(f"The dataset lacks the model's feature(s): {', '.join(absent)}", ["datasetId"])
    if explain:
        await asyncio.to_thread(check_explainable_in_bulk, data_dir, model)
    version = Dataset(
        owner_id=owner_id,
        name=f"{source.name} + predictions ({model.name} v{model.version})"[:MAX_NAME],
        file_name=source.file_name,
        parent_id=source.id,
    )
    session.add(version)
    await session.flush()
    job = await jobs.enqueue(
        session,
        owner_id=owner_id,
        kind="PREDICT",
        dataset_id=version.id,
        params={
            "model_id": model.id,
            "source_id": source.id,
            "dataset_id": version.id,
            "data_dir": str(data_dir),
            "features": model.details["features"],
            "task": model.task,
            "columns": source.columns,
            **({"explain": True, "training_dataset_id": model.dataset_id} if explain else {}),
            **({"monitor": monitor} if monitor else {}),
        },
    )
    await session.commit()
    jobs.launch(job)
    return version, job


async def on_predict_success(session: AsyncSession, job: Job, result: dict[str, Any] | None) -> None:
    await preprocessing.on_preprocess_success(session, job, result)
    await record_job_sample(session, job)


JOB_KINDS = {
    "TRAIN": JobKindSpec(
        work="services.modeling.job:run_train",
        queue="modeling",
        on_success=on_train_success,
        on_failure=on_train_failure,
    ),
    # A prediction over a dataset is a new version of it, with the same life as a preprocessed one.
    "PREDICT": JobKindSpec(
        work="services.modeling.job:run_predict",
        queue="modeling",
        on_start=preprocessing.on_preprocess_start,
        on_success=on_predict_success,
        on_failure=preprocessing.on_preprocess_failure,
    ),
}
DOMAIN = Domain(name="modeling", job_kinds=JOB_KINDS)  # this domain's one declaration (services/domains.py)
