"""Health of the stores behind Assay, the admin's view of them, and the admin mutations on the database.

Each test runs on SQLite and on PostgreSQL (see conftest); Redis is a real redis-server on a free port."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from devtools.local_server import free_port
from server.app import create_app
from services.maintenance import RESET_CONFIRMATION
from services.storage import db
from tests.support.graphql import gql, ingest, register
from tests.support.settings import make_settings, run_sql

ADMIN = {"admin_email": "root@example.com", "admin_password": "admin password 1"}
LOGIN = """mutation($email: String!, $password: String!) { login(input: {email: $email, password: $password}) {
  accessToken user { id role } errors { code } } }"""
SYSTEM = """{ system { counts database { engine serverVersion sizeBytes revision headRevision
  pool { size checkedIn checkedOut overflow maxOverflow } }
  redis { url reachable version usedMemoryBytes connectedClients } } }"""
INITIALIZE = "mutation { initializeDatabase { previousRevision revision errors { code message } } }"
RESET = """mutation($confirmation: String!) { resetDatabase(input: {confirmation: $confirmation}) {
  deletedRows deletedFiles errors { code message field } } }"""


def _redis_server() -> str:
    found = shutil.which("redis-server")
    if not found and os.geteuid() == 0 and shutil.which("apt-get"):  # CI: a fresh machine, as root
        subprocess.run(
            ["apt-get", "install", "-y", "-q", "redis-server"],
            check=False,
            capture_output=True,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
        found = shutil.which("redis-server")
    if not found:
        pytest.fail("redis-server is missing: install Debian's redis-server")
    return found


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[subprocess.Popen]:
    port = free_port()
    process = subprocess.Popen(
        [
            _redis_server(),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
    )
    process.url = f"redis://127.0.0.1:{port}/0"  # type: ignore[attr-defined]  # the fixture hands its URL over on the process
    deadline = time.monotonic() + 10
    while (
        subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True).stdout.strip() != "PONG"
    ):
        assert time.monotonic() < deadline, "redis-server did not start"
        time.sleep(0.05)
    yield process
    process.terminate()
    process.wait(timeout=10)


def admin_token(client: TestClient) -> str:
    login = gql(client, LOGIN, {"email": ADMIN["admin_email"], "password": ADMIN["admin_password"]})["data"]["login"]
    assert login["user"]["role"] == "ADMIN"
    return login["accessToken"]


def test_health_reports_redis_only_when_configured_and_degrades_when_it_is_down(tmp_path, redis_server):
    with TestClient(create_app(make_settings(tmp_path))) as plain:
        body = plain.get("/health").json()
        assert body["database"] is True and "redis" not in body
        assert gql(plain, "{ health { database redis } }")["data"]["health"] == {"database": True, "redis": None}
    with TestClient(create_app(make_settings(tmp_path, redis_url=redis_server.url))) as client:
        response = client.get("/health")
        assert response.status_code == 200 and response.json()["redis"] is True and response.json()["status"] == "ok"
        redis_server.terminate()
        redis_server.wait(timeout=10)
        response = client.get("/health")
        assert response.status_code == 503 and response.json()["redis"] is False
        assert response.json()["status"] == "degraded" and response.json()["database"] is True
        health = gql(client, "{ health { status database redis } }")["data"]["health"]
        assert health == {"status": "degraded", "database": True, "redis": False}


def test_the_admin_sees_the_database_engine_version_size_pool_and_redis(tmp_path, redis_server, database_backend):
    settings = make_settings(tmp_path, redis_url=redis_server.url, db_pool_size=3, db_max_overflow=4, **ADMIN)
    with TestClient(create_app(settings)) as client:
        token = admin_token(client)
        system = gql(client, SYSTEM, token=token)["data"]["system"]
        database = system["database"]
        assert database["engine"] == database_backend
        assert database["serverVersion"].split(".")[0] == ("15" if database_backend == "postgresql" else "3")
        assert database["sizeBytes"] > 0 and database["revision"] == database["headRevision"] == db.head_revision()
        pool = database["pool"]
        assert pool["checkedOut"] >= 0 and pool["checkedIn"] >= 0
        if database_backend == "postgresql":  # SQLite keeps SQLAlchemy's defaults for a file database
            assert (pool["size"], pool["maxOverflow"]) == (3, 4)
        redis = system["redis"]
        assert redis["reachable"] is True and redis["version"].split(".")[0] >= "7"
        assert redis["usedMemoryBytes"] > 0 and redis["connectedClients"] >= 1 and redis["url"] == redis_server.url
        member = register(client)["accessToken"]
        denied = gql(client, SYSTEM, token=member)
        assert denied["data"]["system"] is None and denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"


def test_without_redis_the_admin_sees_none(tmp_path):
    with TestClient(create_app(make_settings(tmp_path, **ADMIN))) as client:
        system = gql(client, "{ system { redis { version } database { engine } } }", token=admin_token(client))
        assert system["data"]["system"]["redis"] is None and system["data"]["system"]["database"]["engine"]


def test_initialize_database_migrates_to_head_and_only_for_admins(tmp_path):
    settings = make_settings(tmp_path, **ADMIN)
    with TestClient(create_app(settings)) as client:
        token = admin_token(client)
        member = register(client)["accessToken"]
        refused = gql(client, INITIALIZE, token=member)["data"]["initializeDatabase"]
        assert refused["errors"][0]["code"] == "FORBIDDEN" and refused["revision"] is None
        anonymous = gql(client, INITIALIZE)
        assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"

        head = db.head_revision()
        # An older release's schema: back to 0009 (accounts), so the registry's tables (0010) go and later ones too;
        # the user table (which every request reads) stays as it is.
        db.downgrade(settings.resolved_database_url, "6d8e035bb675")
        previous = run_sql(settings, "SELECT version_num FROM alembic_version")[0][0]
        assert previous != head
        with pytest.raises(Exception, match="registered_model"):  # either driver's error type
            run_sql(settings, "SELECT count(*) FROM registered_model")
        done = gql(client, INITIALIZE, token=token)["data"]["initializeDatabase"]
        assert done == {"previousRevision": previous, "revision": head, "errors": []}
        assert run_sql(settings, "SELECT count(*) FROM registered_model") == [(0,)]
        again = gql(client, INITIALIZE, token=token)["data"]["initializeDatabase"]
        assert again == {"previousRevision": head, "revision": head, "errors": []}


def test_reset_is_refused_unless_enabled_and_confirmed_and_then_changes_nothing(tmp_path):
    with TestClient(create_app(make_settings(tmp_path, **ADMIN))) as client:
        disabled = gql(client, RESET, {"confirmation": RESET_CONFIRMATION}, admin_token(client))["data"][
            "resetDatabase"
        ]
        assert (
            disabled["errors"][0]["code"] == "FORBIDDEN"
            and "ASSAY_ALLOW_DATABASE_RESET" in disabled["errors"][0]["message"]
        )
    settings = make_settings(tmp_path, allow_database_reset=True, **ADMIN)
    with TestClient(create_app(settings)) as client:
        member = register(client)["accessToken"]
        dataset = ingest(client, member, b"a,b\n1,2\n")
        refused = gql(client, RESET, {"confirmation": RESET_CONFIRMATION}, member)["data"]["resetDatabase"]
        assert refused["errors"][0]["code"] == "FORBIDDEN"
        typo = gql(client, RESET, {"confirmation": "delete everything"}, admin_token(client))["data"]["resetDatabase"]
        assert (
            typo["errors"]
            == [
                {
                    "code": "INVALID_INPUT",
                    "message": f'Type exactly "{RESET_CONFIRMATION}" to confirm',
                    "field": ["confirmation"],
                }
            ]
            and typo["deletedRows"] is None
        )
        kept = gql(client, "query($id: ID!) { dataset(id: $id) { status } }", {"id": dataset["id"]}, member)
        assert kept["data"]["dataset"]["status"] == "READY"
        assert (settings.resolved_data_dir / "datasets").is_dir()


def test_reset_deletes_every_row_and_file_and_keeps_the_configured_admin(tmp_path):
    settings = make_settings(tmp_path, allow_database_reset=True, **ADMIN)
    with TestClient(create_app(settings)) as client:
        member = register(client)["accessToken"]
        ingest(client, member, b"a,b\n1,2\n3,4\n")
        token = admin_token(client)
        reset = gql(client, RESET, {"confirmation": RESET_CONFIRMATION}, token)["data"]["resetDatabase"]
        assert reset["errors"] == [] and reset["deletedRows"] >= 6 and reset["deletedFiles"] >= 2

        left = sorted(p.name for p in settings.resolved_data_dir.iterdir())
        assert set(left) <= {"secret.key", "assay.db", "assay.db-wal", "assay.db-shm"}, left
        gone = gql(client, "{ me { id } }", token=member)
        assert gone["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"  # the account went with its data
        counts = gql(client, SYSTEM, token=admin_token(client))["data"]["system"]["counts"]
        assert {table: n for table, n in counts.items() if n} == {  # the admin's new login, its session and its record
            "user": 1,
            "refresh_token": 1,
            "login_session": 1,
            "login_event": 1,
        }
        assert run_sql(settings, "SELECT count(*) FROM alembic_version") == [(1,)]  # the schema stays
