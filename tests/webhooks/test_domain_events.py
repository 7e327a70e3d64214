"""The domains' own events reach webhooks: a pipeline run ending (with its failed checks), an alias moved and deleted.
Plus the pure pieces: the signature against the Standard Webhooks test vector, ids as the API shows them, backoff."""

from __future__ import annotations

import asyncio
import json
import random

from sqlalchemy import func, select

from schema.common import raw_id, to_global_id
from services.storage import db
from services.storage.tables import WebhookDelivery
from services.webhooks.delivery import MAX_BACKOFF_SECONDS, retry_delay
from services.webhooks.events import WebhookEvent, api_id, publish
from services.webhooks.signing import signature
from tests.pipelines.operations import create_from_dataset
from tests.pipelines.operations import run as run_pipeline
from tests.registry.test_registry import alias, frame, registered, train_all
from tests.support.graphql import gql, ingest
from tests.webhooks.test_webhooks import client, create, receiver, wait_settled, webhook_client  # noqa: F401 - fixtures, requested by name

DELETE_ALIAS = """mutation($input: DeleteModelAliasInput!) { deleteModelAlias(input: $input) { errors { code } } }"""


def bodies(found: list[dict]) -> list[dict]:
    return [json.loads(d["body"]) for d in reversed(found)]  # oldest first


def test_a_pipeline_run_finishing_is_delivered_with_its_failed_checks(client, receiver, token):  # noqa: F811 - the imported fixture, requested by name
    hook = create(client, token, url=receiver.url("/runs"), events=["PIPELINE_RUN_FINISHED"])["webhook"]
    dataset = ingest(client, token, b"a,b\n1,x\n2,y\n", "small.csv", expect="SUCCEEDED")
    made = create_from_dataset(
        client, token, dataset["id"], "copy", {"dataset": {"name": "copy"}}, checks=[{"minRows": 10}]
    )
    assert made["errors"] == [], made
    result = run_pipeline(client, token, made["pipeline"]["id"])
    assert result["job"]["status"] == "FAILED"
    [event] = bodies(wait_settled(client, token, hook["id"]))
    assert event["type"] == "PIPELINE_RUN_FINISHED"
    data = event["data"]
    assert data["pipelineId"] == made["pipeline"]["id"] and data["pipelineName"] == "copy"
    assert data["status"] == "FAILED" and data["trigger"] == "MANUAL"
    assert data["failedChecks"] == [{"column": None, "rule": "MIN_ROWS", "failingRows": 0}]
    assert [r.event["type"] for r in receiver.at("/runs")] == ["PIPELINE_RUN_FINISHED"]


def test_an_alias_moved_and_deleted_is_delivered(client, receiver, token):  # noqa: F811 - the imported fixture, requested by name
    hook = create(client, token, url=receiver.url("/aliases"), events=["MODEL_ALIAS_MOVED"])["webhook"]
    dataset = ingest(client, token, frame().to_csv(index=False).encode(), "churn.csv")
    [model] = train_all(client, token, dataset["id"], ("LINEAR_REGRESSION", {}))
    assert registered(client, token, model)["errors"] == []
    assert alias(client, token, 1, comment="first")["errors"] == []
    deleted = gql(client, DELETE_ALIAS, {"input": {"name": "churn", "alias": "champion"}}, token)
    assert deleted["data"]["deleteModelAlias"]["errors"] == []
    moved, removed = bodies(wait_settled(client, token, hook["id"], count=2))
    assert moved["data"] | {"eventId": None} == {
        "name": "churn",
        "alias": "champion",
        "reference": "churn@champion",
        "fromVersion": None,
        "toVersion": 1,
        "comment": "first",
        "actorEmail": moved["data"]["actorEmail"],
        "eventId": None,
    }
    assert removed["data"]["fromVersion"] == 1 and removed["data"]["toVersion"] is None
    # only the subscribed event: the training and ingest jobs that finished meanwhile are not sent here
    assert {r.event["type"] for r in receiver.at("/aliases")} == {"MODEL_ALIAS_MOVED"}


def test_the_signature_matches_the_standard_webhooks_test_vector():
    # from the Standard Webhooks specification's reference libraries
    assert (
        signature(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            message_id="msg_p5jXN8AQM9LWM0D4loKWxJek",
            timestamp=1614265330,
            body=b'{"test": 2432232314}',
        )
        == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )


def test_event_ids_are_the_ids_the_api_shows():
    for type_name, raw in [("Job", "0123abcd"), ("Dataset", "f" * 32), ("PipelineRun", "1")]:
        assert api_id(type_name, raw) == to_global_id(type_name, raw)


def test_backoff_doubles_with_jitter_and_is_capped():
    rng = random.Random(7)
    for attempts, ceiling in [(1, 5), (2, 10), (3, 20), (12, MAX_BACKOFF_SECONDS)]:
        delays = [retry_delay(attempts, 5, jitter=rng) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays) and len(set(delays)) > 100


def test_an_event_is_queued_with_its_cause_or_not_at_all(client, receiver, token, user):  # noqa: F811 - the imported fixture, requested by name
    """The outbox: `publish` writes in the caller's transaction; a rollback leaves no delivery behind."""
    hook = create(client, token, url=receiver.url("/outbox"), events=["DRIFT_ALERT"])["webhook"]
    owner = raw_id(user["user"]["id"], "User")

    async def announce(commit: bool) -> int:
        engine = db.create_engine(client.app.state.assay.settings.resolved_database_url)
        try:
            async with db.session_factory(engine)() as session:
                await publish(session, user_id=owner, event=WebhookEvent.DRIFT_ALERT, data={"driftShare": 0.5})
                await publish(session, user_id=owner, event=WebhookEvent.VALIDATION_FAILED, data={})  # not subscribed
                await (session.commit() if commit else session.rollback())
                return await session.scalar(select(func.count()).select_from(WebhookDelivery)) or 0
        finally:
            await engine.dispose()

    assert asyncio.run(announce(commit=False)) == 0
    assert asyncio.run(announce(commit=True)) == 1
    [event] = bodies(wait_settled(client, token, hook["id"]))
    assert event["type"] == "DRIFT_ALERT" and event["data"] == {"driftShare": 0.5}
    assert [r.event["id"] for r in receiver.at("/outbox")] == [event["id"]]
