"""The PROFILE job body: profile the Parquet copy, store it as JSON, and draw the plots."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq

from services import files
from services.jobs.context import JobContext
from services.profiling.alerts import ingest_alerts
from services.profiling.plots import render_plots
from services.profiling.profile import profile_table


def run_profile(ctx: JobContext) -> dict:
    data_dir, dataset_id = Path(ctx.params["data_dir"]), ctx.params["dataset_id"]
    ctx.stage("read")
    table = pq.read_table(files.parquet_path(data_dir, dataset_id))
    ctx.log(f"Read {table.num_rows:,} rows x {table.num_columns} columns from the Parquet copy")
    ctx.checkpoint()
    ctx.stage("profile")
    profile = profile_table(table, ctx.params["columns"], bins=ctx.params.get("bins"))
    profile["alerts"] += ingest_alerts(ctx.params.get("ingest_info"))
    ctx.log(f"Profiled in {profile['duration_ms'] / 1000:.2f} s: {len(profile['alerts'])} alert(s), "
            f"{profile['duplicate_rows']:,} duplicate row(s), {profile['missing_cells']:,} missing cell(s)")
    ctx.progress(0.6)
    ctx.checkpoint()
    plots: list[dict] = []
    if ctx.params.get("plots", True):
        ctx.stage("plots")
        staging = files.dataset_dir(data_dir, dataset_id) / ".plots.part"
        shutil.rmtree(staging, ignore_errors=True)
        plots = render_plots(table, profile, staging)
        target = files.plots_dir(data_dir, dataset_id)
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
        ctx.log(f"Drew {len(plots)} plot(s)")
    ctx.progress(0.9)
    ctx.stage("store")
    profile["plots"] = plots
    with files.atomic_output(files.profile_path(data_dir, dataset_id)) as temporary:
        temporary.write_text(json.dumps(profile))
    return {"duration_ms": profile["duration_ms"], "alerts": len(profile["alerts"]), "plots": len(plots)}
