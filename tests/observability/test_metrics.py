"""/metrics on a replica: what a Prometheus scrape sees after known work, and who may scrape at all."""

from __future__ import annotations

import io
import time

import pytest
from sklearn.datasets import load_iris
from starlette.testclient import TestClient

from server.app import create_app
from tests.support.graphql import gql, ingest, register, train_model
from tests.support.metrics import metric_names, value
from tests.support.settings import make_settings

LOCAL = ("127.0.0.1", 40000)


def iris_csv() -> bytes:
    frame = load_iris(as_frame=True).frame
    frame["target"] = frame["target"].map({0: "setosa", 1: "versicolor", 2: "virginica"})
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue().encode()


@pytest.fixture
def local_client(tmp_path):
    """A client that connects from 127.0.0.1, inside the default ASSAY_METRICS_ALLOW."""
    with TestClient(create_app(make_settings(tmp_path)), client=LOCAL) as client:
        yield client


def test_jobs_operations_and_errors_are_counted_after_known_work(local_client):
    client = local_client
    token = register(client)["accessToken"]
    dataset = ingest(client, token, iris_csv(), "iris.csv")
    for _ in range(2):
        # train_model's mutation is named Train: counted below as operation="Train"
        train_model(client, token, dataset["id"], target="target", algorithms=["LOGISTIC_REGRESSION"], cvFolds=2)
    gql(client, "query Mine { me { id } }")  # not logged in: an UNAUTHENTICATED error
    gql(client, "query Broken { noSuchField }", token=token)  # refused by validation

    response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert value(text, "assay_jobs_finished_total", kind="TRAIN", status="SUCCEEDED") == 2
    assert value(text, "assay_jobs_finished_total", kind="INGEST", status="SUCCEEDED") == 1
    assert value(text, "assay_jobs_finished_total", status="FAILED") == 0
    assert value(text, "assay_job_duration_seconds_count", kind="TRAIN", status="SUCCEEDED") == 2
    assert value(text, "assay_job_duration_seconds_sum", kind="TRAIN") > 0
    assert value(text, "assay_job_queue_wait_seconds_count", kind="TRAIN") == 2
    assert value(text, "assay_graphql_operations_total", operation="Train", type="mutation") == 2
    assert value(text, "assay_graphql_operation_duration_seconds_count", operation="Train", type="mutation") == 2
    assert value(text, "assay_graphql_operations_total", operation="Mine", type="query") == 1
    assert value(text, "assay_graphql_errors_total", code="UNAUTHENTICATED") >= 1
    assert value(text, "assay_graphql_errors_total", code="GRAPHQL_VALIDATION_FAILED") == 1
    assert value(text, "assay_job_queue_depth", status="QUEUED") == 0
    assert value(text, "assay_jobs_running") == 0
    assert value(text, "assay_db_pool_size") >= 1 and "assay_db_pool_checked_out" in metric_names(text)
    assert "assay_redis_up" not in metric_names(text)  # no Redis configured: no reading, rather than a false 0
    assert value(text, "assay_info", role="replica") == 1


def test_open_subscriptions_are_a_gauge(local_client):
    client = local_client
    token = register(client)["accessToken"]

    def open_subscriptions() -> float:
        return value(client.get("/metrics").text, "assay_graphql_active_subscriptions")

    assert open_subscriptions() == 0
    with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as socket:
        socket.send_json({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
        assert socket.receive_json()["type"] == "connection_ack"
        socket.send_json(
            {"id": "1", "type": "subscribe", "payload": {"query": "subscription Watch { jobUpdates { id status } }"}}
        )
        deadline = time.monotonic() + 10
        while open_subscriptions() != 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert open_subscriptions() == 1
        socket.send_json({"id": "1", "type": "complete"})
        deadline = time.monotonic() + 10
        while open_subscriptions() != 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert open_subscriptions() == 0
    text = client.get("/metrics").text
    assert value(text, "assay_graphql_operations_total", operation="Watch", type="subscription") == 1


def test_metrics_are_refused_outside_the_allowed_networks(tmp_path):
    with TestClient(create_app(make_settings(tmp_path, metrics_allow="10.0.0.0/8")), client=LOCAL) as client:
        response = client.get("/metrics")
        assert response.status_code == 403 and "ASSAY_METRICS_ALLOW" in response.json()["error"]
        assert "assay_" not in response.text
    with TestClient(create_app(make_settings(tmp_path)), client=("203.0.113.9", 40000)) as client:
        assert client.get("/metrics").status_code == 403  # the default allows loopback only


def test_metrics_token_opens_them_from_anywhere_and_a_wrong_one_is_refused(tmp_path):
    settings = make_settings(tmp_path, metrics_token="scrape-secret-0123456789")
    with TestClient(create_app(settings), client=("203.0.113.9", 40000)) as client:
        assert client.get("/metrics").status_code == 403
        wrong = client.get("/metrics", headers={"authorization": "Bearer not-the-token"})
        assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
        assert "assay_" not in wrong.text
        right = client.get("/metrics", headers={"authorization": "Bearer scrape-secret-0123456789"})
        assert (
            right.status_code == 200 and "assay_graphql_operations_total" in right.text
        ) or "assay_info" in right.text
    with TestClient(create_app(make_settings(tmp_path)), client=LOCAL) as client:
        # No token configured: presenting one opens nothing, even from an allowed network.
        assert client.get("/metrics", headers={"authorization": "Bearer anything"}).status_code == 401
