"""The PREPROCESS job body: fit the steps on the source version and write the new version.

Within the job's memory budget the table is transformed whole; beyond it, the steps are fitted in streaming
passes and applied batch by batch (services/preprocessing/engine.py), to the same output.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from services import files
from services.ingest.parquet import write_parquet
from services.ingest.types import describe_columns
from services.jobs.context import JobContext
from services.preprocessing.engine import (
    Streamed,
    batch_rows,
    fit_streaming,
    fits_in_memory,
    is_ordered_fill,
    write_streamed,
)
from services.preprocessing.ordered_fill import ordered_fill
from services.preprocessing.steps import Step, build_step, fit_recipe


def run_preprocess(ctx: JobContext) -> dict[str, Any]:
    data_dir = Path(ctx.params["data_dir"])
    source, target = ctx.params["source_id"], ctx.params["dataset_id"]
    steps = [(entry["step"], entry["params"]) for entry in ctx.params["steps"]]
    ctx.note(tools=[name for name, _ in steps])
    return preprocess_table(
        files.parquet_path(data_dir, source),
        files.parquet_path(data_dir, target),
        steps,
        memory_mb=ctx.memory_mb,
        scratch_dir=ctx.scratch_dir,
        log=ctx.log,
        stage=ctx.stage,
        progress=ctx.progress,
        checkpoint=ctx.checkpoint,
    )


def _quiet(*_args: Any) -> None:
    return None


def preprocess_table(
    source: Path,
    target: Path,
    steps: list[tuple[str, dict[str, Any]]],
    *,
    memory_mb: int,
    scratch_dir: Path | None,
    log: Callable[[str], None] = _quiet,
    stage: Callable[[str], None] = _quiet,
    progress: Callable[[float], None] = _quiet,
    checkpoint: Callable[[], None] = _quiet,
    stream: bool | None = None,
) -> dict[str, Any]:
    """Write `target` from `source` through `steps`; `stream` forces (or forbids) the batch-by-batch engine,
    which otherwise runs only when the table would not fit the budget."""
    if stream is None:
        stream = not fits_in_memory(source, memory_mb)
    if stream:
        return _streamed(
            source,
            target,
            steps,
            memory_mb=memory_mb,
            scratch_dir=scratch_dir,
            log=log,
            stage=stage,
            progress=progress,
            checkpoint=checkpoint,
        )
    stage("read")
    frame = pq.read_table(source).to_pandas()
    log(f"Read {len(frame):,} rows x {frame.shape[1]} columns from the source version")
    stage("transform")

    def report(index: int, step: Step, before: pd.DataFrame, after: pd.DataFrame) -> None:
        checkpoint()
        progress(0.1 + 0.7 * (index + 1) / len(steps))
        if step.kind == "impute":
            nulls = ", ".join(
                f"{c} {int(before[c].isna().sum()):,} -> {int(after[c].isna().sum()):,}"
                for c in step.columns
                if c in after
            )
            log(
                f"Step {index + 1} impute {step.params['strategy']}: nulls {nulls}; rows {len(before):,} -> "
                f"{len(after):,}"
            )
        else:
            log(
                f"Step {index + 1} {step.kind}: {before.shape[0]:,} x {before.shape[1]} -> "
                f"{after.shape[0]:,} x {after.shape[1]}"
            )

    frame, recipe = fit_recipe(frame, steps, on_step=report)
    stage("write")
    table = pa.Table.from_pandas(frame, preserve_index=False)
    columns = describe_columns(table)
    with files.atomic_output(target) as temporary:
        write_parquet(table, temporary)
    log(f"Wrote the new version: {table.num_rows:,} rows x {table.num_columns} columns")
    return {"row_count": table.num_rows, "column_count": table.num_columns, "columns": columns, "recipe": recipe}


def _streamed(
    source: Path,
    target: Path,
    steps: list[tuple[str, dict[str, Any]]],
    *,
    memory_mb: int,
    scratch_dir: Path | None,
    log: Callable[[str], None],
    stage: Callable[[str], None],
    progress: Callable[[float], None],
    checkpoint: Callable[[], None],
) -> dict[str, Any]:
    rows = batch_rows(source, memory_mb)
    total = pq.ParquetFile(source).metadata.num_rows
    log(
        f"{total:,} rows would not fit the {memory_mb:,} MB budget whole: fitting each step in a streaming pass, "
        f"then transforming {rows:,} rows at a time"
    )
    stage("transform")
    work = (scratch_dir or target.parent) / f"preprocess-{uuid.uuid4().hex}"

    def fitted_one(index: int, step: Step) -> None:
        checkpoint()
        progress(0.1 + 0.6 * (index + 1) / max(1, len(steps)))
        log(f"Step {index + 1} {step.kind}: fitted in a streaming pass")

    try:
        # Ordered fills split the steps: what comes before one is written to scratch, DuckDB fills that copy,
        # and the steps after it stream from the filled copy.
        work.mkdir(parents=True, exist_ok=True)
        recipe: list[dict[str, Any]] = []
        pending: list[tuple[str, dict[str, Any]]] = []
        current, first = source, 0
        for index, (kind, params) in enumerate(steps):
            if not is_ordered_fill(kind, params):
                pending.append((kind, params))
                continue
            if pending:

                def fitted_after(i: int, s: Step, at: int = first) -> None:
                    fitted_one(at + i, s)

                fitted, fitted_recipe = fit_streaming(
                    current, pending, memory_mb=memory_mb, scratch_dir=work / "spill", rows=rows, on_step=fitted_after
                )
                current = _written(current, fitted, rows, work / f"before-{index}.parquet", work / "parts", checkpoint)
                recipe += fitted_recipe
            filled = work / f"filled-{index}.parquet"
            ordered_fill(current, filled, params, memory_mb=memory_mb, scratch_dir=work / "spill")
            checkpoint()
            log(f"Step {index + 1} impute {params['strategy']}: filled in row order by DuckDB over a scratch copy")
            step = build_step(kind, params, fitted={})
            recipe.append(step.recipe())
            current, pending, first = filled, [], index + 1
        fitted, fitted_recipe = fit_streaming(
            current,
            pending,
            memory_mb=memory_mb,
            scratch_dir=work / "spill",
            rows=rows,
            on_step=lambda i, s: fitted_one(first + i, s),
        )
        recipe += fitted_recipe
        stage("write")
        with files.atomic_output(target) as temporary:
            temporary.unlink()  # the batch writer creates it
            row_count, columns = write_streamed(current, fitted, rows, temporary, work / "parts", checkpoint)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log(f"Wrote the new version: {row_count:,} rows x {len(columns)} columns")
    return {"row_count": row_count, "column_count": len(columns), "columns": columns, "recipe": recipe}


def _written(
    source: Path, fitted: list[Streamed], rows: int, target: Path, parts_dir: Path, checkpoint: Callable[[], None]
) -> Path:
    """The steps fitted so far applied to `source`, as a scratch Parquet file the next stage reads."""
    write_streamed(source, fitted, rows, target, parts_dir, checkpoint)
    return target
