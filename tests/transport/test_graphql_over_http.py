"""GraphQL over HTTP: application/graphql-response+json with the spec's status codes, application/json as before,
and GraphiQL served entirely from Assay (the browser run is in test_clients.py)."""

from __future__ import annotations

import base64
import hashlib
import json
import re

from server.graphiql import STATIC_DIR
from server.negotiation import wants_graphql_response
from tests.support.graphql import gql

GRAPHQL_RESPONSE = {"accept": "application/graphql-response+json"}


def post(client, body: dict, headers: dict | None = None):
    return client.post("/graphql", json=body, headers=headers or {})


def test_request_errors_are_400_without_data_for_graphql_response_json(client):
    for body in (
        {"query": "{"},
        {"query": "{ noSuchField }"},
        {"query": "query($id: ID!) { dataset(id: $id) { id } }", "variables": {"id": None}},
    ):
        response = post(client, body, GRAPHQL_RESPONSE)
        assert response.status_code == 400, body
        assert response.headers["content-type"] == "application/graphql-response+json; charset=utf-8"
        assert "data" not in response.json() and response.json()["errors"], body


def test_application_json_keeps_200_with_null_data(client):
    for accept in (
        {},
        {"accept": "application/json"},
        {"accept": "*/*"},
        {"accept": "application/json, application/graphql-response+json;q=0.9"},
    ):
        response = post(client, {"query": "{"}, accept)
        assert response.status_code == 200 and response.headers["content-type"] == "application/json"
        assert response.json()["data"] is None and response.json()["errors"]


def test_executed_operations_are_200_with_either_media_type(client, token):
    ok = post(client, {"query": "{ health { status } }"}, GRAPHQL_RESPONSE)
    assert ok.status_code == 200 and ok.json() == {"data": {"health": {"status": "ok"}}}
    assert ok.headers["content-type"].startswith("application/graphql-response+json")
    # a field error (here: not signed in) is still an executed request: 200 with data
    unauthenticated = post(client, {"query": "{ health { status } me { id } }"}, GRAPHQL_RESPONSE)
    assert unauthenticated.status_code == 200 and unauthenticated.json()["data"]["health"] == {"status": "ok"}


def test_mutations_over_get_are_405_and_subscriptions_over_http_are_refused(client, token):
    response = client.get(
        "/graphql",
        params={"query": 'mutation { deleteDataset(input: {id: "x"}) { deletedId } }'},
        headers={"authorization": f"Bearer {token}"},
    )
    assert response.status_code == 405 and response.headers["allow"] == "POST"
    assert response.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"
    subscription = post(client, {"query": "subscription { jobUpdates { id } }"}, {"authorization": f"Bearer {token}"})
    assert subscription.status_code == 400 and "WebSocket" in subscription.json()["errors"][0]["message"]
    assert subscription.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


def test_refusals_use_the_negotiated_media_type(client):
    response = client.post("/graphql", content=b"[[[", headers={"content-type": "application/json", **GRAPHQL_RESPONSE})
    assert response.status_code == 400 and response.headers["content-type"].startswith(
        "application/graphql-response+json"
    )


def test_accept_header_preferences():
    assert wants_graphql_response("application/graphql-response+json")
    assert wants_graphql_response("application/graphql-response+json, application/json;q=0.9")
    assert wants_graphql_response("application/json;q=0.5, application/graphql-response+json")
    assert not wants_graphql_response(None) and not wants_graphql_response("*/*")
    assert not wants_graphql_response("application/json, multipart/mixed")  # GraphiQL's own fetcher
    assert not wants_graphql_response("application/graphql-response+json;q=0, application/json")


def test_graphiql_page_loads_nothing_from_elsewhere(client):
    page = client.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200 and "Assay GraphiQL" in page.text
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy and "connect-src 'self'" in policy
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page.text)
    assets = re.findall(r"""(?:src|href)="(/graphiql/[^"]+)"(?: integrity="(sha384-[^"]+)")?""", page.text)
    assert len(assets) >= 7
    for path, integrity in assets:
        asset = client.get(path)
        assert asset.status_code == 200, path
        if integrity:  # the browser checks these too: a changed file would not run
            assert integrity == "sha384-" + base64.b64encode(hashlib.sha384(asset.content).digest()).decode(), path
    assert "explorerPlugin" in client.get("/graphiql/assay-graphiql.js").text


def test_vendored_assets_are_the_npm_files_with_their_licences():
    vendor = STATIC_DIR / "vendor"
    manifest = json.loads((vendor / "MANIFEST.json").read_text())
    assert set(manifest) == {"react", "react-dom", "graphiql", "@graphiql/plugin-explorer"}
    for package, entry in manifest.items():
        assert entry["integrity"].startswith("sha512-") and entry["license"] == "MIT"
        assert any(path.endswith("/LICENSE") for path in entry["files"]), package
        for path, sha256 in entry["files"].items():
            assert hashlib.sha256((vendor / path).read_bytes()).hexdigest() == sha256, f"{path} differs from npm"
    listed = {path for entry in manifest.values() for path in entry["files"]}
    on_disk = {p.relative_to(vendor).as_posix() for p in vendor.rglob("*") if p.is_file() and p.name != "MANIFEST.json"}
    assert on_disk == listed


def test_graphql_still_answers_plain_json_clients(client):
    assert gql(client, "{ health { status } }")["data"]["health"]["status"] == "ok"
