"""Migrations on PostgreSQL: replicas that start together against an empty database migrate it once."""
from __future__ import annotations

import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from server.postgres_local import LocalPostgres
from services.storage import db
from tests.conftest import run_sql
from tests.live_server import ROOT

REPLICAS = 4
# Each process imports everything first, says it is ready, and starts migrating only when all are: together.
MIGRATE_WHEN_ALL_READY = """
import sys, time
from pathlib import Path
from services.storage import db
url, folder, me = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
(folder / f"ready-{me}").touch()
while not (folder / "go").exists():
    time.sleep(0.005)
db.migrate(url)
"""


@pytest.fixture
def empty_postgres_url(request: pytest.FixtureRequest) -> str:
    if "postgresql" not in request.config.getoption("databases"):
        pytest.skip("PostgreSQL is not among --databases")
    server: LocalPostgres = request.getfixturevalue("postgres")
    name = f"empty_{uuid.uuid4().hex[:12]}"
    url = server.create_database(name)
    yield url
    server.drop_database(name)


def test_replicas_starting_together_on_an_empty_postgresql_migrate_once(empty_postgres_url, tmp_path_factory):
    folder = tmp_path_factory.mktemp("barrier")
    replicas = [subprocess.Popen([sys.executable, "-c", MIGRATE_WHEN_ALL_READY, empty_postgres_url, str(folder), str(n)],
                                 cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                for n in range(REPLICAS)]
    deadline = time.monotonic() + 120
    while len(list(folder.glob("ready-*"))) < REPLICAS:
        assert time.monotonic() < deadline, "the replicas did not get ready"
        time.sleep(0.02)
    (folder / "go").touch()
    outputs = [replica.communicate(timeout=120)[0] for replica in replicas]
    assert [replica.returncode for replica in replicas] == [0] * REPLICAS, outputs

    class Stub:  # run_sql needs only the URL
        resolved_database_url = empty_postgres_url
    assert run_sql(Stub, "SELECT version_num FROM alembic_version") == [(db.head_revision(),)]
    tables = {row[0] for row in run_sql(Stub, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert {"user", "dataset", "job", "job_log", "model", "pipeline", "pipeline_run", "report"} <= tables
