"""jobDebug through /graphql: an admin sees where a job runs (this replica, its live process), its
cancel flag, and whether its files exist; anyone else is refused."""

from __future__ import annotations

import time

from starlette.testclient import TestClient

from server.app import create_app
from tests.maintenance.test_maintenance import ADMIN, CSV, admin_token
from tests.support.graphql import gql, register, upload, wait_for_job
from tests.support.settings import make_settings

DEBUG = """query($id: ID!) { jobDebug(id: $id) { job { id status } replica runningHere worker pid processAlive
  waitingForSlot cancelRequested subscribersHere heartbeatAgeSeconds files { name objectId path exists sizeBytes
  } } }"""
WATCH = "subscription($id: ID!) { jobEvents(jobId: $id) { kind } }"
CANCEL = "mutation($id: ID!) { cancelJob(input: {id: $id}) { errors { code } } }"


def debug_until(client, token, job_id, ready, timeout=30.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        seen = gql(client, DEBUG, {"id": job_id}, token)["data"]["jobDebug"]
        if ready(seen) or time.monotonic() > deadline:
            return seen
        time.sleep(0.05)


def test_job_debug_shows_a_running_job_here_and_a_finished_ones_files(tmp_path, slow_file):
    settings = make_settings(tmp_path, job_cancel_grace_seconds=2, **ADMIN)
    with TestClient(create_app(settings)) as client:
        admin = admin_token(client)
        member = register(client)["accessToken"]
        slow = upload(client, member, slow_file, "slow.csv.gz")["data"]["uploadDataset"]["job"]["id"]
        running = debug_until(client, admin, slow, lambda d: d["job"]["status"] == "RUNNING" and d["pid"])
        assert running["job"]["status"] == "RUNNING" and running["runningHere"] is True
        assert running["worker"].startswith("local@") and running["replica"] in running["worker"]
        assert isinstance(running["pid"], int) and running["processAlive"] is True
        assert running["cancelRequested"] is False and running["waitingForSlot"] is False
        files = {f["name"]: f for f in running["files"]}
        assert files["dataset original upload"]["exists"] is True
        assert files["dataset Parquet copy"]["exists"] is False and files["dataset Parquet copy"]["sizeBytes"] is None

        with client.websocket_connect(
            "/graphql", subprotocols=["graphql-transport-ws"]
        ) as socket:  # the member watches
            socket.send_json({"type": "connection_init", "payload": {"authorization": f"Bearer {member}"}})
            assert socket.receive_json()["type"] == "connection_ack"
            socket.send_json({"id": "1", "type": "subscribe", "payload": {"query": WATCH, "variables": {"id": slow}}})
            watched = debug_until(client, admin, slow, lambda d: d["subscribersHere"] == 1)
            assert watched["subscribersHere"] == 1
            assert gql(client, CANCEL, {"id": slow}, member)["data"]["cancelJob"]["errors"] == []
            stopping = gql(client, DEBUG, {"id": slow}, admin)["data"]["jobDebug"]  # inside the 2 s grace period
            assert stopping["job"]["status"] == "RUNNING" and stopping["cancelRequested"] is True
            assert wait_for_job(client, member, slow)["status"] == "CANCELLED"
        ended = gql(client, DEBUG, {"id": slow}, admin)["data"]["jobDebug"]
        assert ended["runningHere"] is False and ended["pid"] is None and ended["worker"] is None

        done = upload(client, member, CSV, "small.csv")["data"]["uploadDataset"]["job"]["id"]
        assert wait_for_job(client, member, done)["status"] == "SUCCEEDED"
        finished = gql(client, DEBUG, {"id": done}, admin)["data"]["jobDebug"]
        assert finished["job"]["status"] == "SUCCEEDED" and finished["runningHere"] is False
        parquet = {f["name"]: f for f in finished["files"]}["dataset Parquet copy"]
        assert parquet["exists"] is True and parquet["sizeBytes"] > 0 and parquet["path"].endswith("data.parquet")
        assert finished["heartbeatAgeSeconds"] is None or finished["heartbeatAgeSeconds"] >= 0


def test_job_debug_is_for_admins_and_unknown_ids_are_not_found(tmp_path):
    settings = make_settings(tmp_path, **ADMIN)
    with TestClient(create_app(settings)) as client:
        member = register(client)["accessToken"]
        job = upload(client, member, CSV, "small.csv")["data"]["uploadDataset"]["job"]["id"]
        refused = gql(client, DEBUG, {"id": job}, member)
        assert refused["data"] is None and refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        missing = gql(client, DEBUG, {"id": "Sm9iOm5vdGhpbmc="}, admin_token(client))  # Job:nothing
        assert missing["errors"][0]["extensions"]["code"] == "NOT_FOUND"
