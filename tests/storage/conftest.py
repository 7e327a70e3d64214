"""An S3-speaking server (moto's server mode, its own process) shared by the storage tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from services.storage import objects
from tests.support.s3_server import LocalS3


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory) -> Iterator[LocalS3]:
    server = LocalS3(tmp_path_factory.mktemp("s3")).start()
    yield server
    server.stop()


@pytest.fixture
def storage_url(s3_server: LocalS3, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A prefix of its own in the bucket, with this process's AWS variables pointing at the server."""
    for name, value in s3_server.environment.items():
        monkeypatch.setenv(name, value)
    yield s3_server.new_prefix()
    objects.configure(None, objects.current().cache if objects.current() else None)  # the next app sets its own
