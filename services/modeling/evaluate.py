"""Training's evaluate stage: held-out metrics, the confusion matrix, and permutation importances sized to
the model's speed."""

from __future__ import annotations

import contextlib
import time
from typing import Any, cast

import numpy as np
import pandas as pd
from sklearn import metrics as skm
from sklearn.base import BaseEstimator
from sklearn.inspection import permutation_importance

from services.jobs.context import JobContext
from services.modeling.prepare import PreparedData
from services.modeling.spec import TrainingSpec

IMPORTANCE_ROWS = 5_000  # permutation importance on at most this many held-out rows,
IMPORTANCE_MIN_ROWS = 1_000  # and at least this many (or all of them),
IMPORTANCE_SECONDS = 3.0  # as many as a model predicts in about this long for every feature's shuffles
IMPORTANCE_REPEATS = 3
# Wide tables (genomics, one-hot exports): shuffling each of 10,000 features is 10,000 x 3 predictions of a
# 10,000-column pipeline. Beyond this many features, only those most associated with the target (a rank
# correlation, one vectorised pass) are shuffled; the others are left out of the importances, saying so.
IMPORTANCE_MAX_FEATURES = 100


def importance_rows(seconds_per_row: float, features: int, available: int) -> int:
    """Held-out rows for permutation importance: up to IMPORTANCE_ROWS, fewer for a slow model.

    Importance predicts the sample once per feature and shuffle; with 30 features a deep boosted model
    took 9 s on 5,000 rows, beyond the training budget plus the refit that AUTO promises.
    """
    affordable = IMPORTANCE_SECONDS / max(seconds_per_row * features * IMPORTANCE_REPEATS, 1e-9)
    return min(available, IMPORTANCE_ROWS, max(IMPORTANCE_MIN_ROWS, int(affordable)))


def _predictions(task: str, model: Any, x_test: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None]:
    """Labels (or values) and class probabilities in one pass over the held-out rows (a deep model's
    predict and predict_proba each take seconds on 40,000 rows, and predict is the argmax anyway)."""
    if task == "REGRESSION" or not hasattr(model, "predict_proba"):
        return model.predict(x_test), None
    probabilities = model.predict_proba(x_test)
    return model.classes_.take(probabilities.argmax(axis=1)), probabilities


def _metrics(
    task: str,
    model: Any,
    y_test: pd.Series,
    predicted: np.ndarray,
    probabilities: np.ndarray | None,
    classes: list[str] | None,
) -> dict[str, Any]:
    if task == "REGRESSION":
        nonzero = y_test != 0
        return {
            "r2": skm.r2_score(y_test, predicted),
            "mae": skm.mean_absolute_error(y_test, predicted),
            "rmse": float(np.sqrt(skm.mean_squared_error(y_test, predicted))),
            "mape": float(np.mean(np.abs((y_test[nonzero] - predicted[nonzero]) / y_test[nonzero])))
            if nonzero.any()
            else None,
        }
    if classes is None:
        raise ValueError("classification metrics need the classes")
    binary = len(classes) == 2
    average = "binary" if binary else "macro"
    positive = {"pos_label": classes[1]} if binary else {}
    result = {
        "accuracy": skm.accuracy_score(y_test, predicted),
        "balanced_accuracy": skm.balanced_accuracy_score(y_test, predicted),
        "precision": skm.precision_score(y_test, predicted, average=average, zero_division=0, **positive),
        "recall": skm.recall_score(y_test, predicted, average=average, zero_division=0, **positive),
        "f1": skm.f1_score(y_test, predicted, average=average, zero_division=0, **positive),
        "roc_auc": None,
        "log_loss": None,
    }
    if probabilities is not None:
        with contextlib.suppress(ValueError):  # a class absent from the held-out split leaves it None
            result["roc_auc"] = (
                skm.roc_auc_score(y_test, probabilities[:, 1])
                if binary
                else skm.roc_auc_score(y_test, probabilities, multi_class="ovr", labels=model.classes_)
            )
        result["log_loss"] = skm.log_loss(y_test, probabilities, labels=model.classes_)
    return {k: (float(v) if v is not None else None) for k, v in result.items()}


def evaluate_model(
    ctx: JobContext, spec: TrainingSpec, data: PreparedData, model: Any, classes: list[str] | None
) -> dict[str, Any]:
    """Held-out metrics, the confusion matrix (classification) and permutation importances."""
    ctx.stage("evaluate")
    began = time.perf_counter()
    predicted, probabilities = _predictions(data.task, model, data.x_test)
    seconds_per_row = (time.perf_counter() - began) / max(len(data.x_test), 1)
    metrics = _metrics(data.task, model, data.y_test, predicted, probabilities, classes)
    ctx.log("Held-out " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if v is not None))
    confusion = None
    if data.task == "CLASSIFICATION":
        confusion = {"labels": classes, "values": skm.confusion_matrix(data.y_test, predicted, labels=classes).tolist()}
    importances = explain(ctx, spec, data, model, seconds_per_row)
    ctx.progress(0.95)
    return {"metrics": metrics, "confusion_matrix": confusion, "feature_importances": importances}


def explain(
    ctx: JobContext, spec: TrainingSpec, data: PreparedData, model: Any, seconds_per_row: float
) -> list[dict[str, Any]]:
    """Permutation importance on a held-out sample sized to the model's speed, most important first."""
    rows = importance_rows(seconds_per_row, len(data.features), len(data.x_test))
    sample_x, sample_y = data.x_test, data.y_test
    if len(data.x_test) > rows:
        sample_x = data.x_test.sample(rows, random_state=spec.seed)
        sample_y = data.y_test.sample(rows, random_state=spec.seed)
    shuffled = list(sample_x.columns)
    if len(shuffled) > IMPORTANCE_MAX_FEATURES:
        shuffled = most_associated(data.x_train, data.y_train, IMPORTANCE_MAX_FEATURES)
        ctx.log(
            f"{len(sample_x.columns):,} features: permutation importance for the {len(shuffled)} most associated "
            "with the target (rank correlation on the training rows); the others are not ranked"
        )
    importance = (
        permutation_importance(
            _OnlySome(model, sample_x, shuffled),
            sample_x[shuffled],
            sample_y,
            n_repeats=IMPORTANCE_REPEATS,
            random_state=spec.seed,
            scoring=data.metric,
        )
        if len(shuffled) < len(sample_x.columns)
        else permutation_importance(
            model, sample_x, sample_y, n_repeats=IMPORTANCE_REPEATS, random_state=spec.seed, scoring=data.metric
        )
    )
    ctx.log(f"Permutation importance on {len(sample_x):,} held-out rows, {IMPORTANCE_REPEATS} shuffles per feature")
    return sorted(
        (
            {"feature": name, "importance": float(value)}
            for name, value in zip(shuffled, importance.importances_mean, strict=False)
        ),
        key=lambda f: -f["importance"],
    )


def most_associated(x: pd.DataFrame, y: pd.Series, count: int) -> list[str]:
    """The `count` features with the largest absolute Spearman correlation with the target (text as category
    codes, the target too); ties and empty columns keep table order."""
    codes = pd.DataFrame(
        {
            name: (
                x[name]
                if pd.api.types.is_numeric_dtype(x[name]) and not pd.api.types.is_bool_dtype(x[name])
                else x[name].astype("category").cat.codes.where(x[name].notna())
            )
            for name in x.columns
        }
    ).astype(float)
    target = (
        y.astype(float)
        if pd.api.types.is_numeric_dtype(y) and not pd.api.types.is_bool_dtype(y)
        else y.astype("category").cat.codes.astype(float)
    )
    association = codes.rank().corrwith(target.rank().set_axis(codes.index)).abs().fillna(0.0)
    order = sorted(range(len(x.columns)), key=lambda i: (-association.iloc[i], i))
    return [x.columns[i] for i in order[:count]]


class _OnlySome(BaseEstimator):  # type: ignore[misc]  # scikit-learn ships no type information
    """The model seen through a subset of its features: the rest held at their held-out values, so permutation
    importance shuffles (and predicts for) only the chosen ones."""

    def __init__(self, model: Any, full: pd.DataFrame, chosen: list[str]) -> None:
        self.model, self.full, self.chosen = model, full, chosen

    def __sklearn_tags__(self) -> Any:  # a classifier or a regressor, as the model is, for the scorer
        return self.model.__sklearn_tags__()

    def fit(self, *args: Any, **kwargs: Any) -> _OnlySome:
        return self

    def _frame(self, x: pd.DataFrame) -> pd.DataFrame:
        frame = self.full.copy()
        for name in self.chosen:  # row for row: permutation importance keeps the rows' order
            frame[name] = x[name].to_numpy()
        return frame

    def predict(self, x: Any) -> np.ndarray:
        return cast(np.ndarray, self.model.predict(self._frame(x)))

    def predict_proba(self, x: Any) -> np.ndarray:
        return cast(np.ndarray, self.model.predict_proba(self._frame(x)))

    @property
    def classes_(self) -> Any:
        return self.model.classes_
