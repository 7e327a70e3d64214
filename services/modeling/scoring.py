"""Batch scoring: a dataset version scored batch by batch, so memory stays within the job's budget at any size.

`scored_batches` is the one loop: each record batch of the source comes in, the model's columns are added to it
unchanged, and it goes out to the writer. A caller that adds columns per batch (explanations, a registry's
stage) passes `extra`, a function of the batch's feature frame that returns more named arrays.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from services import dataplane

MIN_BATCH_ROWS = 1_000
MAX_BATCH_ROWS = 100_000
# A batch is held as Arrow, as pandas and as the pipeline's transformed matrix at once, with copies in between.
WORKING_COPIES = 12
BUDGET_SHARE = 0.25  # of the job's budget for one batch in flight; the writer's queue holds a few more

ExtraColumns = Callable[[pd.DataFrame], dict[str, pa.Array]]


def batch_rows(path: Path, memory_mb: int) -> int:
    """Rows per batch so that a batch in flight stays well within the budget (sized by the file's own bytes/row)."""
    metadata = pq.ParquetFile(path).metadata
    rows = max(1, metadata.num_rows)
    raw = sum(metadata.row_group(g).total_byte_size for g in range(metadata.num_row_groups))
    per_row = max(8.0, raw / rows) * WORKING_COPIES
    return int(min(MAX_BATCH_ROWS, max(MIN_BATCH_ROWS, memory_mb * 1024 * 1024 * BUDGET_SHARE / per_row)))


def output_names(pipeline: Any, task: str) -> list[str]:
    names = ["prediction"]
    if task == "CLASSIFICATION":
        names += [f"probability_{c}" for c in pipeline.classes_]
    return names


def prediction_type(pipeline: Any, task: str) -> pa.DataType:
    """One type for every batch's prediction column (a batch alone could infer another)."""
    if task != "CLASSIFICATION":
        return pa.float64()
    return pa.array(pd.Series(pipeline.classes_)).type


def score_batch(
    pipeline: Any, task: str, features: list[str], batch: pa.RecordBatch, extra: ExtraColumns | None = None
) -> pa.RecordBatch:
    """The batch with the model's columns appended (replacing source columns of the same names)."""
    frame = pa.Table.from_batches([batch]).select(features).to_pandas(date_as_object=False)
    added: dict[str, pa.Array] = {}
    if task == "CLASSIFICATION":
        probabilities = pipeline.predict_proba(frame)
        predicted = pipeline.classes_.take(probabilities.argmax(axis=1))
        added["prediction"] = pa.array(pd.Series(predicted), type=prediction_type(pipeline, task))
        for index, name in enumerate(output_names(pipeline, task)[1:]):
            added[name] = pa.array(np.asarray(probabilities[:, index], dtype=float))
    else:
        added["prediction"] = pa.array(np.asarray(pipeline.predict(frame), dtype=float))
    if extra is not None:
        added.update(extra(frame))
    kept = [name for name in batch.schema.names if name not in added]
    return pa.RecordBatch.from_arrays(
        [batch.column(name) for name in kept] + list(added.values()), names=kept + list(added)
    )


def scored_batches(
    pipeline: Any,
    task: str,
    features: list[str],
    source: Path,
    *,
    rows_per_batch: int,
    extra: ExtraColumns | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> Iterator[pa.RecordBatch]:
    """Every row of `source`, scored, batch by batch; `on_batch(rows_done)` after each."""
    done = 0
    for batch in dataplane.batches(pq.ParquetFile(source), batch_rows=rows_per_batch):
        yield score_batch(pipeline, task, features, batch, extra)
        done += batch.num_rows
        if on_batch is not None:
            on_batch(done)
