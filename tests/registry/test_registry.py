"""The model registry through /graphql: register versions, move aliases, read who was champion when, serve
by name, and the refusals (aliased deletes, signature changes, other users' names)."""

from __future__ import annotations

import asyncio
import io
import time
from datetime import UTC, datetime, timedelta

import httpx
import joblib
import numpy as np
import pandas as pd
import pytest
from sqlalchemy.exc import IntegrityError

from schema.common import raw_id
from tests.support.graphql import gql, ingest, register, wait_for_job
from tests.support.settings import run_sql

TRAIN = (
    """mutation($input: TrainModelInput!) { trainModel(input: $input) { model { id } job { id } errors { code } } }"""
)
REGISTER = """mutation($input: RegisterModelInput!) { registerModel(input: $input) {
  registeredModel { name description tags latestVersion }
  version { version reference allowSignatureChange comment model { id } }
  errors { code message field } } }"""
SET_ALIAS = """mutation($input: SetModelAliasInput!) { setModelAlias(input: $input) {
  alias { alias version reference } event { kind alias fromVersion toVersion comment actorEmail }
  errors { code message field } } }"""
DELETE_ALIAS = """mutation($input: DeleteModelAliasInput!) { deleteModelAlias(input: $input) {
  alias { alias } event { kind alias fromVersion toVersion } errors { code message field } } }"""
PREDICT = """mutation($model: ID!, $rows: [JSON!]!) { predict(input: {modelId: $model, rows: $rows}) {
  predictions { value } errors { code message field } } }"""
REGISTERED = """query($name: String!, $at: DateTime!) { registeredModel(name: $name) {
  name latestVersion aliases { alias version reference }
  versions { totalCount edges { node { version aliases model { id metrics { r2 } dataset { id status }
                                                               job { kind status } } signature { name } } } }
  history { totalCount edges { node { kind alias fromVersion toVersion comment actorEmail at } } }
  championThen: aliasAt(alias: "champion", time: $at) { version model { id } }
  championNow: aliasAt(alias: "champion", time: "2999-01-01T00:00:00Z") { version } } }"""
ROWS = [{"x1": 1.0, "x2": 2.0, "plan": "pro"}, {"x1": -3.0, "x2": 0.5, "plan": "basic"}]


def frame(rows: int = 120, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(0, 2, rows), rng.normal(0, 1, rows)
    plan = rng.choice(["basic", "pro"], rows)
    y = 3 * x1 - 2 * x2 + (plan == "pro") * 4 + rng.normal(0, 0.3, rows)
    return pd.DataFrame({"x1": x1, "x2": x2, "plan": plan, "y": y})


def start_training(client, token, dataset_id, algorithm, **options) -> str:
    payload = gql(
        client,
        TRAIN,
        {"input": {"datasetId": dataset_id, "target": "y", "algorithms": [algorithm], "cvFolds": 2, **options}},
        token,
    )["data"]["trainModel"]
    assert payload["errors"] == [], payload
    return payload


def train_all(client, token, dataset_id, *specs) -> list[str]:
    """Start every training at once (the job slots run them side by side), then wait for all."""
    started = [start_training(client, token, dataset_id, algorithm, **options) for algorithm, options in specs]
    for payload in started:
        assert wait_for_job(client, token, payload["job"]["id"], timeout=180)["status"] == "SUCCEEDED"
    return [payload["model"]["id"] for payload in started]


def registered(client, token, model_id, name="churn", **options) -> dict:
    return gql(client, REGISTER, {"input": {"modelId": model_id, "name": name, **options}}, token)["data"][
        "registerModel"
    ]


def alias(client, token, version, name="churn", alias_name="champion", **options) -> dict:
    return gql(client, SET_ALIAS, {"input": {"name": name, "alias": alias_name, "version": version, **options}}, token)[
        "data"
    ]["setModelAlias"]


def predicted(client, token, model) -> dict:
    return gql(client, PREDICT, {"model": model, "rows": ROWS}, token)["data"]["predict"]


@pytest.fixture
def linear_and_forest(client, token):
    dataset = ingest(client, token, frame().to_csv(index=False).encode(), "churn.csv")
    linear, forest = train_all(client, token, dataset["id"], ("LINEAR_REGRESSION", {}), ("RANDOM_FOREST", {}))
    return dataset, linear, forest


def test_register_move_champion_and_ask_who_was_champion_then(linear_and_forest, client, token, user):
    dataset, linear, forest = linear_and_forest
    first = registered(client, token, linear, description="Churn score", tags=["team-a", "churn"], comment="first cut")
    assert first["errors"] == [] and first["version"]["version"] == 1 and first["version"]["reference"] == "churn/1"
    assert first["registeredModel"] == {
        "name": "churn",
        "description": "Churn score",
        "tags": ["team-a", "churn"],
        "latestVersion": 1,
    }
    set_first = alias(client, token, 1, comment="ship it")
    assert set_first["errors"] == [] and set_first["alias"] == {
        "alias": "champion",
        "version": 1,
        "reference": "churn@champion",
    }
    assert set_first["event"] == {
        "kind": "ALIAS_SET",
        "alias": "champion",
        "fromVersion": None,
        "toVersion": 1,
        "comment": "ship it",
        "actorEmail": user["user"]["email"],
    }
    by_alias_v1 = predicted(client, token, "churn@champion")
    assert by_alias_v1["errors"] == [] and by_alias_v1 == predicted(client, token, linear)

    time.sleep(0.05)
    while_v1 = datetime.now(UTC).isoformat()
    time.sleep(0.05)
    second = registered(client, token, forest)
    assert (
        second["errors"] == []
        and second["version"]["version"] == 2
        and second["registeredModel"]["tags"] == ["team-a", "churn"]
    )  # kept when not given
    moved = alias(client, token, 2, comment="forest wins")
    assert moved["event"]["fromVersion"] == 1 and moved["event"]["toVersion"] == 2
    by_alias_v2 = predicted(client, token, "churn@champion")
    assert by_alias_v2 == predicted(client, token, forest) and by_alias_v2 != by_alias_v1
    assert predicted(client, token, "churn/1") == by_alias_v1  # a version number keeps serving its model

    shown = gql(client, REGISTERED, {"name": "churn", "at": while_v1}, token)["data"]["registeredModel"]
    assert shown["latestVersion"] == 2 and shown["aliases"] == [
        {"alias": "champion", "version": 2, "reference": "churn@champion"}
    ]
    assert shown["championThen"] == {"version": 1, "model": {"id": linear}} and shown["championNow"] == {"version": 2}
    versions = [edge["node"] for edge in shown["versions"]["edges"]]
    assert [(v["version"], v["aliases"]) for v in versions] == [(2, ["champion"]), (1, [])]
    oldest = versions[1]  # lineage: version -> model (metrics) -> training dataset version, and its TRAIN job
    assert oldest["model"]["id"] == linear and oldest["model"]["metrics"]["r2"] > 0.9
    assert oldest["model"]["dataset"] == {"id": dataset["id"], "status": "READY"}
    assert oldest["model"]["job"] == {"kind": "TRAIN", "status": "SUCCEEDED"}
    assert sorted(f["name"] for f in oldest["signature"]) == ["plan", "x1", "x2"]
    history = [edge["node"] for edge in shown["history"]["edges"]]
    assert [(h["kind"], h["alias"], h["fromVersion"], h["toVersion"], h["comment"]) for h in history] == [
        ("ALIAS_SET", "champion", 1, 2, "forest wins"),
        ("REGISTERED", None, None, 2, None),
        ("ALIAS_SET", "champion", None, 1, "ship it"),
        ("REGISTERED", None, None, 1, "first cut"),
    ]
    assert {h["actorEmail"] for h in history} == {user["user"]["email"]}
    listed = gql(client, "{ registeredModels { totalCount edges { node { name latestVersion tags } } } }", token=token)
    assert listed["data"]["registeredModels"] == {
        "totalCount": 1,
        "edges": [{"node": {"name": "churn", "latestVersion": 2, "tags": ["team-a", "churn"]}}],
    }
    before_anything = (datetime.fromisoformat(history[-1]["at"]) - timedelta(seconds=1)).isoformat()
    earlier = gql(client, REGISTERED, {"name": "churn", "at": before_anything}, token)["data"]["registeredModel"]
    assert earlier["championThen"] is None

    # deleting the alias: serving by it stops, history says so, and aliasAt knows it pointed nowhere after
    deleted = gql(client, DELETE_ALIAS, {"input": {"name": "churn", "alias": "champion"}}, token)["data"][
        "deleteModelAlias"
    ]
    assert deleted["errors"] == [] and deleted["alias"] is None
    assert deleted["event"] == {"kind": "ALIAS_DELETED", "alias": "champion", "fromVersion": 2, "toVersion": None}
    gone = predicted(client, token, "churn@champion")
    assert gone["errors"] == [{"code": "NOT_FOUND", "message": "Model not found", "field": ["modelId"]}]
    after = gql(client, REGISTERED, {"name": "churn", "at": while_v1}, token)["data"]["registeredModel"]
    assert after["championThen"]["version"] == 1 and after["championNow"] is None


def test_predict_dataset_and_export_by_reference(linear_and_forest, client, token):
    dataset, linear, forest = linear_and_forest
    registered(client, token, linear)
    registered(client, token, forest)
    alias(client, token, 2)
    started = gql(
        client,
        """mutation($d: ID!) { predictDataset(input: {modelId: "churn@champion", datasetId: $d}) {
        dataset { id name } job { id } errors { code } } }""",
        {"d": dataset["id"]},
        token,
    )["data"]["predictDataset"]
    assert started["errors"] == [] and "v2" in started["dataset"]["name"]  # the forest: the dataset's 2nd model
    assert wait_for_job(client, token, started["job"]["id"])["status"] == "SUCCEEDED"

    exported = gql(
        client,
        """mutation { exportModel(input: {model: "churn@champion"}) { model { id } url
        errors { code field } } }""",
        token=token,
    )["data"]["exportModel"]
    assert exported["errors"] == [] and exported["model"]["id"] == forest
    pipeline = joblib.load(io.BytesIO(client.get(exported["url"]).content))
    assert type(pipeline[-1]).__name__ == "RandomForestRegressor"
    by_number = gql(
        client,
        """mutation { exportModel(input: {model: "churn/1", format: SKOPS}) { model { id } url
        errors { code } } }""",
        token=token,
    )["data"]["exportModel"]
    assert by_number["model"]["id"] == linear and client.get(by_number["url"]).status_code == 200
    for wrong, code in (
        ("churn/9", "NOT_FOUND"),
        ("churn@staging", "NOT_FOUND"),
        ("churn@", "INVALID_INPUT"),
        ("churn/0", "INVALID_INPUT"),
        ("nobody@champion", "NOT_FOUND"),
    ):
        answer = gql(
            client,
            """mutation($m: String!) { exportModel(input: {model: $m}) { url errors { code field } } }""",
            {"m": wrong},
            token,
        )["data"]["exportModel"]
        assert answer == {"url": None, "errors": [{"code": code, "field": ["model"]}]}, wrong


def test_refusals_name_the_field_and_change_nothing(client, token, settings):
    dataset = ingest(client, token, frame().to_csv(index=False).encode(), "churn.csv")
    full, narrow = train_all(
        client, token, dataset["id"], ("LINEAR_REGRESSION", {}), ("LINEAR_REGRESSION", {"features": ["x1", "plan"]})
    )
    assert registered(client, token, full)["errors"] == []
    assert registered(client, token, full)["errors"] == [
        {"code": "CONFLICT", "message": "This model is already churn/1", "field": ["modelId"]}
    ]
    refused = registered(client, token, narrow)["errors"]
    assert refused[0]["code"] == "CONFLICT" and refused[0]["field"] == ["allowSignatureChange"]
    assert "removed x2" in refused[0]["message"]
    count = gql(
        client, 'query { registeredModel(name: "churn") { latestVersion versions { totalCount } } }', token=token
    )
    assert count["data"]["registeredModel"] == {
        "latestVersion": 1,
        "versions": {"totalCount": 1},
    }  # nothing half-written
    allowed = registered(client, token, narrow, allowSignatureChange=True, comment="x2 dropped on purpose")
    assert allowed["errors"] == [] and allowed["version"]["version"] == 2
    assert (
        allowed["version"]["allowSignatureChange"] is True and allowed["version"]["comment"] == "x2 dropped on purpose"
    )

    for bad_input, field in (
        ({"name": "churn", "alias": "9lives", "version": 1}, "alias"),
        ({"name": "churn", "alias": "a@b", "version": 1}, "alias"),
        ({"name": "churn", "alias": "champion", "version": 0}, "version"),
        ({"name": "chu rn", "alias": "champion", "version": 1}, "name"),
    ):
        errors = gql(client, SET_ALIAS, {"input": bad_input}, token)["data"]["setModelAlias"]["errors"]
        assert [(e["code"], e["field"]) for e in errors] == [("INVALID_INPUT", [field])], bad_input
    for missing, field in (
        ({"name": "churn", "alias": "champion", "version": 7}, "version"),
        ({"name": "nope", "alias": "champion", "version": 1}, "name"),
    ):
        errors = gql(client, SET_ALIAS, {"input": missing}, token)["data"]["setModelAlias"]["errors"]
        assert [(e["code"], e["field"]) for e in errors] == [("NOT_FOUND", [field])], missing
    assert registered(client, token, full, name="bad/name")["errors"][0]["field"] == ["name"]

    # an aliased model cannot be deleted; once the alias moves away it can
    assert alias(client, token, 1, alias_name="staging")["errors"] == []
    delete = """mutation($id: ID!) { deleteModel(input: {id: $id}) { deletedId errors { code message field } } }"""
    refused = gql(client, delete, {"id": full}, token)["data"]["deleteModel"]
    assert refused["deletedId"] is None and refused["errors"][0]["code"] == "CONFLICT"
    assert refused["errors"][0]["field"] == ["id"] and "churn@staging" in refused["errors"][0]["message"]
    with pytest.raises(IntegrityError):  # and the database itself refuses, should a delete race the check
        run_sql(settings, "DELETE FROM model WHERE id = :id", id=raw_id(full, "Model"))
    dataset_gone = gql(
        client,
        """mutation($id: ID!) { deleteDataset(input: {id: $id}) { deletedId errors { code field } } }""",
        {"id": dataset["id"]},
        token,
    )["data"]["deleteDataset"]  # its models would go with it
    assert dataset_gone == {"deletedId": None, "errors": [{"code": "CONFLICT", "field": ["id"]}]}
    assert predicted(client, token, "churn@staging")["errors"] == []  # still served
    alias(client, token, 2, alias_name="staging")
    assert gql(client, delete, {"id": full}, token)["data"]["deleteModel"]["errors"] == []
    shown = gql(
        client,
        'query { registeredModel(name: "churn") { latestVersion versions { edges { node { version } } } } }',
        token=token,
    )["data"]["registeredModel"]
    assert shown == {"latestVersion": 2, "versions": {"edges": [{"node": {"version": 2}}]}}
    assert registered(client, token, full)["errors"][0]["code"] == "NOT_FOUND"
    # numbers are never reused: the next version is 3 even though version 1 is gone
    again = start_training(client, token, dataset["id"], "RIDGE", features=["x1", "plan"])
    assert wait_for_job(client, token, again["job"]["id"], timeout=180)["status"] == "SUCCEEDED"
    assert registered(client, token, again["model"]["id"])["version"]["version"] == 3


def test_names_and_models_are_per_user(linear_and_forest, client, token):
    _, linear, _ = linear_and_forest
    registered(client, token, linear)
    alias(client, token, 1)
    other = register(client)["accessToken"]
    assert registered(client, other, linear)["errors"] == [
        {"code": "NOT_FOUND", "message": "Model not found", "field": ["modelId"]}
    ]
    assert gql(
        client, 'query { registeredModel(name: "churn") { name } registeredModels { totalCount } }', token=other
    )["data"] == {"registeredModel": None, "registeredModels": {"totalCount": 0}}
    assert predicted(client, other, "churn@champion")["errors"][0]["code"] == "NOT_FOUND"
    assert predicted(client, other, "churn/1")["errors"][0]["code"] == "NOT_FOUND"
    assert alias(client, other, 1)["errors"][0] == {
        "code": "NOT_FOUND",
        "message": "Registered model not found",
        "field": ["name"],
    }
    exported = gql(
        client, 'mutation { exportModel(input: {model: "churn@champion"}) { url errors { code } } }', token=other
    )["data"]["exportModel"]
    assert exported == {"url": None, "errors": [{"code": "NOT_FOUND"}]}
    # the other user's own "churn" is theirs alone, numbered from 1
    dataset = ingest(client, other, frame(seed=1).to_csv(index=False).encode(), "mine.csv")
    (theirs,) = train_all(client, other, dataset["id"], ("RIDGE", {}))
    assert registered(client, other, theirs)["version"]["version"] == 1
    mine = gql(
        client, 'query { registeredModel(name: "churn") { versions { edges { node { model { id } } } } } }', token=token
    )["data"]["registeredModel"]
    assert [e["node"]["model"]["id"] for e in mine["versions"]["edges"]] == [linear]


def test_registrations_at_the_same_time_get_consecutive_numbers(client, token):
    """Four registrations of a new name at once, through /graphql on the running app: 1, 2, 3, 4, no error."""
    dataset = ingest(client, token, frame().to_csv(index=False).encode(), "churn.csv")
    model_ids = train_all(
        client,
        token,
        dataset["id"],
        *[("RIDGE", {"seed": n}) for n in range(2)],
        *[("LINEAR_REGRESSION", {"seed": n}) for n in range(2)],
    )

    async def together() -> list[dict]:
        transport = httpx.ASGITransport(app=client.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            responses = await asyncio.gather(
                *(
                    http.post(
                        "/graphql",
                        headers={"authorization": f"Bearer {token}"},
                        json={"query": REGISTER, "variables": {"input": {"modelId": model_id, "name": "rush"}}},
                    )
                    for model_id in model_ids
                )
            )
        return [response.json()["data"]["registerModel"] for response in responses]

    answers = client.portal.call(together)
    assert [a["errors"] for a in answers] == [[]] * 4
    assert sorted(a["version"]["version"] for a in answers) == [1, 2, 3, 4]
    shown = gql(client, 'query { registeredModel(name: "rush") { latestVersion history { totalCount } } }', token=token)
    assert shown["data"]["registeredModel"] == {"latestVersion": 4, "history": {"totalCount": 4}}


def test_watchers_hear_alias_moves(linear_and_forest, client, token):
    _, linear, forest = linear_and_forest
    registered(client, token, linear)
    registered(client, token, forest)
    subscription = """subscription { registryEvents(name: "churn") { name kind alias fromVersion toVersion } }"""
    state = client.app.state.assay
    with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as socket:
        socket.send_json({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
        assert socket.receive_json()["type"] == "connection_ack"
        socket.send_json({"id": "1", "type": "subscribe", "payload": {"query": subscription}})
        deadline = time.monotonic() + 10
        while not state.bus.has_subscribers(f"registry:{state_user(client, token)}"):
            assert time.monotonic() < deadline, "the subscription never started"
            time.sleep(0.02)
        alias(client, token, 1)
        alias(client, token, 2)
        heard = [socket.receive_json()["payload"]["data"]["registryEvents"] for _ in range(2)]
    assert heard == [
        {"name": "churn", "kind": "ALIAS_SET", "alias": "champion", "fromVersion": None, "toVersion": 1},
        {"name": "churn", "kind": "ALIAS_SET", "alias": "champion", "fromVersion": 1, "toVersion": 2},
    ]


def state_user(client, token) -> str:
    from schema.common import raw_id

    return raw_id(gql(client, "{ me { id } }", token=token)["data"]["me"]["id"], "User")
