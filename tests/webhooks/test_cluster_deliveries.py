"""Webhooks in a real cluster (2 replicas, 2 Celery workers, Redis, a shared database): each event reaches each
webhook once, not once per replica or worker; a worker killed mid-delivery lets its lease lapse and the other
worker delivers it again with the same delivery id."""

from __future__ import annotations

import threading
import time

import pytest

from devtools.cluster import Cluster
from tests.support.cluster_client import ReplicaClient
from tests.support.settings import make_settings, run_sql
from tests.support.webhook_receiver import Receiver
from tests.webhooks.test_webhooks import CREATE, CSV

pytestmark = pytest.mark.slow

DELIVERIES = """query($id: ID!) { webhook(id: $id) { deliveries { totalCount edges { node {
  deliveryId status attempts responseCode } } } } }"""
TIMEOUT_SECONDS = 5  # one attempt's limit; the lease is 3x that + 5 s = 20 s


@pytest.fixture(scope="module")
def receiver(tmp_path_factory):
    with Receiver(tmp_path_factory.mktemp("receiver")) as running:
        yield running


@pytest.fixture(scope="module", params=["postgresql", "sqlite"])
def cluster(request, tmp_path_factory, receiver):
    directory = tmp_path_factory.mktemp(f"cluster-{request.param}")
    env = {
        "ASSAY_JOB_HEARTBEAT_SECONDS": "1",
        "ASSAY_REQUESTS_PER_MINUTE": "100000",
        "ASSAY_ALLOWED_SOURCE_HOSTS": "127.0.0.1",
        "ASSAY_WEBHOOK_CA_FILE": str(receiver.cert),
        "ASSAY_WEBHOOK_TIMEOUT_SECONDS": str(TIMEOUT_SECONDS),
        "ASSAY_WEBHOOK_POLL_SECONDS": "0.2",
        "ASSAY_WEBHOOK_BACKOFF_SECONDS": "0.5",
    }
    with Cluster(
        directory, workers=2, worker_concurrency=1, env=env, use_postgres=request.param == "postgresql"
    ) as running:
        running.settings = make_settings(directory, database_url=running.database_url)
        yield running


def webhook(client: ReplicaClient, token: str, url: str) -> str:
    made = client.gql(CREATE, {"input": {"url": url, "events": ["JOB_FINISHED"]}}, token)["data"]["createWebhook"]
    assert made["errors"] == [], made
    return made["webhook"]["id"]


def deliveries(client: ReplicaClient, token: str, webhook_id: str) -> list[dict]:
    found = client.gql(DELIVERIES, {"id": webhook_id}, token)["data"]["webhook"]["deliveries"]
    return [edge["node"] for edge in found["edges"]]


def finished_upload(client: ReplicaClient, token: str) -> None:
    job_id = client.upload(token, CSV, "data.csv")["job"]["id"]
    assert client.wait_for(token, job_id, ("SUCCEEDED", "FAILED"))["status"] == "SUCCEEDED"


def test_each_event_reaches_each_webhook_once_with_two_replicas_and_two_workers(cluster, receiver):
    a, b = (ReplicaClient(replica.base) for replica in cluster.replicas[:2])
    _, token = a.register()
    path_one, path_two = f"/once-{cluster.database_url[:5]}-1", f"/once-{cluster.database_url[:5]}-2"
    first, second = webhook(a, token, receiver.url(path_one)), webhook(b, token, receiver.url(path_two))
    finished_upload(a, token)
    finished_upload(b, token)
    for path, hook in ((path_one, first), (path_two, second)):
        receiver.wait_for(path, 2)
        time.sleep(2)  # time for any duplicate (another replica or worker sending it too) to arrive
        got = receiver.at(path)
        assert len(got) == 2 and len({r.headers["webhook-id"] for r in got}) == 2
        logged = deliveries(a, token, hook)
        assert [d["status"] for d in logged] == ["DELIVERED", "DELIVERED"] and {d["attempts"] for d in logged} == {1}


def test_a_worker_killed_mid_delivery_lets_another_deliver_it_with_the_same_id(cluster, receiver):
    client = ReplicaClient(cluster.replicas[0].base)
    _, token = client.register()
    release = threading.Event()
    path = f"/killed-{cluster.database_url[:5]}"
    hook = webhook(client, token, receiver.on(path, lambda hit: 200 if hit > 1 or release.wait(30) else 200))  # noqa: RUF034 - waits, then 200
    try:
        finished_upload(client, token)
        [first] = receiver.wait_for(path, 1)
        [(sender, attempts)] = run_sql(
            cluster.settings,
            "SELECT leased_by, attempts FROM webhook_delivery WHERE webhook_id = :id",
            id=hook_raw_id(hook),
        )
        assert attempts == 1
        victim = next(member for member in cluster.worker_members if member.name == sender)
        victim.kill()  # SIGKILL while its request hangs: nothing of it records an outcome
    finally:
        release.set()
    killed_at = time.monotonic()
    again = receiver.wait_for(path, 2, timeout=60)[1]
    assert again.headers["webhook-id"] == first.headers["webhook-id"] == first.event["id"]
    assert time.monotonic() - killed_at < 3 * TIMEOUT_SECONDS + 5 + 10  # when the lease lapsed, not a retry schedule
    deadline = time.monotonic() + 30
    while (logged := deliveries(client, token, hook))[0]["status"] == "PENDING" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert logged == [
        {"deliveryId": first.headers["webhook-id"], "status": "DELIVERED", "attempts": 2, "responseCode": 200}
    ]
    [(resender,)] = run_sql(
        cluster.settings, "SELECT leased_by FROM webhook_delivery WHERE webhook_id = :id", id=hook_raw_id(hook)
    )
    assert resender != sender
    cluster.add_worker(f"{sender}-again").wait_healthy()  # two workers again for the module's next test


def hook_raw_id(global_id: str) -> str:
    from schema.common import raw_id

    return raw_id(global_id, "Webhook") or ""
