"""Maintenance runs through /graphql: what a clean-up removes and keeps, one run per cluster per period,
and admin-only access. Each test runs on SQLite and on PostgreSQL (see conftest)."""

from __future__ import annotations

import os
import time
import uuid

from starlette.testclient import TestClient

from schema.common import raw_id, to_global_id
from server.app import create_app
from tests.support.graphql import gql, register, upload, wait_for_job
from tests.support.settings import make_settings, run_sql

ADMIN = {"admin_email": "root@example.com", "admin_password": "admin password 1"}
LOGIN = """mutation($email: String!, $password: String!) { login(input: {email: $email, password: $password}) {
  accessToken user { role } } }"""
RUN = """mutation($days: Int) { runMaintenance(input: {logRetentionDays: $days}) {
  job { id kind status } errors { code message field } } }"""
RUNS = "{ maintenanceRuns(first: 10) { totalCount edges { node { id kind status } } } }"
JOB_LOGS = "query($id: ID!) { job(id: $id) { status logs(last: 200) { message } } }"
CSV = b"a,b\n1,x\n2,y\n3,z\n"
OLD = "'2000-01-01 00:00:00+00:00'"  # a literal both databases read as a timestamp


def admin_token(client: TestClient) -> str:
    login = gql(client, LOGIN, {"email": ADMIN["admin_email"], "password": ADMIN["admin_password"]})["data"]["login"]
    assert login["user"]["role"] == "ADMIN"
    return login["accessToken"]


def ingested(client: TestClient, token: str, name: str) -> tuple[str, str]:
    """(dataset id, job id), raw, of a finished upload."""
    payload = upload(client, token, CSV, f"{name}.csv")["data"]["uploadDataset"]
    assert wait_for_job(client, token, payload["job"]["id"])["status"] == "SUCCEEDED"
    return raw_id(payload["dataset"]["id"], "Dataset"), raw_id(payload["job"]["id"], "Job")


def planted(folder, name: str, size: int, *, hours_old: float):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if name.endswith(".part"):
        path.write_bytes(b"x" * size)
    else:
        path.mkdir()
        (path / "data.parquet").write_bytes(b"x" * size)
    stamp = time.time() - hours_old * 3600
    for entry in (*path.rglob("*"), path):
        os.utime(entry, (stamp, stamp))
    return path


def test_a_run_removes_expired_tokens_orphans_and_old_logs_but_nothing_live(tmp_path):
    settings = make_settings(tmp_path, **ADMIN)
    data = settings.resolved_data_dir
    with TestClient(create_app(settings)) as client:
        admin = admin_token(client)
        member = register(client)
        gone_user = register(client)
        old_dataset, old_job = ingested(client, member["accessToken"], "old")
        new_dataset, new_job = ingested(client, member["accessToken"], "new")
        run_sql(
            settings,
            f"UPDATE refresh_token SET expires_at = {OLD} WHERE user_id = :user",
            user=raw_id(gone_user["user"]["id"], "User"),
        )
        run_sql(settings, f"UPDATE job SET finished_at = {OLD} WHERE id = :id", id=old_job)
        orphan = planted(data / "datasets", uuid.uuid4().hex, 5000, hours_old=2)
        young_orphan = planted(data / "datasets", uuid.uuid4().hex, 10, hours_old=0)  # may be a dataset being made
        orphan_model = planted(data / "models", uuid.uuid4().hex, 3000, hours_old=2)
        orphan_comparison = planted(data / "comparisons", uuid.uuid4().hex, 1000, hours_old=2)  # its row is gone
        stale_upload = planted(data / "uploads", "abc.part", 700, hours_old=2)
        tokens_before = run_sql(settings, "SELECT count(*) FROM refresh_token")[0][0]

        started = gql(client, RUN, {}, admin)["data"]["runMaintenance"]
        assert started["errors"] == [] and started["job"]["kind"] == "MAINTENANCE"
        job = wait_for_job(client, admin, started["job"]["id"])
        assert job["status"] == "SUCCEEDED", job
        log = "\n".join(line["message"] for line in job["logs"])
        assert "Removed 1 expired refresh token(s)" in log
        assert (
            "Removed 2 orphan dataset folder(s)" not in log
            and "Removed 1 orphan dataset folder(s) (5,000 bytes)" in log
        )
        assert "Removed 1 orphan model folder(s) (3,000 bytes)" in log
        assert "Removed 1 orphan comparison folder(s) (1,000 bytes)" in log
        assert "1 stale upload(s)" in log and "Freed 9,700 bytes in all" in log

        assert not orphan.exists() and not orphan_model.exists() and not stale_upload.exists()
        assert not orphan_comparison.exists()
        assert young_orphan.exists()
        for dataset in (old_dataset, new_dataset):  # live datasets keep every file
            assert (data / "datasets" / dataset / "data.parquet").is_file()
        assert run_sql(settings, "SELECT count(*) FROM refresh_token")[0][0] == tokens_before - 1
        assert (
            run_sql(
                settings,
                "SELECT count(*) FROM refresh_token WHERE user_id = :u",
                u=raw_id(member["user"]["id"], "User"),
            )[0][0]
            >= 1
        )
        assert run_sql(settings, "SELECT count(*) FROM job_log WHERE job_id = :j", j=old_job)[0][0] == 0
        assert run_sql(settings, "SELECT count(*) FROM job_log WHERE job_id = :j", j=new_job)[0][0] > 0
        kept = gql(client, JOB_LOGS, {"id": to_global_id("Job", new_job)}, member["accessToken"])["data"]["job"]
        assert kept["logs"]  # the member still reads the log of a recent job

        runs = gql(client, RUNS, token=admin)["data"]["maintenanceRuns"]
        assert runs["totalCount"] == 1 and runs["edges"][0]["node"]["id"] == started["job"]["id"]
        mine = gql(client, "{ jobs(kind: [MAINTENANCE]) { totalCount } }", token=admin)["data"]["jobs"]
        assert mine["totalCount"] == 1


def test_members_may_not_run_or_list_maintenance(tmp_path):
    settings = make_settings(tmp_path, **ADMIN)
    with TestClient(create_app(settings)) as client:
        member = register(client)["accessToken"]
        refused = gql(client, RUN, {}, member)["data"]["runMaintenance"]
        assert refused["job"] is None and refused["errors"][0]["code"] == "FORBIDDEN"
        listed = gql(client, RUNS, token=member)
        assert listed["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        assert run_sql(settings, "SELECT count(*) FROM job WHERE kind = 'MAINTENANCE'")[0][0] == 0
        bad = gql(client, RUN, {"days": 0}, admin_token(client))["data"]["runMaintenance"]
        assert bad["errors"][0]["code"] == "INVALID_INPUT" and bad["errors"][0]["field"] == ["logRetentionDays"]


def test_two_replicas_ticking_on_one_database_start_exactly_one_run(tmp_path):
    # Both replicas tick every 0.1 s; the first tick of the cluster creates the schedule row due an hour later.
    settings = make_settings(tmp_path, scheduler_tick_seconds=0.1, **ADMIN)
    with TestClient(create_app(settings)) as first, TestClient(create_app(settings)) as second:
        deadline = time.monotonic() + 10
        while not run_sql(settings, "SELECT count(*) FROM maintenance_schedule")[0][0]:
            assert time.monotonic() < deadline, "no replica created the schedule row"
            time.sleep(0.05)
        time.sleep(0.5)
        assert run_sql(settings, "SELECT count(*) FROM job WHERE kind = 'MAINTENANCE'")[0][0] == 0  # not due yet
        run_sql(settings, f"UPDATE maintenance_schedule SET next_run_at = {OLD}")  # the period has come
        time.sleep(2)  # some twenty ticks of each replica
        admin = admin_token(first)
        runs = gql(second, RUNS, token=admin)["data"]["maintenanceRuns"]
        assert runs["totalCount"] == 1
        assert wait_for_job(first, admin, runs["edges"][0]["node"]["id"])["status"] == "SUCCEEDED"


def test_of_many_claims_at_the_same_instant_exactly_one_wins(tmp_path):
    """The compare-and-set itself, raced hard: eight claims at once on a due row, each on its own connection."""
    import asyncio
    from datetime import timedelta

    from services.maintenance_runs import claim_due_run
    from services.storage import db
    from services.storage.tables import utcnow

    settings = make_settings(tmp_path)
    settings.resolved_data_dir.mkdir(parents=True, exist_ok=True)
    db.migrate(settings.resolved_database_url)

    async def race() -> list[bool]:
        engine = db.create_engine(settings.resolved_database_url)
        try:
            sessions = db.session_factory(engine)
            assert await claim_due_run(sessions, interval_seconds=3600) is False  # creates the row, due in an hour
            later = utcnow() + timedelta(hours=2)
            return await asyncio.gather(*(claim_due_run(sessions, interval_seconds=3600, now=later) for _ in range(8)))
        finally:
            await engine.dispose()

    assert sorted(asyncio.run(race())) == [False] * 7 + [True]
