"""Where Assay reaches into a library's internals: one test per seam, failing when the library changes under it.

Each test checks the library's side of the contract (the method or attribute overridden is still there, with the
signature relied on, and still on the path that matters) and then the behaviour through the real app or client.
"""

from __future__ import annotations

import inspect
import ssl
import threading
import time
from contextlib import ExitStack
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpcore
import httpx
import pytest
from graphql.execution import Executor, execute_subscription_event, map_source_to_response_event
from starlette.testclient import TestClient
from strawberry.extensions import MaskErrors
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from schema.common import raw_id, to_global_id
from server.app import create_app
from services.errors import ServiceError
from services.jobs.context import JobContext
from services.jobs.kinds import JobHooks, JobKindSpec, NoResult
from services.pipelines.fetch import pinned_client
from tests.support.graphql import JOB, gql, ingest, register
from tests.support.settings import make_settings


def parameter_names(function) -> list[str]:
    return list(inspect.signature(function).parameters)


# --- schema/fanout.py: SharedEventExecutor overrides graphql-core's per-event executor ---------------------------


def gated_lines(ctx: JobContext) -> dict:
    """Test job body: say it waits, wait for the gate file, then log `lines` lines (every subscriber is live by
    then)."""
    ctx.log("waiting for the gate")
    gate, deadline = Path(ctx.params["gate"]), time.monotonic() + 60
    while not gate.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    for index in range(int(ctx.params["lines"])):
        ctx.log(f"line {index}")
    return {}


async def _nothing(session, job, result) -> None:
    return None


async def _start_job(state, owner_id: str, kind: str, params: dict) -> str:
    async with state.sessions() as session:
        job = await state.jobs.enqueue(session, owner_id=owner_id, kind=kind, params=params)
        await session.commit()
    state.jobs.launch(job)
    return job.id


# Only plain attributes below jobEvents: executing an event finishes before the next subscriber asks for it.
SHARED_EVENTS = "subscription($id: ID!) { jobEvents(jobId: $id) { kind job { id status } log { seq message } } }"


def _next_events(socket, *, until_status: bool) -> list[dict]:
    """This socket's jobEvents, up to its first STATUS event (until_status) or to the end of the subscription."""
    events = []
    while True:
        message = socket.receive_json()
        if message["type"] == "ping":
            socket.send_json({"type": "pong"})
            continue
        if message["type"] == "complete":
            return events
        assert message["type"] == "next" and "errors" not in message["payload"], message
        events.append(message["payload"]["data"]["jobEvents"])
        if until_status and events[-1]["kind"] == "STATUS":
            return events


def test_executor_overrides_keep_graphql_cores_signatures():
    assert issubclass(StrawberryGraphQLCoreExecutionContext, Executor)
    assert parameter_names(Executor.build_per_event_executor) == ["self", "payload"]
    assert parameter_names(Executor.execute_operation) == ["self", "serially"]
    # Each event goes through the subscription executor's build_per_event_executor, then the copy's execute_operation
    # (_KnownResult stands in for that copy, so only execute_operation may be asked of it).
    assert "executor.build_per_event_executor" in inspect.getsource(map_source_to_response_event)
    assert "executor.execute_operation(" in inspect.getsource(execute_subscription_event)


def test_subscribers_of_one_job_share_each_events_execution_and_encoding(tmp_path):
    subscribers, lines = 4, 6
    gate = tmp_path / "gate"
    with TestClient(create_app(make_settings(tmp_path))) as client:
        state = client.app.state.assay
        state.jobs.kinds["ANALYZE"] = JobKindSpec(
            work=f"{__name__}:gated_lines", hooks=JobHooks(on_success=_nothing, on_failure=_nothing), result=NoResult
        )
        user = register(client)
        token = user["accessToken"]
        job_id = client.portal.call(
            _start_job, state, raw_id(user["user"]["id"], "User"), "ANALYZE", {"gate": str(gate), "lines": lines}
        )
        global_id = to_global_id("Job", job_id)
        deadline = time.monotonic() + 60
        while not gql(client, JOB, {"id": global_id}, token)["data"]["job"]["logs"]:
            assert time.monotonic() < deadline, "the job never started"
            time.sleep(0.05)
        with ExitStack() as stack:
            sockets = []
            for _ in range(subscribers):
                socket = stack.enter_context(
                    client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"])
                )
                socket.send_json({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
                assert socket.receive_json()["type"] == "connection_ack"
                socket.send_json(
                    {
                        "id": "1",
                        "type": "subscribe",
                        "payload": {"query": SHARED_EVENTS, "variables": {"id": global_id}},
                    }
                )
                attached = _next_events(socket, until_status=True)  # the backlog, then where the job stands
                assert attached[-1]["job"]["status"] == "RUNNING", attached
                sockets.append(socket)
            executions, encodings = state.shared_events.executions, state.shared_events.encodings
            gate.touch()
            streams = [_next_events(socket, until_status=False) for socket in sockets]
    live = streams[0]
    assert [e["log"]["message"] for e in live if e["kind"] == "LOG"] == [f"line {i}" for i in range(lines)]
    assert live[-1]["kind"] == "STATUS" and live[-1]["job"]["status"] == "SUCCEEDED"
    assert all(stream == live for stream in streams), "every subscriber gets the same events"
    # Without sharing these would be subscribers x len(live): the executor ran each event once, the view encoded it
    # once.
    assert state.shared_events.executions - executions == len(live)
    assert state.shared_events.encodings - encodings == len(live)


# --- schema/root.py: FastMaskErrors overrides MaskErrors._process_result --------------------------------------


def test_mask_errors_private_method_is_still_the_one_both_hooks_use():
    assert parameter_names(MaskErrors._process_result) == ["self", "result"]
    assert parameter_names(MaskErrors._process_errors) == ["self", "errors"]
    assert parameter_names(MaskErrors.anonymise_error) == ["self", "error"]
    # Over HTTP results are masked in on_operation, over a WebSocket in on_stream_result (once per event):
    # both must still go through _process_result, or the override no longer removes the per-result Protocol check.
    assert "self._process_result(" in inspect.getsource(MaskErrors.on_operation)
    assert "self._process_result(" in inspect.getsource(MaskErrors._process_stream_result)
    assert "self._process_stream_result(" in inspect.getsource(MaskErrors.on_stream_result)


BROKEN = "query Broken($id: ID!) { dataset(id: $id) { rows { rows } } }"


def _assert_masked(errors: list[dict]) -> None:
    assert len(errors) == 1, errors
    error = errors[0]
    assert error["message"] == "Internal server error" and error["extensions"]["code"] == "INTERNAL", error
    assert set(error["extensions"]) == {"code", "errorId"} and len(error["extensions"]["errorId"]) == 12, error


def test_unexpected_errors_are_masked_over_http_and_websocket(client, token, settings):
    dataset = ingest(client, token, b"a\n1\n")
    (settings.resolved_data_dir / "datasets" / raw_id(dataset["id"], "Dataset") / "data.parquet").unlink()
    over_http = gql(client, BROKEN, {"id": dataset["id"]}, token)
    _assert_masked(over_http["errors"])
    with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as socket:
        socket.send_json({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
        assert socket.receive_json()["type"] == "connection_ack"
        socket.send_json(
            {"id": "1", "type": "subscribe", "payload": {"query": BROKEN, "variables": {"id": dataset["id"]}}}
        )
        message = socket.receive_json()
    assert message["type"] == "next", message
    _assert_masked(message["payload"]["errors"])
    assert message["payload"]["errors"][0]["extensions"]["errorId"] != over_http["errors"][0]["extensions"]["errorId"]


# --- services/pipelines/fetch.py: pinned_client replaces httpx's HTTPTransport._pool ----------------------------


class _Answer(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/plain")
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *_) -> None:
        pass


@pytest.fixture
def local_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_httpx_still_keeps_the_pool_pinned_client_replaces():
    transport = httpx.HTTPTransport()
    assert isinstance(transport._pool, httpcore.ConnectionPool)  # what pinned_client checks before replacing it
    assert "self._pool.handle_request(" in inspect.getsource(httpx.HTTPTransport.handle_request)
    assert "network_backend" in inspect.signature(httpcore.ConnectionPool).parameters
    with pinned_client([], ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)) as client:
        assert isinstance(client._transport, httpx.HTTPTransport)  # requests go through the transport given


def test_a_pinned_client_refuses_a_disallowed_address_through_the_replaced_pool(local_server):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    with httpx.Client() as plain:  # the server is there: httpx's own pool would connect
        assert plain.get(local_server).text == "ok"
    with pinned_client([], context) as client, pytest.raises(ServiceError) as refused:
        client.get(local_server)
    assert refused.value.code == "INVALID_INPUT" and "127.0.0.1" in refused.value.message
    assert "non-public address" in refused.value.message
    with pinned_client(["127.0.0.1"], context) as client:  # the same pool with the address allowed: it connects
        assert client.get(local_server).text == "ok"


# --- AppState.engine: the engine the sessions are bound to, without async_sessionmaker's .kw["bind"] -----------


def test_app_state_engine_is_the_one_sessions_use_and_shutdown_disposes(tmp_path):
    with TestClient(create_app(make_settings(tmp_path))) as client:
        state = client.app.state.assay
        assert state.sessions().bind is state.engine
        assert client.get("/health").json()["database"] is True  # a session over that engine answered
        pool = state.engine.pool
        assert pool.checkedin() >= 1  # the connection it used went back to this engine's pool
    assert state.engine.pool is not pool and pool.checkedin() == 0  # the lifespan disposed that very engine
