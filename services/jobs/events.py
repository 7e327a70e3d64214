"""Job events as plain JSON on the bus, and back into rows for subscribers.

Whoever publishes (a worker, a replica) and whoever relays (any replica) share nothing but one
message per publish: {"job": {the job's state}, "events": [{"kind": LOG|PROGRESS|STATUS,
"log": {...} | None, "final": bool}, ...]} (the snapshot once, however many lines came together).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from services.jobs.bus import EventBus, job_channel, user_channel
from services.storage.tables import Job, JobLog

_JOB_TIMES = ("created_at", "updated_at", "started_at", "finished_at", "heartbeat_at")


def job_json(job: Job) -> dict[str, Any]:
    return job.model_dump(mode="json")


def log_json(log: JobLog) -> dict[str, Any]:
    return {
        "job_id": log.job_id,
        "seq": log.seq,
        "time": log.time.isoformat(),
        "level": log.level,
        "stage": log.stage,
        "message": log.message,
    }


def publish_job_events(bus: EventBus, job: Job, events: Sequence[dict[str, Any]]) -> None:
    """One delivery per call on the job's and the owner's channels: what came together arrives together."""
    message = {
        "job": job_json(job),
        "events": [
            {
                "kind": e["kind"],
                "log": log_json(e["log"]) if e.get("log") is not None else None,
                "final": bool(e.get("final", False)),
            }
            for e in events
        ],
    }
    bus.publish(job_channel(job.id), message)
    bus.publish(user_channel(job.owner_id), message)


def publish_status(bus: EventBus, job: Job, *, final: bool = False) -> None:
    publish_job_events(bus, job, [{"kind": "STATUS", "final": final}])


def job_from_json(data: dict[str, Any]) -> Job:
    values = dict(data)
    for name in _JOB_TIMES:
        if values.get(name) is not None:
            values[name] = datetime.fromisoformat(values[name])
    return Job(**values)


def log_from_json(data: dict[str, Any]) -> JobLog:
    return JobLog(**{**data, "time": datetime.fromisoformat(data["time"])})


def decode_message(message: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    """Rows for the schema layer, built once per delivery and shared by every subscriber."""
    job = job_from_json(message["job"])
    return tuple(
        {
            "kind": e["kind"],
            "job": job,
            "log": log_from_json(e["log"]) if e["log"] is not None else None,
            "final": e["final"],
        }
        for e in message["events"]
    )
