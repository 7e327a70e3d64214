"""A client of one replica of a cluster: GraphQL over HTTP, uploads, and jobEvents over WebSocket."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator

import redis
from websockets.sync.client import connect

from devtools.cluster import Cluster, Member
from tests.support.remote import GraphQLOverHTTP

PASSWORD = "correct horse battery"
EVENTS = """subscription($id: ID!, $after: Int!) { jobEvents(jobId: $id, after: $after) {
  kind job { status error attempt } log { seq message } } }"""
# Named: the observability tests count it as operation="Train".
TRAIN = """mutation Train($input: TrainModelInput!) {
  trainModel(input: $input) { model { id } job { id } errors { code message } } }"""


class ReplicaClient(GraphQLOverHTTP):
    request_timeout = 60
    wait_timeout = 90

    def __init__(self, base: str) -> None:
        self.base = base

    def register(self, email: str | None = None) -> tuple[str, str]:
        email = email or f"user-{uuid.uuid4().hex[:8]}@example.com"
        query = "mutation($e: String!, $p: String!) { register(input: {email: $e, password: $p}) { accessToken } }"
        return email, self.gql(query, {"e": email, "p": PASSWORD})["data"]["register"]["accessToken"]

    def login(self, email: str, password: str) -> dict:
        query = (
            "mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) "
            "{ accessToken errors { code } } }"
        )
        return self.gql(query, {"e": email, "p": password})

    def train(self, token: str, dataset_id: str, target: str, algorithm: str) -> dict:
        """Start training one algorithm with 2 folds; returns `trainModel`'s payload, which must have no errors."""
        variables = {"input": {"datasetId": dataset_id, "target": target, "algorithms": [algorithm], "cvFolds": 2}}
        payload = self.gql(TRAIN, variables, token)["data"]["trainModel"]
        assert payload["errors"] == [], payload
        return payload

    def events(self, token: str, job_id: str, *, after: int = 0, timeout: float = 120) -> Iterator[dict]:
        """jobEvents as they come, until the stream completes (or the socket drops)."""
        url = self.base.replace("http", "ws") + "/graphql"
        with connect(url, subprotocols=["graphql-transport-ws"], open_timeout=30) as socket:
            socket.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}))
            assert json.loads(socket.recv(30))["type"] == "connection_ack"
            socket.send(
                json.dumps(
                    {
                        "id": "1",
                        "type": "subscribe",
                        "payload": {"query": EVENTS, "variables": {"id": job_id, "after": after}},
                    }
                )
            )
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                message = json.loads(socket.recv(timeout))
                if message["type"] == "complete":
                    return
                if message["type"] == "error":
                    raise AssertionError(message)
                if message["type"] == "next":
                    assert "errors" not in message["payload"], message
                    yield message["payload"]["data"]["jobEvents"]


def worker_running(cluster: Cluster, raw_job_id: str, timeout: float = 20) -> Member:
    """The worker whose live record (in Redis) says it runs the job."""
    client = redis.Redis.from_url(cluster.redis_url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for key in client.scan_iter("assay:worker:*"):
            record = json.loads(client.get(key) or "{}")
            if raw_job_id in record.get("running", []):
                return next(m for m in cluster.worker_members if m.name == record["name"])
        time.sleep(0.1)
    raise AssertionError("no live worker reports running the job")
