"""Training: pick features, compare candidates within a budget, refit, evaluate, explain, save (the TRAIN job body
and the analysis job both call `train_model`)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import joblib

from services import files
from services.jobs.context import JobContext
from services.modeling.details import TrainResult
from services.modeling.estimators import build_pipeline
from services.modeling.evaluate import evaluate_model
from services.modeling.explain import save_background
from services.modeling.prepare import PreparedData, prepare_data, signature
from services.modeling.sampling import forest_rows_within
from services.modeling.search import Candidate, CandidateSearch, describe_variant
from services.modeling.spec import TrainingSpec

FORESTS = ("RANDOM_FOREST", "EXTRA_TREES")


def refit(ctx: JobContext, spec: TrainingSpec, data: PreparedData, best: Candidate) -> tuple[Any, int]:
    """The winner fitted on the whole training split (a forest, whose trees grow with the rows, on as many as
    its nodes leave room for in the budget); returns the model and the rows it was fitted on."""
    ctx.stage("refit")
    x_train, y_train = data.x_train, data.y_train
    if best.algorithm in FORESTS:
        affordable = forest_rows_within(ctx.memory_mb, data.rows.bytes_per_row)
        if len(x_train) > affordable:
            x_train, y_train = data.training_sample(affordable, spec.seed)
            ctx.log(
                f"{best.algorithm} grows with its rows: refit on a sample of {affordable:,} of the "
                f"{len(data.x_train):,} training rows to stay within the {ctx.memory_mb:,} MB budget",
                "WARNING",
            )
    model = build_pipeline(best.algorithm, data.task, data.features, spec.seed, len(x_train), best.params).fit(
        x_train, y_train
    )
    ctx.log(f"Refit {best.algorithm}{describe_variant(best.params)} on {len(x_train):,} rows")
    ctx.checkpoint()
    return model, len(x_train)


def save_model(ctx: JobContext, model: Any, data_dir: Path, model_id: str) -> None:
    ctx.stage("save")
    with files.atomic_output(files.model_path(data_dir, model_id)) as temporary:
        joblib.dump(model, temporary)


def train_model(ctx: JobContext, p: dict[str, Any]) -> dict[str, Any]:
    """Train from `p` (the TRAIN job's params; the analysis job passes its own), reporting through `ctx`."""
    started = time.perf_counter()
    spec, data_dir = TrainingSpec.from_params(p), Path(p["data_dir"])
    data = prepare_data(ctx, spec, data_dir, p["columns"])
    best, leaderboard = CandidateSearch(ctx, spec, data).run()
    ctx.note(tools=[c.algorithm for c in leaderboard], features=[f["name"] for f in data.features])
    model, training_rows = refit(ctx, spec, data, best)
    classes = [str(c) for c in model.classes_] if data.task == "CLASSIFICATION" else None
    evaluation = evaluate_model(ctx, spec, data, model, classes)
    save_model(ctx, model, data_dir, p["model_id"])
    save_background(data_dir, p["model_id"], data.x_train, spec.seed)  # the reference explanations measure from
    return TrainResult(
        task=data.task,
        algorithm=best.algorithm,
        metrics=evaluation["metrics"],
        cv_metric=data.metric,
        cv_scores=list(best.scores),
        confusion_matrix=evaluation["confusion_matrix"],
        feature_importances=evaluation["feature_importances"],
        features=signature(data.x_train, data.features),
        classes=classes,
        leaderboard=[c.entry(selected=c is best) for c in leaderboard],
        training_seconds=time.perf_counter() - started,
        training_rows=training_rows,
        labelled_rows=data.rows.labelled_rows,
        sampled=data.rows.sampled or training_rows < len(data.x_train),
    ).model_dump(exclude_unset=True)
