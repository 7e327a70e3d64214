"""Migrations on PostgreSQL: replicas that start together against an empty database migrate it once."""

from __future__ import annotations

import subprocess
import sys
import time

from services.storage import db
from tests.support.paths import ROOT
from tests.support.settings import run_sql

REPLICAS = 4
# Each process imports everything first, says it is ready, and starts migrating only when all are: together.
MIGRATE_WHEN_ALL_READY = """
import sys, time
from pathlib import Path
from services.storage import db
url, folder, me = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
(folder / f"ready-{me}").touch()
while not (folder / "go").exists():
    time.sleep(0.005)
db.migrate(url)
"""


def test_replicas_starting_together_on_an_empty_postgresql_migrate_once(empty_postgres_url, tmp_path_factory):
    folder = tmp_path_factory.mktemp("barrier")
    replicas = [
        subprocess.Popen(
            [sys.executable, "-c", MIGRATE_WHEN_ALL_READY, empty_postgres_url, str(folder), str(n)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for n in range(REPLICAS)
    ]
    deadline = time.monotonic() + 120
    while len(list(folder.glob("ready-*"))) < REPLICAS:
        assert time.monotonic() < deadline, "the replicas did not get ready"
        time.sleep(0.02)
    (folder / "go").touch()
    outputs = [replica.communicate(timeout=120)[0] for replica in replicas]
    assert [replica.returncode for replica in replicas] == [0] * REPLICAS, outputs

    class Stub:  # run_sql needs only the URL
        resolved_database_url = empty_postgres_url

    assert run_sql(Stub, "SELECT version_num FROM alembic_version") == [(db.head_revision(),)]
    tables = {row[0] for row in run_sql(Stub, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert {"user", "dataset", "job", "job_log", "model", "pipeline", "pipeline_run", "report"} <= tables


BEFORE_TYPED_CONFIGS = "7b2e41f0a9c3"  # 0007: configs as one-key parts, header values inside, `given` on newer rows
SECRET = "Bearer sekret-token-123456"
OLD_PIPELINE = {
    "sqlite": "INSERT INTO pipeline (id, created_at, updated_at, owner_id, name, config, schedule_paused) "
    "VALUES (:id, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, :owner, :name, :config, FALSE)",
    "postgresql": "INSERT INTO pipeline (id, created_at, updated_at, owner_id, name, config, schedule_paused) "
    "VALUES (:id, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, :owner, :name, CAST(:config AS json), FALSE)",
}
OLD_RUN = {
    "sqlite": "INSERT INTO pipeline_run (id, created_at, updated_at, pipeline_id, owner_id, status, config, "
    "columns, output) VALUES (:id, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, :pipeline, :owner, 'SUCCEEDED', "
    ":config, '[]', '{}')",
    "postgresql": "INSERT INTO pipeline_run (id, created_at, updated_at, pipeline_id, owner_id, status, config, "
    "columns, output) VALUES (:id, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, :pipeline, :owner, 'SUCCEEDED', "
    "CAST(:config AS json), '[]', '{}')",
}
SHOWN = """query($id: ID!) { pipeline(id: $id) { config runs { edges { node { config } } } } }"""


def _camel(settings: dict) -> dict:
    """A source's settings as the API spells them: its own keys in camelCase, values (like `params`) untouched."""
    return {key.split("_")[0] + "".join(p.title() for p in key.split("_")[1:]): v for key, v in settings.items()}


HTTP = {
    "url": "http://127.0.0.1:9/api",
    "method": "GET",
    "params": {"page_size": 50},
    "records_path": "data.items",
    "max_pages": 3,
    "retries": 3,
    "timeout_seconds": 30,
    "delay_seconds": 0,
    "format": "AUTO",
}
SCRAPE = {
    "url": "http://example.com/list.html",
    "row_selector": "tr",
    "fields": [{"name": "cell_text", "selector": "td"}, {"name": "link", "selector": "a", "attribute": "href"}],
    "retries": 3,
    "timeout_seconds": 30,
    "delay_seconds": 0,
}
CHECK = {"column": "cell_text", "not_null": True, "on_fail": "DROP_ROWS"}
SQLITE_SINK = {"sqlite": {"table": "t", "mode": "upsert", "key": ["id"]}}


def _old_rows(dataset_id: str) -> dict[str, dict]:
    """Configs as 0007's code stored them: `given` kept (newer rows) or not (older ones)."""
    http = {**HTTP, "headers": {"Authorization": SECRET, "X-Short": "abc"}}
    return {
        "with_given": {
            "source": {"http": http},
            "steps": [],
            "sink": SQLITE_SINK,
            "given": {"source": {"http": _camel(http)}, "steps": [], "sink": SQLITE_SINK},
        },
        "without_given": {
            "source": {"scrape": {**SCRAPE, "headers": {"Cookie": "session=members-only-cookie"}}},
            "steps": [],
            "sink": {"parquet": {"name": "p"}},
            "checks": [CHECK],
        },
        "dataset": {
            "source": {"dataset": {"dataset_id": dataset_id}},
            "steps": [
                {
                    "step": "impute",
                    "params": {"columns": ["a_b"], "strategy": "MEDIAN", "value": None, "order_by": None},
                }
            ],
            "sink": {"dataset": {"name": "d"}},
        },
    }


def test_pipelines_stored_before_typed_configs_are_converted_and_keep_their_secrets(tmp_path):
    """0008 moves old rows (with and without `given`) to the typed form with header values in their own
    column: they echo as before (masked), runs keep a masked snapshot, and a converted pipeline runs."""
    import json

    from starlette.testclient import TestClient

    from schema.common import raw_id, to_global_id
    from server.app import create_app
    from tests.support.graphql import gql, ingest, register, wait_for_job
    from tests.support.settings import make_settings

    settings = make_settings(tmp_path, allowed_source_hosts="127.0.0.1")  # the http source may be saved again
    with TestClient(create_app(settings)) as client:
        token = register(client)["accessToken"]
        dataset = ingest(client, token, b"a_b,c\n1,x\n,y\n3,z\n")
        owner = raw_id(gql(client, "{ me { id } }", token=token)["data"]["me"]["id"], "User")
    url = settings.resolved_database_url
    db.downgrade(url, BEFORE_TYPED_CONFIGS)
    rows = _old_rows(raw_id(dataset["id"], "Dataset"))
    for name, config in rows.items():
        run_sql(settings, OLD_PIPELINE, id=f"{name:x<32}"[:32], owner=owner, name=name, config=json.dumps(config))
    run_sql(
        settings,
        OLD_RUN,
        id="r" * 32,
        pipeline=f"{'with_given':x<32}",
        owner=owner,
        config=json.dumps(rows["with_given"]),
    )
    db.migrate(url)

    stored = dict(run_sql(settings, "SELECT name, secrets FROM pipeline"))
    decoded = {name: json.loads(value) if isinstance(value, str) else value for name, value in stored.items()}
    assert decoded == {
        "with_given": {"http": {"Authorization": SECRET, "X-Short": "abc"}},
        "without_given": {"scrape": {"Cookie": "session=members-only-cookie"}},
        "dataset": {},
    }
    configs = " ".join(str(row[0]) for row in run_sql(settings, "SELECT config FROM pipeline"))
    runs = " ".join(str(row[0]) for row in run_sql(settings, "SELECT config FROM pipeline_run"))
    assert "sekret" not in configs and "members-only" not in configs and "given" not in configs
    assert "sekret" not in runs  # a run's snapshot keeps header values masked

    masked_http = _camel({**HTTP, "headers": {"Authorization": "••••••••3456", "X-Short": "••••••••"}})
    expected = {
        "with_given": {"source": {"http": masked_http}, "steps": [], "sink": SQLITE_SINK},
        "without_given": {
            "source": {"scrape": _camel({**SCRAPE, "headers": {"Cookie": "••••••••okie"}})},
            "steps": [],
            "sink": {"parquet": {"name": "p"}},
            "checks": [_camel(CHECK)],
        },
        "dataset": {
            "source": {"dataset": {"datasetId": dataset["id"]}},
            "steps": [{"impute": {"columns": ["a_b"], "strategy": "MEDIAN"}}],
            "sink": {"dataset": {"name": "d"}},
        },
    }
    with TestClient(create_app(settings)) as client:
        for name, config in expected.items():
            shown = gql(client, SHOWN, {"id": to_global_id("Pipeline", f"{name:x<32}"[:32])}, token)["data"]["pipeline"]
            assert shown["config"] == config, name
        with_given = to_global_id("Pipeline", f"{'with_given':x<32}")
        shown = gql(client, SHOWN, {"id": with_given}, token)["data"]["pipeline"]
        assert [edge["node"]["config"] for edge in shown["runs"]["edges"]] == [expected["with_given"]]
        # the masked headers sent back keep their secrets; a changed one replaces its own
        resent = {"http": {**masked_http, "headers": {"Authorization": "••••••••3456", "X-Short": "new"}}}
        updated = gql(
            client,
            """mutation($id: ID!, $source: SourceInput!) { updatePipeline(input: {id: $id, source: $source})
            { errors { message } } }""",
            {"id": with_given, "source": resent},
            token,
        )["data"]["updatePipeline"]
        assert updated["errors"] == []
        secrets = run_sql(settings, "SELECT secrets FROM pipeline WHERE name = 'with_given'")[0][0]
        assert (json.loads(secrets) if isinstance(secrets, str) else secrets) == {
            "http": {"Authorization": SECRET, "X-Short": "new"}
        }
        # a converted pipeline runs as it did
        started = gql(
            client,
            "mutation($id: ID!) { runPipeline(input: {id: $id}) { job { id } errors { message } } }",
            {"id": to_global_id("Pipeline", f"{'dataset':x<32}"[:32])},
            token,
        )["data"]["runPipeline"]
        assert started["errors"] == [], started
        assert wait_for_job(client, token, started["job"]["id"])["status"] == "SUCCEEDED"

    db.downgrade(url, BEFORE_TYPED_CONFIGS)  # and back: header values inside the config again, no secrets column
    old = {
        name: json.loads(value) if isinstance(value, str) else value
        for name, value in run_sql(settings, "SELECT name, config FROM pipeline")
    }
    assert old["without_given"]["source"]["scrape"]["headers"] == {"Cookie": "session=members-only-cookie"}
    assert old["dataset"]["source"] == {"dataset": {"dataset_id": raw_id(dataset["id"], "Dataset")}}
    db.migrate(url)
