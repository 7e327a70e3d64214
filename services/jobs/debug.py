"""Where a job is and what this replica holds for it, for the administrators' debug view.

Only what the job engine knows: its process (local executor) or the Celery worker that reported it
(scaled out), its cancel flag and its subscribers here. Domain files are checked elsewhere.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

from services.jobs.bus import job_channel
from services.jobs.engine import JobEngine


@dataclass
class JobWhereabouts:
    replica: str  # this server process, which answers the question
    running_here: bool  # driven by this replica's runner
    worker: str | None  # the worker running it: this replica's local pool, or a Celery worker's record
    pid: int | None  # its process, when it runs on this machine
    process_alive: bool | None
    waiting_for_slot: bool  # queued here behind ASSAY_MAX_CONCURRENT_JOBS
    cancel_requested: bool
    subscribers_here: int  # jobEvents streams of this job open on this replica


def replica_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


async def locate_job(engine: JobEngine, job_id: str) -> JobWhereabouts:
    executor = engine.executor
    here = executor.is_running_here(job_id) or job_id in engine.active_job_ids
    worker, process = None, {}
    runner = getattr(executor, "runner", None)  # the local executor: jobs run in this replica's processes
    pool = getattr(runner, "pool", None)
    if pool is not None and hasattr(pool, "describe"):
        process = pool.describe(job_id)
        if here:
            worker = f"local@{replica_name()}"
    # The pool forgets a job once its process has exited; the runner still knows it is stopping until the
    # CANCELLED status is written, and a debug view read in between must not say no cancel was asked for.
    cancel_requested = bool(process.get("cancel_requested")) or bool(
        runner is not None and hasattr(runner, "stopping") and runner.stopping(job_id)
    )
    cancels = getattr(executor, "cancels", None)  # scaled out: the flag lives in Redis
    if cancels is not None:
        cancel_requested = cancel_requested or job_id in await cancels.pending([job_id])
    if worker is None:
        for record in await executor.live_workers():
            if job_id in record.get("running", []):
                worker = record["name"]
                break
    subscribers = getattr(engine.bus, "subscribers_of", None)
    return JobWhereabouts(
        replica=replica_name(),
        running_here=here,
        worker=worker,
        pid=process.get("pid"),
        process_alive=process.get("process_alive"),
        waiting_for_slot=bool(process.get("waiting_for_slot")),
        cancel_requested=cancel_requested,
        subscribers_here=subscribers(job_channel(job_id)) if subscribers else 0,
    )
