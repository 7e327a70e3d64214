"""Temporary datasets through /graphql: marked on upload (`temporary`, `expiresAt`), refused with a typed error when
the expiry is not in the future, and deleted (row and files) by the MAINTENANCE run once expired, which counts them;
datasets not yet expired, and permanent ones, stay."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from starlette.testclient import TestClient

from schema.common import raw_id
from server.app import create_app
from tests.maintenance.test_maintenance import ADMIN, OLD, RUN, admin_token
from tests.support.graphql import gql, register, wait_for_job
from tests.support.settings import make_settings, run_sql

UPLOAD = (
    "mutation($input: UploadDatasetInput!) { uploadDataset(input: $input) "
    "{ dataset { id expiresAt } job { id } errors { code message field } } }"
)
DATASET = "query($id: ID!) { dataset(id: $id) { id status expiresAt } }"
DATASETS = "{ datasets(first: 50) { totalCount } }"
LOGS = "query($id: ID!) { job(id: $id) { status logs(last: 100) { message } } }"
CSV = b"a,b\n1,x\n2,y\n"


def upload(client: TestClient, token: str, **extra) -> dict:
    operations = {"query": UPLOAD, "variables": {"input": {"file": None, **extra}}}
    response = client.post(
        "/graphql",
        headers={"authorization": f"Bearer {token}", "apollo-require-preflight": "1"},
        data={"operations": json.dumps(operations), "map": json.dumps({"0": ["variables.input.file"]})},
        files={"0": ("t.csv", CSV, "text/csv")},
    )
    return response.json()["data"]["uploadDataset"]


def ready(client: TestClient, token: str, payload: dict) -> str:
    assert payload["errors"] == [], payload
    assert wait_for_job(client, token, payload["job"]["id"])["status"] == "SUCCEEDED"
    return payload["dataset"]["id"]


def test_expired_temporary_datasets_are_deleted_by_the_maintenance_run(tmp_path):
    settings = make_settings(tmp_path, temporary_dataset_hours=2, **ADMIN)
    data = settings.resolved_data_dir
    with TestClient(create_app(settings)) as client:
        admin = admin_token(client)
        token = register(client)["accessToken"]
        before = datetime.now(UTC)
        temporary = upload(client, token, temporary=True)
        expires = datetime.fromisoformat(temporary["dataset"]["expiresAt"])
        assert timedelta(hours=2) <= expires - before < timedelta(hours=2, minutes=1)
        soon = (datetime.now(UTC) + timedelta(days=3)).isoformat()
        later = upload(client, token, expiresAt=soon)
        assert datetime.fromisoformat(later["dataset"]["expiresAt"]) == datetime.fromisoformat(soon)
        permanent = upload(client, token)
        assert permanent["dataset"]["expiresAt"] is None
        expired_id, later_id, permanent_id = (ready(client, token, p) for p in (temporary, later, permanent))

        past = upload(client, token, expiresAt="2001-01-01T00:00:00Z")
        assert past["dataset"] is None
        assert past["errors"] == [
            {"code": "INVALID_INPUT", "message": "`expiresAt` must be in the future", "field": ["expiresAt"]}
        ]
        assert gql(client, DATASETS, token=token)["data"]["datasets"]["totalCount"] == 3  # nothing half-made

        run_sql(settings, f"UPDATE dataset SET expires_at = {OLD} WHERE id = :id", id=raw_id(expired_id, "Dataset"))
        started = gql(client, RUN, {}, admin)["data"]["runMaintenance"]
        job = wait_for_job(client, admin, started["job"]["id"])
        assert job["status"] == "SUCCEEDED", job
        assert "Removed 1 expired temporary dataset(s)" in [line["message"] for line in job["logs"]]
        counts = run_sql(settings, "SELECT result FROM job WHERE id = :id", id=raw_id(started["job"]["id"], "Job"))[0][
            0
        ]
        assert (json.loads(counts) if isinstance(counts, str) else counts)["expired_datasets"] == 1

        assert gql(client, DATASET, {"id": expired_id}, token)["data"]["dataset"] is None
        assert not (data / "datasets" / raw_id(expired_id, "Dataset")).exists()
        for kept in (later_id, permanent_id):
            assert gql(client, DATASET, {"id": kept}, token)["data"]["dataset"]["status"] == "READY"
            assert (data / "datasets" / raw_id(kept, "Dataset") / "data.parquet").is_file()
