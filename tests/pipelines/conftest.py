"""Fixtures of the pipeline tests: the fake sources on a local port, and apps allowed to fetch from it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from server.app import create_app
from tests.pipelines.fake_sources import ROUTES
from tests.pipelines.operations import Author
from tests.support.http_fixtures import serve
from tests.support.settings import make_settings


@pytest.fixture(scope="module")
def source_server() -> Iterator[str]:
    """The base URL of the fake APIs and pages (tests/pipelines/fake_sources.py)."""
    yield from serve(ROUTES)


@pytest.fixture
def open_client(tmp_path):
    """The app with 127.0.0.1 allowed as a source host, so pipelines may fetch from source_server."""
    settings = make_settings(tmp_path, allowed_source_hosts="127.0.0.1")
    with TestClient(create_app(settings)) as client:
        client.settings = settings
        yield client


@pytest.fixture
def scheduling_client(tmp_path):
    """As open_client, with a scheduler that ticks fast enough to see runs start on their own."""
    settings = make_settings(
        tmp_path, allowed_source_hosts="127.0.0.1", min_schedule_seconds=1, scheduler_tick_seconds=0.1
    )
    with TestClient(create_app(settings)) as client:
        client.settings = settings
        yield client


@pytest.fixture
def author(open_client) -> Author:
    """A new user of open_client, making pipelines."""
    return Author(open_client)
