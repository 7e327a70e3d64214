"""Job priorities through the API: with the one worker slot busy, a HIGH job queued after two LOW ones runs
first (LOW ones keep their order), and the admin's `system.queues` counts the waiting jobs per priority — with
the local executor, and on a real cluster (Celery worker on Redis with priority steps)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient

from devtools.cluster import Cluster
from devtools.redis_local import free_port
from server.app import create_app
from tests.support.cluster_client import ReplicaClient
from tests.support.data import slow_gzip
from tests.support.graphql import gql, register
from tests.support.settings import make_settings

ADMIN = {"admin_email": "root@example.com", "admin_password": "admin password 1"}
LOGIN = 'mutation { login(input: {email: "root@example.com", password: "admin password 1"}) { accessToken } }'
UPLOAD = (
    "mutation($input: UploadDatasetInput!) { uploadDataset(input: $input) "
    "{ job { id priority } errors { code message } } }"
)
JOBS = "query($id: ID!) { job(id: $id) { status priority startedAt } }"
QUEUES = "{ system { queues { name queued byPriority { priority queued running } } } }"
CANCEL = "mutation($id: ID!) { cancelJob(input: {id: $id}) { errors { code } } }"
SMALL = b"id,amount\n" + b"".join(b"%d,%d\n" % (i, i * 3) for i in range(200))


def upload(post: Callable[..., Any], token: str, content: bytes, priority: str | None = None) -> dict:
    variables: dict = {"input": {"file": None, **({"priority": priority} if priority else {})}}
    response = post(
        "/graphql",
        headers={"authorization": f"Bearer {token}", "apollo-require-preflight": "1"},
        data={
            "operations": json.dumps({"query": UPLOAD, "variables": variables}),
            "map": json.dumps({"0": ["variables.input.file"]}),
        },
        files={"0": ("data.csv.gz" if content[:2] == b"\x1f\x8b" else "data.csv", content, "text/csv")},
    )
    payload = response.json()["data"]["uploadDataset"]
    assert payload["errors"] == [], payload
    return payload["job"]


def high_first(
    query: Callable[[str, dict, str], dict],
    post: Callable[..., Any],
    token: str,
    admin: str,
    slow: bytes,
    wait: Callable[[str], dict],
) -> None:
    """The story both executors must tell: busy slot, LOW, LOW, HIGH queued; HIGH starts first."""
    busy = upload(post, token, slow)
    deadline = time.monotonic() + 60
    while query(JOBS, {"id": busy["id"]}, token)["data"]["job"]["status"] != "RUNNING":
        assert time.monotonic() < deadline, "the busy job never started"
        time.sleep(0.05)
    low1, low2 = upload(post, token, SMALL, "LOW"), upload(post, token, SMALL, "LOW")
    high = upload(post, token, SMALL, "HIGH")
    assert default_is_normal(upload(post, token, SMALL))
    assert (low1["priority"], high["priority"]) == ("LOW", "HIGH")
    ingest = next(q for q in query(QUEUES, {}, admin)["data"]["system"]["queues"] if q["name"] == "ingest")
    counts = {p["priority"]: (p["queued"], p["running"]) for p in ingest["byPriority"]}
    assert [p["priority"] for p in ingest["byPriority"]] == ["HIGH", "NORMAL", "LOW"]
    assert counts == {"HIGH": (1, 0), "NORMAL": (1, 1), "LOW": (2, 0)} and ingest["queued"] == 4
    assert query(CANCEL, {"id": busy["id"]}, token)["data"]["cancelJob"]["errors"] == []  # frees the slot
    ended = {name: wait(job["id"]) for name, job in (("low1", low1), ("low2", low2), ("high", high))}
    assert all(job["status"] == "SUCCEEDED" for job in ended.values()), ended
    started = {name: job["startedAt"] for name, job in ended.items()}
    assert started["high"] < started["low1"] < started["low2"], started


def default_is_normal(job: dict) -> bool:
    return job["priority"] == "NORMAL"


def test_a_high_job_queued_after_low_ones_runs_first_on_the_local_executor(tmp_path, slow_file):
    settings = make_settings(tmp_path, max_concurrent_jobs=1, job_cancel_grace_seconds=0.5, **ADMIN)
    with TestClient(create_app(settings)) as client:
        token = register(client)["accessToken"]
        admin = gql(client, LOGIN)["data"]["login"]["accessToken"]

        def query(text: str, variables: dict, who: str) -> dict:
            return gql(client, text, variables, who)

        def wait(job_id: str) -> dict:
            deadline = time.monotonic() + 60
            while (job := query(JOBS, {"id": job_id}, token)["data"]["job"])["status"] in ("QUEUED", "RUNNING"):
                assert time.monotonic() < deadline, job
                time.sleep(0.1)
            return job

        high_first(query, client.post, token, admin, slow_file, wait)


@pytest.mark.slow
def test_a_high_job_queued_after_low_ones_runs_first_on_a_celery_worker(tmp_path_factory):
    slow = slow_gzip(tmp_path_factory.mktemp("slow") / "slow.csv.gz", rows_millions=4)
    env = {
        "ASSAY_JOB_HEARTBEAT_SECONDS": "1",
        "ASSAY_JOB_CANCEL_GRACE_SECONDS": "1",
        "ASSAY_REQUESTS_PER_MINUTE": "100000",
        "ASSAY_ADMIN_EMAIL": "root@example.com",
        "ASSAY_ADMIN_PASSWORD": "admin password 1",
    }
    with Cluster(
        tmp_path_factory.mktemp("priorities"),
        replica_ports=[free_port()],
        workers=1,
        worker_concurrency=1,
        use_postgres=False,
        env=env,
    ) as cluster:
        client = ReplicaClient(cluster.replicas[0].base)
        _, token = client.register()
        admin = client.login("root@example.com", "admin password 1")["data"]["login"]["accessToken"]

        def post(path: str, **kwargs: Any):
            import httpx

            return httpx.post(f"{client.base}{path}", timeout=120, **kwargs)

        def wait(job_id: str) -> dict:
            client.wait_for(token, job_id, ("SUCCEEDED", "FAILED", "CANCELLED"), timeout=120)
            return client.gql(JOBS, {"id": job_id}, token)["data"]["job"]

        high_first(lambda text, variables, who: client.gql(text, variables, who), post, token, admin, slow, wait)
