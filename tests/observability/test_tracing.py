"""OpenTelemetry: a GraphQL request that starts a job and the job's stages are one trace (local executor).

The Celery half (the trace crossing into a worker process through the job's message) is in
test_cluster_observability.py, with the cluster it needs.
"""

from __future__ import annotations

import json

import pytest

from tests.observability.test_logs import raw_id
from tests.support.live_server import LiveServer
from tests.support.otlp import OtlpReceiver, ReceivedSpan, otel_env

REGISTER = """mutation Register($email: String!) { register(input: {email: $email, password: "correct horse battery"}) {
  accessToken errors { code } } }"""


def job_trace(
    spans: list[ReceivedSpan], kind: str, job_id: str | None = None
) -> tuple[ReceivedSpan, list[ReceivedSpan]] | None:
    """The job span of `kind` (and id) and every span of its trace, once the request's spans are there too."""
    for job in (s for s in spans if s.name == f"job {kind}" and job_id in (None, s.attribute("assay.job.id"))):
        trace = [s for s in spans if s.trace_id == job.trace_id]
        if any(s.name.startswith("GraphQL") for s in trace) and any(s.parent_span_id == job.span_id for s in trace):
            return job, trace
    return None


def assert_one_trace_from_request_to_stages(
    spans: list[ReceivedSpan], kind: str, *, job_service: str, job_id: str | None = None
) -> list[ReceivedSpan]:
    found = job_trace(spans, kind, job_id)
    assert found is not None
    job, trace = found
    by_id = {s.span_id: s for s in trace}
    assert job.service == job_service and job.attribute("assay.job.status") == "SUCCEEDED"
    # The job hangs under the resolver that enqueued it, inside the operation, inside the HTTP request.
    ancestor, chain = by_id.get(job.parent_span_id), []
    while ancestor is not None:
        chain.append(ancestor)
        ancestor = by_id.get(ancestor.parent_span_id)
    assert chain and all(s.service == "assay-replica" for s in chain)
    assert any(s.name.startswith("GraphQL Resolving") for s in chain)
    assert chain[-1].parent_span_id == "" and chain[-1].name.startswith("POST")  # the ASGI server span is the root
    stages = [s for s in trace if s.parent_span_id == job.span_id]
    assert stages and all(s.name.startswith("stage ") and s.service == job_service for s in stages)
    return trace


@pytest.mark.slow  # a live server and an OTLP receiver (19 s loaded)
def test_an_upload_and_its_ingest_stages_are_one_trace(tmp_path):
    with OtlpReceiver() as receiver:
        server = LiveServer(tmp_path / "data", ASSAY_LOG_FORMAT="json", **otel_env(receiver)).start()
        try:
            token = server.gql(REGISTER, {"email": "tracer@example.com"})["data"]["register"]["accessToken"]
            job_id = server.upload(token, b"a,b\n1,x\n2,y\n3,z\n")["job"]["id"]
            assert server.wait_for(token, job_id, ("SUCCEEDED", "FAILED"))["status"] == "SUCCEEDED"
            spans = receiver.wait_for(lambda spans: job_trace(spans, "INGEST", raw_id(job_id)) is not None)
            trace = assert_one_trace_from_request_to_stages(
                spans, "INGEST", job_service="assay-replica", job_id=raw_id(job_id)
            )
        finally:
            server.terminate()
        # Nothing secret reaches the trace backend: neither the query text nor argument values.
        assert not any(
            "correct horse battery" in value or "tracer@example.com" in value
            for span in spans
            for _, value in span.attributes
        )
        assert not any(
            key == "query" or key.startswith("graphql.param.") for span in spans for key, _ in span.attributes
        )
        # The JSON log lines of that request and of its job carry the same trace id.
        lines = [json.loads(line) for line in server.output().splitlines() if line.startswith("{")]
        trace_id = trace[0].trace_id
        assert any(line["logger"] == "uvicorn.access" and line["trace_id"] == trace_id for line in lines)
        ended = [line for line in lines if line["job_id"] == raw_id(job_id) and "ended SUCCEEDED" in line["message"]]
        assert ended and ended[0]["trace_id"] == trace_id  # the runner's task runs in the request's context
