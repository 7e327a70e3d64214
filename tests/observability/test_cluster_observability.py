"""A real Prometheus scrapes a replica and a Celery worker; a real OTLP receiver gets both sides' spans;
the worker logs JSON lines (every line of its output, Celery's included, must parse).

One small cluster (1 replica, 1 worker, PostgreSQL, Redis) does known work — one ingest, three
trainings — and the numbers are read back through Prometheus' query API; the trace of a training
request is followed from the replica into the worker that ran the job.
"""

from __future__ import annotations

import json

import httpx
import pytest

from devtools.cluster import Cluster
from devtools.redis_local import free_port
from tests.observability.test_logs import raw_id
from tests.observability.test_metrics import iris_csv
from tests.observability.test_tracing import assert_one_trace_from_request_to_stages, job_trace
from tests.support.cluster_client import ReplicaClient
from tests.support.otlp import OtlpReceiver, otel_env
from tests.support.prometheus import LocalPrometheus, ScrapeJob

pytestmark = pytest.mark.slow

TOKEN = "scrape-token-for-the-cluster-test"
DATASET = "query($id: ID!) { dataset(id: $id) { status } }"


@pytest.fixture(scope="module")
def observed(tmp_path_factory):
    with OtlpReceiver() as receiver:
        env = {
            "ASSAY_JOB_HEARTBEAT_SECONDS": "1",
            "ASSAY_REQUESTS_PER_MINUTE": "100000",
            "ASSAY_METRICS_TOKEN": TOKEN,
            "ASSAY_LOG_FORMAT": "json",
            **otel_env(receiver),
        }
        with Cluster(
            tmp_path_factory.mktemp("cluster"), replica_ports=[free_port()], workers=1, worker_concurrency=1, env=env
        ) as cluster:
            replica, worker = cluster.replicas[0], cluster.worker_members[0]
            jobs = [
                ScrapeJob("assay-replicas", [f"127.0.0.1:{replica.port}"]),  # loopback: allowed without a token
                ScrapeJob("assay-workers", [f"127.0.0.1:{worker.metrics_port}"], bearer_token=TOKEN),
            ]
            with LocalPrometheus(jobs) as prometheus:
                yield cluster, prometheus, receiver


def _iris_on_the_first_replica(cluster: Cluster) -> tuple[ReplicaClient, str, str]:
    """A new user's client of the first replica, its token, and the id of its ingested iris dataset."""
    client = ReplicaClient(cluster.replicas[0].base)
    _, token = client.register()
    upload = client.upload(token, iris_csv(), "iris.csv")
    assert client.wait_for(token, upload["job"]["id"], ("SUCCEEDED", "FAILED"))["status"] == "SUCCEEDED"
    return client, token, upload["dataset"]["id"]


def test_three_trainings_are_three_in_prometheus(observed):
    cluster, prometheus, _ = observed
    client, token, dataset_id = _iris_on_the_first_replica(cluster)
    for _ in range(3):
        job_id = client.train(token, dataset_id, "target", "LOGISTIC_REGRESSION")["job"]["id"]
        job = client.wait_for(token, job_id, ("SUCCEEDED", "FAILED"), timeout=180)
        assert job["status"] == "SUCCEEDED", job

    assert prometheus.target_health() == {"assay-replicas": "up", "assay-workers": "up"}
    trained = 'sum(assay_jobs_finished_total{kind="TRAIN",status="SUCCEEDED"})'
    assert prometheus.wait_for_value(trained, 3) == 3
    # Counted where the job ended — the worker — and nowhere else.
    assert prometheus.query('assay_jobs_finished_total{job="assay-replicas"}') == []
    assert prometheus.value('assay_jobs_finished_total{job="assay-workers",kind="INGEST",status="SUCCEEDED"}') == 1
    assert prometheus.value('sum(assay_job_duration_seconds_count{kind="TRAIN"})') == 3
    assert prometheus.value('sum(assay_job_queue_wait_seconds_count{kind="TRAIN"})') == 3
    assert prometheus.wait_for_value('sum(assay_graphql_operations_total{operation="Train",type="mutation"})', 3) == 3
    # A gauge read from the database at each scrape: the scrape before the last job's end still says RUNNING.
    assert prometheus.wait_for_value('sum(assay_job_queue_depth{status="RUNNING"})', 0) == 0
    assert prometheus.value("min(assay_redis_up)") == 1 and prometheus.value("count(assay_redis_up)") == 2
    assert prometheus.value('assay_db_pool_size{job="assay-replicas"}') >= 1
    worker_metrics = f"http://127.0.0.1:{cluster.worker_members[0].metrics_port}/metrics"
    refused = httpx.get(worker_metrics, headers={"authorization": "Bearer wrong"}, timeout=10)
    assert refused.status_code == 401 and b"assay_" not in refused.content  # the worker's endpoint is guarded too
    assert (
        prometheus.wait_for_some_value(
            "histogram_quantile(0.5, sum by (le) (rate(assay_graphql_operation_duration_seconds_bucket[1m])))"
        )
        is not None
    )


def test_a_training_request_and_its_stages_on_the_worker_are_one_trace(observed):
    cluster, _, receiver = observed
    client, token, dataset_id = _iris_on_the_first_replica(cluster)
    job_id = client.train(token, dataset_id, "target", "LOGISTIC_REGRESSION")["job"]["id"]
    assert client.wait_for(token, job_id, ("SUCCEEDED", "FAILED"), timeout=180)["status"] == "SUCCEEDED"
    spans = receiver.wait_for(lambda spans: job_trace(spans, "TRAIN", raw_id(job_id)) is not None)
    trace = assert_one_trace_from_request_to_stages(spans, "TRAIN", job_service="assay-worker", job_id=raw_id(job_id))
    assert {s.service for s in trace} == {"assay-replica", "assay-worker"}
    # The worker's JSON log line about the job carries the job id and the trace id of the request.
    lines = [json.loads(line) for line in cluster.worker_members[0].output().splitlines() if line.strip()]
    ended = [line for line in lines if line["job_id"] == raw_id(job_id) and "ended SUCCEEDED" in line["message"]]
    assert len(ended) == 1 and ended[0]["trace_id"] == trace[0].trace_id and ended[0]["logger"] == "assay.jobs"
