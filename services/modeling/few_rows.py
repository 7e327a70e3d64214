"""The fitted preparation step applied to the few rows of a `predict` call, with scikit-learn's arithmetic
but without its per-call machinery.

For one row, ColumnTransformer.transform spent most of its time outside the arithmetic: checking
feature names and fitted state on every sub-estimator, selecting the DataFrame's columns, joblib's
dispatch, and validating the array again at each step (1.5-2.5 ms, the largest part of a predict). The
numeric part of our preprocessor (services.modeling.estimators.preprocessor: floats, median
imputation, and for linear models standard scaling) is simple enough to apply directly: fill the
missing cells with the imputer's statistics, subtract the mean, divide by the scale, in float64, the
operations scikit-learn performs, so the result is the same to the bit (tested). Categorical and
datetime parts keep their fitted scikit-learn pipelines, given only their own columns.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

FEW_ROWS = 100  # above this, the per-call overhead no longer matters and the plain pipeline is used


@dataclass(frozen=True)
class Numeric:
    columns: list[str]
    fill: np.ndarray  # the imputer's statistics (keep_empty_features: one per column)
    mean: np.ndarray | None  # StandardScaler's, when the part scales
    scale: np.ndarray | None


@dataclass(frozen=True)
class Fitted:
    columns: list[str]
    pipeline: Any  # the part's fitted scikit-learn pipeline, given a frame of its columns


_plans: weakref.WeakKeyDictionary[Any, list[Numeric | Fitted] | None] = weakref.WeakKeyDictionary()


def plan_for(pipeline: Any) -> list[Numeric | Fitted] | None:
    """The parts of `pipeline`'s preparation step, in output order; None when it is not our preprocessor
    (then the caller uses the pipeline as it is). Worked out once per loaded model."""
    try:
        return _plans[pipeline]
    except KeyError:
        plan = _plan(pipeline)
        _plans[pipeline] = plan
        return plan


def _plan(pipeline: Any) -> list[Numeric | Fitted] | None:
    from sklearn.compose import ColumnTransformer  # loaded with the model already

    prepare = pipeline[0] if len(pipeline) == 2 else None
    if not isinstance(prepare, ColumnTransformer) or prepare.remainder != "drop":
        return None
    parts: list[Numeric | Fitted] = []
    for name, fitted, columns in prepare.transformers_:
        if fitted == "drop" or name == "remainder" or len(columns) == 0:
            continue  # ColumnTransformer leaves these out of its output too
        if fitted == "passthrough" or not all(isinstance(c, str) for c in columns):
            return None
        parts.append(_numeric(fitted, list(columns)) or Fitted(list(columns), fitted))
    return parts or None


def _numeric(fitted: Any, columns: list[str]) -> Numeric | None:
    """The numeric part's arithmetic, when its steps are exactly the ones the preprocessor builds."""
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    from services.modeling.estimators import _as_float

    steps = [step for _, step in fitted.steps] if isinstance(fitted, Pipeline) else []
    if not 2 <= len(steps) <= 3:
        return None
    convert, impute, *scale = steps
    if not (
        type(convert) is FunctionTransformer
        and convert.func is _as_float
        and convert.kw_args is None
        and not convert.validate
        and convert.inverse_func is None
    ):
        return None
    if not (
        type(impute) is SimpleImputer
        and impute.strategy == "median"
        and impute.keep_empty_features
        and not impute.add_indicator
        and isinstance(impute.missing_values, float)
        and np.isnan(impute.missing_values)
        and impute.statistics_.dtype == np.float64
        and len(impute.statistics_) == len(columns)
    ):
        return None
    if scale and not (
        type(scale[0]) is StandardScaler
        and scale[0].with_mean
        and scale[0].with_std
        and scale[0].mean_.dtype == np.float64
        and scale[0].scale_.dtype == np.float64
    ):
        return None
    return Numeric(columns, impute.statistics_, scale[0].mean_ if scale else None, scale[0].scale_ if scale else None)


def prepared(plan: list[Numeric | Fitted], columns: dict[str, Any]) -> np.ndarray:
    """What the preparation step's transform gives for these columns (name -> typed values, as
    services.modeling.predict.checked_columns builds them)."""
    blocks = []
    for part in plan:
        if isinstance(part, Numeric):
            block = np.column_stack([np.asarray(columns[c], dtype=np.float64) for c in part.columns]).astype(np.float64)
            missing = np.isnan(block)
            if missing.any():
                block[missing] = np.broadcast_to(part.fill, block.shape)[missing]
            if part.mean is not None and part.scale is not None:  # a scaling part has both
                block -= part.mean
                block /= part.scale
        else:
            block = part.pipeline.transform(pd.DataFrame({c: columns[c] for c in part.columns}))
            if hasattr(block, "toarray"):
                block = block.toarray()
        blocks.append(block)
    return np.hstack(blocks) if len(blocks) > 1 else blocks[0]
