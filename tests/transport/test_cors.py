"""CORS (seed 002): a frontend on another origin calls the API when ASSAY_CORS_ORIGINS lists it, and only then.

HTTP preflight and response headers through the app, the WebSocket's Origin check, the start-up refusal of
'*', and headless Chromium: a page on a listed origin and one on an unlisted origin, each calling the API
with fetch and opening its WebSocket."""

from __future__ import annotations

import json
import socket

import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from server.app import create_app
from server.settings import ConfigurationError
from tests.support.graphql import register
from tests.support.js_tools import ensure_chromium, ensure_node_modules, run_node
from tests.support.live_server import LiveServer
from tests.support.settings import make_settings

FRONTEND = "http://localhost:3000"
PREFLIGHT = {"access-control-request-method": "POST", "access-control-request-headers": "authorization,content-type"}


@pytest.fixture
def cors_client(tmp_path):
    with TestClient(
        create_app(make_settings(tmp_path, cors_origins=f"{FRONTEND}, https://app.example.com/"))
    ) as client:
        yield client


def test_preflight_from_a_listed_origin_allows_post_with_the_graphql_headers(cors_client):
    response = cors_client.options("/graphql", headers={"origin": FRONTEND, **PREFLIGHT})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == FRONTEND
    assert set(response.headers["access-control-allow-methods"].split(", ")) == {"GET", "POST"}
    allowed = response.headers["access-control-allow-headers"].lower()
    for header in ("authorization", "content-type", "apollo-require-preflight", "x-apollo-operation-name"):
        assert header in allowed
    assert "access-control-allow-credentials" not in response.headers  # tokens travel in headers, not cookies
    listed_with_slash = cors_client.options("/graphql", headers={"origin": "https://app.example.com", **PREFLIGHT})
    assert listed_with_slash.headers["access-control-allow-origin"] == "https://app.example.com"


def test_an_unlisted_origin_gets_no_allow_origin(cors_client):
    preflight = cors_client.options("/graphql", headers={"origin": "http://evil.example", **PREFLIGHT})
    assert preflight.status_code == 400 and "access-control-allow-origin" not in preflight.headers
    answer = cors_client.post(
        "/graphql", json={"query": "{ health { status } }"}, headers={"origin": "http://evil.example"}
    )
    assert "access-control-allow-origin" not in answer.headers
    allowed = cors_client.get(
        "/graphql?query={health{status}}", headers={"origin": FRONTEND, "accept": "application/json"}
    )
    assert allowed.headers["access-control-allow-origin"] == FRONTEND


def test_without_the_setting_no_response_carries_cors_headers(client):
    preflight = client.options("/graphql", headers={"origin": FRONTEND, **PREFLIGHT})
    assert preflight.status_code in (400, 405)
    assert not [h for h in preflight.headers if h.lower().startswith("access-control-allow-origin")]


def test_websocket_origin_is_checked_against_the_same_list(cors_client):
    token = register(cors_client)["accessToken"]
    for origin in (FRONTEND, None):  # a listed page, and a client that is not a browser
        headers = {"origin": origin} if origin else {}
        with cors_client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"], headers=headers) as ws:
            ws.send_text(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}))
            assert json.loads(ws.receive_text())["type"] == "connection_ack"
    with (
        pytest.raises(WebSocketDisconnect) as refused,
        cors_client.websocket_connect(
            "/graphql", subprotocols=["graphql-transport-ws"], headers={"origin": "http://evil.example"}
        ),
    ):
        pass
    assert refused.value.code in (403, 1008) or "403" in str(refused.value)


def test_uploads_keep_their_csrf_rule_for_listed_origins(cors_client):
    token = register(cors_client)["accessToken"]
    operations = {
        "query": "mutation($f: Upload!) { uploadDataset(input: {file: $f}) { errors { code } } }",
        "variables": {"f": None},
    }
    response = cors_client.post(
        "/graphql",
        headers={"authorization": f"Bearer {token}", "origin": FRONTEND},
        data={"operations": json.dumps(operations), "map": json.dumps({"0": ["variables.f"]})},
        files={"0": ("a.csv", b"a\n1\n", "text/csv")},
    )
    assert response.status_code == 400  # a simple cross-site form post without the preflight header


@pytest.mark.parametrize("value", ["*", "localhost:3000", "http://localhost:3000/app"])
def test_a_wildcard_or_a_non_origin_is_refused_at_start_up(tmp_path, value):
    with pytest.raises(ConfigurationError, match="ASSAY_CORS_ORIGINS"):
        create_app(make_settings(tmp_path, cors_origins=value))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
@pytest.mark.sqlite_only("one browser test; the backends are tested elsewhere")
def test_a_page_on_a_listed_origin_calls_the_api_and_an_unlisted_one_cannot(tmp_path):
    ensure_node_modules()
    chromium = ensure_chromium()
    allowed_port, refused_port = free_port(), free_port()
    server = LiveServer(tmp_path / "data", ASSAY_CORS_ORIGINS=f"http://127.0.0.1:{allowed_port}").start()
    try:
        email = "frontend@example.com"
        token = server.gql(
            'mutation($e: String!) { register(input: {email: $e, password: "a long password"}) { accessToken } }',
            {"e": email},
        )["data"]["register"]["accessToken"]
        seen = {}
        for name, port in (("allowed", allowed_port), ("refused", refused_port)):
            result = run_node("cors.mjs", server.base, token, str(port), timeout=120, CHROMIUM=str(chromium))
            assert result.returncode == 0, result.stderr[-3000:]
            seen[name] = json.loads(result.stdout.strip().splitlines()[-1])
    finally:
        server.terminate()
    assert seen["allowed"]["fetch"] == {"data": {"me": {"email": email}}}
    assert seen["allowed"]["socket"] == "connection_ack"
    assert "fetch" not in seen["refused"] and "Failed to fetch" in seen["refused"]["fetchError"]
    assert seen["refused"]["socket"] == "error"
