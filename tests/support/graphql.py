"""GraphQL through the in-process ASGI app (Starlette's TestClient): queries, users, uploads and jobs."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from starlette.testclient import TestClient

PREFLIGHT = {"apollo-require-preflight": "true"}


def gql(
    client: TestClient, query: str, variables: dict | None = None, token: str | None = None, headers: dict | None = None
) -> dict:
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


UPLOAD = """mutation($input: UploadDatasetInput!) {
  uploadDataset(input: $input) {
    dataset { id name fileName status sizeBytes }
    job { id kind status }
    errors { code message field } } }"""


def upload(
    client: TestClient,
    token: str,
    content: bytes,
    filename: str = "data.csv",
    *,
    name: str | None = None,
    csv: dict | None = None,
    headers: dict | None = None,
) -> dict:
    """Send a file the way GraphQL multipart clients do (operations + map + file part)."""
    variables: dict[str, Any] = {"input": {"file": None}}
    if name is not None:
        variables["input"]["name"] = name
    if csv is not None:
        variables["input"]["csv"] = csv
    operations = json.dumps({"query": UPLOAD, "variables": variables})
    all_headers = {"authorization": f"Bearer {token}", **PREFLIGHT, **(headers or {})}
    response = client.post(
        "/graphql",
        data={"operations": operations, "map": json.dumps({"0": ["variables.input.file"]})},
        files={"0": (filename, content, "text/csv")},
        headers=all_headers,
    )
    return response.json()


JOB = """query($id: ID!) { job(id: $id) { id kind status stage progress error attempt
  timeline { stage durationMs } logs(last: 200) { seq level stage message } } }"""


def wait_for_status(
    client: TestClient,
    token: str,
    job_id: str,
    statuses: tuple[str, ...],
    timeout: float = 60,
    *,
    query: str = JOB,
    interval: float = 0.1,
) -> dict:
    """Poll the job (as `query` reads it) until its status is one of `statuses`."""
    deadline = time.monotonic() + timeout
    job: dict = {}
    while time.monotonic() < deadline:
        job = gql(client, query, {"id": job_id}, token)["data"]["job"]
        if job["status"] in statuses:
            return job
        time.sleep(interval)
    raise AssertionError(f"job {job_id} did not reach {statuses} in {timeout}s: {job}")


FINISHED = ("SUCCEEDED", "FAILED", "CANCELLED")


def wait_for_job(client: TestClient, token: str, job_id: str, timeout: float = 60) -> dict:
    return wait_for_status(client, token, job_id, FINISHED, timeout)


DATASET = """query($id: ID!) { dataset(id: $id) { id name fileName status error rowCount columnCount sizeBytes
  columns { name index semanticType dtype nullCount }
  ingest { encoding delimiter hasHeader decimal skippedLines }
  rows(offset: 0, limit: 5) { columns rows offset totalRows } } }"""


def ingest(
    client: TestClient,
    token: str,
    content: bytes,
    filename: str = "data.csv",
    *,
    query: str = DATASET,
    expect: str | None = None,
    **kwargs: Any,
) -> dict:
    """Upload, wait for the INGEST job (ending `expect`, when given), and return the dataset as `query` reads it."""
    result = upload(client, token, content, filename, **kwargs)
    payload = result["data"]["uploadDataset"]
    assert payload["errors"] == [], payload
    job = wait_for_job(client, token, payload["job"]["id"])
    assert expect is None or job["status"] == expect, job
    dataset = gql(client, query, {"id": payload["dataset"]["id"]}, token)["data"]["dataset"]
    dataset["job"] = job
    return dataset


DELETE_DATASET = "mutation($id: ID!) { deleteDataset(input: {id: $id}) { deletedId errors { code message field } } }"


def delete_dataset(client: TestClient, token: str, dataset_id: str) -> dict:
    """`deleteDataset`'s payload: the deleted id, or the errors that refused it."""
    return gql(client, DELETE_DATASET, {"id": dataset_id}, token)["data"]["deleteDataset"]


TRAIN = """mutation Train($input: TrainModelInput!) { trainModel(input: $input) {
  model { id status task version } job { id } errors { code message field } } }"""


def start_training(client: TestClient, token: str, dataset_id: str, **options: Any) -> dict:
    """`trainModel`'s payload for the dataset and these input fields; refusals are the caller's to check."""
    return gql(client, TRAIN, {"input": {"datasetId": dataset_id, **options}}, token)["data"]["trainModel"]


def train_model(client: TestClient, token: str, dataset_id: str, **options: Any) -> dict:
    """Train and wait for the job to succeed; returns `trainModel`'s payload (the model's id, the job's)."""
    payload = start_training(client, token, dataset_id, **options)
    assert payload["errors"] == [], payload
    job = wait_for_job(client, token, payload["job"]["id"], timeout=180)
    assert job["status"] == "SUCCEEDED", job
    return payload
