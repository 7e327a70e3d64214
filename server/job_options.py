"""How the ASSAY_JOB_* and neighbouring settings become the options of the processes jobs run in
(ProcessExecutor) and of the JobRunner that drives them. Written once for the server's local executor
(server/app.py) and a Celery worker (server/worker.py, whose WorkerConfig takes the same names), so the two
cannot drift apart."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

from server.job_kinds import worker_preload
from services.jobs.kinds import JobKindSpec
from services.jobs.observer import JobObserver
from services.storage.objects import StorageConfig

if TYPE_CHECKING:
    from server.settings import Settings


class ProcessOptions(TypedDict):
    """What every job process runs with, whoever starts it; how many run at once is the caller's."""

    grace_seconds: float
    preload: list[str]
    memory_mb: int
    scratch_root: Path
    log_level: str
    log_format: str
    storage: StorageConfig | None


class RunnerOptions(TypedDict):
    """What the JobRunner driving those processes is told."""

    kinds: dict[str, JobKindSpec]
    timeout_for: Callable[[str], float]
    heartbeat_seconds: float
    max_result_bytes: int
    max_log_chars: int
    telemetry_path: Path
    observer: JobObserver | None
    retry_backoff: tuple[float, float]


def process_options(settings: Settings, kinds: dict[str, JobKindSpec]) -> ProcessOptions:
    return ProcessOptions(
        grace_seconds=settings.job_cancel_grace_seconds,
        preload=worker_preload(kinds),
        memory_mb=settings.job_memory_mb,
        scratch_root=settings.scratch_dir,
        log_level=settings.log_level,
        log_format=settings.log_format,
        storage=settings.storage,
    )


def runner_options(settings: Settings, kinds: dict[str, JobKindSpec], observer: JobObserver | None) -> RunnerOptions:
    return RunnerOptions(
        kinds=kinds,
        timeout_for=settings.timeout_for,
        heartbeat_seconds=settings.job_heartbeat_seconds,
        max_result_bytes=round(settings.max_job_result_mb * 1048576),
        max_log_chars=settings.max_log_line_chars,
        telemetry_path=settings.resolved_data_dir / "telemetry" / "jobs.jsonl",
        observer=observer,
        retry_backoff=(settings.job_retry_backoff_seconds, settings.job_retry_backoff_max_seconds),
    )
