"""The ANALYZE job: ingest-check -> profile -> clarify -> modeling -> report -> qa -> done.

Each stage stores its output with a completion marker, so a job that is re-run (after a crash, or
after answerJob resumes it) starts at the first unfinished stage. Transitions are checked against
an explicit state machine and recorded in the job's timeline.
"""
from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from services import files
from services.analysis.result import AnalysisResult
from services.errors import ErrorCode, ServiceError, conflict, invalid
from services.jobs.context import JobContext
from services.modeling.checks import ANALYSIS_CV_FOLDS, ANALYSIS_TEST_SIZE, check_target
from services.modeling.sampling import read_training_frame
from services.modeling.search import train_model
from services.modeling.spec import TrainingSpec
from services.profiling.profile import profile_parquet
from services.reports.html import render_report
from services.reports.why import explain_examples

STAGES = ["ingest-check", "profile", "clarify", "modeling", "report", "qa", "done"]
NEXT = {stage: STAGES[index + 1] for index, stage in enumerate(STAGES[:-1])}
TARGET_NAMES = re.compile(r"^(target|label|class|y|outcome|result|churn(ed)?|default(ed)?|survived|diagnosis)$", re.I)
LEAKAGE_CORRELATION = 0.98


class StageStore:
    """Stage outputs on disk: `done(stage)` is the completion marker."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def done(self, stage: str) -> bool:
        return (self.folder / f"{stage}.json").exists()

    def load(self, stage: str) -> Any:
        return json.loads((self.folder / f"{stage}.json").read_text())

    def save(self, stage: str, value: Any) -> None:
        with files.atomic_output(self.folder / f"{stage}.json") as temporary:
            temporary.write_text(json.dumps(value))


TIME_PART_NAMES = re.compile(r"(^|[_\s-])(year|yr|month|quarter|week|weekday|day|hour|minute|date|time|timestamp)s?($|[_\s-])", re.I)
LABEL_LEVELS = range(2, 21)  # a column with this many levels reads like classes, not a measurement


def looks_like_time(column: dict[str, Any], stats: dict[str, Any]) -> bool:
    """Years, months, days...: numbers people group or index by, rarely what they predict."""
    if TIME_PART_NAMES.search(column["name"]):
        return True
    numeric = stats.get("numeric") or {}
    return (str(stats.get("dtype", "")).startswith(("int", "uint")) and numeric.get("min") is not None
            and 1800 <= numeric["min"] and numeric["max"] <= 2200)


def score_targets(columns: list[dict[str, Any]], profile: dict[str, Any]) -> list[tuple[float, str, str]]:
    """(score, column, why) for plausible targets, best first (ties keep the table's column order)."""
    by_name = {c["name"]: c for c in profile["columns"]}
    scored = []
    for index, column in enumerate(columns):
        stats = by_name[column["name"]]
        if column["semantic_type"] in ("IDENTIFIER", "EMPTY", "TEXT", "DATETIME") or stats["distinct_count"] < 2:
            continue
        score, reasons = 0.0, []
        named = bool(TARGET_NAMES.match(column["name"].strip()))
        few_levels = stats["distinct_count"] in LABEL_LEVELS
        if named:
            score, reasons = score + 4, reasons + ["its name says so"]
        if looks_like_time(column, stats) and not named:
            score, reasons = score - 3, reasons + ["it looks like a year or a time part"]
        elif few_levels and not str(stats.get("dtype", "")).startswith(("int", "uint", "float")):
            score, reasons = score + 2, reasons + [f"it has {stats['distinct_count']} levels, as labels do"]
        if index == len(columns) - 1 and few_levels:
            score, reasons = score + 1, reasons + ["it is a low-cardinality last column"]
        if stats["null_count"] == 0:
            score, reasons = score + 0.5, reasons + ["it has no missing values"]
        if column["semantic_type"] in ("BOOLEAN", "CATEGORICAL"):
            score, reasons = score + 0.5, reasons + ["its type suits a label"]
        scored.append((score, column["name"], ", ".join(reasons) or "no particular reason"))
    return sorted(scored, key=lambda item: -item[0])


class _Substages:
    """The training code's own stages become log lines, so the timeline shows only the analysis's stages."""

    def __init__(self, ctx: JobContext, parent: str) -> None:
        self._ctx, self._parent = ctx, parent

    def stage(self, name: str) -> None:
        self._ctx.log(f"{self._parent}: {name}")

    def progress(self, fraction: float) -> None:
        pass  # the analysis reports its own progress per stage

    def __getattr__(self, name: str):
        return getattr(self._ctx, name)


def leaking_features(frame, target: str, features: list[str], task: str) -> list[tuple[str, str]]:
    """Features that (nearly) determine the target: |correlation| >= 0.98 for regression; for classes, a feature
    whose every value maps to one label in >= 99% of rows while repeating (not an identifier)."""
    import pandas as pd
    found = []
    rows = frame.dropna(subset=[target])
    for name in features:
        column = rows[name]
        if task == "REGRESSION":
            if pd.api.types.is_numeric_dtype(column):
                value = column.corr(rows[target])
                if pd.notna(value) and abs(value) >= LEAKAGE_CORRELATION:
                    found.append((name, f"correlation {value:.3f}"))
            continue
        present = rows[[name, target]].dropna()
        if present.empty or present[name].nunique() > 0.5 * len(present):
            continue
        majority = present.groupby(name)[target].agg(lambda labels: labels.value_counts().iloc[0]).sum()
        purity = majority / len(present)
        if purity >= 0.99:
            found.append((name, f"its values give the label in {purity:.1%} of rows"))
    return found


def run_analysis(ctx: JobContext) -> dict:
    p = ctx.params
    data_dir, dataset_id = Path(p["data_dir"]), p["dataset_id"]
    store = StageStore(data_dir / "analyses" / ctx.job_id)
    stage = "ingest-check"
    while stage != "done":
        if store.done(stage):
            ctx.log(f"Stage {stage} already done; resuming after it")
        else:
            ctx.stage(stage)
            began = time.perf_counter()
            output = STAGE_BODIES[stage](ctx, store, data_dir, dataset_id)
            seconds = time.perf_counter() - began
            if seconds > float(p["stage_timeout_seconds"]):
                raise ServiceError(ErrorCode.INTERNAL, f"Stage {stage} took {seconds:.0f} s, over its "
                                   f"{float(p['stage_timeout_seconds']):g} s limit")
            store.save(stage, output)
            timings = store.load("timings") if store.done("timings") else []
            store.save("timings", timings + [{"stage": stage, "duration_ms": seconds * 1000}])
            ctx.log(f"Stage {stage} finished in {seconds:.2f} s")
        ctx.checkpoint()
        ctx.progress((STAGES.index(stage) + 1) / (len(STAGES) - 1))
        stage = NEXT[stage]
    ctx.stage("done")
    return AnalysisResult(target=store.load("clarify")["target"], model=store.load("modeling"),
                          report=store.load("report"), qa=store.load("qa")).model_dump(exclude_unset=True)


def _ingest_check(ctx, store, data_dir: Path, dataset_id: str) -> dict:
    parquet = files.parquet_path(data_dir, dataset_id)
    if not parquet.exists():
        raise conflict("The dataset has no ingested copy")
    rows = pq.ParquetFile(parquet).metadata.num_rows
    if rows < 10:
        raise invalid(f"The dataset has {rows} row(s); an analysis needs at least 10")
    ctx.log(f"Dataset has {rows:,} rows and {len(ctx.params['columns'])} columns")
    return {"rows": rows}


def _profile(ctx, store, data_dir: Path, dataset_id: str) -> dict:
    profile = profile_parquet(files.parquet_path(data_dir, dataset_id), ctx.params["columns"], memory_mb=ctx.memory_mb,
                              scratch_dir=ctx.scratch_dir)
    profile["plots"] = []
    with files.atomic_output(files.profile_path(data_dir, dataset_id)) as temporary:
        temporary.write_text(json.dumps(profile))  # the dataset's stored profile, as profileDataset would leave it
    ctx.log(f"Profiled: {len(profile['alerts'])} alert(s)")
    return {"alerts": len(profile["alerts"])}


def _clarify(ctx, store, data_dir: Path, dataset_id: str) -> dict:
    columns = ctx.params["columns"]
    names = {c["name"] for c in columns}
    for given in (ctx.params.get("target"), ctx.params.get("answer")):
        if given:
            if given not in names:
                raise invalid(f"No column named {given!r}")
            ctx.log(f"Target: {given} (given)")
            return {"target": given, "why": "given"}
    profile = json.loads(files.profile_path(data_dir, dataset_id).read_text())
    scored = [entry for entry in score_targets(columns, profile) if _learnable(ctx, data_dir, dataset_id, entry[1])]
    if not scored:
        raise invalid("No column can serve as a target")
    if len(scored) == 1 or scored[0][0] >= scored[1][0] + 2:
        score, name, why = scored[0]
        ctx.log(f"Target: {name}, because {why} (score {score:g}, next {scored[1][0] if len(scored) > 1 else 0:g})")
        return {"target": name, "why": why}
    ctx.ask("Which column should the analysis predict?", [name for _, name, _ in scored[:6]])
    raise AssertionError("unreachable")


def _learnable(ctx, data_dir: Path, dataset_id: str, target: str) -> bool:
    """Whether trainModel would accept `target`; candidates it would refuse are not offered."""
    try:
        check_target(data_dir, dataset_id, ctx.params["columns"], target, None, test_size=ANALYSIS_TEST_SIZE,
                     cv_folds=ANALYSIS_CV_FOLDS, field=["target"])
    except ServiceError as exc:
        ctx.log(f"{target} is no candidate: {exc.message}")
        return False
    return True


def _modeling(ctx, store, data_dir: Path, dataset_id: str) -> dict:
    target = store.load("clarify")["target"]
    spec = TrainingSpec(dataset_id=dataset_id, target=target, test_size=ANALYSIS_TEST_SIZE,
                        cv_folds=ANALYSIS_CV_FOLDS, time_budget_seconds=ctx.params["model_budget_seconds"],
                        # One call from upload to insight: the refit on all rows gets half the budget again, not 2x.
                        max_refit_seconds=ctx.params["model_budget_seconds"] / 2)
    params = {"data_dir": str(data_dir), "model_id": ctx.params["model_id"], "columns": ctx.params["columns"],
              **spec.to_params()}
    result = train_model(_Substages(ctx, "modeling"), params)
    return {"target": target, "version": ctx.params["model_version"], **result}


def _report(ctx, store, data_dir: Path, dataset_id: str) -> dict:
    profile = json.loads(files.profile_path(data_dir, dataset_id).read_text())
    model = store.load("modeling")
    why = explain_examples(data_dir=data_dir, model_id=ctx.params["model_id"], training_dataset_id=dataset_id,
                           dataset_id=dataset_id, task=model["task"], features=[f["name"] for f in model["features"]],
                           log=ctx.log)
    html = render_report(title=f"Analysis of {ctx.params['dataset_name']}", profile=profile, theme=ctx.params["theme"],
                         model={"task": model["task"], "target": model["target"], "algorithm": model["algorithm"],
                                "version": model["version"], "details": model},
                         timings=store.load("timings") if store.done("timings") else [], why=why)
    path = files.report_path(data_dir, ctx.params["report_id"])
    with files.atomic_output(path) as temporary:
        temporary.write_text(html, encoding="utf-8")
    return {"report_id": ctx.params["report_id"], "bytes": len(html.encode())}


def _qa(ctx, store, data_dir: Path, dataset_id: str) -> dict:
    model = store.load("modeling")
    metrics = {k: v for k, v in model["metrics"].items() if v is not None}
    if not metrics:
        raise ServiceError(ErrorCode.INTERNAL, "QA: the model has no metrics")
    target = model["target"]
    features = [f["name"] for f in model["features"]]
    # a sample within the job's budget when the table is larger: leakage shows on a sample as well as on all rows
    frame = read_training_frame(files.parquet_path(data_dir, dataset_id), names=features + [target], target=target,
                                columns=ctx.params["columns"], classify=model["task"] == "CLASSIFICATION",
                                memory_mb=ctx.memory_mb, scratch_dir=ctx.scratch_dir, seed=0, log=ctx.log).frame
    findings = [f"Possible leakage: {name} is almost identical to {target} ({how})"
                for name, how in leaking_features(frame, target, features, model["task"])]
    for finding in findings:
        ctx.log(finding, "WARNING")
    report = files.report_path(data_dir, ctx.params["report_id"])
    if not report.exists() or report.stat().st_size == 0:
        raise ServiceError(ErrorCode.INTERNAL, "QA: the report was not written")
    if findings:
        html = report.read_text(encoding="utf-8")
        from html import escape
        notes = "".join(f'<div class="alert"><b>QA</b> {escape(text)}</div>' for text in findings)
        with files.atomic_output(report) as temporary:
            temporary.write_text(html.replace("<h2>Alerts</h2>", "<h2>Alerts</h2>" + notes, 1), encoding="utf-8")
    ctx.log(f"QA passed: {len(metrics)} metric(s), {len(findings)} leakage finding(s), report valid")
    return {"findings": findings}


STAGE_BODIES = {"ingest-check": _ingest_check, "profile": _profile, "clarify": _clarify, "modeling": _modeling,
                "report": _report, "qa": _qa}
