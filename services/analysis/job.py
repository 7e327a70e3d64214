"""The ANALYZE job: ingest-check -> profile -> clarify -> [auto-actions] -> modeling -> report -> qa -> done.

Each stage stores its output with a completion marker, so a job that is re-run (after a crash, or
after answerJob resumes it) starts at the first unfinished stage. Transitions are checked against
an explicit state machine and recorded in the job's timeline. Each stage runs under its group's time
limit (services/analysis/deadline.py); auto-actions runs only when safeAutoActions asked for it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pyarrow.parquet as pq

from services import files
from services.analysis.auto_actions import apply_actions, plan_actions
from services.analysis.critique import critique, leaking_features  # noqa: F401 - leaking_features: its old home
from services.analysis.deadline import GROUP_OF_STAGE, StageTimedOut, stage_deadline
from services.analysis.models import AnalysisFailure, AnalysisResult, AutoAction, Finding, WorkingVersion
from services.analysis.options import AnalysisOptions
from services.analysis.targets import score_targets
from services.errors import ErrorCode, ServiceError, conflict, invalid
from services.jobs.context import JobContext
from services.modeling.checks import ANALYSIS_TEST_SIZE, check_target
from services.modeling.sampling import read_training_frame
from services.modeling.spec import DEFAULT_SEED, TrainingSpec
from services.modeling.train import train_model
from services.profiling.profile import profile_parquet
from services.reports.content import ReportDocument, content_path
from services.reports.render import write_report
from services.reports.why import explain_examples

STAGES = ["ingest-check", "profile", "clarify", "auto-actions", "modeling", "report", "qa", "done"]
NEXT = {stage: STAGES[index + 1] for index, stage in enumerate(STAGES[:-1])}
MIN_SAMPLE_ROWS = 500  # LARGE_FILE_MB never samples below this many rows
LIMIT_SETTINGS = {
    "eda": "ASSAY_ANALYSIS_EDA_TIMEOUT_SECONDS",
    "model": "ASSAY_ANALYSIS_MODEL_TIMEOUT_SECONDS",
    "report": "ASSAY_ANALYSIS_REPORT_TIMEOUT_SECONDS",
}


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


class _Substages:
    """The training code's own stages become log lines, so the timeline shows only the analysis's stages."""

    def __init__(self, ctx: JobContext, parent: str) -> None:
        self._ctx, self._parent = ctx, parent

    def stage(self, name: str) -> None:
        self._ctx.log(f"{self._parent}: {name}")

    def progress(self, fraction: float) -> None:
        pass  # the analysis reports its own progress per stage

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ctx, name)


def options_of(params: dict[str, Any]) -> AnalysisOptions:
    """The job's options; a job queued before they existed runs with the defaults."""
    return AnalysisOptions(**params.get("options", {}))


def _limits(params: dict[str, Any]) -> dict[str, float]:
    old = float(params.get("stage_timeout_seconds", 600))
    return {"eda": old, "model": old, "report": old, **params.get("stage_limits", {})}


def run_analysis(ctx: JobContext) -> dict[str, Any]:
    p = ctx.params
    data_dir, dataset_id = Path(p["data_dir"]), p["dataset_id"]
    store = StageStore(data_dir / "analyses" / ctx.job_id)
    limits = _limits(p)
    stage = "ingest-check"
    while stage != "done":
        if stage == "auto-actions" and not p.get("working_dataset_id"):
            pass  # not asked for: no stage in the timeline
        elif store.done(stage):
            ctx.log(f"Stage {stage} already done; resuming after it")
        else:
            ctx.stage(stage)
            began = time.perf_counter()
            output = _run_stage(ctx, store, stage, limits, data_dir, dataset_id)
            seconds = time.perf_counter() - began
            store.save(stage, output)
            timings = store.load("timings") if store.done("timings") else []
            store.save("timings", [*timings, {"stage": stage, "duration_ms": seconds * 1000}])
            ctx.log(f"Stage {stage} finished in {seconds:.2f} s")
        ctx.checkpoint()
        ctx.progress((STAGES.index(stage) + 1) / (len(STAGES) - 1))
        stage = NEXT[stage]
    ctx.stage("done")
    auto = store.load("auto-actions") if store.done("auto-actions") else {}
    checked = store.load("ingest-check")
    report = store.load("report")
    return AnalysisResult(
        target=store.load("clarify")["target"],
        model=store.load("modeling"),
        report=report,
        qa=store.load("qa"),
        critique=report.get("critique", []),
        auto_actions=auto.get("actions", []),
        working_version=auto.get("version"),
        sampled_rows=checked.get("sample_rows"),
        notes=checked.get("notes", []) + auto.get("notes", []),
    ).model_dump(mode="json")


def _run_stage(
    ctx: JobContext, store: StageStore, stage: str, limits: dict[str, float], data_dir: Path, dataset_id: str
) -> Any:
    """One stage under its group's limit; a stage that fails says which it was (Job.analysis.failure)."""
    group = GROUP_OF_STAGE[stage]
    try:
        with stage_deadline(stage, limits[group]):
            return STAGE_BODIES[stage](ctx, store, data_dir, dataset_id)
    except StageTimedOut as exc:
        message = (
            f"Stage {stage} was stopped after {exc.limit:g} s, its limit "
            f"({LIMIT_SETTINGS[group]}); nothing it was writing was kept"
        )
        ctx.log(message, "ERROR")
        failure = AnalysisFailure(stage=stage, code=ErrorCode.TIMEOUT, message=message, limit_seconds=exc.limit)
        raise ServiceError(ErrorCode.TIMEOUT, message, details={"failure": failure.model_dump()}) from None
    except ServiceError as exc:
        failure = AnalysisFailure(stage=stage, code=exc.code, message=exc.message)
        raise ServiceError(exc.code, exc.message, exc.field, details={"failure": failure.model_dump()}) from exc


def working_version(store: StageStore, params: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """The dataset version the model is trained on and its columns: auto-actions' new one, else the analysed one."""
    if store.done("auto-actions"):
        version = store.load("auto-actions").get("version")
        if version:
            return version["dataset_id"], version["columns"]
    return params["dataset_id"], params["columns"]


def _ingest_check(ctx: JobContext, store: StageStore, data_dir: Path, dataset_id: str) -> dict[str, Any]:
    parquet = files.parquet_path(data_dir, dataset_id)
    if not parquet.exists():
        raise conflict("The dataset has no ingested copy")
    rows = pq.ParquetFile(parquet).metadata.num_rows
    if rows < 10:
        raise invalid(f"The dataset has {rows} row(s); an analysis needs at least 10")
    ctx.log(f"Dataset has {rows:,} rows and {len(ctx.params['columns'])} columns")
    options = options_of(ctx.params)
    size = int(ctx.params.get("dataset_size_bytes") or 0)
    limit = options.large_file_mb * 2**20
    if size <= limit:
        return {"rows": rows}
    sample = min(rows, max(MIN_SAMPLE_ROWS, int(rows * limit / size)))
    note = (
        f"The dataset's file is {size / 2**20:,.1f} MB, over the {options.large_file_mb:g} MB of largeFileMb: the "
        f"model is fitted on a sample of about {sample:,} of its {rows:,} rows (the profile covers every row)"
    )
    ctx.log(note, "WARNING")
    return {"rows": rows, "sample_rows": sample, "notes": [note]}


def _profile(ctx: JobContext, store: StageStore, data_dir: Path, dataset_id: str) -> dict[str, Any]:
    profile = profile_parquet(
        files.parquet_path(data_dir, dataset_id),
        ctx.params["columns"],
        memory_mb=ctx.memory_mb,
        scratch_dir=ctx.scratch_dir,
    )
    profile["plots"] = []
    with files.atomic_output(files.profile_path(data_dir, dataset_id)) as temporary:
        temporary.write_text(json.dumps(profile))  # the dataset's stored profile, as profileDataset would leave it
    ctx.log(f"Profiled: {len(profile['alerts'])} alert(s)")
    return {"alerts": len(profile["alerts"])}


def _clarify(ctx: JobContext, store: StageStore, data_dir: Path, dataset_id: str) -> dict[str, Any]:
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


def _learnable(ctx: JobContext, data_dir: Path, dataset_id: str, target: str) -> bool:
    """Whether trainModel would accept `target`; candidates it would refuse are not offered."""
    try:
        check_target(
            data_dir,
            dataset_id,
            ctx.params["columns"],
            target,
            None,
            test_size=ANALYSIS_TEST_SIZE,
            cv_folds=options_of(ctx.params).cv_folds,
            field=["target"],
        )
    except ServiceError as exc:
        ctx.log(f"{target} is no candidate: {exc.message}")
        return False
    return True


def _auto_actions(ctx: JobContext, store: StageStore, data_dir: Path, dataset_id: str) -> dict[str, Any]:
    """safeAutoActions: plan the fixes from the profile, write them as the new version (params' working_dataset_id)."""
    target = store.load("clarify")["target"]
    profile = json.loads(files.profile_path(data_dir, dataset_id).read_text())
    actions = plan_actions(profile, ctx.params["columns"], target)
    if not actions:
        note = "safeAutoActions: nothing to fix (no identifier or constant column, duplicate row or few-nulls column)"
        ctx.log(note)
        return {"actions": [], "version": None, "notes": [note]}
    version_id = ctx.params["working_dataset_id"]
    written = apply_actions(
        data_dir=data_dir,
        source_id=dataset_id,
        version_id=version_id,
        columns=ctx.params["columns"],
        actions=actions,
        memory_mb=ctx.memory_mb,
        scratch_dir=ctx.scratch_dir,
        log=ctx.log,
        checkpoint=ctx.checkpoint,
    )
    removed = store.load("ingest-check")["rows"] - written["row_count"]
    actions = [a.model_copy(update={"rows": removed}) if a.kind == "DROP_DUPLICATE_ROWS" else a for a in actions]
    version = WorkingVersion(
        dataset_id=version_id,
        row_count=written["row_count"],
        column_count=written["column_count"],
        columns=written["columns"],
        recipe=written["recipe"],
    )
    return {
        "actions": [a.model_dump() for a in actions],
        "version": version.model_dump(mode="json"),
        "notes": [
            (
                f"safeAutoActions: {len(actions)} fix(es) applied to a new version of the dataset; the "
                "analysed one is unchanged"
            )
        ],
    }


def _modeling(ctx: JobContext, store: StageStore, data_dir: Path, dataset_id: str) -> dict[str, Any]:
    target = store.load("clarify")["target"]
    options = options_of(ctx.params)
    working_id, columns = working_version(store, ctx.params)
    spec = TrainingSpec(
        dataset_id=working_id,
        target=target,
        test_size=ANALYSIS_TEST_SIZE,
        cv_folds=options.cv_folds,
        time_budget_seconds=ctx.params["model_budget_seconds"],
        # One call from upload to insight: the refit on all rows gets half the budget again, not 2x.
        max_refit_seconds=ctx.params["model_budget_seconds"] / 2,
        compare_rows=options.early_stop_sample,
        hgb_min_rows=options.hgb_min_rows or None,
        max_rows=store.load("ingest-check").get("sample_rows"),
    )
    params = {"data_dir": str(data_dir), "model_id": ctx.params["model_id"], "columns": columns, **spec.to_params()}
    # _Substages forwards everything it does not override: it stands in for the JobContext
    result = train_model(cast(JobContext, _Substages(ctx, "modeling")), params)
    return {"target": target, "version": ctx.params["model_version"], **result}


def _critique(ctx: JobContext, store: StageStore, data_dir: Path, model: dict[str, Any]) -> list[Finding]:
    working_id, columns = working_version(store, ctx.params)
    target, features = model["target"], [f["name"] for f in model["features"]]
    # a sample within the job's budget when the table is larger: leakage shows on a sample as well as on all rows
    frame = read_training_frame(
        files.parquet_path(data_dir, working_id),
        names=[*features, target],
        target=target,
        columns=columns,
        classify=model["task"] == "CLASSIFICATION",
        memory_mb=ctx.memory_mb,
        scratch_dir=ctx.scratch_dir,
        seed=0,
        log=ctx.log,
        max_rows=store.load("ingest-check").get("sample_rows"),
    ).frame
    findings = critique(
        frame,
        target=target,
        features=features,
        task=model["task"],
        test_size=model.get("test_size", ANALYSIS_TEST_SIZE),
        seed=model.get("seed", DEFAULT_SEED),
    )
    for finding in findings:
        ctx.log(finding.message, "WARNING" if finding.severity != "INFO" else "INFO")
    return findings


def _report(ctx: JobContext, store: StageStore, data_dir: Path, dataset_id: str) -> dict[str, Any]:
    profile = json.loads(files.profile_path(data_dir, dataset_id).read_text())
    model = store.load("modeling")
    working_id, _ = working_version(store, ctx.params)
    findings = _critique(ctx, store, data_dir, model)
    why = explain_examples(
        data_dir=data_dir,
        model_id=ctx.params["model_id"],
        training_dataset_id=working_id,
        dataset_id=working_id,
        task=model["task"],
        features=[f["name"] for f in model["features"]],
        log=ctx.log,
    )
    auto = store.load("auto-actions") if store.done("auto-actions") else {}
    document = write_report(
        data_dir=data_dir,
        report_id=ctx.params["report_id"],
        title=f"Analysis of {ctx.params['dataset_name']}",
        profile=profile,
        theme=ctx.params["theme"],
        why=why,
        log=ctx.log,
        model={
            "task": model["task"],
            "target": model["target"],
            "algorithm": model["algorithm"],
            "version": model["version"],
            "details": model,
        },
        timings=store.load("timings") if store.done("timings") else [],
        critique=findings,
        auto_actions=[AutoAction(**a) for a in auto.get("actions", [])],
        notes=store.load("ingest-check").get("notes", []) + auto.get("notes", []),
    )
    return {
        "report_id": ctx.params["report_id"],
        "renderer": document.renderer,
        "critique": [f.model_dump() for f in findings],
    }


def _qa(ctx: JobContext, store: StageStore, data_dir: Path, dataset_id: str) -> dict[str, Any]:
    """The checks before the analysis is called done: the model has metrics, and the report's document and HTML
    were written and the document still validates."""
    model = store.load("modeling")
    metrics = {k: v for k, v in model["metrics"].items() if v is not None}
    if not metrics:
        raise ServiceError(ErrorCode.INTERNAL, "QA: the model has no metrics")
    report = files.report_path(data_dir, ctx.params["report_id"])
    if not report.exists() or report.stat().st_size == 0:
        raise ServiceError(ErrorCode.INTERNAL, "QA: the report was not written")
    document = ReportDocument.model_validate_json(content_path(data_dir, ctx.params["report_id"]).read_text())
    findings = [f["message"] for f in store.load("report").get("critique", [])]
    ctx.log(
        f"QA passed: {len(metrics)} metric(s), {len(findings)} critique finding(s), report valid "
        f"({document.renderer} renderer)"
    )
    return {"findings": findings, "renderer": document.renderer}


StageBody = Callable[[JobContext, StageStore, Path, str], dict[str, Any]]
STAGE_BODIES: dict[str, StageBody] = {
    "ingest-check": _ingest_check,
    "profile": _profile,
    "clarify": _clarify,
    "auto-actions": _auto_actions,
    "modeling": _modeling,
    "report": _report,
    "qa": _qa,
}
