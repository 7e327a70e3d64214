"""A client of one replica of a cluster: GraphQL over HTTP, uploads, and jobEvents over WebSocket."""
from __future__ import annotations

import json
import time
import uuid
from typing import Any, Iterator

import httpx
from websockets.sync.client import connect

PASSWORD = "correct horse battery"
EVENTS = """subscription($id: ID!, $after: Int!) { jobEvents(jobId: $id, after: $after) {
  kind job { status error attempt } log { seq message } } }"""


class ReplicaClient:
    def __init__(self, base: str) -> None:
        self.base = base

    def gql(self, query: str, variables: dict | None = None, token: str | None = None) -> dict:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        return httpx.post(f"{self.base}/graphql", json={"query": query, "variables": variables or {}},
                          headers=headers, timeout=60).json()

    def register(self, email: str | None = None) -> tuple[str, str]:
        email = email or f"user-{uuid.uuid4().hex[:8]}@example.com"
        query = "mutation($e: String!, $p: String!) { register(input: {email: $e, password: $p}) { accessToken } }"
        return email, self.gql(query, {"e": email, "p": PASSWORD})["data"]["register"]["accessToken"]

    def login(self, email: str, password: str) -> dict:
        query = ("mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) "
                 "{ accessToken errors { code } } }")
        return self.gql(query, {"e": email, "p": password})

    def upload(self, token: str, content: bytes, filename: str = "data.csv") -> dict[str, Any]:
        query = ("mutation($input: UploadDatasetInput!) { uploadDataset(input: $input) "
                 "{ dataset { id } job { id } errors { code message } } }")
        response = httpx.post(f"{self.base}/graphql", headers={"authorization": f"Bearer {token}",
                                                                "apollo-require-preflight": "1"},
                              data={"operations": json.dumps({"query": query, "variables": {"input": {"file": None}}}),
                                    "map": json.dumps({"0": ["variables.input.file"]})},
                              files={"0": (filename, content, "text/csv")}, timeout=120)
        payload = response.json()["data"]["uploadDataset"]
        assert payload["errors"] == [], payload
        return payload

    def job(self, token: str, job_id: str) -> dict:
        query = "query($id: ID!) { job(id: $id) { kind status error attempt logs(last: 100) { seq level message } } }"
        return self.gql(query, {"id": job_id}, token)["data"]["job"]

    def wait_for(self, token: str, job_id: str, statuses: tuple[str, ...], timeout: float = 90) -> dict:
        deadline = time.monotonic() + timeout
        job: dict = {}
        while time.monotonic() < deadline:
            job = self.job(token, job_id)
            if job and job["status"] in statuses:
                return job
            time.sleep(0.2)
        raise AssertionError(f"job {job_id} never reached {statuses}: {job}")

    def events(self, token: str, job_id: str, *, after: int = 0, timeout: float = 120) -> Iterator[dict]:
        """jobEvents as they come, until the stream completes (or the socket drops)."""
        url = self.base.replace("http", "ws") + "/graphql"
        with connect(url, subprotocols=["graphql-transport-ws"], open_timeout=30) as socket:
            socket.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}))
            assert json.loads(socket.recv(30))["type"] == "connection_ack"
            socket.send(json.dumps({"id": "1", "type": "subscribe",
                                    "payload": {"query": EVENTS, "variables": {"id": job_id, "after": after}}}))
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
