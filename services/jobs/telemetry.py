"""A finished job's telemetry: one typed record, kept on the job (`job.telemetry`) and appended as one line to
`<data dir>/telemetry/jobs.jsonl` by whoever ran the job.

Stages and their durations come from the job's stage events (its timeline); tools and features from what the
body noted (`JobContext.note`); warnings from its WARNING log lines, whichever attempt wrote them.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from services.jobs.recording import aware
from services.storage.tables import Job

MAX_WARNINGS = 50  # kept verbatim; `warning_count` says how many there were in all
MAX_NAMES = 500  # tools or features: a 10,000-column model keeps the first 500 names


class StageTelemetry(BaseModel):
    stage: str
    duration_ms: float | None = None


class JobTelemetry(BaseModel):
    job_id: str
    kind: str
    status: str
    priority: str = "NORMAL"
    attempt: int = 1
    retries: int = 0
    queued_ms: float | None = None  # created → first started
    run_ms: float | None = None  # last start → end
    total_ms: float | None = None  # created → end
    stages: list[StageTelemetry] = []
    tools: list[str] = []  # algorithms tried, steps applied
    features: list[str] = []
    warnings: list[str] = []
    warning_count: int = 0
    finished_at: datetime | None = None


def merge_notes(notes: dict[str, list[str]], note: dict[str, Any]) -> None:
    """Add a body's `note` to what was noted before, each name once, in first-seen order."""
    for key in ("tools", "features"):
        kept = notes.setdefault(key, [])
        for name in note.get(key, []):
            if name not in kept and len(kept) < MAX_NAMES:
                kept.append(name)


def _ms(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round((aware(end) - aware(start)).total_seconds() * 1000, 3)


def build(
    job: Job, *, notes: dict[str, list[str]], warnings: list[str], warning_count: int, first_started_at: datetime | None
) -> JobTelemetry:
    return JobTelemetry(
        job_id=job.id,
        kind=job.kind,
        status=str(job.status),
        priority=job.priority,
        attempt=job.attempt,
        retries=job.retries,
        queued_ms=_ms(job.created_at, first_started_at or job.started_at),
        run_ms=_ms(job.started_at, job.finished_at),
        total_ms=_ms(job.created_at, job.finished_at),
        stages=[StageTelemetry(stage=s["stage"], duration_ms=s.get("duration_ms")) for s in job.timeline],
        tools=notes.get("tools", []),
        features=notes.get("features", []),
        warnings=warnings[:MAX_WARNINGS],
        warning_count=warning_count,
        finished_at=job.finished_at,
    )


def append_line(path: Path, telemetry: JobTelemetry) -> None:
    """One JSON object per line; a single write, so lines of concurrent jobs never interleave mid-line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        handle.write(json.dumps(telemetry.model_dump(mode="json")) + "\n")
