"""Shared fixtures and pytest hooks: a temp data dir, the real ASGI app, logged-in users, the database backends.

Every test that has a data dir (`tmp_path`) runs on each database backend: SQLite, and PostgreSQL (one
throwaway server per session, a fresh database per test cloned from a migrated template). The backend reaches
the app the way a deployment's does, through ASSAY_DATABASE_URL, so `make_settings` and subprocess servers see it.
`--databases=sqlite` (or ASSAY_TEST_DATABASES=sqlite) runs one backend only.

Helpers tests call live in tests/support; this file only wires them into fixtures.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from devtools.postgres_local import LocalPostgres, local_postgres
from server.app import create_app
from server.settings import Settings
from services.storage import db
from tests.support.data import slow_gzip
from tests.support.graphql import register
from tests.support.settings import make_settings

if os.environ.get("PYTEST_XDIST_WORKER"):
    # Under `-n 3` on two cores, scikit-learn's OpenMP fits (a thread per core each) in several workers' jobs at once
    # spin against each other: one HistGradientBoosting fit on 240 rows took 65 s at load 27. One thread each; the
    # job processes, live servers and clusters the tests start inherit it.
    os.environ.setdefault("OMP_NUM_THREADS", "1")

# Argon2id at its floor in every server, worker and cluster the tests start (make_settings does the same for
# in-process apps): at the default cost each registration and sign-in takes ~0.3 s of CPU.
os.environ.setdefault("ASSAY_PASSWORD_HASH_TIME_COST", "1")
os.environ.setdefault("ASSAY_PASSWORD_HASH_MEMORY_KIB", "32")

BACKENDS = ("sqlite", "postgresql")
TEMPLATE_DATABASE = "assay_template"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--databases",
        default=os.environ.get("ASSAY_TEST_DATABASES", ",".join(BACKENDS)),
        help="comma-separated database backends to run the suite on (sqlite,postgresql)",
    )
    parser.addoption(
        "--all-databases",
        action="store_true",
        default=bool(os.environ.get("ASSAY_TEST_ALL_DATABASES")),
        help="run `one_database` tests on every backend too (the full matrix: about half again as long)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sqlite_only(reason): the test is about SQLite itself; not run on PostgreSQL")
    config.addinivalue_line(
        "markers",
        "one_database(reason): what the test checks does not depend on the database (computation, files, HTTP);"
        " run on the first backend chosen only, unless --all-databases",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests with a data dir run once per backend (`one_database` ones on the first); pure functions run once."""
    if "database_backend" not in metafunc.fixturenames:
        return
    chosen = [b for b in metafunc.config.getoption("databases").split(",") if b in BACKENDS] or ["sqlite"]
    if "tmp_path" not in metafunc.fixturenames or metafunc.definition.get_closest_marker("sqlite_only"):
        chosen = ["sqlite"]
    elif metafunc.definition.get_closest_marker("one_database") and not metafunc.config.getoption("all_databases"):
        # Half the suite's time was these run a second time on PostgreSQL, re-testing training, parsing and
        # drawing rather than storage; what they store goes through the paths the storage, job, registry and
        # API tests run on both.
        chosen = chosen[:1]
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


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def user(client: TestClient) -> dict:
    return register(client)


@pytest.fixture
def token(user: dict) -> str:
    return user["accessToken"]


@pytest.fixture(scope="session")
def slow_file(tmp_path_factory) -> bytes:
    return slow_gzip(tmp_path_factory.mktemp("slow") / "slow.csv.gz")
