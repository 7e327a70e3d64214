"""`assay webhooks` as a user runs it, against a real server on a port, delivering to the documented example verifier
(examples/verify_webhook.py) running as its own receiver process: it accepts real deliveries and refuses forgeries."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from queue import Empty, Queue

import httpx
import pytest

from devtools.redis_local import free_port
from tests.client.test_cli import Cli, registered
from tests.support.paths import ROOT
from tests.support.settings import make_settings
from tests.support.threaded_server import ThreadedServer

pytestmark = pytest.mark.sqlite_only("the client is tested against one server; the backends are tested elsewhere")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    settings = make_settings(
        tmp_path_factory.mktemp("webhooks-cli"),
        webhook_allow_http=True,
        allowed_source_hosts="127.0.0.1",
        webhook_poll_seconds=0.2,
    )
    live = ThreadedServer(settings).start()  # the client and the verifier are the subjects: a server on a port
    try:
        yield live
    finally:
        live.stop()


def verifier(secret: str, port: int) -> tuple[subprocess.Popen, Queue]:
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "examples" / "verify_webhook.py"), "--secret", secret, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: Queue = Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    return process, lines


def test_create_list_deliveries_delete_with_the_example_verifier_receiving(server, tmp_path: Path):
    cli: Cli = registered(server, tmp_path / "home")
    port = free_port()
    made = cli.run(
        "webhooks", "create", f"http://127.0.0.1:{port}/hook", "--event", "job_finished", "--job-kind", "INGEST"
    )
    assert made.returncode == 0, made.stderr
    first, second = made.stdout.splitlines()
    hook_id = first.split()[2]
    assert first == f"Created webhook {hook_id} for JOB_FINISHED" and second.startswith("Secret (shown once")
    secret = second.rsplit(" ", 1)[1]
    process, lines = verifier(secret, port)
    try:
        (tmp_path / "numbers.csv").write_text("a,b\n1,2\n3,4\n")
        uploaded = cli.run("upload", str(tmp_path / "numbers.csv"))
        assert uploaded.returncode == 0, uploaded.stderr
        try:
            event = json.loads(lines.get(timeout=30))
        except Empty:
            raise AssertionError(
                f"the verifier printed nothing: {process.stderr.read() if process.poll() else ''}"
            ) from None
        assert event["type"] == "JOB_FINISHED" and event["data"]["kind"] == "INGEST"
        assert event["data"]["status"] == "SUCCEEDED"

        forged = httpx.post(
            f"http://127.0.0.1:{port}/hook",
            content=b'{"id":"msg_x"}',
            headers={"webhook-id": "msg_x", "webhook-timestamp": str(int(time.time())), "webhook-signature": "v1,AAAA"},
        )
        assert forged.status_code == 400
    finally:
        process.terminate()
        process.wait(timeout=10)

    log = cli.run("webhooks", "deliveries", hook_id)
    assert log.returncode == 0, log.stderr
    assert log.stdout.splitlines()[0] == f"http://127.0.0.1:{port}/hook: 1 delivery(ies)"
    assert event["id"] in log.stdout and "DELIVERED" in log.stdout and log.stdout.rstrip().endswith(" 204")
    listed = cli.json("webhooks", "list")
    assert [edge["node"]["id"] for edge in listed["edges"]] == [hook_id]
    assert listed["edges"][0]["node"]["jobKinds"] == ["INGEST"]

    refused = cli.run("webhooks", "create", "https://10.1.2.3/hook", "--event", "DRIFT_ALERT")
    assert refused.returncode == 1 and "[INVALID_INPUT]" in refused.stderr and "non-public" in refused.stderr
    gone = cli.run("webhooks", "delete", hook_id)
    assert gone.returncode == 0 and gone.stdout.strip() == f"Deleted webhook {hook_id} (http://127.0.0.1:{port}/hook)"
    assert cli.json("webhooks", "list")["totalCount"] == 0
    again = cli.run("webhooks", "deliveries", hook_id)
    assert again.returncode == 4 and "No webhook with id" in again.stderr
