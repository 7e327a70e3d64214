"""The modeling job bodies: TRAIN (services/modeling/train.py) and PREDICT (score a whole dataset
version, batch by batch, and write it again with prediction columns)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from services import files
from services.ingest.parquet import ParquetBatchWriter, write_parquet
from services.ingest.types import describe_columns
from services.jobs.context import JobContext
from services.modeling.estimators import load_model_artifact
from services.modeling.explain import Explainer, contribution_columns, read_background
from services.modeling.scoring import batch_rows, output_names, scored_batches
from services.modeling.train import train_model
from services.monitoring.jobs import DatasetSample


def run_train(ctx: JobContext) -> dict[str, Any]:
    return train_model(ctx, ctx.params)


def run_predict(ctx: JobContext) -> dict[str, Any]:
    """Score every row of the source version, streaming batches in and out within the job's memory budget."""
    p = ctx.params
    data_dir = Path(p["data_dir"])
    source = files.parquet_path(data_dir, p["source_id"])
    pipeline = load_model_artifact(files.model_path(data_dir, p["model_id"]))
    features = [f["name"] for f in p["features"]]
    total = pq.ParquetFile(source).metadata.num_rows
    rows_per_batch = batch_rows(source, ctx.memory_mb)
    ctx.log(
        f"Scoring {total:,} rows with model {p['model_id'][:8]} ({len(features)} features), "
        f"{rows_per_batch:,} rows per batch within the {ctx.memory_mb:,} MB budget"
    )
    explainer, extra = None, None
    if p.get("explain"):
        explainer = Explainer(
            pipeline,
            task=p["task"],
            features=features,
            background=read_background(data_dir, p["model_id"], p.get("training_dataset_id"), features),
        )
        ctx.log(f"Explaining every row: {explainer.method}, output space {explainer.space}")

        def extra(frame: pd.DataFrame) -> dict[str, pa.Array]:  # contribution columns, batch by batch
            return {
                str(name): pa.array(values.to_numpy(dtype=float))
                for name, values in contribution_columns(explainer, frame).items()
            }

    ctx.stage("predict")

    def scored(done: int) -> None:
        ctx.checkpoint()
        ctx.progress(min(0.95, done / max(1, total)))

    sample: pa.RecordBatch | None = None
    new_nulls: dict[str, int] = {}
    monitor = p.get("monitor")  # what monitoring records of this job: a bounded sample, drawn here
    served = (
        DatasetSample(features=features, capacity=int(monitor["reservoir_rows"]), classes=p["task"] == "CLASSIFICATION")
        if monitor
        else None
    )
    with files.atomic_output(files.parquet_path(data_dir, p["dataset_id"])) as temporary:
        with ParquetBatchWriter(temporary) as writer:
            for batch in scored_batches(
                pipeline, p["task"], features, source, rows_per_batch=rows_per_batch, extra=extra, on_batch=scored
            ):
                sample = batch if sample is None else sample
                for name in output_names(pipeline, p["task"]):
                    new_nulls[name] = new_nulls.get(name, 0) + batch.column(name).null_count
                writer.add(batch)
                if served is not None:
                    served.add(batch)
        if sample is None:  # no rows: the columns alone
            empty = pq.read_schema(source).empty_table().append_column("prediction", pa.array([], type=pa.float64()))
            write_parquet(empty, temporary)
            sample = pa.RecordBatch.from_pylist([], schema=empty.schema)
    columns = _described(sample, p.get("columns"), new_nulls)
    if served is not None:
        served.write(data_dir, p["dataset_id"])
        ctx.log(f"Recorded {served.rows:,} rows for the model's monitor (a sample of {len(served.items()):,})")
    ctx.log(f"Wrote {total:,} rows with prediction columns")
    return {
        "row_count": total,
        "column_count": sample.num_columns,
        "columns": columns,
        "recipe": [
            {
                "step": "predict",
                "params": {"model_id": p["model_id"], **({"explain": True} if explainer else {})},
                "fitted": None,
            }
        ],
    }


def _described(
    sample: pa.RecordBatch, source_columns: list[dict[str, Any]] | None, new_nulls: dict[str, int]
) -> list[dict[str, Any]]:
    """The source's columns as they were described at ingest (unchanged here); the new ones judged on the first
    batch, with their null counts over every batch."""
    known = {c["name"]: c for c in source_columns or []}
    judged = {c["name"]: c for c in describe_columns(pa.Table.from_batches([sample]))}
    columns = []
    for index, name in enumerate(sample.schema.names):
        column = dict(known[name]) if name in known and name not in new_nulls else dict(judged[name])
        if name in new_nulls:
            column["null_count"] = new_nulls[name]
        columns.append({**column, "index": index})
    return columns
