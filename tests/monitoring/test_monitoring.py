"""Monitoring of a served model through /graphql: exact counts and a bounded sample per window however many
replicas serve, drift of the served inputs against the training data, one alert per drifted window, and the
refusals (other users' models, thresholds out of range)."""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from starlette.testclient import TestClient

from server.app import create_app
from tests.support.graphql import gql, ingest, register, train_model, wait_for_job
from tests.support.settings import make_settings, run_sql

PREDICT = """mutation($model: ID!, $rows: [JSON!]!) { predict(input: {modelId: $model, rows: $rows}) {
  predictions { value } errors { code message field } } }"""
MONITOR = """query($model: ID!, $window: Float, $since: DateTime) {
  modelMonitor(modelId: $model, window: $window, since: $since) {
    model { id } windowMinutes settings { driftShareThreshold method threshold }
    windows { start end requestCount rowCount sampledRows predictionCounts { label count }
              predictionQuantiles { quantile value }
              features { column method statistic pValue threshold drifted referenceCount currentCount }
              driftShare alert { id windowStart } }
    alerts { id windowStart windowEnd driftShare driftShareThreshold driftedFeatures } } }"""
SET_MONITOR = """mutation($input: SetModelMonitorInput!) { setModelMonitor(input: $input) {
  model { id } settings { driftShareThreshold method threshold } errors { code message field } } }"""
SINCE = "2000-01-01T00:00:00Z"


def frame(rows: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(0, 1, rows), rng.normal(0, 1, rows)
    plan = rng.choice(["basic", "pro"], rows)
    churn = np.where(x1 + (plan == "pro") + rng.normal(0, 0.5, rows) > 0.5, "yes", "no")
    return pd.DataFrame({"x1": x1, "x2": x2, "plan": plan, "churn": churn})


def rows_of(data: pd.DataFrame) -> list[dict]:
    return data[["x1", "x2", "plan"]].to_dict(orient="records")


def trained(client, token) -> tuple[str, str]:
    dataset = ingest(client, token, frame().to_csv(index=False).encode(), "churn.csv")
    model = train_model(client, token, dataset["id"], target="churn", algorithms=["LOGISTIC_REGRESSION"], cvFolds=2)
    return dataset["id"], model["model"]["id"]


def predicted(client, token, model, rows) -> list[str]:
    payload = gql(client, PREDICT, {"model": model, "rows": rows}, token)["data"]["predict"]
    assert payload["errors"] == [], payload
    return [p["value"] for p in payload["predictions"]]


def monitor(client, token, model, **variables) -> dict:
    answer = gql(client, MONITOR, {"model": model, "since": SINCE, **variables}, token)
    assert "errors" not in answer, answer
    return answer["data"]["modelMonitor"]


def eventually(read, accept, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if accept(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def test_every_request_and_row_is_counted_exactly_and_the_sample_stays_bounded(tmp_path):
    # day-long windows: the test's requests all fall in one
    settings = make_settings(
        tmp_path, monitor_reservoir_rows=20, monitor_flush_seconds=0.2, monitor_window_minutes=1440
    )
    served = frame(200, seed=1)
    with TestClient(create_app(settings)) as client:
        token = register(client)["accessToken"]
        dataset_id, model_id = trained(client, token)
        registered = gql(
            client,
            """mutation($m: ID!) { registerModel(input: {modelId: $m, name: "churn"}) {
            errors { code } } setModelAlias(input: {name: "churn", alias: "live", version: 1}) { errors { code } } }""",
            {"m": model_id},
            token,
        )["data"]
        assert registered["registerModel"]["errors"] == registered["setModelAlias"]["errors"] == []
        job = gql(
            client,
            """mutation($d: ID!) { predictDataset(input: {modelId: "churn@live", datasetId: $d}) {
            job { id } errors { code } } }""",
            {"d": dataset_id},
            token,
        )["data"]["predictDataset"]
        assert wait_for_job(client, token, job["job"]["id"])["status"] == "SUCCEEDED"
        # A second replica joins once the jobs are done (both would otherwise compete for them).
        with TestClient(create_app(settings)) as replica:
            labels: Counter = Counter()
            for index in range(7):  # two replicas, by id and by alias: one window, three writers with the job
                server = client if index % 2 else replica
                labels.update(
                    predicted(
                        server,
                        token,
                        model_id if index < 4 else "churn@live",
                        rows_of(served[index * 9 : (index + 1) * 9]),
                    )
                )
            window = eventually(
                lambda: monitor(client, token, "churn@live")["windows"],
                lambda windows: windows and windows[0]["requestCount"] == 8,
            )
            assert len(window) == 1, window
            window = window[0]
            assert window["requestCount"] == 8 and window["rowCount"] == 63 + 300
            assert window["sampledRows"] == 20  # the reservoir size, not the 363 rows served
            counts = {c["label"]: c["count"] for c in window["predictionCounts"]}
            assert sum(counts.values()) == 363 and all(counts.get(k, 0) >= v for k, v in labels.items())
            assert window["predictionQuantiles"] is None
            assert {f["column"] for f in window["features"]} == {"x1", "x2", "plan"}
            # each writer keeps its own row (two replicas, one job), none holding more than the reservoir
            stored = run_sql(settings, "SELECT writer, request_count, row_count FROM monitor_window")
            assert len(stored) == 3 and sum(r[1] for r in stored) == 8 and sum(r[2] for r in stored) == 363
            assert sorted(r[1] for r in stored) == [1, 3, 4]
            # answered in longer windows: the same totals, merged
            weekly = monitor(client, token, model_id, window=7 * 1440)
            assert weekly["windowMinutes"] == 7 * 1440 and weekly["windows"][0]["rowCount"] == 363


def test_windows_expire_after_the_retention(tmp_path):
    settings = make_settings(tmp_path, monitor_flush_seconds=0.2, monitor_retention_days=1 / 86400)  # one second
    with TestClient(create_app(settings)) as client:
        token = register(client)["accessToken"]
        _, model_id = trained(client, token)
        predicted(client, token, model_id, rows_of(frame(5)))
        eventually(lambda: run_sql(settings, "SELECT count(*) FROM monitor_window")[0][0], lambda n: n == 1, 5)
        # the window started minutes ago (windows start on the hour): the next expiry deletes it
        assert (
            eventually(lambda: run_sql(settings, "SELECT count(*) FROM monitor_window")[0][0], lambda n: n == 0, 10)
            == 0
        )
        assert monitor(client, token, model_id)["windows"] == []


def wait_for_window_start(minutes: float, within: float = 0.5) -> None:
    """Sleep until a window has just begun, so the next few requests all fall in it."""
    length = minutes * 60
    while time.time() % length > within:
        time.sleep(0.05)


@pytest.mark.slow  # waits for three nine-second windows to begin and close: ~40 s of wall time by design
def test_drift_of_served_inputs_raises_one_alert_per_window_however_many_replicas(tmp_path):
    with contextlib.ExitStack() as stack:
        drift_and_alerts(tmp_path, stack)


def drift_and_alerts(tmp_path, stack: contextlib.ExitStack) -> None:
    minutes = 0.15  # nine-second windows
    settings = make_settings(tmp_path, monitor_window_minutes=minutes, monitor_flush_seconds=0.2)
    with TestClient(create_app(settings)) as client:
        token = register(client)["accessToken"]
        _, model_id = trained(client, token)
        replica = stack.enter_context(TestClient(create_app(settings)))  # joins once the training job is done
        for server in (client, replica):  # each loads the model now, not in the middle of a window below
            predicted(server, token, model_id, rows_of(frame(300)[200:210]))
        set_to = gql(client, SET_MONITOR, {"input": {"modelId": model_id, "driftShareThreshold": 0.5}}, token)["data"][
            "setModelMonitor"
        ]
        assert set_to["errors"] == [] and set_to["settings"]["driftShareThreshold"] == 0.5

        # Rows like the training rows: judged, no drift, no alert. They start in a window after the one the
        # warm-up requests above fell in (a window that had only just begun would otherwise hold both).
        length = minutes * 60
        warmed = datetime.fromtimestamp(time.time() // length * length, tz=UTC).isoformat()
        calm_from = window_of(minutes, after=warmed)
        predicted(client, token, model_id, rows_of(frame(300)[:75]))
        predicted(replica, token, model_id, rows_of(frame(300)[75:150]))  # both replicas have the model loaded now
        calm = eventually(
            lambda: since(monitor(client, token, model_id)["windows"], calm_from),
            lambda w: sum(window["rowCount"] for window in w) == 150,
            30,
        )
        assert sum(w["requestCount"] for w in calm) == 2, calm  # one window, or two if a boundary fell between
        for window in calm:
            assert window["driftShare"] is not None and window["driftShare"] < 0.5, window
            assert not any(f["drifted"] for f in window["features"]), window["features"]
            assert {f["method"] for f in window["features"]} == {"KS", "CHI_SQUARE"}  # 300 training rows: tests

        # Shifted inputs, served by both replicas (into one window, unless a boundary falls between them).
        shifted = frame(100, seed=5).assign(x1=lambda d: d.x1 + 4, x2=lambda d: d.x2 - 3, plan="pro")
        shifted_from = window_of(minutes, after=calm_from)
        predicted(client, token, model_id, rows_of(shifted[:50]))
        predicted(replica, token, model_id, rows_of(shifted[50:]))
        eventually(lambda: monitor(client, token, model_id), lambda m: len(m["alerts"]) >= 1, 30)
        time.sleep(minutes * 60 + 2)  # another window closes, and every replica has had its turn to judge again
        answer = monitor(client, token, model_id)
        drifted = since(answer["windows"], shifted_from)
        assert sum(w["rowCount"] for w in drifted) == 100 and sum(w["requestCount"] for w in drifted) == 2, drifted
        # one alert per drifted window, however many replicas judged it; none for the calm ones
        assert len(answer["alerts"]) == len(drifted), answer
        assert run_sql(settings, "SELECT count(*) FROM model_alert")[0][0] == len(drifted)
        alerts = {alert["windowStart"]: alert for alert in answer["alerts"]}
        for window in drifted:
            alert = alerts[window["start"]]
            assert window["driftShare"] == 1.0 and window["alert"]["id"] == alert["id"]
            assert sorted(alert["driftedFeatures"]) == ["plan", "x1", "x2"]
            assert alert["driftShare"] == 1.0 and alert["driftShareThreshold"] == 0.5
        assert all(w["alert"] is None for w in answer["windows"] if w not in drifted)


def window_of(minutes: float, after: str | None = None) -> str:
    """The start (as the API writes it) of a window that has just begun (and began after `after`)."""
    length = minutes * 60
    while True:
        wait_for_window_start(minutes)
        start = datetime.fromtimestamp(time.time() // length * length, tz=UTC).isoformat()
        if after is None or start > after:
            return start
        time.sleep(0.5)


def since(windows: list[dict], start: str) -> list[dict]:
    return [w for w in windows if datetime.fromisoformat(w["start"]) >= datetime.fromisoformat(start)]


def test_another_users_model_is_not_found_and_bad_thresholds_name_their_field(client, token, settings):
    _, model_id = trained(client, token)
    predicted(client, token, model_id, rows_of(frame(3)))
    stranger = register(client)["accessToken"]
    answer = gql(client, MONITOR, {"model": model_id}, stranger)
    assert answer["data"] is None and answer["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    refused = gql(client, SET_MONITOR, {"input": {"modelId": model_id, "driftShareThreshold": 0.5}}, stranger)["data"][
        "setModelMonitor"
    ]
    assert refused["settings"] is None and refused["errors"][0]["code"] == "NOT_FOUND"
    assert refused["errors"][0]["field"] == ["modelId"]
    for wrong, field in (
        ({"driftShareThreshold": 0}, "driftShareThreshold"),
        ({"driftShareThreshold": 1.5}, "driftShareThreshold"),
        ({"driftShareThreshold": -0.1}, "driftShareThreshold"),
        ({"threshold": 0.1}, "threshold"),
        ({"method": "KS", "threshold": 2.0}, "threshold"),
        ({"method": "JENSEN_SHANNON", "threshold": 0}, "threshold"),
    ):
        payload = gql(client, SET_MONITOR, {"input": {"modelId": model_id, **wrong}}, token)["data"]["setModelMonitor"]
        assert payload["settings"] is None and payload["errors"][0]["code"] == "INVALID_INPUT", (wrong, payload)
        assert payload["errors"][0]["field"] == [field], wrong
    assert run_sql(settings, "SELECT count(*) FROM model_monitor")[0][0] == 0  # nothing stored by any refusal
    for window in (7, 0, -60, 90):
        answer = gql(client, MONITOR, {"model": model_id, "window": window}, token)
        assert answer["errors"][0]["extensions"] == {"code": "INVALID_INPUT", "field": ["window"]}, window
    bad_reference = gql(client, MONITOR, {"model": "churn@"}, token)
    assert bad_reference["errors"][0]["extensions"]["code"] == "INVALID_INPUT"
    # the owner sees the window and a valid monitor; the stranger's own view of their models shows nothing of it
    ok = gql(
        client,
        SET_MONITOR,
        {"input": {"modelId": model_id, "driftShareThreshold": 0.3, "method": "PSI", "threshold": 0.2}},
        token,
    )["data"]["setModelMonitor"]
    assert ok["errors"] == [] and ok["settings"] == {"driftShareThreshold": 0.3, "method": "PSI", "threshold": 0.2}
    assert gql(client, "{ models { totalCount } }", token=stranger)["data"]["models"]["totalCount"] == 0
