"""scikit-learn pipelines for models: preprocessing inside, so raw rows in the dataset's shape can be predicted."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, OrdinalEncoder, StandardScaler

from services.preprocessing.steps import DatetimeFeatures

# Models trained before this module was renamed pickled its functions under the old name.
LEGACY_MODULE_NAME = "services.modeling.pipelines"


def load_model_artifact(path: str | Path) -> Any:
    """A model file the TRAIN job wrote (our own artifact, never a user upload), whenever it was trained."""
    sys.modules.setdefault(LEGACY_MODULE_NAME, sys.modules[__name__])
    return joblib.load(path)


LINEAR = {"LINEAR_REGRESSION", "RIDGE", "LOGISTIC_REGRESSION"}
# Fastest first, so a time budget always leaves room for the candidates that scale best.
DATETIME_PARTS = ["year", "month", "day", "weekday", "hour", "epoch"]
MAX_ONE_HOT_LEVELS = 30


def estimator(algorithm: str, task: str, seed: int, rows: int) -> Any:
    classify = task == "CLASSIFICATION"
    if algorithm == "RANDOM_FOREST":
        cls = RandomForestClassifier if classify else RandomForestRegressor
        return cls(n_estimators=100, n_jobs=1, random_state=seed, min_samples_leaf=1 if rows < 50_000 else 3)
    if algorithm == "EXTRA_TREES":
        cls = ExtraTreesClassifier if classify else ExtraTreesRegressor
        return cls(n_estimators=100, n_jobs=1, random_state=seed, min_samples_leaf=1 if rows < 50_000 else 3)
    if algorithm == "HIST_GRADIENT_BOOSTING":
        cls = HistGradientBoostingClassifier if classify else HistGradientBoostingRegressor
        return cls(random_state=seed, early_stopping="auto")
    if algorithm == "LOGISTIC_REGRESSION":
        return LogisticRegression(max_iter=2000, C=1.0)
    if algorithm == "RIDGE":
        return Ridge(alpha=1.0)
    if algorithm == "LINEAR_REGRESSION":
        return LinearRegression()
    raise ValueError(algorithm)


def _as_float(frame: pd.DataFrame) -> npt.NDArray[np.float64]:
    if all(pd.api.types.is_numeric_dtype(dtype) for dtype in frame.dtypes):  # the common case: no parsing needed
        return frame.to_numpy(dtype=float, na_value=np.nan)
    parsed: npt.NDArray[np.float64] = frame.apply(pd.to_numeric, errors="coerce").astype(float).to_numpy()
    return parsed


def _as_text(frame: pd.DataFrame) -> np.ndarray:
    return frame.astype("string").astype(object).where(frame.notna(), np.nan).to_numpy()


def datetime_part_columns(frame: pd.DataFrame, name: str) -> np.ndarray:
    return frame[[f"{name}_{part}" for part in DATETIME_PARTS]].to_numpy(dtype=float)


def preprocessor(features: list[dict[str, Any]], algorithm: str) -> ColumnTransformer:
    """Numbers imputed by median (and scaled for linear models); categories imputed by mode and one-hot
    (linear) or ordinal (trees) encoded with unknown levels handled; datetimes turned into parts."""
    numeric = [f["name"] for f in features if f["semantic_type"] in ("NUMERIC", "BOOLEAN")]
    categorical = [f["name"] for f in features if f["semantic_type"] in ("CATEGORICAL", "TEXT")]
    datetimes = [f["name"] for f in features if f["semantic_type"] == "DATETIME"]
    linear = algorithm in LINEAR
    parts = []
    if numeric:
        steps = [
            FunctionTransformer(_as_float, feature_names_out="one-to-one"),
            SimpleImputer(strategy="median", keep_empty_features=True),
        ]
        parts.append(("numeric", make_pipeline(*steps, *([StandardScaler()] if linear else [])), numeric))
    if categorical:
        encoder = (
            OneHotEncoder(handle_unknown="infrequent_if_exist", max_categories=MAX_ONE_HOT_LEVELS, sparse_output=False)
            if linear
            else OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-2)
        )
        parts.append(
            (
                "categorical",
                make_pipeline(
                    FunctionTransformer(_as_text, feature_names_out="one-to-one"),
                    SimpleImputer(strategy="most_frequent", missing_values=np.nan),
                    encoder,
                )
                if linear
                else make_pipeline(FunctionTransformer(_as_text, feature_names_out="one-to-one"), encoder),
                categorical,
            )
        )
    for name in datetimes:
        steps = [
            DatetimeFeatures(params={"columns": [name], "parts": DATETIME_PARTS}, fitted={}),
            FunctionTransformer(datetime_part_columns, kw_args={"name": name}),
            SimpleImputer(strategy="median", keep_empty_features=True),
        ]
        parts.append((f"datetime_{name}", make_pipeline(*steps, *([StandardScaler()] if linear else [])), [name]))
    return ColumnTransformer(parts, remainder="drop", verbose_feature_names_out=False)


# Variants the remaining time budget tries on the two best candidates (applied with set_params).
VARIANTS: dict[str, list[dict[str, Any]]] = {
    # Capacity first: with early stopping, bigger trees and more rounds gain the most as rows grow (on the
    # 200k-row benchmark, 0.942 -> 0.973 held out), and stop early where they do not help.
    "HIST_GRADIENT_BOOSTING": [
        {"max_leaf_nodes": 127, "max_iter": 1000, "early_stopping": True},
        {"learning_rate": 0.05, "max_iter": 300},
        {"max_leaf_nodes": 15, "l2_regularization": 1.0},
    ],
    "RANDOM_FOREST": [{"max_features": 0.5}, {"min_samples_leaf": 3}],
    "EXTRA_TREES": [{"max_features": 0.5}, {"max_features": None}],
    "LOGISTIC_REGRESSION": [{"C": 0.1}, {"C": 10.0}],
    "RIDGE": [{"alpha": 0.1}, {"alpha": 10.0}],
    "LINEAR_REGRESSION": [],
}


# Rough fit time of each algorithm relative to the others on the same rows: a candidate not yet run
# is priced from those that have (a forest costs about three extra-trees fits, twelve boosting fits).
RELATIVE_FIT_COST = {
    "HIST_GRADIENT_BOOSTING": 1.0,
    "LOGISTIC_REGRESSION": 1.0,
    "RIDGE": 0.2,
    "LINEAR_REGRESSION": 0.2,
    "EXTRA_TREES": 4.0,
    "RANDOM_FOREST": 12.0,
}
SEARCH_TRIALS = 24  # random configurations after the fixed variants, while the budget lasts
SEARCHABLE = ("RANDOM_FOREST", "EXTRA_TREES", "HIST_GRADIENT_BOOSTING", "LOGISTIC_REGRESSION", "RIDGE")


def sample_params(algorithm: str, rng: np.random.Generator) -> dict[str, Any]:
    """One random configuration from the algorithm's search space (plain JSON values: they go in the leaderboard)."""

    def log_uniform(low: float, high: float) -> float:
        return float(round(10 ** rng.uniform(np.log10(low), np.log10(high)), 6))

    if algorithm in ("RANDOM_FOREST", "EXTRA_TREES"):
        leaves = [None, 16, 32, 64, 128, 256][int(rng.integers(6))]
        return {
            "n_estimators": int(rng.choice([50, 100, 200, 300])),
            "max_features": float(round(rng.uniform(0.1, 1.0), 3)),
            "max_leaf_nodes": leaves,
            "min_samples_leaf": int(rng.choice([1, 2, 4, 8])),
        }
    if algorithm == "HIST_GRADIENT_BOOSTING":
        rounds = int(rng.choice([100, 200, 400, 1000]))
        return {
            "learning_rate": log_uniform(0.01, 0.3),
            "max_leaf_nodes": int(rng.choice([7, 15, 31, 63, 127, 255])),
            "min_samples_leaf": int(rng.choice([5, 10, 20, 40, 80])),
            "l2_regularization": log_uniform(1e-4, 10.0),
            "max_iter": rounds,
            "max_features": float(round(rng.uniform(0.3, 1.0), 3)),
            **({"early_stopping": True} if rounds == 1000 else {}),
        }  # 1000 rounds only where they help
    if algorithm == "LOGISTIC_REGRESSION":
        return {"C": log_uniform(1e-3, 100.0)}
    if algorithm == "RIDGE":
        return {"alpha": log_uniform(1e-3, 100.0)}
    raise ValueError(f"{algorithm} has no search space")


def forest_average(forest: Any, features: np.ndarray, method: str) -> np.ndarray:
    """A forest's `method` (predict, predict_proba) as its trees' average, summed in the forest's order in float64 on
    float32 features: scikit-learn's arithmetic to the bit, without the joblib dispatch that is 4 of a 5 ms call
    for one row."""
    features = np.ascontiguousarray(features, dtype=np.float32)  # the trees' own dtype, as the forest converts
    total: np.ndarray = sum(getattr(tree, method)(features, check_input=False) for tree in forest.estimators_)
    return total / len(forest.estimators_)


def build_pipeline(
    algorithm: str,
    task: str,
    features: list[dict[str, Any]],
    seed: int,
    rows: int,
    params: dict[str, Any] | None = None,
) -> Pipeline:
    model = estimator(algorithm, task, seed, rows)
    if params:
        model.set_params(**params)
    return Pipeline([("prepare", preprocessor(features, algorithm)), ("model", model)])
