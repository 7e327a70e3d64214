"""Predicting in process: a model's fitted pipeline loaded once per process, rows checked against its
signature, predictions (and explanations) for the `predict` query. Predicting a whole dataset is a PREDICT
job (services/modeling/service.py starts it)."""

from __future__ import annotations

import gc
import math
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from services import files
from services.errors import conflict, invalid
from services.modeling import ModelStatus, few_rows
from services.storage.tables import Model

MAX_PREDICT_ROWS = 1000


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
