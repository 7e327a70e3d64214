"""The VALIDATE job body: run a suite's checks on a dataset's Parquet copy inside DuckDB, within the job's
memory budget, and return a result per check rule and the verdict."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from services import dataplane, files
from services.checks.evaluate import DRIFT_SAMPLE_ROWS, Reference, evaluate_checks
from services.jobs.context import JobContext
from services.pipelines.config.checks import PipelineCheck


def run_validation(ctx: JobContext) -> dict[str, Any]:
    p = ctx.params
    data_dir = Path(p["data_dir"])
    checks = [PipelineCheck.model_validate(check) for check in p["checks"]]
    rules = sum(len(check.rules) for check in checks)
    ctx.stage("validate")
    ctx.log(
        f"Validating with {len(checks)} check(s), {rules} rule(s); memory budget {ctx.memory_mb:,} MB"
        + (f"; drift on samples of up to {DRIFT_SAMPLE_ROWS:,} values a side" if any(c.drift for c in checks) else "")
    )
    connection = dataplane.connect(memory_mb=ctx.memory_mb, scratch_dir=ctx.scratch_dir)
    done = 0

    def checkpoint() -> None:
        nonlocal done
        done += 1
        ctx.progress(done / max(rules, 1))
        ctx.checkpoint()

    dataset = files.parquet_path(data_dir, p["dataset_id"])
    numbered = dataplane.numbers_rows(dataset)
    try:
        reference = (
            Reference(dataplane.parquet_source(files.parquet_path(data_dir, p["reference_id"])), p["reference_types"])
            if p.get("reference_id")
            else None
        )
        results = evaluate_checks(
            connection,
            dataplane.parquet_source(dataset, row_numbers=numbered),
            checks,
            semantic_types=p["semantic_types"],
            reference=reference,
            log=ctx.log,
            checkpoint=checkpoint,
            row_numbers=numbered,
        )
    except duckdb.OutOfMemoryException as exc:
        raise dataplane.over_budget(ctx.memory_mb, "Validating this dataset", exc) from exc
    finally:
        connection.close()
    failed = [r for r in results if not r.passed and r.on_fail != "WARN"]
    warned = [r for r in results if not r.passed and r.on_fail == "WARN"]
    ctx.log(
        f"Verdict: {'FAILED' if failed else 'PASSED'} ({len(results) - len(failed) - len(warned)} passed, "
        f"{len(failed)} failed, {len(warned)} warning(s))",
        "WARNING" if failed else "INFO",
    )
    ctx.progress(1.0)
    return {"passed": not failed, "results": [r.model_dump(mode="json") for r in results]}
