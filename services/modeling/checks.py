"""Checks on a training request that must pass before a job is made, shared by trainModel and analyses."""

from __future__ import annotations

import math
import shutil
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from services import dataplane, files
from services.errors import invalid
from services.modeling.tasks import CLASS_LEVELS_MAX

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


def check_target(
    data_dir: Path,
    dataset_id: str,
    columns: list[dict[str, Any]],
    target: str,
    task: str | None,
    *,
    test_size: float,
    cv_folds: int,
    field: list[str],
    memory_mb: int = 512,
) -> str:
    """The task for `target`, or INVALID_INPUT naming `field` when the target cannot be learned or split.

    The column is summarised by DuckDB (counts, distinct values, class sizes), never read into memory: this
    runs in the API process before a job exists, on a table of any size."""
    semantic = next(c["semantic_type"] for c in columns if c["name"] == target)
    if semantic in UNLEARNABLE_TYPES:
        raise invalid(
            f"{target} is {semantic}: every row has its own value (or none), so there is nothing to learn", field
        )
    facts = target_facts(
        files.fetched(files.parquet_path(data_dir, dataset_id)),
        target,
        memory_mb=memory_mb,
        scratch_dir=data_dir / "scratch" / f"check-{uuid.uuid4().hex}",
    )
    task = task or facts_task(facts, semantic)
    if facts["present"] < 10:
        raise invalid(f"{target} has only {facts['present']} non-missing value(s); at least 10 are needed", field)
    if task == "CLASSIFICATION":
        classes = facts["levels"]
        if classes["levels"] < 2:
            raise invalid(f"{target} has a single class ({classes['smallest']!r}); nothing to learn", field)
        if classes["fewest"] < 2:
            raise invalid(
                f"Class {classes['smallest']!r} of {target} has a single row; every class needs two or more", field
            )
    elif not facts["numeric"]:
        raise invalid(f"REGRESSION needs a numeric target; {target} is {semantic}", ["task"])
    classes = facts["levels"] if task == "CLASSIFICATION" else None
    check_split(
        facts["present"],
        None if classes is None else (classes["levels"], classes["most"]),
        test_size=test_size,
        cv_folds=cv_folds,
    )
    return task


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def target_facts(path: Path, target: str, *, memory_mb: int, scratch_dir: Path | None) -> dict[str, Any]:
    """What deciding and checking a task needs to know of a target column, aggregated in DuckDB."""
    kind = pq.read_schema(path).field(target).type
    column = _quoted(target)
    floating = pa.types.is_floating(kind)
    present = f"{column} IS NOT NULL" + (f" AND NOT isnan({column})" if floating else "")
    # class labels as pandas' astype(str) writes them
    label = (
        f"CASE WHEN {column} THEN 'True' ELSE 'False' END"
        if pa.types.is_boolean(kind)
        else f"CAST({column} AS VARCHAR)"
    )
    connection = dataplane.connect(memory_mb=memory_mb, scratch_dir=scratch_dir)
    try:
        source = dataplane.parquet_source(path)
        count, integral, rough = connection.sql(
            f"SELECT count(*), {f'bool_and({column} = floor({column}))' if floating else 'NULL'}, "
            f"approx_count_distinct({column}) FROM {source} WHERE {present}"
        ).fetchall()[0]
        # exact distinct values only where there may be few: the approximate count is within a few percent
        distinct = (
            rough
            if rough > 4 * CLASS_LEVELS_MAX
            else connection.sql(f"SELECT count(DISTINCT {column}) FROM {source} WHERE {present}").fetchall()[0][0]
        )
        levels = connection.sql(
            f"SELECT count(*), min(n), arg_min(level, (n, level)), max(n) FROM "
            f"(SELECT {label} AS level, count(*) AS n FROM {source} WHERE {present} GROUP BY level)"
        ).fetchall()[0]
    finally:
        connection.close()
        if scratch_dir is not None:
            shutil.rmtree(scratch_dir, ignore_errors=True)
    numeric = pa.types.is_integer(kind) or floating or pa.types.is_decimal(kind) or pa.types.is_boolean(kind)
    return {
        "present": int(count),
        "integral": pa.types.is_integer(kind) or (floating and bool(integral)),
        "numeric": numeric,
        "distinct": int(distinct or 0),
        "levels": {"levels": int(levels[0]), "fewest": levels[1] or 0, "smallest": levels[2], "most": levels[3] or 0},
    }


def facts_task(facts: dict[str, Any], semantic: str) -> str:
    """detect_task's rule, on the aggregated facts."""
    if semantic in ("BOOLEAN", "CATEGORICAL", "TEXT", "IDENTIFIER"):
        return "CLASSIFICATION"
    return "CLASSIFICATION" if facts["integral"] and facts["distinct"] <= CLASS_LEVELS_MAX else "REGRESSION"


def check_split(rows: int, class_counts: tuple[int, int] | None, *, test_size: float, cv_folds: int) -> None:
    """The held-out split and the folds scikit-learn will make must each have rows (and every class);
    `class_counts` is (how many classes, rows of the largest)."""
    held_out = math.ceil(test_size * rows)
    training = rows - held_out
    classes = 0 if class_counts is None else class_counts[0]
    if training < max(cv_folds, classes) or held_out < max(1, classes):
        raise invalid(
            f"`testSize` {test_size:g} splits the {rows:,} labelled rows into {training:,} to train on "
            f"and {held_out:,} held out; training needs at least {max(cv_folds, classes)} "
            f"(cvFolds, classes) and the held-out part {max(1, classes)}",
            ["testSize"],
        )
    if class_counts is not None and math.floor(int(class_counts[1]) * (1 - test_size)) < cv_folds:
        raise invalid(
            f"No class has {cv_folds} training rows for {cv_folds}-fold cross-validation; lower `cvFolds`", ["cvFolds"]
        )
