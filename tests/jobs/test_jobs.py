"""The job engine through the API: cancel, timeouts, the concurrency cap, compare-and-set, recovery."""

from __future__ import annotations

import asyncio
import functools
import os
import time

import pytest
from starlette.testclient import TestClient

from schema.common import raw_id
from server.app import create_app
from services.jobs.engine import transition
from services.storage import db
from services.storage.tables import Job, User
from tests.support import graphql
from tests.support.graphql import DATASET, JOB, gql, register, upload, wait_for_job
from tests.support.settings import make_settings

CANCEL = "mutation($id: ID!) { cancelJob(input: {id: $id}) { job { id status error } errors { code message } } }"


# Polled often: a short job may pass through RUNNING between two slower polls.
wait_for_status = functools.partial(graphql.wait_for_status, timeout=30, interval=0.02)


@pytest.fixture
def capped_client(tmp_path) -> TestClient:
    settings = make_settings(tmp_path, max_concurrent_jobs=1, job_cancel_grace_seconds=0.5)
    with TestClient(create_app(settings)) as client:
        client.settings = settings
        yield client


def test_cancel_a_running_job_stops_it_within_seconds(capped_client, slow_file):
    client = capped_client
    token = register(client)["accessToken"]
    started = upload(client, token, slow_file, "slow.csv.gz")["data"]["uploadDataset"]
    wait_for_status(client, token, started["job"]["id"], ("RUNNING",))
    time.sleep(0.3)  # well inside the parse, which has no checkpoint: the worker must be stopped by force
    asked = time.monotonic()
    cancelled = gql(client, CANCEL, {"id": started["job"]["id"]}, token)["data"]["cancelJob"]
    assert cancelled["errors"] == []
    job = wait_for_job(client, token, started["job"]["id"])
    assert job["status"] == "CANCELLED" and job["error"] == "Cancelled by the user"
    assert time.monotonic() - asked < 3
    dataset = gql(client, DATASET, {"id": started["dataset"]["id"]}, token)["data"]["dataset"]
    assert dataset["status"] == "FAILED" and dataset["error"] == "Cancelled by the user"
    folder = client.settings.resolved_data_dir / "datasets" / raw_id(dataset["id"], "Dataset")
    assert [p.name for p in folder.iterdir()] == ["original"]  # no parquet, no half-written part
    again = gql(client, CANCEL, {"id": started["job"]["id"]}, token)["data"]["cancelJob"]
    assert again["errors"][0]["code"] == "CONFLICT"


def test_the_cap_queues_jobs_in_order_and_a_queued_job_cancels_at_once(capped_client, slow_file):
    client = capped_client
    token = register(client)["accessToken"]
    first = upload(client, token, slow_file, "slow.csv.gz")["data"]["uploadDataset"]["job"]["id"]
    second = upload(client, token, b"a,b\n1,2\n")["data"]["uploadDataset"]
    third = upload(client, token, b"c\n3\n")["data"]["uploadDataset"]["job"]["id"]
    wait_for_status(client, token, first, ("RUNNING",))
    assert gql(client, JOB, {"id": second["job"]["id"]}, token)["data"]["job"]["status"] == "QUEUED"
    cancelled = gql(client, CANCEL, {"id": second["job"]["id"]}, token)["data"]["cancelJob"]["job"]
    assert cancelled["status"] == "CANCELLED"
    dataset = gql(client, DATASET, {"id": second["dataset"]["id"]}, token)["data"]["dataset"]
    assert dataset["status"] == "FAILED"
    assert gql(client, JOB, {"id": third}, token)["data"]["job"]["status"] == "QUEUED"
    gql(client, CANCEL, {"id": first}, token)
    assert wait_for_job(client, token, third)["status"] == "SUCCEEDED"
    queued = gql(client, "{ jobs(status: [CANCELLED]) { totalCount } }", token=token)["data"]["jobs"]["totalCount"]
    assert queued == 2


def test_a_job_over_its_time_limit_fails_with_the_reason(tmp_path, slow_file):
    settings = make_settings(tmp_path, job_timeout_seconds={"INGEST": 0.5}, job_cancel_grace_seconds=0.5)
    with TestClient(create_app(settings)) as client:
        token = register(client)["accessToken"]
        started = upload(client, token, slow_file, "slow.csv.gz")["data"]["uploadDataset"]
        job = wait_for_job(client, token, started["job"]["id"])
        assert job["status"] == "FAILED" and job["error"] == "Timed out after 0.5 s (the INGEST time limit)"
        dataset = gql(client, DATASET, {"id": started["dataset"]["id"]}, token)["data"]["dataset"]
        assert dataset["status"] == "FAILED" and "Timed out" in dataset["error"]


def test_health_answers_while_a_job_runs(capped_client, slow_file):
    client = capped_client
    token = register(client)["accessToken"]
    started = upload(client, token, slow_file, "slow.csv.gz")["data"]["uploadDataset"]["job"]["id"]
    wait_for_status(client, token, started, ("RUNNING",))
    health = gql(client, "{ health { status activeJobs } }")["data"]["health"]
    assert health == {"status": "ok", "activeJobs": 1}
    gql(client, CANCEL, {"id": started}, token)


def test_job_timeline_and_logs(client, token):
    started = upload(client, token, b"a,b\n1,2\n")["data"]["uploadDataset"]["job"]["id"]
    job = wait_for_job(client, token, started)
    assert [stage["stage"] for stage in job["timeline"]] == ["detect", "parse_and_write", "infer_types"]
    assert all(stage["durationMs"] is not None and stage["durationMs"] >= 0 for stage in job["timeline"])
    assert [entry["seq"] for entry in job["logs"]] == list(range(1, len(job["logs"]) + 1))
    assert job["progress"] == 1.0 and job["attempt"] == 1
    last_two = gql(client, "query($id: ID!) { job(id: $id) { logs(last: 2) { seq } } }", {"id": started}, token)
    assert [e["seq"] for e in last_two["data"]["job"]["logs"]] == [len(job["logs"]) - 1, len(job["logs"])]


def test_status_changes_are_compare_and_set(tmp_path):
    """A stale worker (an older attempt, or a job already moved on) can never overwrite the newer state."""

    async def scenario() -> None:
        url = os.environ.get("ASSAY_DATABASE_URL") or f"sqlite+aiosqlite:///{tmp_path / 'cas.db'}"
        await asyncio.to_thread(db.migrate, url)
        sessions = db.session_factory(db.create_engine(url))
        async with sessions() as session:
            user = User(email="cas@example.com", password_hash="x")
            session.add(user)
            await session.flush()  # foreign keys are enforced: the owner must exist first
            job = Job(owner_id=user.id, kind="INGEST")
            session.add(job)
            await session.commit()
            stale = job.model_copy()
            assert await transition(session, job, "RUNNING", from_statuses=("QUEUED",))
            assert not await transition(session, job, "RUNNING", from_statuses=("QUEUED",))  # already moved on
            assert await transition(session, job, "QUEUED", from_statuses=("RUNNING",), attempt=2)  # requeued
            await session.commit()
            assert not await transition(session, stale, "SUCCEEDED", from_statuses=("RUNNING", "QUEUED"))
            assert await transition(session, job, "CANCELLED", from_statuses=("QUEUED",))
            assert not await transition(session, job, "SUCCEEDED", from_statuses=("RUNNING",))
            await session.commit()
            fresh = await session.get(Job, job.id)
            await session.refresh(fresh)
            assert (fresh.status, fresh.attempt) == ("CANCELLED", 2) and fresh.finished_at is not None

    asyncio.run(scenario())


def test_the_worker_warm_up_runs_cleanly_and_freezes_the_preloaded_heap():
    """The fork server imports the warm-up last; a failure there would only be logged, so check
    here that it succeeds and leaves the preloaded objects out of the workers' collections."""
    import subprocess
    import sys

    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import gc, pandas, services.pipelines.warm_up, services.jobs.warm_up; print(gc.get_freeze_count())",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "warm-up failed" not in out.stderr, out.stderr
    assert int(out.stdout) > 10_000  # pandas, pyarrow and the pipeline modules (~67,000 objects)
