"""`.env` and `.env.example`, as the seed's README uses them: `cp .env.example .env`, edit, `make run`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.graphql import REGISTER
from tests.support.live_server import LiveServer
from tests.support.paths import ROOT

LOGIN = """mutation($email: String!, $password: String!) {
  login(input: {email: $email, password: $password}) { accessToken user { email role } errors { code } } }"""


def test_env_example_lists_every_setting_with_its_default() -> None:
    done = subprocess.run(
        [sys.executable, "scripts/write_env_example.py", "--check"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    text = (ROOT / ".env.example").read_text()
    assert "# ASSAY_JOB_MEMORY_MB=2048\n" in text and "# ASSAY_OPEN_REGISTRATION=true\n" in text


@pytest.mark.slow  # a `python -m server` process in its own working directory (docs/testing.md)
@pytest.mark.sqlite_only("about reading settings, not about the database")
def test_the_server_reads_dot_env_from_its_directory_and_the_environment_wins(tmp_path: Path) -> None:
    workdir = tmp_path / "deploy"
    workdir.mkdir()
    (workdir / ".env").write_text(
        "# as an operator would write it\n"
        "ASSAY_OPEN_REGISTRATION=false\n"
        "ASSAY_ADMIN_EMAIL=ops@example.com\n"
        "ASSAY_ADMIN_PASSWORD=from the dot env file\n"
        "ASSAY_PORT=1\n"
    )  # the environment's port (LiveServer sets one) must win over this
    server = LiveServer(tmp_path / "data", cwd=workdir).start()
    try:
        refused = server.gql(REGISTER, {"email": "someone@example.com", "password": "correct horse battery"})
        assert refused["data"]["register"]["errors"][0]["code"] == "FORBIDDEN"
        admin = server.gql(LOGIN, {"email": "ops@example.com", "password": "from the dot env file"})["data"]["login"]
        assert admin["errors"] == [] and admin["user"]["role"] == "ADMIN"
    finally:
        server.terminate()
