"""Transport-level limits and defaults, each pinned by a test."""

from __future__ import annotations

import json
from pathlib import Path

from starlette.testclient import TestClient

from schema.common import raw_id
from server.app import create_app
from tests.support.graphql import PREFLIGHT, UPLOAD, gql, ingest, register, upload
from tests.support.settings import make_settings


def test_root_and_plain_health(client):
    assert client.get("/").json() == {"name": "Assay", "version": "0.1.0", "graphql": "/graphql"}
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["database"] is True and health["active_jobs"] == 0
    assert {"version", "time"} <= set(health)


def test_graphiql_is_served_to_browsers(client):
    page = client.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200 and "graphiql" in page.text.lower()


def test_multipart_without_preflight_header_is_refused(client, token, settings):
    operations = json.dumps({"query": UPLOAD, "variables": {"input": {"file": None}}})
    response = client.post(
        "/graphql",
        data={"operations": operations, "map": json.dumps({"0": ["variables.input.file"]})},
        files={"0": ("a.csv", b"a,b\n1,2\n", "text/csv")},
        headers={"authorization": f"Bearer {token}"},
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert "apollo-require-preflight" in response.json()["errors"][0]["message"]
    assert not (settings.resolved_data_dir / "datasets").exists()
    for header in ("apollo-require-preflight", "graphql-require-preflight", "x-apollo-operation-name"):
        payload = upload(
            client, token, b"a,b\n1,2\n", headers={header: "1"} | {k: "" for k in PREFLIGHT if k != header}
        )
        assert payload["data"]["uploadDataset"]["errors"] == [], header


def _leftovers(data_dir: Path) -> list[Path]:
    return [
        p
        for p in data_dir.rglob("*")
        if p.is_file() and p.name not in ("assay.db", "assay.db-wal", "assay.db-shm", "secret.key")
    ]


def test_upload_over_the_limit_leaves_nothing(tmp_path):
    settings = make_settings(tmp_path, max_upload_mb=0.01)  # 10 KB
    with TestClient(create_app(settings)) as client:
        token = register(client)["accessToken"]
        body = b"a,b\n" + b"1,2\n" * 10_000  # 40 KB: inside the multipart allowance, over the file limit
        payload = upload(client, token, body)["data"]["uploadDataset"]
        assert payload["errors"][0]["code"] == "PAYLOAD_TOO_LARGE" and payload["dataset"] is None
        huge = b"a,b\n" + b"1,2\n" * 400_000  # 1.6 MB: refused from Content-Length before it is read
        response = upload(client, token, huge)
        assert response["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
        assert _leftovers(settings.resolved_data_dir) == []
        assert gql(client, "{ datasets { totalCount } }", token=token)["data"]["datasets"]["totalCount"] == 0


def test_chunked_upload_over_the_limit_is_cut_off(tmp_path):
    settings = make_settings(tmp_path, max_upload_mb=0.01)
    with TestClient(create_app(settings)) as client:
        token = register(client)["accessToken"]
        boundary = "assayboundary"
        operations = json.dumps({"query": UPLOAD, "variables": {"input": {"file": None}}})

        def body():
            yield (
                f'--{boundary}\r\nContent-Disposition: form-data; name="operations"\r\n\r\n{operations}\r\n'
                f'--{boundary}\r\nContent-Disposition: form-data; name="map"\r\n\r\n'
                '{"0": ["variables.input.file"]}\r\n'
                f'--{boundary}\r\nContent-Disposition: form-data; name="0"; filename="a.csv"\r\n'
                f"Content-Type: text/csv\r\n\r\na,b\r\n"
            ).encode()
            for _ in range(300):
                yield b"1,2\r\n" * 2000
            yield f"\r\n--{boundary}--\r\n".encode()

        response = client.post(
            "/graphql",
            content=body(),
            headers={
                "content-type": f"multipart/form-data; boundary={boundary}",
                "authorization": f"Bearer {token}",
                **PREFLIGHT,
            },
        )
        assert response.status_code == 413
        assert response.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
        assert _leftovers(settings.resolved_data_dir) == []


def test_query_depth_is_limited(client, token):
    deep = "{ datasets { edges { node { " + "parent { " * 9 + "id" + " }" * 9 + " } } } }"
    result = gql(client, deep, token=token)
    assert result["data"] is None and "exceeds maximum operation depth" in result["errors"][0]["message"]


def test_limits_hold_for_documents_already_parsed_and_validated(client, token, tmp_path):
    """Parsing and validation are cached by document text: a refused document stays refused when sent
    again, and a server with other limits judges the same text by its own."""
    deep = "{ datasets { edges { node { " + "parent { " * 9 + "id" + " }" * 9 + " } } } }"
    for _ in range(3):
        assert "exceeds maximum operation depth" in gql(client, deep, token=token)["errors"][0]["message"]
    with TestClient(create_app(make_settings(tmp_path / "deeper", max_query_depth=20))) as deeper:
        answer = gql(deeper, deep, token=register(deeper)["accessToken"])
        assert "errors" not in answer and answer["data"]["datasets"]["edges"] == []
    assert "exceeds maximum operation depth" in gql(client, deep, token=token)["errors"][0]["message"]


def test_aliases_are_limited(client, token):
    many = "{ " + " ".join(f"a{i}: health {{ status }}" for i in range(16)) + " }"
    assert "aliases" in gql(client, many, token=token)["errors"][0]["message"].lower()
    assert gql(client, "{ " + " ".join(f"a{i}: health {{ status }}" for i in range(15)) + " }")["data"]["a14"]


def test_tokens_are_limited(client):
    long_query = "{ health { " + " ".join(["status"] * 2100) + " } }"
    result = gql(client, long_query)
    assert "token" in result["errors"][0]["message"].lower()


def test_requests_per_user_are_rate_limited(tmp_path):
    with TestClient(create_app(make_settings(tmp_path, requests_per_minute=5))) as client:
        token = register(client)["accessToken"]
        codes = [
            client.post("/graphql", json={"query": "{ me { id } }"}, headers={"authorization": f"Bearer {token}"})
            for _ in range(7)
        ]
        assert [r.status_code for r in codes[:5]] == [200] * 5
        assert codes[5].status_code == 429
        assert codes[5].json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
        other = register(client)["accessToken"]
        assert gql(client, "{ me { id } }", token=other)["data"]["me"] is not None


def test_unexpected_errors_are_masked(client, token, settings, caplog):
    dataset = ingest(client, token, b"a\n1\n")
    parquet = settings.resolved_data_dir / "datasets" / raw_id(dataset["id"], "Dataset") / "data.parquet"
    parquet.unlink()  # the disk lost a file behind the server's back
    result = gql(client, "query($id: ID!) { dataset(id: $id) { name rows { rows } } }", {"id": dataset["id"]}, token)
    assert result["errors"][0]["message"] == "Internal server error"
    assert "data.parquet" not in json.dumps(result)
    assert any(
        "data.parquet" in (record.exc_text or record.getMessage()) or record.exc_info for record in caplog.records
    )


def test_malformed_multipart_is_refused_and_leaves_nothing(tmp_path):
    settings = make_settings(tmp_path)
    with TestClient(create_app(settings)) as client:
        token = register(client)["accessToken"]
        boundary = "assayboundary"
        body = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="0"; filename="a.csv"\r\n\r\n'
            "a,b\r\n1,2\r\n--not-the-boundary"
        ).encode()  # the file part never ends
        response = client.post(
            "/graphql",
            content=body,
            headers={
                "content-type": f"multipart/form-data; boundary={boundary}",
                "authorization": f"Bearer {token}",
                **PREFLIGHT,
            },
        )
        assert response.status_code == 400
        assert _leftovers(settings.resolved_data_dir) == []
