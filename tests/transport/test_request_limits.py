"""Malformed requests and what one request may carry: every refusal a 400-class JSON GraphQL error, logged as a
warning, checked before any parser runs. Each limit is pinned at its edge."""

from __future__ import annotations

import json
import logging

import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from schema.common import raw_id
from server.app import create_app
from tests.support.graphql import PREFLIGHT, UPLOAD, gql, ingest, register
from tests.support.settings import make_settings

HEALTH = "{ health { status } }"
JSON = {"content-type": "application/json"}


@pytest.fixture
def small(tmp_path):
    """Limits small enough to cross cheaply: 64 KB bodies, depth 8, 12-character numbers, 1,000-character strings."""
    settings = make_settings(
        tmp_path, max_request_mb=1 / 16, max_json_depth=8, max_number_length=12, max_string_length=1000
    )
    with TestClient(create_app(settings)) as client:
        yield client


def refusal(response, status: int = 400, codes: tuple[str, ...] = ("BAD_REQUEST",)) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert "data" not in body and body["errors"][0]["extensions"]["code"] in codes, body
    return body["errors"][0]["message"]


def assert_logged_as_warning(caplog) -> None:
    transport = [r for r in caplog.records if r.name == "assay.http"]
    assert transport and all(r.levelno == logging.WARNING and r.exc_info is None for r in transport)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


MALFORMED_BODIES = {
    "nested 100,000 deep": b"[" * 100_000 + b"]" * 100_000,
    "objects nested 100,000 deep": b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
    "a 5,000-digit integer": b'{"query": "{ health { status } }", "variables": {"n": ' + b"9" * 5000 + b"}}",
    "not UTF-8": b'{"query": "{ health { status } }", "operationName": "\xff\xfe"}',
    "a bare JSON string": b'"x"',
    "a bare number": b"1",
    "null": b"null",
    "a batch": b'[{"query": "{ health { status } }"}]',
    "truncated JSON": b'{"query": "{ health',
    "empty": b"",
    "a numeric query": b'{"query": 1}',
    "a numeric operationName": b'{"query": "{ health { status } }", "operationName": 5}',
    "variables as a string": b'{"query": "{ health { status } }", "variables": "{}"}',
    "extensions as a list": b'{"query": "{ health { status } }", "extensions": []}',
    "no query": b'{"variables": {}}',
    "a lone surrogate in variables": b'{"query": "{ health { status } }", "variables": {"s": "\\ud800"}}',
}


@pytest.mark.parametrize("body", MALFORMED_BODIES.values(), ids=MALFORMED_BODIES.keys())
def test_malformed_json_bodies_get_a_400_json_error_and_a_warning(client, caplog, body):
    caplog.set_level(logging.WARNING)
    refusal(client.post("/graphql", content=body, headers=JSON), codes=("BAD_REQUEST", "INVALID_INPUT"))
    assert_logged_as_warning(caplog)
    assert gql(client, HEALTH)["data"]["health"]["status"] == "ok"


def test_post_without_content_type_and_unknown_content_types_are_refused(client):
    refusal(client.post("/graphql", content=b'{"query": "{ health { status } }"}'), status=415)
    refusal(client.post("/graphql", content=b"{ health { status } }", headers={"content-type": "text/plain"}))


def test_malformed_get_variables_are_refused(client):
    refusal(client.get("/graphql", params={"query": HEALTH, "variables": "[" * 10_000}))
    refusal(client.get("/graphql", params={"query": HEALTH, "variables": "{not json"}))
    assert client.get("/graphql", params={"query": HEALTH}).json()["data"]["health"]["status"] == "ok"


def _multipart(client, token, files_map: object, operations: object = None) -> object:
    operations = operations if operations is not None else {"query": UPLOAD, "variables": {"input": {"file": None}}}
    return client.post(
        "/graphql",
        data={"operations": json.dumps(operations), "map": json.dumps(files_map)},
        files={"0": ("a.csv", b"a,b\n1,2\n", "text/csv")},
        headers={"authorization": f"Bearer {token}", **PREFLIGHT},
    )


BAD_MAPS = {
    "a list": [1],
    "a path into a null": {"0": ["variables.input.file.0"]},
    "a path, not a list": {"0": "variables.input.file"},
    "a list of numbers": {"0": [1]},
    "an empty list": {"0": []},
    "outside variables": {"0": ["query"]},
    "a missing key": {"0": ["variables.input.nothing"]},
    "over a value that is not null": {"0": ["variables.input"]},
    "a form field, not a file": {"operations": ["variables.input.file"]},
    "a file part that is absent": {"1": ["variables.input.file"]},
}


@pytest.mark.parametrize("files_map", BAD_MAPS.values(), ids=BAD_MAPS.keys())
def test_multipart_maps_that_are_not_objects_of_path_lists_are_refused(tmp_path, caplog, files_map):
    caplog.set_level(logging.WARNING)
    settings = make_settings(tmp_path)
    with TestClient(create_app(settings)) as client:
        token = register(client)["accessToken"]
        refusal(_multipart(client, token, files_map))
        assert_logged_as_warning(caplog)
        assert not list((settings.resolved_data_dir / "uploads").glob("*.part"))
        assert gql(client, "{ datasets { totalCount } }", token=token)["data"]["datasets"]["totalCount"] == 0


def test_multipart_operations_must_be_an_object(client, token):
    assert "Batched" in refusal(_multipart(client, token, {"0": ["variables.input.file"]}, operations=[1]))
    assert "JSON object" in refusal(_multipart(client, token, {"0": ["variables.input.file"]}, operations="x"))
    assert "nests deeper" in refusal(_multipart(client, token, {}, operations=json.loads("[" * 100 + "]" * 100)))


def test_body_size_limit(small):
    just_under = json.dumps({"query": HEALTH, "variables": {"pad": "x" * 900}, "extensions": {"p": ["y" * 900] * 70}})
    assert len(just_under) < 64 * 1024 and small.post("/graphql", content=just_under, headers=JSON).status_code == 200
    over = json.dumps({"query": HEALTH, "extensions": {"p": ["y" * 900] * 80}})
    assert "larger than" in refusal(small.post("/graphql", content=over, headers=JSON), 413, ("PAYLOAD_TOO_LARGE",))

    def chunks():  # no Content-Length: cut off as the bytes arrive
        yield b'{"query": "{ health { status } }", "extensions": {"p": ['
        for _ in range(100):
            yield b'"' + b"y" * 900 + b'",'
        yield b'"y"]}}'

    refusal(small.post("/graphql", content=chunks(), headers=JSON), 413, ("PAYLOAD_TOO_LARGE",))


def _nested(depth: int) -> dict:
    """A request body whose deepest value sits `depth` levels down (the body object is level 1)."""
    value: object = 1
    for _ in range(depth - 2):
        value = [value]
    return {"query": HEALTH, "extensions": {"deep": value}}


def test_nesting_depth_limit(small):
    assert small.post("/graphql", json=_nested(8)).json()["data"]["health"]["status"] == "ok"
    assert "deeper than 8" in refusal(small.post("/graphql", json=_nested(9)))
    brackets_in_strings = {"query": HEALTH, "variables": {"s": "[[[[[[[[[[[[[[[[[[[["}}
    assert "errors" not in small.post("/graphql", json=brackets_in_strings).json()


def test_number_length_limit(small):
    ok = b'{"query": "{ health { status } }", "extensions": {"n": 123456789012, "f": -1.2345e-9}}'
    assert small.post("/graphql", content=ok, headers=JSON).json()["data"]["health"]["status"] == "ok"
    too_long = b'{"query": "{ health { status } }", "extensions": {"n": 1234567890123}}'
    assert "longer than 12" in refusal(small.post("/graphql", content=too_long, headers=JSON))
    digits_in_a_string = {"query": HEALTH, "variables": {"s": "9" * 500}}
    assert "errors" not in small.post("/graphql", json=digits_in_a_string).json()


def test_string_length_limit_per_argument(tmp_path):
    # 200 characters: below the 255 that `search` itself takes, so the transport limit is what is crossed.
    with TestClient(create_app(make_settings(tmp_path, max_string_length=200))) as small:
        _check_string_limit(small)


def _check_string_limit(small):
    token = register(small)["accessToken"]
    search = "query($s: String) { datasets(search: $s) { totalCount } }"
    assert gql(small, search, {"s": "x" * 200}, token)["data"]["datasets"]["totalCount"] == 0
    message = refusal(
        small.post(
            "/graphql",
            json={"query": search, "variables": {"s": "x" * 201}},
            headers={"authorization": f"Bearer {token}"},
        ),
        codes=("INVALID_INPUT",),
    )
    assert "variables.s" in message and "201 characters" in message
    inline = '{ datasets(search: "%s") { totalCount } }'
    assert gql(small, inline % ("x" * 200), token=token)["data"]["datasets"]["totalCount"] == 0
    refusal(small.post("/graphql", json={"query": inline % ("x" * 201)}), codes=("INVALID_INPUT",))
    block = '{ datasets(search: """%s""") { totalCount } }'
    refusal(small.post("/graphql", json={"query": block % ("x" * 201)}), codes=("INVALID_INPUT",))


def test_an_unexpected_error_carries_an_id_in_the_answer_and_the_log(client, token, user, settings, caplog):
    dataset = ingest(client, token, b"a\n1\n")
    (settings.resolved_data_dir / "datasets" / raw_id(dataset["id"], "Dataset") / "data.parquet").unlink()
    caplog.set_level(logging.ERROR)
    result = gql(client, "query Broken($id: ID!) { dataset(id: $id) { rows { rows } } }", {"id": dataset["id"]}, token)
    error = result["errors"][0]
    assert error["message"] == "Internal server error" and error["extensions"]["code"] == "INTERNAL"
    error_id = error["extensions"]["errorId"]
    line = next(r for r in caplog.records if error_id in r.getMessage())
    assert "Broken" in line.getMessage() and raw_id(user["user"]["id"], "User") in line.getMessage()
    assert line.exc_info is not None


def test_websocket_messages_obey_the_same_limits(small):
    token = register(small)["accessToken"]
    bad_messages = [
        '"x"',
        "[1]",
        "[" * 50 + "]" * 50,
        '{"type": 1}',
        '{"type": "subscribe", "id": "1", "payload": 3}',
        json.dumps(
            {
                "type": "subscribe",
                "id": "1",
                "payload": {
                    "query": "subscription($id: ID!) { jobEvents(jobId: $id) { kind } }",
                    "variables": {"id": "x" * 1001},
                },
            }
        ),
    ]
    for text in bad_messages:
        with small.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as socket:
            socket.send_json({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
            assert socket.receive_json()["type"] == "connection_ack"
            socket.send_text(text)
            with pytest.raises(WebSocketDisconnect) as closed:
                socket.receive_json()
            assert closed.value.code == 4400, text
    with small.websocket_connect("/graphql", subprotocols=["graphql-ws"]) as socket:
        socket.send_text('"x"')
        with pytest.raises(WebSocketDisconnect) as closed:
            socket.receive_json()
        assert closed.value.code == 4400
    assert gql(small, HEALTH)["data"]["health"]["status"] == "ok"
