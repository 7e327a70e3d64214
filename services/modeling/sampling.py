"""Training frames within the job's memory budget: the whole labelled table when it fits, else a stratified
sample drawn inside DuckDB that does.

Model fitting needs every training row in memory (scikit-learn has no out-of-core fit for these estimators),
so the frame is sized before it is read: bytes per row are estimated from the column types and the Parquet
copy's own sizes, times the copies training makes (the Arrow table, pandas, the train / held-out split, the
transformed matrix). Beyond the budget, rows are kept per class at the same rate (every row of a class too
small to thin), chosen by a seeded hash of the row number: one streaming pass, nothing sorted, the same rows
for the same seed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from services import dataplane

TRAINING_SHARE = 0.5  # of the budget for the training frame and its copies; the rest is the model's and Python's
FRAME_COPIES = 4  # Arrow table, pandas frame, train / held-out split, the label series and slices
MATRIX_COPIES = 3  # the transformed float matrix, the imputer's and scaler's copies
OBJECT_OVERHEAD = 57  # a Python str in a pandas object column: header plus the pointer to it
ONE_HOT_WIDTH = 30  # a categorical may become this many columns for a linear model
MIN_CLASS_ROWS = 50  # a class this small is kept whole rather than thinned
FOREST_BYTES_PER_ROW = 100 * 2 * 80 / 3  # 100 trees, a node per 1.5 rows (min_samples_leaf 3), ~80 bytes a node
HASH_SCALE = 2**64


@dataclass(frozen=True)
class RowsRead:
    """How the training rows were read: what the split and the training result report, and what sizes a forest."""

    labelled_rows: int  # rows with a target in the whole dataset
    sampled: bool  # the frame is a sample of them (the whole would not fit the budget)
    bytes_per_row: float


@dataclass(frozen=True)
class TrainingFrame:
    frame: pd.DataFrame
    rows: RowsRead


def bytes_per_row(path: Path, names: list[str], columns: list[dict[str, Any]]) -> float:
    """Estimated memory one row of these columns costs while training (all copies included)."""
    parquet = pq.ParquetFile(path)
    metadata, schema = parquet.metadata, parquet.schema_arrow
    rows = max(1, metadata.num_rows)
    semantic = {c["name"]: c.get("semantic_type") for c in columns}
    positions = {name: i for i, name in enumerate(schema.names)}
    frame, width = 0.0, 0
    for name in names:
        kind = schema.field(name).type
        if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_dictionary(kind):
            stored = sum(
                metadata.row_group(g).column(positions[name]).total_uncompressed_size
                for g in range(metadata.num_row_groups)
            )
            frame += OBJECT_OVERHEAD + stored / rows
            width += ONE_HOT_WIDTH if semantic.get(name) in ("CATEGORICAL", "TEXT") else 1
        elif pa.types.is_timestamp(kind) or pa.types.is_date(kind):
            frame += 8
            width += 6  # its parts: year, month, day, weekday, hour, epoch
        else:
            frame += 8
            width += 1
    return frame * FRAME_COPIES + width * 8 * MATRIX_COPIES


def rows_within(memory_mb: int, per_row: float) -> int:
    return max(1_000, int(memory_mb * 1024 * 1024 * TRAINING_SHARE / max(per_row, 1.0)))


def forest_rows_within(memory_mb: int, per_row: float) -> int:
    """Training rows a forest of 100 deep trees can be fitted on: its nodes grow with the rows."""
    return rows_within(memory_mb, per_row + FOREST_BYTES_PER_ROW)


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def read_training_frame(
    path: Path,
    *,
    names: list[str],
    target: str,
    columns: list[dict[str, Any]],
    classify: bool | None,
    memory_mb: int,
    scratch_dir: Path | None,
    seed: int,
    log: Callable[[str], None],
    max_rows: int | None = None,
) -> TrainingFrame:
    """The labelled rows of `names`: all of them when they fit the budget (and `max_rows`, when given), else a
    stratified sample that does.

    `classify` None means the task is not known yet: rows are then thinned without strata.
    """
    per_row = bytes_per_row(path, names, columns)
    fits = rows_within(memory_mb, per_row)
    capped = max_rows is not None and max_rows < fits  # the caller's cap, not the budget, decides the sample
    if capped and max_rows is not None:
        fits = max_rows
    parquet = pq.ParquetFile(path)
    total = parquet.metadata.num_rows
    if total <= fits:
        frame = pq.read_table(path, columns=names).to_pandas(date_as_object=False)
        labelled = frame[target].notna()
        return TrainingFrame(frame, RowsRead(int(labelled.sum()), False, per_row))
    connection = dataplane.connect(memory_mb=memory_mb, scratch_dir=scratch_dir)
    connection.execute("SET preserve_insertion_order = true")  # ORDER BY kept on every Arrow path
    try:
        return _sampled(
            connection,
            path,
            names,
            target,
            classify,
            fits,
            seed,
            per_row,
            memory_mb,
            log
            if not capped
            else lambda message, *rest: log(f"Training on a sample of about {fits:,} labelled rows, as asked", *rest),
        )
    finally:
        connection.close()


def _sampled(
    connection: duckdb.DuckDBPyConnection,
    path: Path,
    names: list[str],
    target: str,
    classify: bool | None,
    fits: int,
    seed: int,
    per_row: float,
    memory_mb: int,
    log: Callable[[str], None],
) -> TrainingFrame:
    dataplane.require_row_numbers(path, "Sampling the training rows")  # the draw hashes each row's position
    source = dataplane.parquet_source(path)
    label = _quoted(target)
    present = f"{label} IS NOT NULL" + (f" AND NOT isnan({label})" if _is_float(path, target) else "")
    stratum = f"CAST({label} AS VARCHAR)" if classify else "NULL"
    counts = connection.sql(f"SELECT {stratum} AS s, count(*) AS n FROM {source} WHERE {present} GROUP BY s").fetchall()
    labelled = sum(n for _, n in counts)
    if labelled <= fits:
        rates = {s: 1.0 for s, _ in counts}
    else:
        small = sum(n for _, n in counts if n <= MIN_CLASS_ROWS)
        rate = max(0.0, (fits - small) / max(1, labelled - small))
        rates = {s: (1.0 if n <= MIN_CLASS_ROWS else rate) for s, n in counts}
    cases = " ".join(f"WHEN {stratum} = ? THEN ?" for s in rates if s is not None)
    parameters: list[Any] = [value for s, r in rates.items() if s is not None for value in (s, _threshold(r))]
    threshold = (
        f"(CASE {cases} ELSE {_threshold(rates.get(None, 1.0))!r} END)"
        if cases
        else f"{_threshold(rates.get(None, 1.0))!r}"
    )
    selected = ", ".join(_quoted(n) for n in names)
    frame = (
        connection.sql(
            f"SELECT {selected} FROM (SELECT *, file_row_number AS r FROM read_parquet(?, file_row_number = true)) "
            f"WHERE {present} AND CAST(hash(r + {int(seed) * 1_000_003}) AS DOUBLE) < {threshold} ORDER BY r",
            params=[str(path), *parameters],
        )
        .to_arrow_table()
        .to_pandas(date_as_object=False)
    )
    log(
        f"The labelled rows ({labelled:,}) would need about {labelled * per_row / 2**20:,.0f} MB to train on, beyond "
        f"the {memory_mb:,} MB budget: training on a {'stratified ' if classify else ''}sample of {len(frame):,} rows"
    )
    return TrainingFrame(frame, RowsRead(labelled, len(frame) < labelled, per_row))


def _threshold(rate: float) -> float:
    """Hashes below this are kept; a whole class clears it for certain (the largest hash rounds to 2**64)."""
    return rate * HASH_SCALE if rate < 1 else 2.0 * HASH_SCALE


def _is_float(path: Path, name: str) -> bool:
    return bool(pa.types.is_floating(pq.read_schema(path).field(name).type))
