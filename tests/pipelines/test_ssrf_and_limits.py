"""SSRF and isolation: internal addresses refused when saved, redirected to, previewed or connected to; pipelines
are private.

The sources are local: tests/pipelines/fake_sources.py, served by the source_server fixture."""

from __future__ import annotations

import ssl

import pytest

from tests.pipelines.operations import PIPELINE, PREVIEW, RUN, Author, create
from tests.support.graphql import gql, ingest

pytestmark = pytest.mark.one_database(reason="address and size rules of fetching")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/x",
        "http://169.254.169.254/latest/meta-data",
        "http://10.1.2.3/",
        "ftp://example.com/file",
        "file:///etc/passwd",
    ],
)
def test_ssrf_refusals_without_the_allow_list(client, token, url):
    payload = create(client, token, name="bad", source={"http": {"url": url}}, sink={"parquet": {"name": "x"}})
    assert payload["pipeline"] is None and payload["errors"][0]["code"] == "INVALID_INPUT"
    assert payload["errors"][0]["field"] == ["source", "http", "url"]


def test_a_redirect_to_a_private_address_fails_the_run(author, source_server):
    result = author.create_and_run(
        name="sneaky",
        source={"http": {"url": f"{source_server}/to-private", "retries": 0}},
        sink={"parquet": {"name": "x"}},
    )
    assert result["job"]["status"] == "FAILED" and "10.255.255.1" in result["job"]["error"]
    assert result["lastRun"]["status"] == "FAILED" and result["stats"]["failed"] == 1


def test_pipelines_are_private(author, source_server):
    created = author.create(
        name="mine",
        source={"http": {"url": f"{source_server}/api/items", "recordsPath": "data.items"}},
        sink={"parquet": {"name": "x"}},
    )
    other = Author(author.client)
    pipeline_id = created["pipeline"]["id"]
    assert other.gql(PIPELINE, {"id": pipeline_id})["data"]["pipeline"] is None
    assert other.gql("{ pipelines { totalCount } }")["data"]["pipelines"]["totalCount"] == 0
    assert other.gql(RUN, {"id": pipeline_id})["data"]["runPipeline"]["errors"][0]["code"] == "NOT_FOUND"
    dataset = ingest(author.client, author.token, b"a\n1\n")
    stolen = other.create(
        name="steal", source={"dataset": {"datasetId": dataset["id"]}}, sink={"parquet": {"name": "x"}}
    )
    assert stolen["errors"][0]["code"] == "NOT_FOUND"


def test_preview_refuses_internal_addresses(client, token, source_server):
    refused = gql(client, PREVIEW, {"input": {"source": {"http": {"url": f"{source_server}/api/items"}}}}, token)
    assert refused["data"]["previewSource"]["errors"][0]["code"] == "INVALID_INPUT"


def test_connections_go_only_to_addresses_vetted_when_connecting(source_server):
    """The SSRF check is enforced where the socket is opened, on the address actually connected to,
    so a DNS answer that changes between the check and the connection (rebinding) cannot reach an
    internal address."""
    from services.errors import ServiceError
    from services.pipelines.fetch import pinned_client

    port = int(source_server.rsplit(":", 1)[1])
    with pinned_client([], ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)) as client, pytest.raises(ServiceError) as refused:
        client.get(f"http://127.0.0.1:{port}/who.json")  # no check_url first: the connection itself refuses
    assert refused.value.code == "INVALID_INPUT" and "non-public address" in refused.value.message
    # a host allowed by name: each of its addresses is vetted and tried in turn (::1 has no listener here)
    with pinned_client(["localhost"], ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)) as client:
        answer = client.get(f"http://localhost:{port}/who.json")
    assert answer.status_code == 200 and answer.json() == [{"a": 1}]
