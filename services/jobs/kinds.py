"""What a job kind is: its body, its end hooks and its queue. Each domain declares its own kinds;
the server and worker entry points assemble them (services/jobs knows no domain)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from sqlmodel.ext.asyncio.session import AsyncSession

from services.storage.tables import Job

Finisher = Callable[[AsyncSession, Job, dict[str, Any] | None], Awaitable[None]]

# Celery queues (seed 002): a worker may serve some of them (ASSAY_WORKER_QUEUES).
QUEUES = ("ingest", "analysis", "modeling", "imputation", "default")


async def nothing_to_settle(_session: AsyncSession, _job: Job, _result: dict[str, Any] | None) -> None:
    """The end hook of a kind that leaves nothing to record or undo when its job ends."""


@dataclass(frozen=True)
class JobHooks:
    """What a kind's job means for the objects it touches as it starts and ends, in one object: each hook runs in the
    transaction that records the job's status, so the two are committed together. Kinds with the same life share
    one (PREDICT's new version lives as PREPROCESS's does)."""

    on_start: Finisher | None = None  # e.g. mark the row the job fills in RUNNING
    on_success: Finisher = nothing_to_settle  # stores what the body returned
    on_failure: Finisher = nothing_to_settle  # also on cancel, timeout and a lost worker: removes partial outputs


@dataclass(frozen=True)
class JobKindSpec:
    """How to run one kind of job: its body, and what its end means for the objects it touches."""

    work: str  # "module:function" of the body; the module is preloaded by workers
    # The pydantic model of what the body returns (stored in Job.result): declared by every kind (NoResult for one
    # that returns nothing), so its readers and tests/jobs/test_result_models.py know the shape.
    result: type[BaseModel]
    hooks: JobHooks = JobHooks()
    queue: str = "default"
    preload: tuple[str, ...] = ()  # more modules workers import once before any job (warm-ups)
    # Re-runs after a transient failure (services/jobs/retry.py: a lost connection, a source timing out),
    # with exponential backoff; 0 fails such a job at once like any other failure.
    max_retries: int = 2
    # For a kind whose product is one file: where a SUCCEEDED job of it left it, served by /files/jobs/{id}
    # to its owner (server/routes.py), so a new file-making kind needs no route of its own.
    file: Callable[[Path, Job], JobFile | None] | None = None

    @property
    def module(self) -> str:
        return self.work.partition(":")[0]


class NoResult(BaseModel):
    """The result of a kind whose body returns nothing worth keeping: declared, so no kind's result is unknown."""


@dataclass(frozen=True)
class JobFile:
    """The file a job made: where it is and what a browser should call it."""

    path: Path
    media_type: str
    filename: str


@dataclass(frozen=True)
class Domain:
    """One domain as the server and workers know it: its name and its job kinds (the `JOB_KINDS` its service module
    declares). services/domains.py lists them, and everything else is assembled from that list."""

    name: str
    job_kinds: Mapping[str, JobKindSpec] = field(default_factory=dict)


def preload_modules(kinds: dict[str, JobKindSpec], libraries: list[str]) -> list[str]:
    """What a worker's fork server imports once: the libraries, then every body and warm-up."""
    modules = list(libraries)
    for spec in kinds.values():
        for module in (spec.module, *spec.preload):
            if module not in modules:
                modules.append(module)
    return modules


def queue_of(kinds: dict[str, JobKindSpec], kind: str) -> str:
    spec = kinds.get(kind)
    return spec.queue if spec is not None else "default"
