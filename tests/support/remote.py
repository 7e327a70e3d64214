"""GraphQL over real HTTP to a server on a port: what LiveServer (one process) and ReplicaClient (one
replica of a cluster) both speak, kept in one place so an upload is sent the same way to either."""

from __future__ import annotations

import json
import time
from typing import Any, BinaryIO

import httpx

UPLOAD = (
    "mutation($input: UploadDatasetInput!) { uploadDataset(input: $input) "
    "{ dataset { id } job { id } errors { code message } } }"
)
JOB = "query($id: ID!) { job(id: $id) { kind status error attempt logs(last: 100) { seq level message } } }"


class GraphQLOverHTTP:
    """Subclasses set `base` (http://host:port); the timeouts suit a busy machine and can be overridden."""

    base: str
    request_timeout: float = 30
    upload_timeout: float = 120
    wait_timeout: float = 60

    def gql(self, query: str, variables: dict | None = None, token: str | None = None) -> dict:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        return httpx.post(
            f"{self.base}/graphql",
            json={"query": query, "variables": variables or {}},
            headers=headers,
            timeout=self.request_timeout,
        ).json()

    def upload(self, token: str, content: bytes, filename: str = "data.csv") -> dict[str, Any]:
        """A GraphQL multipart upload; returns `uploadDataset`'s payload, which must have no errors."""
        return upload(self.base, token, content, filename, timeout=self.upload_timeout)

    def job(self, token: str, job_id: str) -> dict:
        return self.gql(JOB, {"id": job_id}, token)["data"]["job"]

    def wait_for(self, token: str, job_id: str, statuses: tuple[str, ...], timeout: float | None = None) -> dict:
        deadline = time.monotonic() + (self.wait_timeout if timeout is None else timeout)
        job: dict = {}
        while time.monotonic() < deadline:
            job = self.job(token, job_id)
            if job and job["status"] in statuses:
                return job
            time.sleep(0.2)  # 300 polls a minute: under the server's 600 requests per minute per user
        raise AssertionError(f"job {job_id} never reached {statuses}: {job}")


def upload(base: str, token: str, content: bytes | BinaryIO, filename: str, *, timeout: float) -> dict[str, Any]:
    """A GraphQL multipart upload (the spec's `operations`, `map` and one file part) of `content`, bytes or a file
    opened for reading (streamed); returns `uploadDataset`'s payload, which must have no errors. The benchmarks
    upload with it too (bench/harness.py)."""
    response = httpx.post(
        f"{base}/graphql",
        headers={"authorization": f"Bearer {token}", "apollo-require-preflight": "1"},
        data={
            "operations": json.dumps({"query": UPLOAD, "variables": {"input": {"file": None}}}),
            "map": json.dumps({"0": ["variables.input.file"]}),
        },
        files={"0": (filename, content, "text/csv")},
        timeout=timeout,
    )
    payload = response.json()["data"]["uploadDataset"]
    assert payload["errors"] == [], payload
    return payload
