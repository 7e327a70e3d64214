"""Replicas started at the same moment against one empty PostgreSQL all come up (issue 26, item 8).

Every start-up step runs in each of them at once: the migration (under its advisory lock), the
configured admin (inserted if absent), the secret key kept in a shared data dir (linked into place
once), the job recovery and the scheduler (compare-and-set claims). Each replica is the real server
entry point, `server.__main__.main`, in its own process; a barrier holds them after their imports so
the start-up steps themselves run together, which is where the race was (one replica exited with
UniqueViolationError on ix_user_email: "Application startup failed").
"""

from __future__ import annotations

import os
import sys
import time

import pytest

from tests.support.live_server import LiveServer
from tests.support.settings import run_sql

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
REPLICAS = 4
ROUNDS = 3
ADMIN = {"ASSAY_ADMIN_EMAIL": "root@example.com", "ASSAY_ADMIN_PASSWORD": "admin password 1"}
# The server's own entry point, once its modules are imported and every replica is ready: together.
SERVE_WHEN_ALL_READY = """
import sys, time
from pathlib import Path
from server.__main__ import main
import server.app, server.job_kinds
folder, me = Path(sys.argv[1]), sys.argv[2]
(folder / f"ready-{me}").touch()
while not (folder / "go").exists():
    time.sleep(0.002)
main()
"""
LOGIN = """mutation { login(input: {email: "root@example.com", password: "admin password 1"}) {
  accessToken errors { code message } } }"""
ME = "{ me { email role } }"


def start_together(url: str, folder, data_dir) -> list[LiveServer]:
    # One data dir and no ASSAY_SECRET_KEY: the replicas must also agree on the key they generate.
    replicas = [
        LiveServer(data_dir, ASSAY_DATABASE_URL=url, ASSAY_SECRET_KEY="", ASSAY_REQUESTS_PER_MINUTE="100000", **ADMIN)
        for _ in range(REPLICAS)
    ]
    for n, replica in enumerate(replicas):
        replica.launch([sys.executable, "-c", SERVE_WHEN_ALL_READY, str(folder), str(n)])
    deadline = time.monotonic() + 180
    while len(list(folder.glob("ready-*"))) < REPLICAS:
        exited = [r.output()[-1500:] for r in replicas if r.process.poll() is not None]
        assert not exited and time.monotonic() < deadline, f"a replica did not get ready: {exited}"
        time.sleep(0.02)
    (folder / "go").touch()
    return replicas


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_replicas_started_together_on_an_empty_postgresql_all_come_up(empty_postgres_url, tmp_path_factory, round_):
    folder, data_dir = tmp_path_factory.mktemp("barrier"), tmp_path_factory.mktemp("replicas") / "data"
    replicas = start_together(empty_postgres_url, folder, data_dir)
    try:
        failed = []
        for replica in replicas:
            try:
                replica.wait_healthy(180)
            except RuntimeError as exc:
                failed.append(str(exc))
        assert not failed, "\n\n".join(failed)
        tokens = []
        for replica in replicas:  # one admin, reachable through every replica
            login = replica.gql(LOGIN)["data"]["login"]
            assert login["errors"] == [], login
            tokens.append(login["accessToken"])
        for replica in replicas:  # one key: a token from any replica is good on every other
            for token in tokens:
                assert replica.gql(ME, token=token)["data"]["me"] == {"email": "root@example.com", "role": "ADMIN"}

        class Stub:  # run_sql needs only the URL
            resolved_database_url = empty_postgres_url

        assert run_sql(Stub, 'SELECT email, role FROM "user"') == [("root@example.com", "ADMIN")]
    finally:
        for replica in replicas:
            if replica.process.poll() is None:
                replica.terminate()


def test_a_starting_replica_keeps_the_uploads_another_is_receiving(tmp_path):
    """Replicas share the data dir: start-up removes only staged uploads nobody has written for a while,
    not the one another replica is receiving right now."""
    staging = tmp_path / "data" / "uploads"
    staging.mkdir(parents=True)
    live, abandoned = staging / "live.part", staging / "abandoned.part"
    live.write_bytes(b"a,b\n1,2\n")
    abandoned.write_bytes(b"a,b\n")
    day_ago = time.time() - 86400
    os.utime(abandoned, (day_ago, day_ago))
    server = LiveServer(tmp_path / "data").start()
    try:
        assert live.exists() and not abandoned.exists()
    finally:
        server.terminate()
