"""Checks on a training request that must pass before a job is made, shared by trainModel and analyses."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from services import files
from services.errors import invalid
from services.modeling.tasks import detect_task

MAX_SEED = 2**32 - 1  # scikit-learn's random_state range
UNLEARNABLE_TYPES = ("IDENTIFIER", "EMPTY")
ANALYSIS_TEST_SIZE, ANALYSIS_CV_FOLDS = 0.2, 5  # what an analysis trains with


def check_numbers(*, test_size: float, cv_folds: int, seed: int, time_budget_seconds: float | None) -> None:
    if not (math.isfinite(test_size) and 0 < test_size < 1):
        raise invalid("`testSize` must be between 0 and 1", ["testSize"])
    if not 2 <= cv_folds <= 20:
        raise invalid("`cvFolds` must be between 2 and 20", ["cvFolds"])
    if not 0 <= seed <= MAX_SEED:
        raise invalid(f"`seed` must be between 0 and {MAX_SEED}", ["seed"])
    if time_budget_seconds is not None and not (math.isfinite(time_budget_seconds) and time_budget_seconds > 0):
        raise invalid("`timeBudgetSeconds` must be a positive number", ["timeBudgetSeconds"])


def check_target(data_dir: Path, dataset_id: str, columns: list[dict[str, Any]], target: str, task: str | None, *,
                 test_size: float, cv_folds: int, field: list[str]) -> str:
    """The task for `target`, or INVALID_INPUT naming `field` when the target cannot be learned or split."""
    semantic = next(c["semantic_type"] for c in columns if c["name"] == target)
    if semantic in UNLEARNABLE_TYPES:
        raise invalid(f"{target} is {semantic}: every row has its own value (or none), so there is nothing to learn",
                      field)
    series = pq.read_table(files.parquet_path(data_dir, dataset_id), columns=[target]).column(0).to_pandas()
    task = task or detect_task(series, semantic)
    values = series.dropna()
    if len(values) < 10:
        raise invalid(f"{target} has only {len(values)} non-missing value(s); at least 10 are needed", field)
    if task == "CLASSIFICATION":
        counts = values.astype(str).value_counts()
        if len(counts) < 2:
            raise invalid(f"{target} has a single class ({counts.index[0]!r}); nothing to learn", field)
        if counts.min() < 2:
            raise invalid(f"Class {counts.idxmin()!r} of {target} has a single row; every class needs two or more", field)
    elif not pd.api.types.is_numeric_dtype(values):
        raise invalid(f"REGRESSION needs a numeric target; {target} is {semantic}", ["task"])
    check_split(len(values), values.astype(str).value_counts() if task == "CLASSIFICATION" else None,
                test_size=test_size, cv_folds=cv_folds)
    return task


def check_split(rows: int, class_counts: pd.Series | None, *, test_size: float, cv_folds: int) -> None:
    """The held-out split and the folds scikit-learn will make must each have rows (and every class)."""
    held_out = math.ceil(test_size * rows)
    training = rows - held_out
    classes = 0 if class_counts is None else len(class_counts)
    if training < max(cv_folds, classes) or held_out < max(1, classes):
        raise invalid(f"`testSize` {test_size:g} splits the {rows:,} labelled rows into {training:,} to train on "
                      f"and {held_out:,} held out; training needs at least {max(cv_folds, classes)} "
                      f"(cvFolds, classes) and the held-out part {max(1, classes)}", ["testSize"])
    if class_counts is not None and math.floor(int(class_counts.max()) * (1 - test_size)) < cv_folds:
        raise invalid(f"No class has {cv_folds} training rows for {cv_folds}-fold cross-validation; lower `cvFolds`",
                      ["cvFolds"])
