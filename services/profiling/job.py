"""The PROFILE job body: profile the Parquet copy within the job's memory budget and store it as JSON.

Plots are only listed here; each PNG is drawn from the stored profile on its first request (plots.py),
so the job is SUCCEEDED as soon as the statistics are stored.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

from services import files
from services.jobs.context import JobContext
from services.profiling.alerts import ingest_alerts
from services.profiling.plots import plot_list
from services.profiling.profile import profile_parquet
from services.profiling.stored import StoredProfile


def run_profile(ctx: JobContext) -> dict[str, Any]:
    data_dir, dataset_id = Path(ctx.params["data_dir"]), ctx.params["dataset_id"]
    ctx.stage("profile")
    cpu = time.process_time()  # every thread of this process, DuckDB's included: the work, whatever the machine's load
    profile = profile_parquet(
        files.parquet_path(data_dir, dataset_id),
        ctx.params["columns"],
        bins=ctx.params.get("bins"),
        memory_mb=ctx.memory_mb,
        scratch_dir=ctx.scratch_dir,
        checkpoint=ctx.checkpoint,
    )
    profile["alerts"] += ingest_alerts(ctx.params.get("ingest_info"))
    ctx.log(
        f"Profiled {profile['row_count']:,} rows x {profile['column_count']} columns in "
        f"{profile['duration_ms'] / 1000:.2f} s ({time.process_time() - cpu:.2f} s CPU) within {ctx.memory_mb:,} "
        f"MB: {len(profile['alerts'])} alert(s), "
        f"{profile['duplicate_rows']:,} duplicate row(s), {profile['missing_cells']:,} missing cell(s)"
    )
    approximate = profile["sampling"]["approximations"]
    if approximate:
        ctx.log(
            "Approximate or sampled: "
            + "; ".join(
                f"{a['figure'].lower()}{' of ' + a['column'] if a['column'] else ''} ({a['method'].lower()})"
                for a in approximate
            )
        )
    ctx.progress(0.9)
    ctx.checkpoint()
    ctx.stage("store")
    profile["plots"] = plot_list(profile) if ctx.params.get("plots", True) else []
    with files.atomic_output(files.profile_path(data_dir, dataset_id)) as temporary:
        temporary.write_text(json.dumps(StoredProfile.model_validate(profile).stored()))
    # PNGs of the previous profile are stale now; the new ones are drawn on request
    shutil.rmtree(files.plots_dir(data_dir, dataset_id), ignore_errors=True)
    return {"duration_ms": profile["duration_ms"], "alerts": len(profile["alerts"]), "plots": len(profile["plots"])}
