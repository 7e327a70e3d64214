"""The modeling job bodies: TRAIN (the search in services/modeling/search.py) and PREDICT (score a whole dataset
version and write it again with prediction columns)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from services import files
from services.ingest.parquet import write_parquet
from services.ingest.types import describe_columns
from services.jobs.context import JobContext
from services.modeling.estimators import load_model_artifact
from services.modeling.explain import Explainer, contribution_columns, read_background
from services.modeling.search import train_model

BATCH_ROWS = 100_000


def run_train(ctx: JobContext) -> dict:
    return train_model(ctx, ctx.params)


def run_predict(ctx: JobContext) -> dict:
    p = ctx.params
    data_dir = Path(p["data_dir"])
    ctx.stage("read")
    frame = pq.read_table(files.parquet_path(data_dir, p["source_id"])).to_pandas(date_as_object=False)
    pipeline = load_model_artifact(files.model_path(data_dir, p["model_id"]))
    features = [f["name"] for f in p["features"]]
    ctx.log(f"Scoring {len(frame):,} rows with model {p['model_id'][:8]} ({len(features)} features)")
    explainer = None
    if p.get("explain"):
        explainer = Explainer(pipeline, task=p["task"], features=features, background=read_background(
            data_dir, p["model_id"], p.get("training_dataset_id"), features))
        ctx.log(f"Explaining every row: {explainer.method}, output space {explainer.space}")
    ctx.stage("predict")
    predictions, probabilities, explanations = [], [], []
    for start in range(0, len(frame), BATCH_ROWS):
        ctx.checkpoint()
        batch = frame.iloc[start:start + BATCH_ROWS][features]
        predictions.append(pd.Series(pipeline.predict(batch)))
        if p["task"] == "CLASSIFICATION":
            probabilities.append(pd.DataFrame(pipeline.predict_proba(batch),
                                              columns=[f"probability_{c}" for c in pipeline.classes_]))
        if explainer is not None:
            explanations.append(contribution_columns(explainer, batch).reset_index(drop=True))
        ctx.progress(min(0.9, (start + BATCH_ROWS) / max(1, len(frame))))
    frame["prediction"] = pd.concat(predictions, ignore_index=True) if predictions else pd.Series(dtype=float)
    if probabilities:
        frame = pd.concat([frame, pd.concat(probabilities, ignore_index=True)], axis=1)
    if explanations:
        frame = pd.concat([frame, pd.concat(explanations, ignore_index=True)], axis=1)
    ctx.stage("write")
    table = pa.Table.from_pandas(frame, preserve_index=False)
    with files.atomic_output(files.parquet_path(data_dir, p["dataset_id"])) as temporary:
        write_parquet(table, temporary)
    ctx.log(f"Wrote {table.num_rows:,} rows with prediction columns")
    return {"row_count": table.num_rows, "column_count": table.num_columns, "columns": describe_columns(table),
            "recipe": [{"step": "predict", "params": {"model_id": p["model_id"], **({"explain": True} if explainer else {})},
                        "fitted": None}]}
