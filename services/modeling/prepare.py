"""Training's prepare stage: read the dataset (a sample when it would not fit), settle the task, choose the
features, split off the held-out rows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from sklearn.model_selection import train_test_split

from services import files
from services.errors import invalid
from services.jobs.context import JobContext
from services.modeling.sampling import RowsRead, read_training_frame
from services.modeling.spec import TrainingSpec
from services.modeling.tasks import detect_task


def select_features(
    frame: pd.DataFrame,
    columns: list[dict[str, Any]],
    target: str,
    requested: list[str] | None,
    log: Callable[[str], None],
) -> list[dict[str, Any]]:
    by_name = {c["name"]: c for c in columns}
    if requested:
        return [by_name[name] for name in requested]
    chosen = []
    for column in columns:
        name = column["name"]
        if name == target:
            continue
        if column["semantic_type"] in ("IDENTIFIER", "EMPTY"):
            log(f"Feature {name} left out: it is {column['semantic_type']}")
        elif frame[name].nunique(dropna=True) <= 1:
            log(f"Feature {name} left out: it is constant")
        elif column["semantic_type"] == "TEXT" and frame[name].nunique() > 0.5 * len(frame):
            log(f"Feature {name} left out: free text with mostly distinct values")
        else:
            chosen.append(column)
    return chosen


def signature(frame: pd.DataFrame, features: list[dict[str, Any]]) -> list[dict[str, Any]]:
    result = []
    for feature in features:
        series = frame[feature["name"]]
        entry = {
            "name": feature["name"],
            "semantic_type": feature["semantic_type"],
            "required": bool(series.notna().all()),
            "allowed_values": None,
            "min": None,
            "max": None,
        }
        if feature["semantic_type"] in ("CATEGORICAL", "TEXT"):
            entry["allowed_values"] = sorted(series.dropna().astype(str).unique().tolist())[:1000]
        elif feature["semantic_type"] == "NUMERIC":
            entry["min"], entry["max"] = float(series.min()), float(series.max())
        result.append(entry)
    return result


@dataclass(frozen=True)
class PreparedData:
    """The prepare stage's output: the task, the chosen features and the train / held-out split, and whether
    the rows are a sample of the labelled ones (the whole table would not fit the job's memory budget)."""

    task: str
    features: list[dict[str, Any]]
    x_train: pd.DataFrame
    x_test: pd.DataFrame
    y_train: pd.Series
    y_test: pd.Series
    rows: RowsRead

    @property
    def metric(self) -> str:
        return "accuracy" if self.task == "CLASSIFICATION" else "r2"

    def training_sample(self, rows: int, seed: int) -> tuple[pd.DataFrame, pd.Series]:
        """`rows` of the training split (stratified for classification), drawn the same way for a given seed."""
        sample_x, _, sample_y, _ = train_test_split(
            self.x_train,
            self.y_train,
            train_size=rows,
            random_state=seed,
            stratify=self.y_train if self.task == "CLASSIFICATION" else None,
        )
        return sample_x, sample_y


def _wanted_columns(columns: list[dict[str, Any]], target: str, requested: list[str] | None) -> list[str]:
    """The target and every column select_features may keep: identifiers and empty columns never are."""
    if requested:
        return list(dict.fromkeys([*requested, target]))
    return [c["name"] for c in columns if c["name"] == target or c["semantic_type"] not in ("IDENTIFIER", "EMPTY")]


def _stratified(spec: TrainingSpec, columns: list[dict[str, Any]]) -> bool | None:
    """Whether a sample keeps the target's classes in proportion: for classification, or (task not yet settled,
    as in an analysis) for a target that can only be a class."""
    if spec.task is not None:
        return spec.task == "CLASSIFICATION"
    semantic = next(c["semantic_type"] for c in columns if c["name"] == spec.target)
    return True if semantic in ("BOOLEAN", "CATEGORICAL", "TEXT") else None


def prepare_data(ctx: JobContext, spec: TrainingSpec, data_dir: Path, columns: list[dict[str, Any]]) -> PreparedData:
    """Read the dataset (a stratified sample when it would not fit the budget), drop rows without a target,
    settle the task and features, split off the held-out rows."""
    ctx.stage("prepare")
    if spec.dataset_id is None:  # the spec allows none until start_training checks it; a job always has one
        raise invalid("Training needs a dataset", ["datasetId"])
    target = spec.target
    read = read_training_frame(
        files.parquet_path(data_dir, spec.dataset_id),
        target=target,
        columns=columns,
        names=_wanted_columns(columns, target, list(spec.features) if spec.features else None),
        classify=_stratified(spec, columns),
        memory_mb=ctx.memory_mb,
        scratch_dir=ctx.scratch_dir,
        seed=spec.seed,
        log=ctx.log,
        max_rows=spec.max_rows,
    )
    frame = read.frame
    missing = int(frame[target].isna().sum())
    if missing:
        frame = frame[frame[target].notna()].reset_index(drop=True)
        ctx.log(f"Dropped {missing:,} row(s) with no {target}")
    target_semantic = next(c["semantic_type"] for c in columns if c["name"] == target)
    task = spec.task or detect_task(frame[target], target_semantic)
    ctx.log(f"Task: {task}{' (detected)' if not spec.task else ''}")
    features = select_features(frame, columns, target, list(spec.features) if spec.features else None, ctx.log)
    ctx.log(f"Features ({len(features)}): {', '.join(f['name'] for f in features)}")
    y = frame[target]
    if task == "CLASSIFICATION":
        y = y.astype(str)
    x = frame[[f["name"] for f in features]]
    stratify = y if task == "CLASSIFICATION" else None
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=spec.test_size, random_state=spec.seed, stratify=stratify
    )
    ctx.log(
        f"Split: {len(x_train):,} training rows, {len(x_test):,} held out"
        + (f" (a sample of {read.rows.labelled_rows:,} labelled rows)" if read.rows.sampled else "")
    )
    ctx.checkpoint()
    return PreparedData(task, features, x_train, x_test, y_train, y_test, read.rows)
