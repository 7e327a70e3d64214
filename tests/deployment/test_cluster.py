"""A real cluster: 2 replicas and 2 Celery workers on Redis and a shared database and data dir.

One cluster for the module (its start is most of the cost); the tests that kill a member start a
replacement, so each test sees two of each.
"""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest
import redis

from devtools.cluster import Cluster
from devtools.redis_local import free_port
from services.jobs.priority import broker_keys
from tests.support.cluster_client import PASSWORD, ReplicaClient, worker_running
from tests.support.data import slow_gzip

pytestmark = pytest.mark.slow

CANCEL = "mutation($id: ID!) { cancelJob(input: {id: $id}) { job { status } errors { code } } }"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    directory = tmp_path_factory.mktemp("cluster")
    env = {
        "ASSAY_JOB_HEARTBEAT_SECONDS": "1",
        "ASSAY_JOB_CANCEL_GRACE_SECONDS": "1",
        "ASSAY_JOB_MAX_ATTEMPTS": "2",
        "ASSAY_REQUESTS_PER_MINUTE": "100000",
        "ASSAY_LOGIN_FAILURES_PER_ACCOUNT": "5",
        "ASSAY_ADMIN_EMAIL": "root@example.com",
        "ASSAY_ADMIN_PASSWORD": "admin password 1",
    }
    with Cluster(directory, workers=2, worker_concurrency=1, env=env) as running:
        yield running


@pytest.fixture(scope="module")
def slow_upload(tmp_path_factory) -> bytes:
    """Seconds of ingest work for a small upload (a few million rows of gzip)."""
    return slow_gzip(tmp_path_factory.mktemp("slow") / "slow.csv.gz", rows_millions=4)


def clients(cluster: Cluster) -> tuple[ReplicaClient, ReplicaClient]:
    a, b = cluster.replicas[:2]
    return ReplicaClient(a.base), ReplicaClient(b.base)


def test_upload_through_a_watched_through_b_to_the_end_in_order(cluster, slow_upload):
    a, b = clients(cluster)
    _, token = a.register()
    job_id = a.upload(token, slow_upload, "slow.csv.gz")["job"]["id"]
    events = list(b.events(token, job_id))
    seqs = [e["log"]["seq"] for e in events if e["kind"] == "LOG"]
    assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) >= 3
    statuses = [e["job"]["status"] for e in events if e["kind"] == "STATUS"]
    assert statuses[-1] == "SUCCEEDED" and "RUNNING" in statuses  # watched live, not only from the backlog


def test_cancel_through_b_a_job_that_a_enqueued(cluster, slow_upload):
    a, b = clients(cluster)
    _, token = a.register()
    job_id = a.upload(token, slow_upload, "slow.csv.gz")["job"]["id"]
    a.wait_for(token, job_id, ("RUNNING",))
    # B runs nothing itself; its health counts what the cluster's workers run
    assert b.gql("{ health { activeJobs } }")["data"]["health"]["activeJobs"] >= 1
    asked = time.monotonic()
    assert b.gql(CANCEL, {"id": job_id}, token)["data"]["cancelJob"]["errors"] == []
    job = a.wait_for(token, job_id, ("CANCELLED", "SUCCEEDED", "FAILED"))
    assert job["status"] == "CANCELLED" and job["error"] == "Cancelled by the user"
    assert time.monotonic() - asked < 15  # checkpoint or hard stop after the 1 s grace, on whichever worker


def _training_data(rows: int = 8_000) -> bytes:
    generator = np.random.default_rng(0)
    features = generator.normal(size=(rows, 12))
    target = (features[:, 0] + features[:, 1] * features[:, 2] + generator.normal(size=rows) > 0).astype(int)
    lines = [",".join(f"f{i}" for i in range(12)) + ",label"]
    lines += [
        ",".join(f"{v:.4f}" for v in row) + f",{'yes' if t else 'no'}" for row, t in zip(features, target, strict=True)
    ]
    return ("\n".join(lines) + "\n").encode()


def test_sigkill_the_worker_running_a_training_job(cluster):
    a, b = clients(cluster)
    _, token = a.register()
    upload = a.upload(token, _training_data())
    a.wait_for(token, upload["job"]["id"], ("SUCCEEDED",))
    job_id = a.train(token, upload["dataset"]["id"], "label", "RANDOM_FOREST")["job"]["id"]
    a.wait_for(token, job_id, ("RUNNING",))
    raw_id = _raw_job_id(a, token, job_id)
    runner = worker_running(cluster, raw_id)
    system = _system(b)  # the admin sees the job on its worker and the modeling queue busy
    assert {w["name"] for w in system["liveWorkers"]} >= {m.name for m in cluster.worker_members}
    assert job_id in next(w for w in system["liveWorkers"] if w["name"] == runner.name)["runningJobIds"]
    assert next(q for q in system["queues"] if q["name"] == "modeling")["running"] == 1
    assert system["executor"] == "celery"
    runner.kill()
    cluster.members.remove(runner)
    killed_at = time.monotonic()
    replacement = cluster.add_worker(runner.name + "b")  # started now: the next tests have two workers again
    job = b.wait_for(token, job_id, ("SUCCEEDED", "FAILED"), timeout=180)
    # Attempt 2 ran on the surviving worker, or the job failed saying why; either way it ended.
    assert (job["status"], job["attempt"]) == ("SUCCEEDED", 2) or (
        job["status"] == "FAILED" and "stopped while this job ran" in job["error"]
    ), job
    assert any("running it again" in line["message"] for line in job["logs"]) or job["status"] == "FAILED"
    assert time.monotonic() - killed_at < 170
    replacement.wait_healthy()


def _system(client: ReplicaClient) -> dict:
    token = client.login("root@example.com", "admin password 1")["data"]["login"]["accessToken"]
    return client.gql(
        "{ system { executor queues { name queued running } liveWorkers { name queues runningJobIds } } }", token=token
    )["data"]["system"]


def _raw_job_id(client: ReplicaClient, token: str, job_id: str) -> str:
    import base64

    return base64.b64decode(job_id + "=" * (-len(job_id) % 4)).decode().split(":", 1)[1]


def test_worker_health_check_sees_live_workers_only(cluster):
    """`python -m server.worker --health` (the compose file's worker health check) is 0 only for a live worker."""
    import os
    import subprocess
    import sys

    def health(**environment: str) -> subprocess.CompletedProcess:
        env = {**os.environ, "ASSAY_REDIS_URL": cluster.redis_url, **environment}
        command = [sys.executable, "-m", "server.worker", "--health"]
        return subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)

    for worker in cluster.worker_members:
        checked = health(ASSAY_WORKER_NAME=worker.name)
        assert checked.returncode == 0, checked.stderr
    missing = health(ASSAY_WORKER_NAME="no-such-worker")
    assert missing.returncode == 1 and "no live worker record" in missing.stderr
    unreachable = health(ASSAY_REDIS_URL="redis://127.0.0.1:1/0")
    assert unreachable.returncode == 1 and "Redis unreachable" in unreachable.stderr


def test_failed_logins_through_both_replicas_add_up_to_one_limit(cluster):
    a, b = clients(cluster)
    email, _ = a.register()
    for replica in (a, b, a, b, a):  # the account's limit is 5 failures
        assert _login_error(replica.login(email, "wrong password")) == "UNAUTHENTICATED"
    for replica in (a, b):  # even the right password, through either replica
        assert _login_error(replica.login(email, PASSWORD)) == "RATE_LIMITED"


def _login_error(answer: dict) -> str | None:
    if answer.get("errors"):
        return answer["errors"][0]["extensions"]["code"]
    errors = answer["data"]["login"]["errors"]
    return errors[0]["code"] if errors else None


def test_another_users_objects_are_invisible_through_every_replica(cluster):
    a, b = clients(cluster)
    _, owner = a.register()
    upload = a.upload(owner, b"x,y\n1,2\n")
    a.wait_for(owner, upload["job"]["id"], ("SUCCEEDED",))
    _, stranger = b.register()
    for replica in (a, b):
        seen = replica.gql(
            "query($d: ID!, $j: ID!) { dataset(id: $d) { id } job(id: $j) { id } "
            "datasets(first: 10) { totalCount } jobs(first: 10) { totalCount } }",
            {"d": upload["dataset"]["id"], "j": upload["job"]["id"]},
            stranger,
        )["data"]
        assert seen == {"dataset": None, "job": None, "datasets": {"totalCount": 0}, "jobs": {"totalCount": 0}}
        with pytest.raises(AssertionError, match="NOT_FOUND"):
            list(replica.events(stranger, upload["job"]["id"]))


def test_sigkill_replica_a_while_a_client_watches_then_b_with_after(cluster, slow_upload):
    a, b = clients(cluster)
    _, token = a.register()
    job_id = a.upload(token, slow_upload, "slow.csv.gz")["job"]["id"]
    first: list[dict] = []
    dropped = threading.Event()

    def watch() -> None:
        try:
            for event in a.events(token, job_id):
                first.append(event)
                if event["kind"] == "LOG" and event["log"]["seq"] >= 2:
                    cluster.replicas[0].kill()  # mid-stream, as a crash
        except Exception:  # noqa: BLE001, S110 - the socket drops with the replica
            pass
        finally:
            dropped.set()

    watcher = threading.Thread(target=watch)
    watcher.start()
    assert dropped.wait(120)
    watcher.join(10)
    killed = cluster.replicas[0]
    cluster.members.remove(killed)
    seen = [e["log"]["seq"] for e in first if e["kind"] == "LOG"]
    assert seen and seen == list(range(1, len(seen) + 1))
    rest = list(b.events(token, job_id, after=seen[-1]))
    more = [e["log"]["seq"] for e in rest if e["kind"] == "LOG"]
    assert seen + more == list(range(1, len(seen) + len(more) + 1))  # every remaining line exactly once
    assert rest[-1]["kind"] == "STATUS" and rest[-1]["job"]["status"] == "SUCCEEDED"
    cluster.add_replica(killed.port).wait_healthy()


def test_a_lost_queued_message_is_sent_again_and_a_reset_waits_for_the_worker(tmp_path_factory, slow_upload):
    """Redis losing a queued message (a restart without its data) must not leave the job QUEUED forever; and
    resetDatabase returns only once the worker running a job confirmed it stopped."""
    env = {
        "ASSAY_JOB_HEARTBEAT_SECONDS": "1",
        "ASSAY_JOB_RESEND_QUEUED_SECONDS": "3",
        "ASSAY_REQUESTS_PER_MINUTE": "100000",
        "ASSAY_JOB_CANCEL_GRACE_SECONDS": "1",
        "ASSAY_ALLOW_DATABASE_RESET": "true",
        "ASSAY_ADMIN_EMAIL": "root@example.com",
        "ASSAY_ADMIN_PASSWORD": "admin password 1",
    }
    with Cluster(
        tmp_path_factory.mktemp("lost"), replica_ports=[free_port()], workers=0, use_postgres=False, env=env
    ) as cluster:
        client = ReplicaClient(cluster.replicas[0].base)
        _, token = client.register()
        job_id = client.upload(token, b"a,b\n1,2\n3,4\n")["job"]["id"]
        broker = redis.Redis.from_url(cluster.redis_url)

        def queued_messages(expected: int) -> int:
            deadline = time.monotonic() + 30
            while queued() != expected and time.monotonic() < deadline:
                time.sleep(0.1)
            return queued()

        def queued() -> int:  # kombu keeps one list per priority step (services/jobs/priority.py)
            return sum(broker.llen(key) for key in broker_keys("ingest"))

        assert queued_messages(1) == 1 and client.job(token, job_id)["status"] == "QUEUED"
        broker.delete(*broker_keys("ingest"))  # the message is gone; only the database still knows the job
        assert queued_messages(1) == 1, "the job was not sent again"
        assert any("sent to the queue again" in entry["message"] for entry in client.job(token, job_id)["logs"])
        cluster.add_worker("late").wait_healthy()
        assert client.wait_for(token, job_id, ("SUCCEEDED", "FAILED"), timeout=90)["status"] == "SUCCEEDED"

        running = client.upload(token, slow_upload, "slow.csv.gz")["job"]["id"]
        client.wait_for(token, running, ("RUNNING",))
        admin = client.login("root@example.com", "admin password 1")["data"]["login"]["accessToken"]
        reset = client.gql(
            'mutation { resetDatabase(input: {confirmation: "DELETE EVERYTHING"}) { deletedRows errors { code } } }',
            token=admin,
        )["data"]["resetDatabase"]
        assert reset["errors"] == [] and reset["deletedRows"] > 0
        time.sleep(3)  # a worker still running would write its files again by now
        data_dir = cluster.directory / "data"
        left = sorted(str(p.relative_to(data_dir)) for p in data_dir.rglob("*") if p.is_file())
        assert [name for name in left if not name.startswith("assay.db")] == []
        workers = [json.loads(v) for v in broker.mget(list(broker.scan_iter("assay:worker:*")))]
        assert workers and all(w["running"] == [] for w in workers)
