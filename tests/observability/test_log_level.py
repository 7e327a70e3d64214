"""ASSAY_LOG_LEVEL through a live server: WARNING hides the INFO lines (start-up, access, job ends) while the
server works as before; DEBUG shows Assay's debug lines from the server and from each job process, in the
server's JSON format, without the query-by-query chatter of the database driver."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from server.settings import Settings
from tests.support.live_server import LiveServer

REGISTER = """mutation { register(input: {email: "levels@example.com", password: "correct horse battery"}) {
  accessToken } }"""


def run_one_job(server: LiveServer) -> list[dict]:
    try:
        token = server.gql(REGISTER)["data"]["register"]["accessToken"]
        job_id = server.upload(token, b"a,b\n1,x\n2,y\n")["job"]["id"]
        assert server.wait_for(token, job_id, ("SUCCEEDED", "FAILED"))["status"] == "SUCCEEDED"
    finally:
        server.terminate()
    return [json.loads(line) for line in server.output().splitlines() if line.strip()]


@pytest.mark.slow  # a `python -m server` process for its own log output: ~10 s of CPU to start (docs/testing.md)
def test_warning_hides_info_lines(tmp_path):
    lines = run_one_job(LiveServer(tmp_path / "data", ASSAY_LOG_FORMAT="json", ASSAY_LOG_LEVEL="WARNING").start())
    assert all(line["level"] in ("WARNING", "ERROR", "CRITICAL") for line in lines), lines


@pytest.mark.slow  # likewise
def test_debug_shows_assay_debug_lines_from_the_server_and_the_job_process(tmp_path):
    lines = run_one_job(LiveServer(tmp_path / "data", ASSAY_LOG_FORMAT="json", ASSAY_LOG_LEVEL="DEBUG").start())
    debug = [line for line in lines if line["level"] == "DEBUG"]
    assert any("attempt 1 started at NORMAL priority" in line["message"] for line in debug)  # the server's runner
    assert any("its process" in line["message"] and line["job_id"] for line in debug)  # the job process itself
    assert not [line for line in debug if line["logger"].startswith(("aiosqlite", "asyncio", "multipart"))]
    assert any(line["level"] == "INFO" for line in lines)


def test_an_unknown_level_is_refused_at_start_up():
    with pytest.raises(ValidationError):
        Settings(_env_file=None, log_level="CHATTY")
