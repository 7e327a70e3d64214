"""ASSAY_LOG_FORMAT=json: a live server's stderr is one JSON object per line, with the ids to follow a request."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from tests.support.live_server import LiveServer

REGISTER = """mutation Register($email: String!) { register(input: {email: $email, password: "correct horse battery"}) {
  accessToken errors { code } } }"""
FIELDS = {"time", "level", "logger", "message", "request_id", "user_id", "operation_name", "job_id", "trace_id"}


@pytest.mark.slow  # a live server process (21 s loaded)
def test_json_lines_carry_request_user_operation_and_job(tmp_path):
    server = LiveServer(tmp_path / "data", ASSAY_LOG_FORMAT="json").start()
    try:
        token = server.gql(REGISTER, {"email": "logger@example.com"})["data"]["register"]["accessToken"]
        me = httpx.post(
            f"{server.base}/graphql",
            json={"query": "query WhoAmI { me { id } }", "operationName": "WhoAmI"},
            headers={"authorization": f"Bearer {token}", "x-request-id": "req-42"},
            timeout=30,
        )
        assert me.headers["x-request-id"] == "req-42"
        user_id = me.json()["data"]["me"]["id"]
        forged = httpx.get(f"{server.base}/health", headers={"x-request-id": 'bad id {"level": 1}'}, timeout=30)
        assert forged.headers["x-request-id"] != 'bad id {"level": 1}'  # ids outside [A-Za-z0-9._:-] are replaced
        job_id = server.upload(token, b"a,b\n1,x\n2,y\n")["job"]["id"]
        assert server.wait_for(token, job_id, ("SUCCEEDED", "FAILED"))["status"] == "SUCCEEDED"
    finally:
        server.terminate()
    raw = [line for line in server.output().splitlines() if line.strip()]
    lines = [json.loads(line) for line in raw]  # every line is one JSON object: nothing printed around the logger
    assert all(line.keys() >= FIELDS for line in lines)
    access = [line for line in lines if line["logger"] == "uvicorn.access" and line["request_id"] == "req-42"]
    assert len(access) == 1
    assert access[0]["operation_name"] == "WhoAmI" and access[0]["method"] == "POST" and access[0]["status"] == 200
    assert access[0]["user_id"] == raw_id(user_id)
    assert any(line["job_id"] == raw_id(job_id) and "ended SUCCEEDED" in line["message"] for line in lines)
    assert any(line["logger"] == "assay" and "ready" in line["message"] for line in lines)


@pytest.mark.slow  # a live server process (11 s loaded)
def test_plain_text_stays_the_default(tmp_path):
    server = LiveServer(tmp_path / "data").start()
    try:
        httpx.get(f"{server.base}/health", timeout=30)
    finally:
        server.terminate()
    lines = [line for line in server.output().splitlines() if line.strip()]
    assert lines and not any(line.startswith("{") for line in lines)
    assert any(" INFO assay: Assay " in line for line in lines)


def raw_id(global_id: str) -> str:
    """The database id inside a GraphQL global id ("Type:id", base64): what log lines name."""
    return base64.b64decode(global_id + "=" * (-len(global_id) % 4)).decode().split(":", 1)[1]
