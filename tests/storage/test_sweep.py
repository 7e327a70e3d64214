"""The maintenance sweep with an object store: orphan objects go, live ones stay, killed writers' uploads are
aborted."""

from __future__ import annotations

import shutil
import time
import uuid

from starlette.testclient import TestClient

from schema.common import raw_id
from server.app import create_app
from services.jobs.context import JobContext
from services.maintenance_job import MaintenanceReport, _sweep_store
from services.storage.objects import ObjectStore
from tests.maintenance.test_job_debug import DEBUG
from tests.maintenance.test_maintenance import ADMIN, RUN, admin_token
from tests.support.graphql import gql, register, upload, wait_for_job
from tests.support.settings import make_settings


def _key(url: str, relative: str) -> tuple[str, str]:
    bucket, prefix = url.removeprefix("s3://").split("/", 1)
    return bucket, f"{prefix}/{relative}"


def test_a_maintenance_run_aborts_abandoned_uploads_and_keeps_live_and_young_objects(tmp_path, storage_url, s3_server):
    settings = make_settings(tmp_path, storage_url=storage_url, storage_abandoned_upload_hours=0, **ADMIN)
    client_s3 = s3_server.client()
    with TestClient(create_app(settings)) as client:
        admin = admin_token(client)
        member = register(client)["accessToken"]
        payload = upload(client, member, b"a,b\n1,x\n2,y\n", "live.csv")["data"]["uploadDataset"]
        assert wait_for_job(client, member, payload["job"]["id"])["status"] == "SUCCEEDED"
        live = raw_id(payload["dataset"]["id"], "Dataset")
        young_orphan = uuid.uuid4().hex  # may be a dataset being made: younger than the hour of grace
        client_s3.put_object(
            Bucket=_key(storage_url, "")[0],
            Key=_key(storage_url, f"datasets/{young_orphan}/data.parquet")[1],
            Body=b"x",
        )
        bucket, killed = _key(storage_url, f"models/{uuid.uuid4().hex}/model.joblib")
        client_s3.create_multipart_upload(Bucket=bucket, Key=killed)  # a writer killed mid-upload

        started = gql(client, RUN, {}, admin)["data"]["runMaintenance"]
        job = wait_for_job(client, admin, started["job"]["id"])
        assert job["status"] == "SUCCEEDED", job
        log = "\n".join(line["message"] for line in job["logs"])
        assert "aborted 1 incomplete upload(s)" in log and "Removed 0 orphan object(s)" in log
        assert s3_server.incomplete_uploads(storage_url) == []
        kept = s3_server.keys(storage_url)
        assert f"datasets/{live}/data.parquet" in kept and f"datasets/{young_orphan}/data.parquet" in kept


def test_the_store_sweep_removes_objects_whose_row_is_gone(tmp_path, storage_url, s3_server):
    store = ObjectStore(storage_url, tmp_path)
    bucket, _ = _key(storage_url, "")
    known, orphan, orphan_report = uuid.uuid4().hex, uuid.uuid4().hex, uuid.uuid4().hex
    for relative in (
        f"datasets/{known}/data.parquet",
        f"datasets/{orphan}/data.parquet",
        f"datasets/{orphan}/profile.json",
        f"reports/{orphan_report}.html",
        f"reports/{known}.html",
        f"comparisons/{orphan}/report.html",
    ):
        s3_server.client().put_object(Bucket=bucket, Key=_key(storage_url, relative)[1], Body=b"x")
    messages: list[tuple] = []
    context = JobContext(job_id="sweep", params={}, send=messages.append, is_cancelled=lambda: False)
    report = MaintenanceReport()
    _sweep_store(
        context,
        store,
        {"datasets": {known}, "models": set(), "reports": {known}, "comparisons": set()},
        time.time() + 5,
        report,
    )
    assert report.stored_orphans == 4
    assert s3_server.keys(storage_url) == sorted([f"datasets/{known}/data.parquet", f"reports/{known}.html"])
    assert any("Removed 4 orphan object(s)" in str(message) for message in messages)


def test_job_debug_reports_the_files_in_the_bucket_when_the_cache_has_none(tmp_path, storage_url):
    settings = make_settings(tmp_path, storage_url=storage_url, **ADMIN)
    with TestClient(create_app(settings)) as client:
        admin = admin_token(client)
        payload = upload(client, admin, b"a,b\n1,x\n2,y\n", "small.csv")["data"]["uploadDataset"]
        assert wait_for_job(client, admin, payload["job"]["id"])["status"] == "SUCCEEDED"
        shutil.rmtree(settings.resolved_data_dir / "datasets")
        found = gql(client, DEBUG, {"id": payload["job"]["id"]}, admin)["data"]["jobDebug"]["files"]
        by_name = {entry["name"]: entry for entry in found}
        assert by_name["dataset Parquet copy"]["exists"] and by_name["dataset Parquet copy"]["sizeBytes"] > 0
        assert by_name["dataset original upload"]["sizeBytes"] == 12
