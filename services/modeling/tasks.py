"""What can be trained on a target: light enough for the API process, which never imports scikit-learn
until it must load a model (about 100 MB it would otherwise hold from start-up)."""

from __future__ import annotations

import numpy as np
import pandas as pd

# Fastest first, so a tight budget skips the slowest: extra trees draw random splits (about 3x a forest's speed).
CLASSIFIERS = ["HIST_GRADIENT_BOOSTING", "LOGISTIC_REGRESSION", "EXTRA_TREES", "RANDOM_FOREST"]
REGRESSORS = ["HIST_GRADIENT_BOOSTING", "RIDGE", "LINEAR_REGRESSION", "EXTRA_TREES", "RANDOM_FOREST"]
CLASS_LEVELS_MAX = 20  # integers with at most this many levels are classes


def detect_task(target: pd.Series, semantic: str) -> str:
    if semantic in ("BOOLEAN", "CATEGORICAL", "TEXT", "IDENTIFIER"):
        return "CLASSIFICATION"
    values = target.dropna()
    integral = pd.api.types.is_integer_dtype(values) or (
        pd.api.types.is_float_dtype(values) and bool(np.all(np.mod(values, 1) == 0))
    )
    return "CLASSIFICATION" if integral and values.nunique() <= CLASS_LEVELS_MAX else "REGRESSION"
