"""Job retries through the API: an import whose source times out runs again with backoff and succeeds, each
attempt in its log and in `job.attempts`; one that keeps timing out stops at the kind's limit; a refusal that
will not pass (HTTP 404) fails at once. The source is a real HTTPS server on 127.0.0.1 (as the import tests)."""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
from starlette.testclient import TestClient

from server.app import create_app
from tests.datasets.test_import_url import ORDERS, self_signed
from tests.support.graphql import FINISHED, gql, register, wait_for_status
from tests.support.settings import make_settings

IMPORT = """mutation($input: ImportDatasetInput!) { importDataset(input: $input) {
  dataset { id status } job { id priority } errors { code message } } }"""
JOB = """query($id: ID!) { job(id: $id) { id status error attempt priority
  attempts { attempt outcome error transient retryInSeconds startedAt finishedAt }
  logs(last: 200) { level message }
  telemetry { status priority attempts retries totalMs runMs stages { stage durationMs } warnings warningCount
  tools } } }"""


class FlakySource(BaseHTTPRequestHandler):
    """/flaky.csv stalls on its first request and answers on the next; /down.csv always stalls; /gone.csv is 404."""

    protocol_version = "HTTP/1.1"
    hits: ClassVar[dict[str, int]] = {}

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        hit = self.hits[self.path] = self.hits.get(self.path, 0) + 1
        if self.path == "/gone.csv":
            return self._send(404, b"gone")
        if self.path == "/down.csv" or (self.path == "/flaky.csv" and hit == 1):
            self.send_response(200)
            self.send_header("content-length", str(len(ORDERS)))
            self.end_headers()
            self.wfile.write(ORDERS[:100])
            self.wfile.flush()
            time.sleep(2.5)  # longer than the importer's 1 s stall limit: the client times out
            return None
        return self._send(200, ORDERS)

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def importer(tmp_path) -> Iterator[tuple[TestClient, str]]:
    cert, key = self_signed(tmp_path)
    FlakySource.hits = {}
    server = ThreadingHTTPServer(("127.0.0.1", 0), FlakySource)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings = make_settings(
        tmp_path, allowed_source_hosts="127.0.0.1", import_ca_file=str(cert), upload_stall_seconds=1
    )
    try:
        with TestClient(create_app(settings)) as client:
            client.settings = settings
            yield client, f"https://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def start_import(client: TestClient, token: str, url: str) -> dict:
    payload = gql(client, IMPORT, {"input": {"url": url, "priority": "HIGH"}}, token)["data"]["importDataset"]
    assert payload["errors"] == [], payload
    assert payload["job"]["priority"] == "HIGH"
    return payload


def imported(client: TestClient, token: str, url: str, timeout: float = 60) -> dict:
    """Import from `url` and return the job, finished, as JOB reads it (its attempts and telemetry)."""
    job_id = start_import(client, token, url)["job"]["id"]
    return wait_for_status(client, token, job_id, FINISHED, timeout, query=JOB)


def test_a_source_timing_out_once_is_retried_with_backoff_and_the_job_succeeds(importer):
    client, base = importer
    token = register(client)["accessToken"]
    job = imported(client, token, f"{base}/flaky.csv")
    assert job["status"] == "SUCCEEDED" and job["attempt"] == 2, job
    first, second = job["attempts"]
    assert first["attempt"] == 1 and first["outcome"] == "RETRYING" and first["transient"] is True
    assert "sent nothing for 1 s" in first["error"] and 0.05 <= first["retryInSeconds"] < 1
    assert second == {**second, "attempt": 2, "outcome": "SUCCEEDED", "transient": False, "error": None}
    warnings = [line["message"] for line in job["logs"] if line["level"] == "WARNING"]
    assert any(m.startswith("Attempt 1 failed with a transient error") and "retry 1 of 2" in m for m in warnings)
    assert FlakySource.hits["/flaky.csv"] == 2
    # The telemetry of the job: queryable, and the same record as a line of the JSON-lines file
    telemetry = job["telemetry"]
    assert telemetry["status"] == "SUCCEEDED" and telemetry["attempts"] == 2 and telemetry["retries"] == 1
    assert telemetry["priority"] == "HIGH" and telemetry["warningCount"] >= 1 and telemetry["stages"]
    assert (
        all(s["durationMs"] is not None for s in telemetry["stages"]) and telemetry["totalMs"] >= telemetry["runMs"] > 0
    )
    lines = (client.settings.resolved_data_dir / "telemetry" / "jobs.jsonl").read_text().splitlines()
    [line] = [json.loads(text) for text in lines if json.loads(text)["kind"] == "INGEST"]
    assert line["status"] == "SUCCEEDED" and line["retries"] == 1 and line["warning_count"] == telemetry["warningCount"]
    assert [s["stage"] for s in line["stages"]] == [s["stage"] for s in telemetry["stages"]]


def test_a_source_that_keeps_timing_out_fails_after_the_kinds_retries(importer):
    client, base = importer
    token = register(client)["accessToken"]
    job = imported(client, token, f"{base}/down.csv", timeout=90)
    assert job["status"] == "FAILED" and "sent nothing for 1 s" in job["error"]
    assert [a["outcome"] for a in job["attempts"]] == ["RETRYING", "RETRYING", "FAILED"]  # INGEST: max_retries 2
    assert job["attempt"] == 3 and FlakySource.hits["/down.csv"] == 3
    assert job["attempts"][1]["retryInSeconds"] >= job["attempts"][0]["retryInSeconds"]  # exponential: 50 ms, 100 ms
    assert job["telemetry"]["retries"] == 2 and job["telemetry"]["status"] == "FAILED"


def test_a_failure_that_will_not_pass_fails_at_once(importer):
    client, base = importer
    token = register(client)["accessToken"]
    job = imported(client, token, f"{base}/gone.csv")
    assert job["status"] == "FAILED" and "HTTP 404" in job["error"] and job["attempt"] == 1
    assert [(a["outcome"], a["transient"]) for a in job["attempts"]] == [("FAILED", False)]
    assert FlakySource.hits["/gone.csv"] == 1
    # another user sees neither the job nor its telemetry
    other = register(client)["accessToken"]
    assert gql(client, JOB, {"id": job["id"]}, other)["data"]["job"] is None
