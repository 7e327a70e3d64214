"""Shared fixtures: a temp data dir, the real ASGI app, logged-in users, and GraphQL helpers."""
from __future__ import annotations

import json
import time
import uuid
import zlib
from pathlib import Path
from typing import Any, Iterator

import pytest
from starlette.testclient import TestClient

from server.app import create_app
from server.settings import Settings

CORPUS = Path(__file__).parent / "corpus"
PREFLIGHT = {"apollo-require-preflight": "true"}


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values = {"data_dir": tmp_path / "data", "secret_key": "test-secret-key-that-is-long-enough-for-hs256",
              "max_concurrent_jobs": 2, "job_heartbeat_seconds": 0.5, **overrides}
    return Settings(**values)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def gql(client: TestClient, query: str, variables: dict | None = None, token: str | None = None,
        headers: dict | None = None) -> dict:
    all_headers = {"authorization": f"Bearer {token}"} if token else {}
    all_headers.update(headers or {})
    response = client.post("/graphql", json={"query": query, "variables": variables or {}}, headers=all_headers)
    return response.json()


REGISTER = """mutation($email: String!, $password: String!) {
  register(input: {email: $email, password: $password}) {
    accessToken refreshToken user { id email role } errors { code message field } } }"""


def register(client: TestClient, email: str | None = None, password: str = "correct horse battery") -> dict:
    email = email or f"user-{uuid.uuid4().hex[:8]}@example.com"
    payload = gql(client, REGISTER, {"email": email, "password": password})["data"]["register"]
    assert payload["errors"] == [], payload
    return payload


@pytest.fixture
def user(client: TestClient) -> dict:
    return register(client)


@pytest.fixture
def token(user: dict) -> str:
    return user["accessToken"]


UPLOAD = """mutation($input: UploadDatasetInput!) {
  uploadDataset(input: $input) {
    dataset { id name fileName status sizeBytes }
    job { id kind status }
    errors { code message field } } }"""


def upload(client: TestClient, token: str, content: bytes, filename: str = "data.csv", *, name: str | None = None,
           csv: dict | None = None, headers: dict | None = None) -> dict:
    """Send a file the way GraphQL multipart clients do (operations + map + file part)."""
    variables: dict[str, Any] = {"input": {"file": None}}
    if name is not None:
        variables["input"]["name"] = name
    if csv is not None:
        variables["input"]["csv"] = csv
    operations = json.dumps({"query": UPLOAD, "variables": variables})
    all_headers = {"authorization": f"Bearer {token}", **PREFLIGHT, **(headers or {})}
    response = client.post("/graphql", data={"operations": operations, "map": json.dumps({"0": ["variables.input.file"]})},
                           files={"0": (filename, content, "text/csv")}, headers=all_headers)
    return response.json()


JOB = """query($id: ID!) { job(id: $id) { id kind status stage progress error attempt
  timeline { stage durationMs } logs(last: 200) { seq level stage message } } }"""


def wait_for_job(client: TestClient, token: str, job_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = gql(client, JOB, {"id": job_id}, token)["data"]["job"]
        if job["status"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish in {timeout}s: {job}")


DATASET = """query($id: ID!) { dataset(id: $id) { id name fileName status error rowCount columnCount sizeBytes
  columns { name index semanticType dtype nullCount }
  ingest { encoding delimiter hasHeader decimal skippedLines }
  rows(offset: 0, limit: 5) { columns rows offset totalRows } } }"""


def ingest(client: TestClient, token: str, content: bytes, filename: str = "data.csv", **kwargs: Any) -> dict:
    """Upload, wait for the INGEST job, and return the dataset as a client sees it."""
    result = upload(client, token, content, filename, **kwargs)
    payload = result["data"]["uploadDataset"]
    assert payload["errors"] == [], payload
    job = wait_for_job(client, token, payload["job"]["id"])
    dataset = gql(client, DATASET, {"id": payload["dataset"]["id"]}, token)["data"]["dataset"]
    dataset["job"] = job
    return dataset


def slow_gzip(path: Path, rows_millions: int = 26) -> bytes:
    """A few MB of gzip that inflates to ~23 bytes x rows: seconds of parsing for a tiny upload."""
    compressor = zlib.compressobj(1, zlib.DEFLATED, 31)
    chunk = b"12345,abcde,2024-01-01\n" * 100_000
    parts = [compressor.compress(b"a,b,c\n")] + [compressor.compress(chunk) for _ in range(rows_millions * 10)]
    data = b"".join(parts) + compressor.flush()
    path.write_bytes(data)
    return data


@pytest.fixture(scope="session")
def slow_file(tmp_path_factory) -> bytes:
    return slow_gzip(tmp_path_factory.mktemp("slow") / "slow.csv.gz")
