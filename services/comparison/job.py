"""The COMPARE job: statistics and drift tests of the compared columns, overlays, the HTML report."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from services import drift, files
from services.comparison import plots
from services.comparison.compute import Planned, compare_files
from services.comparison.models import ColumnComparison, ComparisonResult, SchemaDifference
from services.comparison.report import render_comparison
from services.jobs.context import JobContext


def comparison_dir(data_dir: Path, comparison_id: str) -> Path:
    """The report and overlays of one comparison; paths from its id only."""
    return data_dir / files.COMPARISONS / comparison_id


def report_path(data_dir: Path, comparison_id: str) -> Path:
    return comparison_dir(data_dir, comparison_id) / "report.html"


def run_comparison(ctx: JobContext) -> dict[str, Any]:
    p = ctx.params
    data_dir = Path(p["data_dir"])
    began, cpu = time.perf_counter(), time.process_time()  # CPU of every thread, DuckDB's included
    planned = [Planned.from_params(entry) for entry in p["columns"]]
    ctx.stage("statistics")
    statistics, tests, histograms, sampling = compare_files(
        reference=files.parquet_path(data_dir, p["reference_id"]),
        current=files.parquet_path(data_dir, p["current_id"]),
        columns=planned,
        sample_rows=int(p["sample_rows"]),
        memory_mb=ctx.memory_mb,
        scratch_dir=ctx.scratch_dir,
        log=ctx.log,
        checkpoint=ctx.checkpoint,
    )
    ctx.progress(0.6)
    columns: list[ColumnComparison] = []
    for index, column in enumerate(planned):
        reference, current = statistics[column.name]
        note = None if column.test else "an identifier differs by design; name a method in `tests` to test it anyway"
        columns.append(
            ColumnComparison(
                name=column.name,
                kind=column.kind,
                reference_dtype=column.reference_dtype,
                current_dtype=column.current_dtype,
                reference=reference,
                current=current,
                drift=tests[column.name],
                note=note,
                plot=plots.plot_name(index) if index < plots.MAX_PLOTS else None,
            )
        )
        found = tests[column.name]
        if found is not None:
            ctx.log(
                f"{column.name}: {found.method} score {found.score if found.score is None else f'{found.score:.4g}'}"
                f" vs threshold {found.threshold:g}: {'DRIFT' if found.drifted else 'no drift'}"
            )
    tested = [c for c in columns if c.drift is not None and c.drift.statistic is not None]
    drifted = [c.name for c in tested if c.drift is not None and c.drift.drifted]
    share = len(drifted) / len(tested) if tested else 0.0
    result = ComparisonResult(
        columns=columns,
        schema_difference=SchemaDifference.model_validate(p["schema_difference"]),
        drift_share=share,
        drifted_columns=drifted,
        tested_columns=len(tested),
        share_threshold=drift.DATASET_DRIFT_SHARE,
        dataset_drift=bool(tested) and share >= drift.DATASET_DRIFT_SHARE,
        sampling=sampling,
        duration_ms=0.0,
    )
    ctx.log(
        f"Verdict: {'dataset drift' if result.dataset_drift else 'no dataset drift'} ({len(drifted)} of "
        f"{len(tested)} tested column(s) drifted)"
    )
    ctx.checkpoint()
    ctx.stage("report")
    folder = comparison_dir(data_dir, p["comparison_id"])
    pngs: dict[str, bytes] = {}
    for compared in columns:
        if compared.plot:
            pngs[compared.plot] = plots.draw_overlay(compared, histograms.get(compared.name))
            plots.write_png(folder, compared.plot, pngs[compared.plot])
    result.duration_ms = (time.perf_counter() - began) * 1000
    html = render_comparison(
        reference_name=p["reference_name"], current_name=p["current_name"], result=result, theme=p["theme"], pngs=pngs
    )
    with files.atomic_output(report_path(data_dir, p["comparison_id"])) as temporary:
        temporary.write_text(html, encoding="utf-8")
    ctx.log(
        f"Wrote the report ({len(html.encode()):,} bytes) and {len(pngs)} overlay(s); compared in "
        f"{time.perf_counter() - began:.2f} s ({time.process_time() - cpu:.2f} s CPU)"
    )
    ctx.progress(1.0)
    return result.model_dump(mode="json")
