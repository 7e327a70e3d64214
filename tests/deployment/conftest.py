"""Fixtures of the deployment tests: an empty PostgreSQL database, as a fresh cluster finds it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from devtools.postgres_local import LocalPostgres


@pytest.fixture
def empty_postgres_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A database with no tables at all (not cloned from the migrated template)."""
    if "postgresql" not in request.config.getoption("databases"):
        pytest.skip("PostgreSQL is not among --databases")
    server: LocalPostgres = request.getfixturevalue("postgres")
    name = f"empty_{uuid.uuid4().hex[:12]}"
    url = server.create_database(name)
    yield url
    server.drop_database(name)
