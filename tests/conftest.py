"""Shared fixtures: a temp data dir, the real ASGI app, logged-in users, and GraphQL helpers.

Every test that has a data dir (`tmp_path`) runs on each database backend: SQLite, and PostgreSQL (one
throwaway server per session, a fresh database per test cloned from a migrated template). The backend reaches
the app the way a deployment's does, through ASSAY_DATABASE_URL, so `make_settings` and subprocess servers see it.
`--databases=sqlite` (or ASSAY_TEST_DATABASES=sqlite) runs one backend only.
"""
from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
import zlib
from pathlib import Path
from typing import Any, Iterator

import pytest
from sqlalchemy import text
from starlette.testclient import TestClient

from server.app import create_app
from server.postgres_local import LocalPostgres, local_postgres
from server.settings import Settings
from services.storage import db

BACKENDS = ("sqlite", "postgresql")
TEMPLATE_DATABASE = "assay_template"

CORPUS = Path(__file__).parent / "corpus"
PREFLIGHT = {"apollo-require-preflight": "true"}


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values = {"data_dir": tmp_path / "data", "secret_key": "test-secret-key-that-is-long-enough-for-hs256",
              "max_concurrent_jobs": 2, "job_heartbeat_seconds": 0.5, **overrides}
    return Settings(**values)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--databases", default=os.environ.get("ASSAY_TEST_DATABASES", ",".join(BACKENDS)),
                     help="comma-separated database backends to run the suite on (sqlite,postgresql)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sqlite_only(reason): the test is about SQLite itself; not run on PostgreSQL")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests with a data dir run once per backend; pure functions of their input run once."""
    if "database_backend" not in metafunc.fixturenames:
        return
    chosen = [b for b in metafunc.config.getoption("databases").split(",") if b in BACKENDS] or ["sqlite"]
    if "tmp_path" not in metafunc.fixturenames or metafunc.definition.get_closest_marker("sqlite_only"):
        chosen = ["sqlite"]
    metafunc.parametrize("database_backend", chosen, indirect=True)


@pytest.fixture(scope="session")
def postgres() -> Iterator[LocalPostgres]:
    """One PostgreSQL for the session, with a template database already migrated to head."""
    with local_postgres() as server:
        template_url = server.create_database(TEMPLATE_DATABASE)
        db.migrate(template_url)
        yield server


@pytest.fixture(autouse=True)
def database_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    backend = getattr(request, "param", "sqlite")
    if backend == "sqlite":
        monkeypatch.delenv("ASSAY_DATABASE_URL", raising=False)
        yield backend
        return
    server: LocalPostgres = request.getfixturevalue("postgres")
    name = f"test_{uuid.uuid4().hex[:16]}"
    server.psql(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE_DATABASE}"')
    monkeypatch.setenv("ASSAY_DATABASE_URL", server.url_for(name))
    yield backend
    server.drop_database(name)


def run_sql(settings: Settings, statements: dict[str, str] | str, **params: Any) -> list[tuple]:
    """Run SQL on the test's database (per dialect when it differs) and return the rows; for checks of stored state."""
    async def run() -> list[tuple]:
        engine = db.create_engine(settings.resolved_database_url)
        try:
            async with engine.begin() as connection:
                sql = statements if isinstance(statements, str) else statements[connection.dialect.name]
                result = await connection.execute(text(sql), params)
                return [tuple(row) for row in result] if result.returns_rows else [(result.rowcount,)]
        finally:
            await engine.dispose()
    return asyncio.run(run())


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
