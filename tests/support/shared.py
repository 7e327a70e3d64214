"""One app and one signed-up user for a module's tests that only ask questions of what it holds.

A refusal case (a bad chart spec, a bad step, rows a model refuses) needs a dataset or a trained model to be
refused against, not one of its own: a function-scoped fixture ingested or trained it again for each of a dozen
cases. Only for tests that change nothing; anything that writes keeps the per-test `client`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from starlette.testclient import TestClient

from server.app import create_app
from tests.support.graphql import register
from tests.support.settings import make_settings


@contextmanager
def shared_client(tmp_path_factory: pytest.TempPathFactory, **overrides: Any) -> Iterator[tuple[TestClient, str]]:
    """The client and the user's access token, on SQLite whatever the backend: a PostgreSQL test database
    lives for one test only (tests/conftest.py)."""
    with pytest.MonkeyPatch.context() as env:
        env.delenv("ASSAY_DATABASE_URL", raising=False)
        settings = make_settings(tmp_path_factory.mktemp("shared"), **overrides)
    with TestClient(create_app(settings)) as client:
        yield client, register(client)["accessToken"]


def shared_fixture(name: str, make: Callable[[TestClient, str], Any]) -> Any:
    """A module-scoped fixture `name` giving (client, token, make(client, token)) on a shared_client."""

    @pytest.fixture(scope="module", name=name)
    def fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, str, Any]]:
        with shared_client(tmp_path_factory) as (client, token):
            yield client, token, make(client, token)

    return fixture
