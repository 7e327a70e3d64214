"""Crash and shutdown of a real server process: nothing stays RUNNING, nothing completed is lost."""

from __future__ import annotations

import json

import httpx
import pytest
from websockets.sync.client import connect

from tests.support.live_server import LiveServer

pytestmark = pytest.mark.slow
REGISTER = 'mutation { register(input: {email: "crash@example.com", password: "crash test pw"}) { accessToken } }'
LOGIN = 'mutation { login(input: {email: "crash@example.com", password: "crash test pw"}) { accessToken } }'
DATASET = "query($id: ID!) { dataset(id: $id) { status rowCount downloadUrl } }"


def test_sigkill_mid_job_then_restart_reruns_it(tmp_path, slow_file):
    server = LiveServer(tmp_path).start()
    token = server.gql(REGISTER)["data"]["register"]["accessToken"]
    done = server.upload(token, b"a,b\n1,2\n3,4\n", "small.csv")
    server.wait_for(token, done["job"]["id"], ("SUCCEEDED",))
    running = server.upload(token, slow_file, "slow.csv.gz")
    server.wait_for(token, running["job"]["id"], ("RUNNING",))
    server.kill()

    server = LiveServer(tmp_path).start()
    token = server.gql(LOGIN)["data"]["login"]["accessToken"]
    job = server.wait_for(token, running["job"]["id"], ("SUCCEEDED", "FAILED"), timeout=120)
    server.terminate()
    assert job["status"] == "SUCCEEDED" and job["attempt"] == 2
    assert any(entry["level"] == "WARNING" and "running it again" in entry["message"] for entry in job["logs"])
    server.start()
    dataset = server.gql(DATASET, {"id": done["dataset"]["id"]}, token)["data"]["dataset"]
    assert dataset["status"] == "READY" and dataset["rowCount"] == 2
    assert httpx.get(server.base + dataset["downloadUrl"]).text.splitlines()[1] == "1,2"
    server.terminate()


def test_a_job_that_keeps_crashing_ends_failed_with_the_reason(tmp_path, slow_file):
    server = LiveServer(tmp_path, ASSAY_JOB_MAX_ATTEMPTS="1").start()
    token = server.gql(REGISTER)["data"]["register"]["accessToken"]
    running = server.upload(token, slow_file, "slow.csv.gz")
    server.wait_for(token, running["job"]["id"], ("RUNNING",))
    server.kill()
    server.start()
    job = server.wait_for(token, running["job"]["id"], ("FAILED", "SUCCEEDED"))
    dataset = server.gql(DATASET, {"id": running["dataset"]["id"]}, token)["data"]["dataset"]
    server.terminate()
    assert job["status"] == "FAILED" and "server stopped while this job ran" in job["error"]
    assert dataset["status"] == "FAILED"


def test_sigterm_ends_subscriptions_with_a_final_event_and_hands_the_job_back(tmp_path, slow_file):
    server = LiveServer(tmp_path).start()
    token = server.gql(REGISTER)["data"]["register"]["accessToken"]
    running = server.upload(token, slow_file, "slow.csv.gz")
    server.wait_for(token, running["job"]["id"], ("RUNNING",))
    query = "subscription($id: ID!) { jobEvents(jobId: $id) { kind job { status error } } }"
    messages = []
    with connect(server.base.replace("http", "ws") + "/graphql", subprotocols=["graphql-transport-ws"]) as socket:
        socket.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}))
        assert json.loads(socket.recv(10))["type"] == "connection_ack"
        socket.send(
            json.dumps(
                {"id": "1", "type": "subscribe", "payload": {"query": query, "variables": {"id": running["job"]["id"]}}}
            )
        )
        socket.recv(10)  # the backlog has begun: the subscription is live
        exit_code = None
        server.process.send_signal(15)
        try:
            while True:
                message = json.loads(socket.recv(20))
                messages.append(message)
                if message["type"] == "complete":
                    break
        finally:
            exit_code = server.process.wait(timeout=30)
    # uvicorn re-raises the signal after a graceful shutdown, so the exit status says SIGTERM.
    assert exit_code in (0, -15) and "Application shutdown complete" in server.output()
    final = [m["payload"]["data"]["jobEvents"] for m in messages if m["type"] == "next"][-1]
    assert final["kind"] == "STATUS" and final["job"]["status"] == "QUEUED"
    assert "shutting down" in final["job"]["error"]
    server.start()
    token = server.gql(LOGIN)["data"]["login"]["accessToken"]
    job = server.wait_for(token, running["job"]["id"], ("SUCCEEDED", "FAILED"), timeout=120)
    server.terminate()
    assert job["status"] == "SUCCEEDED" and job["attempt"] == 1
