"""The PREPROCESS job body: fit the steps on the source version and write the new version."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from services import files
from services.ingest.parquet import write_parquet
from services.ingest.types import describe_columns
from services.jobs.context import JobContext
from services.preprocessing.steps import Step, fit_recipe


def run_preprocess(ctx: JobContext) -> dict:
    data_dir = Path(ctx.params["data_dir"])
    source, target = ctx.params["source_id"], ctx.params["dataset_id"]
    ctx.stage("read")
    frame = pq.read_table(files.parquet_path(data_dir, source)).to_pandas()
    ctx.log(f"Read {len(frame):,} rows x {frame.shape[1]} columns from the source version")
    steps = [(entry["step"], entry["params"]) for entry in ctx.params["steps"]]
    ctx.stage("transform")

    def report(index: int, step: Step, before: pd.DataFrame, after: pd.DataFrame) -> None:
        ctx.checkpoint()
        ctx.progress(0.1 + 0.7 * (index + 1) / len(steps))
        if step.kind == "impute":
            nulls = ", ".join(f"{c} {int(before[c].isna().sum()):,} -> {int(after[c].isna().sum()):,}"
                              for c in step.columns if c in after)
            ctx.log(f"Step {index + 1} impute {step.params['strategy']}: nulls {nulls}; rows {len(before):,} -> {len(after):,}")
        else:
            ctx.log(f"Step {index + 1} {step.kind}: {before.shape[0]:,} x {before.shape[1]} -> "
                    f"{after.shape[0]:,} x {after.shape[1]}")

    frame, recipe = fit_recipe(frame, steps, on_step=report)
    ctx.stage("write")
    table = pa.Table.from_pandas(frame, preserve_index=False)
    columns = describe_columns(table)
    with files.atomic_output(files.parquet_path(data_dir, target)) as temporary:
        write_parquet(table, temporary)
    ctx.log(f"Wrote the new version: {table.num_rows:,} rows x {table.num_columns} columns")
    return {"row_count": table.num_rows, "column_count": table.num_columns, "columns": columns, "recipe": recipe}
