"""The admin's view of where jobs run: queue depths and live workers (local executor; the cluster
test checks the Celery side)."""

from __future__ import annotations

from starlette.testclient import TestClient

from server.app import create_app
from tests.support.graphql import gql
from tests.support.settings import make_settings

LOGIN = 'mutation { login(input: {email: "root@example.com", password: "admin password 1"}) { accessToken } }'
SYSTEM = "{ system { executor queues { name queued running } liveWorkers { name queues concurrency runningJobIds } } }"


def test_system_lists_every_queue_and_this_server_as_the_local_worker(tmp_path):
    settings = make_settings(tmp_path, admin_email="root@example.com", admin_password="admin password 1")
    with TestClient(create_app(settings)) as client:
        token = gql(client, LOGIN)["data"]["login"]["accessToken"]
        system = gql(client, SYSTEM, token=token)["data"]["system"]
    assert system["executor"] == "local"
    assert [q["name"] for q in system["queues"]] == ["ingest", "analysis", "modeling", "imputation", "default"]
    assert all(q["queued"] == 0 and q["running"] == 0 for q in system["queues"])
    [worker] = system["liveWorkers"]
    assert worker["name"].startswith("local@") and worker["concurrency"] == 2 and worker["runningJobIds"] == []
    assert len(worker["queues"]) == 5
