"""The REPORT job body: profile if needed, then render the HTML report."""

from __future__ import annotations

import json
from pathlib import Path

from services import files
from services.jobs.context import JobContext
from services.profiling.profile import profile_parquet
from services.reports.render import write_report
from services.reports.why import explain_examples


def run_report(ctx: JobContext) -> dict[str, str]:
    p = ctx.params
    data_dir, dataset_id = Path(p["data_dir"]), p["dataset_id"]
    ctx.stage("profile")
    stored = files.profile_path(data_dir, dataset_id)
    if stored.exists():
        profile = json.loads(stored.read_text())
        ctx.log("Using the stored profile")
    else:
        profile = profile_parquet(
            files.parquet_path(data_dir, dataset_id), p["columns"], memory_mb=ctx.memory_mb, scratch_dir=ctx.scratch_dir
        )
        profile["plots"] = []
        with files.atomic_output(stored) as temporary:
            temporary.write_text(json.dumps(profile))
        ctx.log("Profiled the dataset for the report")
    ctx.checkpoint()
    why = None
    if p.get("model_id") and p.get("model"):
        ctx.stage("explain")
        model = p["model"]
        why = explain_examples(
            data_dir=data_dir,
            model_id=p["model_id"],
            training_dataset_id=model.get("dataset_id"),
            dataset_id=dataset_id,
            task=model["task"],
            features=[f["name"] for f in model["details"]["features"]],
            log=ctx.log,
        )
    ctx.stage("render")
    write_report(
        data_dir=data_dir,
        report_id=p["report_id"],
        title=f"Report on {p['dataset_name']}",
        profile=profile,
        model=p.get("model"),
        theme=p["theme"],
        timings=[],
        why=why,
        log=ctx.log,
    )
    return {"report_id": p["report_id"]}
