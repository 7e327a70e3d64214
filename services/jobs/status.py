"""Where a job is in its life, and the named groups of statuses the engine and the domains ask about."""

from __future__ import annotations

from enum import StrEnum


class JobStatus(StrEnum):
    """A job's status; the database column stays a string (a StrEnum equals, and binds as, its value)."""

    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    NEEDS_INPUT = "NEEDS_INPUT"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


# Ended: no transition leaves these.
TERMINAL = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)
# Not ended: what deleting a dataset cancels and what a start-up or shutdown looks for.
ACTIVE = (JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.NEEDS_INPUT)
# In a queue or on a worker: what queue depths count. A NEEDS_INPUT job holds neither until it is answered.
IN_FLIGHT = (JobStatus.QUEUED, JobStatus.RUNNING)
