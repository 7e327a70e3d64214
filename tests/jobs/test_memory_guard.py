"""A job body that outgrows its memory budget fails with OVER_BUDGET, naming the budget: its allocations are
made to fail (the memory guard) before the kernel's OOM killer would end the process, its `finally` blocks
run (no partial output is left), and its scratch dir is removed."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np

from services import dataplane, files
from services.jobs.context import JobContext
from services.jobs.executor import ProcessExecutor
from services.jobs.memory_guard import hard_limit_mb
from services.jobs.worker_process import JobSpec

BUDGET_MB = 64


def runaway_numpy(ctx: JobContext) -> dict:
    """Writes an output atomically while holding ever more 32 MB arrays, touched page by page."""
    held = []
    ctx.scratch_dir.mkdir(parents=True, exist_ok=True)
    (ctx.scratch_dir / "spill.bin").write_bytes(b"x" * 1024)
    with files.atomic_output(Path(ctx.params["output"])) as temporary:
        temporary.write_bytes(b"half")
        for _ in range(4096):  # 128 GB: far more than the machine has
            held.append(np.ones(4 * 2**20))
    return {"held": len(held)}


def runaway_python(ctx: JobContext) -> dict:
    """Small Python objects, as a body building a list of rows would."""
    rows = []
    while True:
        rows.append(str(len(rows)).encode() * 1024)


def one_huge_allocation(ctx: JobContext) -> dict:
    """A single allocation far beyond the budget is refused at once, before any of it is touched."""
    return {"size": int(np.ones(64 * 2**30 // 8).size)}


def duckdb_beyond_its_limit(ctx: JobContext) -> dict:
    """A DuckDB aggregate that cannot spill (a list of every row), not mapped by the body itself."""
    connection = dataplane.connect(memory_mb=ctx.memory_mb, scratch_dir=ctx.scratch_dir)
    return {"rows": len(connection.execute("SELECT list(i) FROM range(40000000) t(i)").fetchone()[0])}


def within_budget(ctx: JobContext) -> dict:
    """A body that keeps to its budget is not disturbed, and gets its memory back afterwards."""
    return {"sum": float(np.ones(2**20).sum())}


async def run(work: str, tmp_path: Path, **params) -> tuple:
    executor = ProcessExecutor(
        max_workers=1, preload=["numpy", "duckdb"], memory_mb=BUDGET_MB, scratch_root=tmp_path / "scratch"
    )
    try:
        outcome = await executor.submit(
            JobSpec("job" + "0" * 29, f"{__name__}:{work}", params), on_start=_started, on_message=lambda message: None
        )
    finally:
        await executor.shutdown()
    return outcome


async def _started() -> bool:
    return True


def test_a_runaway_numpy_body_fails_over_budget_and_leaves_nothing(tmp_path):
    output = tmp_path / "out" / "result.bin"
    outcome = asyncio.run(run("runaway_numpy", tmp_path, output=str(output)))
    assert outcome.status == "failed" and outcome.code == "OVER_BUDGET", outcome
    assert f"budget of {BUDGET_MB} MB (ASSAY_JOB_MEMORY_MB)" in outcome.error
    assert f"hard limit of {hard_limit_mb(BUDGET_MB):,} MB" in outcome.error and "MemoryError" in outcome.error
    assert not output.exists() and list(output.parent.iterdir()) == []  # the atomic output's part file is gone
    assert not (tmp_path / "scratch" / ("job" + "0" * 29)).exists()  # and the spill files with their dir


def test_a_runaway_python_body_fails_over_budget(tmp_path):
    outcome = asyncio.run(run("runaway_python", tmp_path))
    assert outcome.status == "failed" and outcome.code == "OVER_BUDGET", outcome
    assert f"budget of {BUDGET_MB} MB" in outcome.error and "stopped at its hard limit" in outcome.error


def test_one_allocation_far_beyond_the_budget_is_refused_at_once(tmp_path):
    outcome = asyncio.run(run("one_huge_allocation", tmp_path))
    assert outcome.status == "failed" and outcome.code == "OVER_BUDGET", outcome
    assert f"may map at most {2 * hard_limit_mb(BUDGET_MB):,} MB more" in outcome.error


def test_duckdb_out_of_memory_is_over_budget_with_the_need_estimated(tmp_path):
    outcome = asyncio.run(run("duckdb_beyond_its_limit", tmp_path))
    assert outcome.status == "failed" and outcome.code == "OVER_BUDGET", outcome
    assert f"budget of {BUDGET_MB} MB" in outcome.error and "it would need about" in outcome.error
    assert outcome.result["memory_mb"] == BUDGET_MB and outcome.result["needed_mb"] > BUDGET_MB


def test_a_body_within_its_budget_runs_as_before(tmp_path):
    outcome = asyncio.run(run("within_budget", tmp_path))
    assert outcome.status == "succeeded" and outcome.result == {"sum": float(2**20)}


def killed_outright(ctx: JobContext) -> dict:
    """What the kernel's OOM killer does: SIGKILL, which nothing in the process can catch."""
    import os
    import signal

    os.kill(os.getpid(), signal.SIGKILL)
    return {}


def test_a_job_killed_outright_says_what_kills_that_way(tmp_path):
    outcome = asyncio.run(run("killed_outright", tmp_path))
    assert outcome.status == "failed" and outcome.code == "INTERNAL"
    assert "(code -9)" in outcome.error and "out-of-memory killer" in outcome.error
    assert not (tmp_path / "scratch" / ("job" + "0" * 29)).exists()
