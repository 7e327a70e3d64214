"""Pipelines: sources collected, steps and checks applied, outputs stored; the names they share."""

from __future__ import annotations

from enum import StrEnum


def camel_case(name: str) -> str:
    """An input field's GraphQL name ("records_path" -> "recordsPath"), for messages that name it."""
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


class RunStatus(StrEnum):
    """A pipeline run's status (stored as its name; the GraphQL RunStatus has the same members)."""

    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


ACTIVE_RUN_STATUSES = (RunStatus.QUEUED, RunStatus.RUNNING)
