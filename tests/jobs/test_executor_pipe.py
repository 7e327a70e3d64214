"""A job's messages reach the engine whole, whatever their size and whichever event loop runs it.

uvicorn runs uvloop, whose add_reader made the job pipe non-blocking: a result bigger than the pipe
buffer was cut mid-read and the job "exited unexpectedly". These run the executor on both loops.
"""

from __future__ import annotations

import asyncio

import pytest
import uvloop

from services.jobs.context import JobContext
from services.jobs.executor import ProcessExecutor
from services.jobs.worker_process import JobSpec

LOOPS = {"asyncio": asyncio.run, "uvloop": uvloop.run}


def big_result(ctx: JobContext) -> dict:
    """Logs between two big messages, then a result many times the 64 KiB pipe buffer."""
    for index in range(200):
        ctx.log(f"line {index}")
    ctx.log("x" * 300_000)
    return {"columns": [{"name": f"c{i}", "semantic_type": "NUMERIC"} for i in range(int(ctx.params["columns"]))]}


async def run_jobs(count: int, columns: int) -> list[tuple]:
    executor = ProcessExecutor(max_workers=2, preload=[])
    messages: dict[str, list] = {}

    async def one(index: int):
        job_id = f"job{index:029d}"
        outcome = await executor.submit(
            JobSpec(job_id, f"{__name__}:big_result", {"columns": columns}),
            on_start=_started,
            on_message=messages.setdefault(job_id, []).append,
        )
        return outcome, messages[job_id]

    try:
        return await asyncio.gather(*(one(index) for index in range(count)))
    finally:
        await executor.shutdown()


async def _started() -> bool:
    return True


@pytest.mark.parametrize("loop", sorted(LOOPS))
def test_a_result_larger_than_the_pipe_arrives_whole_every_time(loop):
    for outcome, messages in LOOPS[loop](run_jobs(count=6, columns=20_000)):
        assert outcome.status == "succeeded", outcome
        assert len(outcome.result["columns"]) == 20_000 and outcome.result["columns"][-1]["name"] == "c19999"
        assert [m[2] for m in messages[:200]] == [f"line {i}" for i in range(200)]  # in order, none lost
        assert len(messages) == 201 and len(messages[-1][2]) == 300_000
