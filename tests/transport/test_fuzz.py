"""Fuzzing the real server on a port: operations generated from the live schema, then a hand-made corpus.

Seeded (hypothesis derandomized, no example database) and bounded (FUZZ_EXAMPLES per generator).
Each answer is judged by tests/transport/fuzz/harness.py; failures are collected per source, so one run
names all of them, and the counts are printed at the end (run with -s to see them).
"""

from __future__ import annotations

import json
import os
import time

import graphql
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis_graphql import from_schema, queries
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.transport.fuzz import corpus
from tests.transport.fuzz.harness import FuzzServer, Tally, problems_in
from tests.transport.fuzz.nasty import custom_scalars

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "200"))
KEEPS_FIXTURES_ALIVE = {"deleteDataset", "deleteModel", "deletePipeline"}  # in the hand-made corpus, with bad ids
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.generate],
    suppress_health_check=list(HealthCheck),
)
TALLY = Tally()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    fuzz = FuzzServer(tmp_path_factory.mktemp("fuzz") / "data").start()
    yield fuzz
    fuzz.stop()
    print(
        f"\nFuzz operations sent: {TALLY.sent}; distinct failures: "
        f"{ {source: len(found) for source, found in TALLY.failures.items()} }"
    )


@pytest.fixture(scope="module")
def live_schema(server) -> graphql.GraphQLSchema:
    """The schema as the running server introspects it, not as the code says it should be."""
    status, _, body = server.post(json_body={"query": graphql.get_introspection_query()})
    assert status == 200
    return graphql.build_client_schema(json.loads(body)["data"])


def _assert_clean(source: str) -> None:
    found = TALLY.failures.get(source, [])
    assert not found, (
        f"{len(found)} distinct failure(s) in {TALLY.sent.get(source)} {source} operations:\n" + "\n".join(found)
    )


def test_generated_queries_and_mutations(server, live_schema):
    mutations = [name for name in live_schema.mutation_type.fields if name not in KEEPS_FIXTURES_ALIVE]
    strategy = from_schema(
        live_schema,
        fields=list(live_schema.query_type.fields) + mutations,
        custom_scalars=custom_scalars(server.real_ids, server.foreign_ids),
    )

    @FUZZ
    @given(document=strategy)
    def send(document: str) -> None:
        server.judge(TALLY, "generated", document[:300], server.post(json_body={"query": document}))

    send()
    _assert_clean("generated")


def test_generated_subscriptions(server, live_schema):
    """Subscriptions drawn like queries (over the Subscription root), each answered or held open without error."""
    as_root = graphql.GraphQLSchema(query=live_schema.subscription_type)
    strategy = queries(as_root, custom_scalars=custom_scalars(server.real_ids, server.foreign_ids))
    url = server.live.base.replace("http", "ws") + "/graphql"
    state = {"socket": None, "next_id": 0}

    def socket():
        if state["socket"] is None:
            state["socket"] = connect(url, subprotocols=["graphql-transport-ws"], open_timeout=10, max_size=None)
            state["socket"].send(
                json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {server.token}"}})
            )
            assert json.loads(state["socket"].recv(timeout=10))["type"] == "connection_ack"
        return state["socket"]

    @settings(FUZZ, max_examples=max(20, EXAMPLES // 5))
    @given(document=strategy)
    def send(document: str) -> None:
        state["next_id"] += 1
        op_id = str(state["next_id"])
        TALLY.count("generated subscriptions")
        began = time.monotonic()
        try:
            ws = socket()
            ws.send(json.dumps({"id": op_id, "type": "subscribe", "payload": {"query": "subscription " + document}}))
            while time.monotonic() - began < 1.0:  # the first answers, or a stream that stays quietly open
                message = json.loads(ws.recv(timeout=max(0.05, 1.0 - (time.monotonic() - began))))
                for problem in problems_in(200, time.monotonic() - began, json.dumps(message).encode()):
                    TALLY.fail("generated subscriptions", f"{document[:200]}: {problem}")
                if message.get("type") in ("complete", "error") and message.get("id") == op_id:
                    return
        except TimeoutError:
            pass
        except ConnectionClosed as closed:
            state["socket"] = None
            if closed.rcvd is not None and closed.rcvd.code == 1011:
                TALLY.fail("generated subscriptions", f"{document[:200]}: socket closed 1011 (internal error)")
            return
        if state["socket"] is not None:
            state["socket"].send(json.dumps({"id": op_id, "type": "complete"}))

    send()
    if state["socket"] is not None:
        state["socket"].close()
    _assert_clean("generated subscriptions")


CASES = corpus.corpus()


@pytest.mark.parametrize(
    ("name", "request_kwargs"), [pytest.param(name, kwargs, id=name[:60]) for name, kwargs in CASES]
)
def test_hand_made_corpus(server, name, request_kwargs):
    ids = {"dataset": server.real_ids[0], "model": server.real_ids[3], "foreign_dataset": server.foreign_ids[0]}
    answer = server.post(**corpus.fill(request_kwargs, ids))
    server.judge(TALLY, "hand-made", name, answer)
    assert not problems_in(*answer), problems_in(*answer)


def test_the_server_is_healthy_and_no_job_failed_internally(server):
    assert server.healthy()
    assert server.jobs_failed_internally() == []
    assert server.healthy()
