"""Webhooks as a user sets them up through /graphql, with a real HTTPS receiver: jobs ending are delivered signed,
failed deliveries are retried with the same delivery id, a hanging endpoint delays nothing else, bad input stores
nothing, and nobody sees another user's webhooks."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from starlette.testclient import TestClient

from examples.verify_webhook import InvalidDelivery, verify
from server.app import create_app
from tests.support.graphql import gql, ingest, register
from tests.support.settings import make_settings, run_sql
from tests.support.webhook_receiver import Receiver

CREATE = """mutation($input: CreateWebhookInput!) { createWebhook(input: $input) {
  webhook { id url events jobKinds jobStatuses enabled } secret errors { code message field } } }"""
UPDATE = """mutation($input: UpdateWebhookInput!) { updateWebhook(input: $input) {
  webhook { id url events enabled } secret errors { code message field } } }"""
DELETE = """mutation($id: ID!) { deleteWebhook(input: {id: $id}) { webhook { id } errors { code message field } } }"""
LIST = """{ webhooks { totalCount edges { node { id url events } } } }"""
DELIVERIES = """query($id: ID!, $status: WebhookDeliveryStatus) { webhook(id: $id) { id
  deliveries(status: $status) { totalCount edges { node { deliveryId event status attempts responseCode lastError
  nextAttemptAt deliveredAt body } } } } }"""
CSV = b"a,b\n1,x\n2,y\n3,z\n"


@pytest.fixture
def receiver(tmp_path_factory) -> Iterator[Receiver]:
    """One per test (and database): what a test's receiver saw is that test's alone."""
    with Receiver(tmp_path_factory.mktemp("receiver")) as running:
        yield running


def webhook_client(tmp_path, receiver: Receiver, **overrides) -> TestClient:
    values = {
        "allowed_source_hosts": "127.0.0.1",
        "webhook_ca_file": str(receiver.cert),
        "webhook_backoff_seconds": 0.3,
        "webhook_poll_seconds": 0.1,
        "webhook_timeout_seconds": 2,
        **overrides,
    }
    settings = make_settings(tmp_path, **values)
    client = TestClient(create_app(settings))
    client.settings = settings
    return client


@pytest.fixture
def client(tmp_path, receiver) -> Iterator[TestClient]:
    with webhook_client(tmp_path, receiver) as running:
        yield running


def create(client: TestClient, token: str, **values) -> dict:
    return gql(client, CREATE, {"input": values}, token)["data"]["createWebhook"]


def deliveries(client: TestClient, token: str, webhook_id: str, status: str | None = None) -> list[dict]:
    hook = gql(client, DELIVERIES, {"id": webhook_id, "status": status}, token)["data"]["webhook"]
    return [edge["node"] for edge in hook["deliveries"]["edges"]]


def wait_settled(client: TestClient, token: str, webhook_id: str, count: int = 1, timeout: float = 30) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = deliveries(client, token, webhook_id)
        if len(found) >= count and all(d["status"] != "PENDING" for d in found):
            return found
        time.sleep(0.1)
    raise AssertionError(f"deliveries not settled in {timeout} s: {deliveries(client, token, webhook_id)}")


def test_a_finished_job_is_delivered_signed_and_logged(client, receiver, token):
    made = create(client, token, url=receiver.url("/signed"), events=["JOB_FINISHED"], description="ops")
    assert made["errors"] == [] and made["secret"].startswith("whsec_")
    hook = made["webhook"]
    assert hook["events"] == ["JOB_FINISHED"] and hook["enabled"] is True
    dataset = ingest(client, token, CSV, expect="SUCCEEDED")

    [got] = receiver.wait_for("/signed", 1)
    event = verify(made["secret"], got.headers, got.body)  # the documented verifier accepts it
    assert event["type"] == "JOB_FINISHED" and event["id"] == got.headers["webhook-id"]
    assert event["data"]["kind"] == "INGEST" and event["data"]["status"] == "SUCCEEDED"
    assert event["data"]["datasetId"] == dataset["id"]
    assert got.headers["webhook-signature"].startswith("v1,") and got.headers["content-type"] == "application/json"
    with pytest.raises(InvalidDelivery, match="signature mismatch"):
        verify(made["secret"], got.headers, got.body.replace(b"SUCCEEDED", b"FAILED"))
    with pytest.raises(InvalidDelivery, match="replay window"):
        verify(made["secret"], got.headers, got.body, now=time.time() + 600)

    [logged] = wait_settled(client, token, hook["id"])
    assert logged["deliveryId"] == got.headers["webhook-id"] and logged["status"] == "DELIVERED"
    assert logged["attempts"] == 1 and logged["responseCode"] == 200 and logged["nextAttemptAt"] is None
    assert logged["body"].encode() == got.body
    listed = gql(client, LIST, token=token)["data"]["webhooks"]
    assert listed["totalCount"] == 1 and "secret" not in listed["edges"][0]["node"]


def test_a_500_is_retried_with_backoff_and_the_same_delivery_id(client, receiver, token):
    url = receiver.on("/flaky", lambda hit: 500 if hit <= 2 else 200)
    hook = create(client, token, url=url, events=["JOB_FINISHED"])["webhook"]
    ingest(client, token, CSV, expect="SUCCEEDED")

    attempts = receiver.wait_for("/flaky", 3)
    assert len({a.headers["webhook-id"] for a in attempts}) == 1
    gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(attempts)]
    assert gaps[0] >= 0.15 and gaps[1] >= 0.3  # 0.3 s then 0.6 s, each at least half by the jitter
    [logged] = wait_settled(client, token, hook["id"])
    assert logged["status"] == "DELIVERED" and logged["attempts"] == 3 and logged["responseCode"] == 200


def test_an_endpoint_that_never_accepts_is_given_up_after_the_retry_window(tmp_path, receiver):
    url = receiver.on("/down", lambda hit: 503)
    with webhook_client(tmp_path, receiver, webhook_retry_seconds=1.5) as client:
        token = register(client)["accessToken"]
        hook = create(client, token, url=url, events=["JOB_FINISHED"])["webhook"]
        ingest(client, token, CSV, expect="SUCCEEDED")
        [logged] = wait_settled(client, token, hook["id"])
    assert logged["status"] == "FAILED" and logged["responseCode"] == 503 and logged["attempts"] >= 2
    assert "HTTP 503; given up after" in logged["lastError"]
    assert len(receiver.at("/down")) == logged["attempts"]


# The hanging endpoint answers only after this long: both jobs and the prompt deliveries must be done before it.
# Ample, because two ingests take seconds on a busy machine (they took over 10 s with the load average at 27).
HANG_SECONDS = 30


def test_a_hanging_endpoint_delays_neither_jobs_nor_other_webhooks(client, receiver, token):
    release = threading.Event()
    hanging = receiver.on("/hang", lambda hit: 200 if release.wait(HANG_SECONDS) else 200)  # noqa: RUF034 - waits, then 200
    slow = create(client, token, url=hanging, events=["JOB_FINISHED"])["webhook"]
    create(client, token, url=receiver.url("/prompt"), events=["JOB_FINISHED"])
    try:
        started = time.monotonic()
        ingest(client, token, CSV, expect="SUCCEEDED")
        ingest(client, token, CSV, expect="SUCCEEDED")
        receiver.wait_for("/prompt", 2, timeout=HANG_SECONDS)
        assert time.monotonic() - started < HANG_SECONDS and not release.is_set()
        assert gql(client, "{ health { status } }")["data"]["health"]["status"]  # the API answers meanwhile
    finally:
        release.set()
    # the hung attempts timed out (2 s) and are retried: they are not lost
    logged = wait_settled(client, token, slow["id"], count=2, timeout=30)
    assert {d["status"] for d in logged} == {"DELIVERED"}


def test_job_finished_is_narrowed_by_kind_and_status(client, receiver, token):
    failed_only = create(
        client, token, url=receiver.url("/failed-only"), events=["JOB_FINISHED"], jobStatuses=["FAILED"]
    )["webhook"]
    profiles = create(client, token, url=receiver.url("/profiles"), events=["JOB_FINISHED"], jobKinds=["PROFILE"])[
        "webhook"
    ]
    everything = create(client, token, url=receiver.url("/all"), events=["JOB_FINISHED"])["webhook"]
    ingest(client, token, CSV, expect="SUCCEEDED")
    ingest(client, token, b"a,b,c\n1,2,3\n4,5,6,7\n", "ragged.csv", csv={"onBadLines": "FAIL"}, expect="FAILED")
    logged = wait_settled(client, token, everything["id"], count=2)
    assert sorted(json_of(d)["data"]["status"] for d in logged) == ["FAILED", "SUCCEEDED"]
    [failure] = wait_settled(client, token, failed_only["id"])
    assert json_of(failure)["data"]["status"] == "FAILED"
    assert deliveries(client, token, profiles["id"]) == []


def json_of(delivery: dict) -> dict:
    import json

    return json.loads(delivery["body"])


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"url": "http://127.0.0.1:9/x"}, ["url"], "must be https://"),
        ({"url": "https://10.255.255.1/x"}, ["url"], "a non-public address; webhooks may not reach it"),
        ({"url": "https://nowhere.invalid/x"}, ["url"], "Cannot resolve nowhere.invalid"),
        ({"url": "ftp://example.com/x"}, ["url"], "must be http:// or https://"),
        ({"events": []}, ["events"], "at least one event"),
        ({"secret": "hunter2"}, ["secret"], "whsec_"),
        ({"jobStatuses": ["RUNNING"]}, ["jobStatuses"], "a job finishes SUCCEEDED, FAILED or CANCELLED"),
        ({"events": ["MODEL_ALIAS_MOVED"], "jobKinds": ["INGEST"]}, ["jobKinds"], "narrow JOB_FINISHED"),
    ],
)
def test_bad_input_is_a_typed_error_naming_the_field_and_stores_nothing(
    client, receiver, token, values, field, message
):
    made = create(client, token, **{"url": receiver.url("/bad"), "events": ["JOB_FINISHED"], **values})
    assert made["webhook"] is None and made["secret"] is None
    [error] = made["errors"]
    assert error["code"] == "INVALID_INPUT" and error["field"] == field and message in error["message"], error
    assert gql(client, LIST, token=token)["data"]["webhooks"]["totalCount"] == 0


def test_an_unknown_event_is_refused_by_the_schema(client, receiver, token):
    answer = gql(client, CREATE, {"input": {"url": receiver.url("/x"), "events": ["JOB_EXPLODED"]}}, token)
    assert "data" not in answer or answer["data"] is None
    assert "JOB_EXPLODED" in answer["errors"][0]["message"] and "WebhookEvent" in answer["errors"][0]["message"]
    assert gql(client, LIST, token=token)["data"]["webhooks"]["totalCount"] == 0


def test_update_rotate_pause_and_delete(client, receiver, token):
    made = create(client, token, url=receiver.url("/v1"), events=["JOB_FINISHED"])
    hook_id = made["webhook"]["id"]
    moved = gql(
        client,
        UPDATE,
        {
            "input": {
                "id": hook_id,
                "url": receiver.url("/v2"),
                "rotateSecret": True,
                "events": ["JOB_FINISHED", "MODEL_ALIAS_MOVED"],
            }
        },
        token,
    )["data"]["updateWebhook"]
    assert moved["errors"] == [] and moved["webhook"]["url"].endswith("/v2")
    assert moved["secret"].startswith("whsec_") and moved["secret"] != made["secret"]
    refused = gql(client, UPDATE, {"input": {"id": hook_id, "url": "https://10.0.0.1/"}}, token)["data"][
        "updateWebhook"
    ]
    assert refused["errors"][0]["field"] == ["url"]
    assert gql(client, LIST, token=token)["data"]["webhooks"]["edges"][0]["node"]["url"].endswith("/v2")

    paused = gql(client, UPDATE, {"input": {"id": hook_id, "enabled": False}}, token)["data"]["updateWebhook"]
    assert paused["webhook"]["enabled"] is False and paused["secret"] is None
    ingest(client, token, CSV, expect="SUCCEEDED")
    time.sleep(0.5)
    assert deliveries(client, token, hook_id) == [] and receiver.at("/v2") == []

    gone = gql(client, DELETE, {"id": hook_id}, token)["data"]["deleteWebhook"]
    assert gone["errors"] == [] and gql(client, LIST, token=token)["data"]["webhooks"]["totalCount"] == 0


def test_another_users_webhooks_and_deliveries_stay_invisible(client, receiver, token):
    hook = create(client, token, url=receiver.url("/mine"), events=["JOB_FINISHED"])["webhook"]
    ingest(client, token, CSV, expect="SUCCEEDED")
    wait_settled(client, token, hook["id"])
    stranger = register(client)["accessToken"]
    assert gql(client, LIST, token=stranger)["data"]["webhooks"]["totalCount"] == 0
    assert gql(client, DELIVERIES, {"id": hook["id"]}, stranger)["data"]["webhook"] is None
    for answer in (
        gql(client, UPDATE, {"input": {"id": hook["id"], "enabled": False}}, stranger)["data"]["updateWebhook"],
        gql(client, DELETE, {"id": hook["id"]}, stranger)["data"]["deleteWebhook"],
    ):
        assert answer["webhook"] is None and answer["errors"] == [
            {"code": "NOT_FOUND", "message": "Webhook not found", "field": ["id"]}
        ]
    # the stranger's own job is never delivered to the owner's webhook
    ingest(client, stranger, CSV, expect="SUCCEEDED")
    time.sleep(0.5)
    assert len(deliveries(client, token, hook["id"])) == 1
    assert gql(client, LIST, token=token)["data"]["webhooks"]["edges"][0]["node"]["id"] == hook["id"]
    assert run_sql(client.settings, "SELECT count(*) FROM webhook_delivery") == [(1,)]


def test_the_address_rules_are_checked_again_at_each_delivery(tmp_path, receiver):
    """Made while 127.0.0.1 was allowed; the operator then removes it: deliveries are refused on the connection."""
    with webhook_client(tmp_path, receiver) as client:
        token = register(client, email="ops@example.com")["accessToken"]
        hook = create(client, token, url=receiver.url("/revoked"), events=["JOB_FINISHED"])["webhook"]
    with webhook_client(tmp_path, receiver, allowed_source_hosts="", webhook_retry_seconds=1) as client:
        token = gql(client, LOGIN, {"e": "ops@example.com", "p": "correct horse battery"})["data"]["login"][
            "accessToken"
        ]
        ingest(client, token, CSV, expect="SUCCEEDED")
        [logged] = wait_settled(client, token, hook["id"])
    assert logged["status"] == "FAILED" and logged["responseCode"] is None
    assert "Refused: 127.0.0.1 resolves to 127.0.0.1, a non-public address" in logged["lastError"]
    assert receiver.at("/revoked") == []


LOGIN = """mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { accessToken } }"""


def test_settled_deliveries_older_than_the_log_retention_are_deleted(tmp_path, receiver):
    with webhook_client(tmp_path, receiver) as client:
        token = register(client, email="old@example.com")["accessToken"]
        hook = create(client, token, url=receiver.url("/old"), events=["JOB_FINISHED"])["webhook"]
        ingest(client, token, CSV, expect="SUCCEEDED")
        ingest(client, token, CSV, expect="SUCCEEDED")
        assert len(wait_settled(client, token, hook["id"], count=2)) == 2
        settings = client.settings
    # one of them happened 31 days ago (the retention is 30)
    run_sql(
        settings,
        "UPDATE webhook_delivery SET created_at = :then WHERE id = (SELECT min(id) FROM webhook_delivery)",
        then=datetime.now(UTC) - timedelta(days=31),
    )
    with webhook_client(tmp_path, receiver) as client:  # a worker prunes when it starts, then hourly
        token = gql(client, LOGIN, {"e": "old@example.com", "p": "correct horse battery"})["data"]["login"][
            "accessToken"
        ]
        deadline = time.monotonic() + 10
        while len(deliveries(client, token, hook["id"])) != 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(deliveries(client, token, hook["id"])) == 1


PAGE = """query($id: ID!, $after: String) { webhook(id: $id) { deliveries(first: 2, after: $after) {
  totalCount pageInfo { hasNextPage endCursor } edges { node { deliveryId } } } } }"""


def test_the_per_user_limit_and_the_delivery_log_pages(tmp_path, receiver):
    with webhook_client(tmp_path, receiver, webhook_max_per_user=2) as client:
        token = register(client)["accessToken"]
        hooks = [create(client, token, url=receiver.url(f"/page{i}"), events=["JOB_FINISHED"]) for i in range(3)]
        assert [h["errors"] for h in hooks[:2]] == [[], []]
        assert hooks[2]["webhook"] is None and hooks[2]["errors"][0]["code"] == "INVALID_INPUT"
        assert "the most one user may have" in hooks[2]["errors"][0]["message"]
        assert gql(client, LIST, token=token)["data"]["webhooks"]["totalCount"] == 2

        hook_id = hooks[0]["webhook"]["id"]
        for _ in range(3):
            ingest(client, token, CSV, expect="SUCCEEDED")
        wait_settled(client, token, hook_id, count=3)
        first = gql(client, PAGE, {"id": hook_id}, token)["data"]["webhook"]["deliveries"]
        assert first["totalCount"] == 3 and first["pageInfo"]["hasNextPage"] and len(first["edges"]) == 2
        rest = gql(client, PAGE, {"id": hook_id, "after": first["pageInfo"]["endCursor"]}, token)["data"]["webhook"]
        seen = [e["node"]["deliveryId"] for e in first["edges"] + rest["deliveries"]["edges"]]
        assert len(set(seen)) == 3 and not rest["deliveries"]["pageInfo"]["hasNextPage"]
