"""Preprocessing beyond memory: the same steps, fitted in streaming passes and applied batch by batch.

A table that fits the job's budget is transformed whole, as it always was (`fit_recipe`). A larger one goes
through here: for each step in turn, one pass streams the source through the steps already fitted and learns
this step's values from what comes out (sums, mins and maxes as they go; a column's numbers gathered for a
median or quartiles; a count per distinct level for a mode or an encoding; a seeded sample of rows for KNN and
iterative imputation, drawn by the same generator pandas' `sample` uses; first occurrences of each row for
duplicates, found by DuckDB's spilling hash aggregation). Then a last pass applies every fitted step to each
batch and writes it. The fitted values are the ones `fit_recipe` computes on the whole table (to float
rounding, for means and standard deviations summed batch by batch), so the output is the same.

Steps that read across rows in order (forward / backward fill, interpolation) cannot go batch by batch: the
table as it stands before such a step is written to scratch, and DuckDB fills it with window functions over
the row order (sorting and spilling to the scratch dir beyond the budget), then the steps after it go on
streaming from that copy (`ordered_fill.py`).
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
from services.preprocessing.steps import KNN_DONOR_ROWS, ONE_HOT_MAX_LEVELS, Step, build_step, iterative_imputer
from services.preprocessing.values import cast_column, numeric, plain

WHOLE_TABLE = {"FFILL", "BFILL", "INTERPOLATE"}  # impute strategies that read across rows in order
PANDAS_COPIES = 6  # a frame in pandas, with the copies steps make, against its Parquet bytes
BATCH_SHARE = 0.1  # of the budget for one batch in flight through the steps
ITERATIVE_ROWS = 50_000  # as Impute.learn: the iterative imputer is fitted on this many rows
DESCRIBE_ROWS = 200_000  # column types of a streamed result are judged on its first rows

Frames = Callable[[], Iterator[pd.DataFrame]]


def table_bytes(path: Path) -> int:
    metadata = pq.ParquetFile(path).metadata
    return sum(metadata.row_group(g).total_byte_size for g in range(metadata.num_row_groups))


def fits_in_memory(path: Path, memory_mb: int) -> bool:
    """Whether the whole table, as a pandas frame with the copies steps make, fits half the budget."""
    return table_bytes(path) * PANDAS_COPIES <= memory_mb * 1024 * 1024 * 0.5


def batch_rows(path: Path, memory_mb: int) -> int:
    metadata = pq.ParquetFile(path).metadata
    per_row = max(8.0, table_bytes(path) / max(1, metadata.num_rows)) * PANDAS_COPIES
    return int(min(200_000, max(1_000, memory_mb * 1024 * 1024 * BATCH_SHARE / per_row)))


def needs_whole_table(steps: list[tuple[str, dict[str, Any]]]) -> list[str]:
    return [
        f"impute {params['strategy']}"
        for kind, params in steps
        if kind == "impute" and params.get("strategy") in WHOLE_TABLE
    ]


class Streamed:
    """A fitted step applied batch by batch; DropDuplicates keeps the rows its first pass marked."""

    def __init__(self, step: Step, keep: np.ndarray | None = None) -> None:
        self.step, self.keep, self.seen = step, keep, 0

    def start(self) -> None:
        self.seen = 0

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        if self.keep is None:
            return self.step.transform(frame)
        kept = self.keep[self.seen : self.seen + len(frame)]
        self.seen += len(frame)
        return frame[kept].reset_index(drop=True)


def stream_frames(path: Path, fitted: list[Streamed], rows: int) -> Iterator[pd.DataFrame]:
    """The source, batch by batch, read as the whole-table job reads it, through the steps fitted so far."""
    for step in fitted:
        step.start()
    for batch in dataplane.batches(pq.ParquetFile(path), batch_rows=rows):
        frame = pa.Table.from_batches([batch]).to_pandas()
        for step in fitted:
            frame = step.apply(frame)
        yield frame


def fit_streaming(
    path: Path,
    steps: list[tuple[str, dict[str, Any]]],
    *,
    memory_mb: int,
    scratch_dir: Path | None,
    rows: int,
    on_step: Callable[[int, Step], None] | None = None,
) -> tuple[list[Streamed], list[dict[str, Any]]]:
    """Each step fitted on what the steps before it produce, one streaming pass (or two) per step."""
    fitted: list[Streamed] = []
    recipe: list[dict[str, Any]] = []
    for index, (kind, params) in enumerate(steps):
        step = build_step(kind, params)
        frames = lambda: stream_frames(path, fitted, rows)  # noqa: E731 - a fresh pass each call
        keep = None
        if kind == "dropDuplicates":
            keep = _first_occurrences(frames, params.get("columns") or None, memory_mb, scratch_dir)
            step.fitted = {}
        else:
            step.fitted = learn(step, frames)
        fitted.append(Streamed(step, keep))
        recipe.append(step.recipe())
        if on_step:
            on_step(index, step)
    return fitted, recipe


def learn(step: Step, frames: Frames) -> dict[str, Any]:
    """What `step.learn(whole_frame)` returns, from streamed batches."""
    kind, params, columns = step.kind, step.params, step.columns
    if kind == "impute":
        strategy = params["strategy"]
        if strategy == "MEAN":
            return {"fill": {c: plain(v) for c, v in _moments(frames, columns)["mean"].items()}}
        if strategy == "MEDIAN":
            return {"fill": {c: plain(_quantile(v, 0.5)) for c, v in _gathered(frames, columns).items()}}
        if strategy == "MODE":
            return {"fill": _modes(frames, columns)}
        if strategy == "KNN":
            return _knn_donors(frames, columns)
        if strategy == "ITERATIVE":
            return _iterative(frames, columns)
        return step.learn(pd.DataFrame(columns=columns))  # CONSTANT, DROP_ROWS: nothing learned from the data
    if kind == "encode":
        return _levels(frames, columns, params["strategy"])
    if kind == "scale":
        return _scale(frames, columns, params["strategy"])
    if kind == "clipOutliers":
        gathered = _gathered(frames, columns)
        factor = float(params.get("factor", 1.5))
        bounds = {c: (_quantile(v, 0.25), _quantile(v, 0.75)) for c, v in gathered.items()}
        return {
            "low": {c: plain(q1 - factor * (q3 - q1)) for c, (q1, q3) in bounds.items()},
            "high": {c: plain(q3 + factor * (q3 - q1)) for c, (q1, q3) in bounds.items()},
        }
    if kind == "cast":
        return _cast_failures(step, frames)
    return {}  # dropColumns, renameColumns, datetimeFeatures learn nothing


def _moments(frames: Frames, columns: list[str]) -> dict[str, dict[str, float]]:
    """Mean and population standard deviation by Chan's parallel update (float rounding aside, pandas' figures)."""
    count = dict.fromkeys(columns, 0)
    mean = dict.fromkeys(columns, 0.0)
    squares = dict.fromkeys(columns, 0.0)
    for frame in frames():
        values = numeric(frame, columns)
        for c in columns:
            present = values[c].dropna().to_numpy()
            if not present.size:
                continue
            n, m = present.size, float(present.mean())
            total = count[c] + n
            delta = m - mean[c]
            squares[c] += float(((present - m) ** 2).sum()) + delta * delta * count[c] * n / total
            mean[c] += delta * n / total
            count[c] = total
    return {
        "mean": {c: mean[c] if count[c] else np.nan for c in columns},
        "std": {c: float(np.sqrt(squares[c] / count[c])) if count[c] else np.nan for c in columns},
    }


def _gathered(frames: Frames, columns: list[str]) -> dict[str, np.ndarray]:
    """Each column's present numbers (8 bytes a row): a median or quartile needs them all."""
    parts: dict[str, list[np.ndarray]] = {c: [] for c in columns}
    for frame in frames():
        values = numeric(frame, columns)
        for c in columns:
            parts[c].append(values[c].dropna().to_numpy())
    return {c: np.concatenate(p) if p else np.array([], dtype=float) for c, p in parts.items()}


def _quantile(values: np.ndarray, q: float) -> float:
    return float(np.quantile(values, q)) if values.size else np.nan  # linear, as pandas' quantile and median


def _scale(frames: Frames, columns: list[str], strategy: str) -> dict[str, Any]:
    if strategy == "STANDARD":
        moments = _moments(frames, columns)
        center, scale = moments["mean"], moments["std"]
    elif strategy == "MINMAX":
        low = dict.fromkeys(columns, np.nan)
        high = dict.fromkeys(columns, np.nan)
        for frame in frames():
            values = numeric(frame, columns)
            for c in columns:
                low[c] = np.nanmin([low[c], values[c].min()])
                high[c] = np.nanmax([high[c], values[c].max()])
        center, scale = low, {c: high[c] - low[c] for c in columns}
    else:
        gathered = _gathered(frames, columns)
        center = {c: _quantile(v, 0.5) for c, v in gathered.items()}
        scale = {c: _quantile(v, 0.75) - _quantile(v, 0.25) for c, v in gathered.items()}
    scale = {c: (s if s > 0 else 1.0) for c, s in scale.items()}  # NaN is not > 0: 1.0, as Series.where did
    return {"center": {c: plain(v) for c, v in center.items()}, "scale": {c: plain(v) for c, v in scale.items()}}


def _counts(frames: Frames, columns: list[str], as_text: bool) -> dict[str, dict[Any, int]]:
    """A count per distinct value, in order of first appearance (memory grows with the distinct values only)."""
    counts: dict[str, dict[Any, int]] = {c: {} for c in columns}
    for frame in frames():
        for c in columns:
            values = frame[c].dropna()
            for value, n in (values.astype(str) if as_text else values).value_counts(sort=False).items():
                counts[c][value] = counts[c].get(value, 0) + int(n)
    return counts


def _modes(frames: Frames, columns: list[str]) -> dict[str, Any]:
    fills: dict[str, Any] = {}
    for c, counts in _counts(frames, columns, as_text=False).items():
        if not counts:
            fills[c] = None
            continue
        most = max(counts.values())
        fills[c] = plain(min(value for value, n in counts.items() if n == most))  # pandas' mode: the smallest
    return fills


def _levels(frames: Frames, columns: list[str], strategy: str) -> dict[str, Any]:
    levels = {}
    for c, counts in _counts(frames, columns, as_text=True).items():
        ordered = sorted(counts)
        if strategy == "ONE_HOT" and len(ordered) > ONE_HOT_MAX_LEVELS:
            frequent = sorted(counts, key=lambda level: -counts[level])[:ONE_HOT_MAX_LEVELS]  # stable: first seen first
            ordered = sorted(frequent)
        levels[c] = ordered
    return {"levels": levels}


def _rows_at(frames: Frames, columns: list[str], positions: np.ndarray, complete: bool) -> pd.DataFrame:
    """The numeric rows at these positions (sorted) among all rows, or among the complete ones."""
    taken, seen = [], 0
    for frame in frames():
        values = numeric(frame, columns)
        if complete:
            values = values.dropna()
        low, high = np.searchsorted(positions, [seen, seen + len(values)])
        if high > low:
            taken.append(values.iloc[positions[low:high] - seen])
        seen += len(values)
    return pd.concat(taken) if taken else pd.DataFrame(columns=columns, dtype=float)


def _knn_donors(frames: Frames, columns: list[str]) -> dict[str, Any]:
    complete = sum(len(numeric(frame, columns).dropna()) for frame in frames())
    size = min(complete, KNN_DONOR_ROWS)
    # DataFrame.sample(size, random_state=0) draws these positions; sort_index then puts them in row order
    positions = np.sort(np.random.RandomState(0).choice(complete, size=size, replace=False))
    donors = _rows_at(frames, columns, positions, complete=True)
    return {"donors": donors.to_numpy().tolist(), "neighbours": 5}


def _iterative(frames: Frames, columns: list[str]) -> dict[str, Any]:
    total = sum(len(frame) for frame in frames())
    size = min(total, ITERATIVE_ROWS)
    drawn = np.random.RandomState(0).choice(total, size=size, replace=False)  # as DataFrame.sample draws them
    order = np.argsort(drawn, kind="stable")
    rows = _rows_at(frames, columns, drawn[order], complete=False)
    sample = rows.iloc[np.argsort(order, kind="stable")]  # back in the order they were drawn
    return iterative_imputer(sample)


def _cast_failures(step: Step, frames: Frames) -> dict[str, Any]:
    column, failures, sample = step.params["column"], 0, list[Any]()
    for frame in frames():
        converted = cast_column(frame[column], step.params["to"], step.params.get("format"))
        failed = converted.isna() & frame[column].notna()
        failures += int(failed.sum())
        if len(sample) < 5:
            sample += frame[column][failed].astype(str).head(5 - len(sample)).tolist()
    if failures and step.params.get("on_error", "FAIL") == "FAIL":
        from services.errors import invalid

        shown = ", ".join(repr(v) for v in sample)
        raise invalid(
            f"{failures:,} value(s) of {column} cannot be cast to {step.params['to']} (e.g. {shown}); "
            "use onError: NULL to set them to null"
        )
    return {"failures": failures, "failure_sample": sample}


def _first_occurrences(
    frames: Frames, subset: list[str] | None, memory_mb: int, scratch_dir: Path | None
) -> np.ndarray:
    """Which rows drop_duplicates keeps: the first of each distinct row, by a 64-bit hash of its values (pandas'
    own row hash) grouped in DuckDB, which spills beyond the budget. Returns a mask over the step's input rows."""
    total = [0]

    def hashed() -> Iterator[pa.RecordBatch]:
        for frame in frames():
            values = frame[subset] if subset else frame
            hashes = pd.util.hash_pandas_object(values, index=False).to_numpy(dtype=np.uint64)
            seen = total[0]
            yield pa.RecordBatch.from_arrays(
                [pa.array(np.arange(seen, seen + len(frame), dtype=np.int64)), pa.array(hashes)], names=["r", "h"]
            )
            total[0] += len(frame)

    schema = pa.schema([("r", pa.int64()), ("h", pa.uint64())])
    connection = dataplane.connect(memory_mb=memory_mb, scratch_dir=scratch_dir)
    try:
        connection.register("hashed_rows", pa.RecordBatchReader.from_batches(schema, hashed()))
        kept = connection.sql("SELECT min(r) AS r FROM hashed_rows GROUP BY h").to_arrow_table().column("r").to_numpy()
    finally:
        connection.close()
    mask = np.zeros(total[0], dtype=bool)
    mask[kept] = True
    return mask


def write_streamed(
    path: Path, fitted: list[Streamed], rows: int, target: Path, parts_dir: Path, checkpoint: Callable[[], None]
) -> tuple[int, list[dict[str, Any]]]:
    """Apply every fitted step batch by batch. Batches converted alone may type a column differently (integers
    in one, floats where another had a gap): each is kept as a part, then all are written with the types they
    share, as the whole frame would have had them. Returns the row count and the described columns."""
    from services.ingest.parquet import rows_per_group
    from services.ingest.types import describe_columns

    parts_dir.mkdir(parents=True, exist_ok=True)
    parts = []
    for index, frame in enumerate(stream_frames(path, fitted, rows)):
        checkpoint()
        part = parts_dir / f"{index:06d}.parquet"
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), part)
        parts.append(part)
    schemas = [pq.read_schema(part) for part in parts]
    schema = pa.unify_schemas(schemas, promote_options="permissive") if schemas else pa.schema([])
    texts = [f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
    described = min(DESCRIBE_ROWS, 2 * rows)  # the judged head is held in memory: bounded by the batch size
    total, nulls, head = 0, dict.fromkeys(schema.names, 0), list[pa.Table]()
    # each part is written as it comes (row groups no larger than a batch), nothing gathered before writing
    with pq.ParquetWriter(target, schema, compression="snappy", use_dictionary=texts) as writer:
        for part in parts:
            table = pq.read_table(part)
            table = pa.table(
                {
                    name: table.column(name)
                    if name in table.column_names
                    else pa.nulls(table.num_rows, schema.field(name).type)
                    for name in schema.names
                }
            ).cast(schema)
            total += table.num_rows
            for name in schema.names:
                nulls[name] += table.column(name).null_count
            held = sum(t.num_rows for t in head)
            if held < described:
                head.append(table.slice(0, described - held))
            writer.write_table(table, row_group_size=rows_per_group(table))
            part.unlink()
    sample = pa.concat_tables(head) if head else schema.empty_table()
    columns = [{**column, "null_count": nulls[column["name"]]} for column in describe_columns(sample)]
    return total, columns


def is_ordered_fill(kind: str, params: dict[str, Any]) -> bool:
    return kind == "impute" and params.get("strategy") in WHOLE_TABLE
