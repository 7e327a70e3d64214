"""Two replicas and two Celery workers, each with its own data dir, sharing only PostgreSQL, Redis and an
S3 server (moto's server mode, its own process): the bucket is the only place files are kept."""

from __future__ import annotations

import base64
import io
import os
import signal
import time
from datetime import timedelta

import httpx
import numpy as np
import pyarrow.parquet as pq
import pytest

from devtools.cluster import Cluster
from services.storage.objects import ObjectStore
from tests.support.cluster_client import ReplicaClient, worker_running

pytestmark = pytest.mark.slow

PROFILE = "mutation($id: ID!) { profileDataset(input: {datasetId: $id}) { job { id } errors { code message } } }"
PREDICT = """mutation($id: ID!, $rows: [JSON!]!) { predict(input: {modelId: $id, rows: $rows}) {
  predictions { value } errors { code message } } }"""
DOWNLOAD = "query($id: ID!) { dataset(id: $id) { rowCount downloadUrl(format: PARQUET) profile { rowCount } } }"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, s3_server):
    directory = tmp_path_factory.mktemp("cluster")
    env = {
        **s3_server.environment,
        "ASSAY_STORAGE_URL": s3_server.new_prefix(),
        "ASSAY_STORAGE_PART_MB": "5",
        "ASSAY_JOB_HEARTBEAT_SECONDS": "1",
        "ASSAY_JOB_CANCEL_GRACE_SECONDS": "1",
        "ASSAY_JOB_MAX_ATTEMPTS": "2",
        "ASSAY_REQUESTS_PER_MINUTE": "100000",
    }
    with Cluster(directory, workers=2, worker_concurrency=1, env=env, separate_data_dirs=True) as running:
        running.storage_url = env["ASSAY_STORAGE_URL"]
        yield running


def raw(global_id: str) -> str:
    return base64.urlsafe_b64decode(global_id + "=" * (-len(global_id) % 4)).decode().split(":", 1)[1]


def table(rows: int, columns: int = 6, seed: int = 0) -> bytes:
    generator = np.random.default_rng(seed)
    values = generator.normal(size=(rows, columns))
    label = np.where(values[:, 0] + values[:, 1] > 0, "up", "down")
    lines = [",".join(f"f{i}" for i in range(columns)) + ",label"]
    lines += [",".join(f"{v:.6f}" for v in row) + f",{t}" for row, t in zip(values, label, strict=True)]
    return ("\n".join(lines) + "\n").encode()


def test_upload_on_a_ingest_profile_train_on_workers_predict_and_download_on_b(cluster, s3_server):
    a, b = (ReplicaClient(member.base) for member in cluster.replicas[:2])
    _, token = a.register()
    upload = a.upload(token, table(2_000), "points.csv")
    assert a.wait_for(token, upload["job"]["id"], ("SUCCEEDED", "FAILED"))["status"] == "SUCCEEDED"
    dataset_id = upload["dataset"]["id"]
    profiled = b.gql(PROFILE, {"id": dataset_id}, token)["data"]["profileDataset"]
    assert (
        profiled["errors"] == []
        and b.wait_for(token, profiled["job"]["id"], ("SUCCEEDED", "FAILED"))["status"] == "SUCCEEDED"
    )
    trained = a.train(token, dataset_id, "label", "LOGISTIC_REGRESSION")
    assert a.wait_for(token, trained["job"]["id"], ("SUCCEEDED", "FAILED"), timeout=180)["status"] == "SUCCEEDED"

    # Replica B never saw any of these files: it reads them from the bucket.
    rows = [{f"f{i}": 0.5 for i in range(6)}, {f"f{i}": -0.5 for i in range(6)}]
    predicted = b.gql(PREDICT, {"id": trained["model"]["id"], "rows": rows}, token)["data"]["predict"]
    assert predicted["errors"] == [] and [p["value"] for p in predicted["predictions"]] == ["up", "down"]
    read = b.gql(DOWNLOAD, {"id": dataset_id}, token)["data"]["dataset"]
    assert read["rowCount"] == 2_000 and read["profile"]["rowCount"] == 2_000
    redirect = httpx.get(b.base + read["downloadUrl"], follow_redirects=False)
    assert redirect.status_code == 307 and redirect.headers["location"].startswith(s3_server.endpoint)
    assert pq.read_table(io.BytesIO(httpx.get(redirect.headers["location"]).content)).num_rows == 2_000

    keys = s3_server.keys(cluster.storage_url)
    assert {
        f"datasets/{raw(dataset_id)}/data.parquet",
        f"datasets/{raw(dataset_id)}/profile.json",
        f"models/{raw(trained['model']['id'])}/model.joblib",
    } <= set(keys)
    # Nothing went through a shared disk: the upload reached B's cache only as far as B needed it.
    replica_b_dir = cluster.directory / f"data-replica-{cluster.replicas[1].port}"
    assert (
        cluster.directory / f"data-replica-{cluster.replicas[0].port}" / "datasets" / raw(dataset_id) / "original"
    ).exists()
    assert not (replica_b_dir / "datasets" / raw(dataset_id) / "original").exists()


def test_a_worker_killed_mid_upload_leaves_no_partial_object_and_the_rerun_succeeds(cluster, s3_server):
    a, b = (ReplicaClient(member.base) for member in cluster.replicas[:2])
    a.upload_timeout = 300
    _, token = a.register()
    upload = a.upload(token, table(450_000, columns=10, seed=1), "big.csv")  # ~45 MB of Parquet: 9 parts of 5 MB
    job_id, dataset_id = upload["job"]["id"], raw(upload["dataset"]["id"])
    a.wait_for(token, job_id, ("RUNNING",), timeout=120)
    runner = worker_running(cluster, raw(job_id), timeout=60)
    bucket, prefix = cluster.storage_url.removeprefix("s3://").split("/", 1)
    parquet_key = f"{prefix}/datasets/{dataset_id}/data.parquet"
    client = s3_server.client()
    deadline = time.monotonic() + 240
    while not any(
        u["Key"] == parquet_key for u in client.list_multipart_uploads(Bucket=bucket, Prefix=prefix).get("Uploads", [])
    ):
        assert time.monotonic() < deadline, "the Parquet copy's multipart upload never started"
        time.sleep(0.02)
    os.killpg(runner.process.pid, signal.SIGKILL)  # the worker, its fork server and the job process: a crash
    runner.process.wait(10)
    cluster.members.remove(runner)

    assert "Contents" not in client.list_objects_v2(
        Bucket=bucket, Prefix=parquet_key
    )  # nothing half-written is visible
    assert parquet_key in [
        u["Key"] for u in client.list_multipart_uploads(Bucket=bucket, Prefix=prefix).get("Uploads", [])
    ]
    replacement = cluster.add_worker(runner.name + "b")
    job = b.wait_for(token, job_id, ("SUCCEEDED", "FAILED"), timeout=400)
    assert (job["status"], job["attempt"]) == ("SUCCEEDED", 2), job
    stored = pq.read_metadata(io.BytesIO(client.get_object(Bucket=bucket, Key=parquet_key)["Body"].read()))
    assert stored.num_rows == 450_000

    # The killed writer's upload is still pending; the clean-up aborts those older than its bound.
    os.environ.update(s3_server.environment)
    store = ObjectStore(cluster.storage_url, cluster.directory)
    assert store.abort_stale_uploads(timedelta(seconds=0)) >= 1
    assert store.incomplete_uploads() == []
    replacement.wait_healthy()
