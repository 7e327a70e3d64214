"""Inside a job's own worker process: what it is handed (JobSpec), its logging, and the body's run, whose every
end (result, cancel, question, error) goes back to the executor as one message on the pipe."""

from __future__ import annotations

import importlib
import json
import logging
import os
import signal
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from typing import Any

from services.errors import ErrorCode, ServiceError
from services.jobs.context import JobCancelled, JobContext, NeedsInput
from services.jobs.memory_guard import MemoryGuard
from services.jobs.retry import is_transient
from services.storage.objects import StorageConfig


@dataclass
class JobSpec:
    job_id: str
    work: str  # "module:function" of the job body
    params: dict[str, Any]
    memory_mb: int = 2048  # the job's memory budget (ASSAY_JOB_MEMORY_MB); the body keeps within it
    scratch_dir: str | None = None  # where the body may spill; removed when the job process ends
    priority: int = 1  # services.jobs.priority.Priority: higher waits less for a free slot
    log_level: str = "INFO"  # ASSAY_LOG_LEVEL: the job process's own Python logging
    log_format: str = "text"  # ASSAY_LOG_FORMAT: its lines look like the server's
    storage: StorageConfig | None = None  # where files are kept, when in an object store (ASSAY_STORAGE_URL)


def import_work(path: str) -> Callable[[JobContext], dict[str, Any] | None]:
    module_name, _, function_name = path.partition(":")
    work: Callable[[JobContext], dict[str, Any] | None] = getattr(importlib.import_module(module_name), function_name)
    return work


def worker_main(spec: JobSpec, connection: Connection, cancel_event: EventType) -> None:
    """Entry point of a worker process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the server, which stops workers itself
    _configure_job_logging(spec)
    parent = os.getppid()
    staged = None
    if spec.storage is not None:  # inputs come from the store, outputs go back to it (services/storage/staging)
        from services.storage.staging import JobFiles

        staged = JobFiles(spec.storage, spec.params, job_id=spec.job_id)
    context = JobContext(
        job_id=spec.job_id,
        params=staged.params if staged else spec.params,
        send=connection.send,
        is_cancelled=lambda: cancel_event.is_set() or os.getppid() != parent,
        memory_mb=spec.memory_mb,
        scratch_dir=Path(spec.scratch_dir) if spec.scratch_dir else None,
    )
    guard = MemoryGuard(spec.memory_mb).__enter__()  # OVER_BUDGET rather than the kernel's OOM killer
    try:
        if staged is not None:
            staged.fetch_inputs()
        try:
            result = import_work(spec.work)(context)
        finally:
            guard.__exit__()
        if staged is not None:  # before the result is sent: a job is SUCCEEDED only once its outputs are stored
            staged.publish_outputs()
        connection.send(("result", result or {}))
    except JobCancelled:
        connection.send(("cancelled",))
    except NeedsInput as question:
        if staged is not None:  # what it did so far (its stages, a profile) is kept for whichever worker resumes it
            staged.publish_outputs(finished=False)
        connection.send(("needs_input", question.question, question.choices))
    except ServiceError as exc:
        connection.send(("error", exc.code, exc.message, None, exc.details, is_transient(exc)))
    except Exception as exc:  # noqa: BLE001 - reported to the engine, which logs the trace
        if (budget_error := guard.error(exc)) is not None:
            connection.send(("error", budget_error.code, budget_error.message, None, budget_error.details, False))
            return
        connection.send(
            (
                "error",
                ErrorCode.INTERNAL,
                f"{type(exc).__name__}: {exc}",
                traceback.format_exc(),
                None,
                is_transient(exc),
            )
        )
    finally:
        connection.close()


class _JobJsonFormatter(logging.Formatter):
    """A job process's log lines as JSON, like the server's (server/logs.py) with the job id."""

    def __init__(self, job_id: str) -> None:
        super().__init__()
        self.job_id = job_id

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": None,
            "user_id": None,
            "operation_name": None,
            "job_id": self.job_id,
            "trace_id": None,
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def _configure_job_logging(spec: JobSpec) -> None:
    """The fork server is a fresh interpreter: the server's logging setup did not come along, so a job process
    sets up its own at ASSAY_LOG_LEVEL, in the server's format."""
    handler = logging.StreamHandler()
    handler.setFormatter(
        _JobJsonFormatter(spec.job_id)
        if spec.log_format == "json"
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s [job %(process)d]: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(spec.log_level)
    logging.getLogger("assay.jobs").debug("job %s: its process %d started", spec.job_id, os.getpid())
