"""Sinks: SQLite (replace, append, upsert by key, indexes, rollback), Parquet versions, datasets; each run's
output stays readable.

The sources are local: tests/pipelines/fake_sources.py, served by the source_server fixture."""

from __future__ import annotations

import sqlite3

import pyarrow.parquet as pq

from tests.pipelines.operations import create, run
from tests.support.graphql import gql, register


def test_sqlite_replace_and_append_and_parquet_versions(open_client, source_server):
    client = open_client
    token = register(client)["accessToken"]
    user_id = gql(client, "{ me { id } }", token=token)["data"]["me"]["id"]
    source = {"http": {"url": f"{source_server}/api/items", "recordsPath": "data.items"}}
    appender = create(client, token, name="a", source=source, sink={"sqlite": {"table": "items", "mode": "append"}})
    for _ in range(2):
        run(client, token, appender["pipeline"]["id"])
    from schema.common import raw_id

    database = client.settings.resolved_data_dir / "users" / raw_id(user_id, "User") / "pipelines.sqlite"
    with sqlite3.connect(database) as connection:
        assert connection.execute("select count(*) from items").fetchone()[0] == 6
        types = {row[1]: row[2] for row in connection.execute("pragma table_info(items)")}
    assert types == {"id": "INTEGER", "user.name": "TEXT", "user.address.city": "TEXT", "score": "REAL"}
    replacer = create(client, token, name="r", source=source, sink={"sqlite": {"table": "items", "mode": "replace"}})
    run(client, token, replacer["pipeline"]["id"])
    with sqlite3.connect(database) as connection:
        assert connection.execute("select count(*) from items").fetchone()[0] == 3
    versioned = create(client, token, name="p", source=source, sink={"parquet": {"name": "items"}})
    first, second = run(client, token, versioned["pipeline"]["id"]), run(client, token, versioned["pipeline"]["id"])
    assert (first["lastRun"]["version"], second["lastRun"]["version"]) == (1, 2)
    folder = (
        client.settings.resolved_data_dir / "pipelines" / raw_id(versioned["pipeline"]["id"], "Pipeline") / "parquet"
    )
    assert sorted(p.name for p in folder.iterdir()) == ["v1.parquet", "v2.parquet"]
    assert pq.read_table(folder / "v1.parquet").num_rows == 3
    bad = create(client, token, name="x", source=source, sink={"sqlite": {"table": "items; drop table x"}})
    assert bad["errors"][0]["field"] == ["sink", "sqlite", "table"]


def test_sqlite_upsert_by_key_with_indexes_and_new_columns(open_client, source_server):
    client = open_client
    token = register(client)["accessToken"]
    user_id = gql(client, "{ me { id } }", token=token)["data"]["me"]["id"]
    from schema.common import raw_id

    database = client.settings.resolved_data_dir / "users" / raw_id(user_id, "User") / "pipelines.sqlite"
    sink = {
        "sqlite": {
            "table": "catalog",
            "mode": "upsert",
            "key": ["sku", "size"],
            "indexes": [["price"], ["size", "price"]],
        }
    }
    created = create(
        client, token, name="catalog", source={"http": {"url": f"{source_server}/catalog.json?v=1"}}, sink=sink
    )
    assert created["errors"] == [] and created["pipeline"]["config"]["sink"] == sink
    first = run(client, token, created["pipeline"]["id"])
    assert first["job"]["status"] == "SUCCEEDED", first["job"]

    def update_source(version: int) -> None:
        changed = gql(
            client,
            """mutation($id: ID!, $source: SourceInput!) { updatePipeline(input: {id: $id, source: $source})
            { errors { message } } }""",
            {"id": created["pipeline"]["id"], "source": {"http": {"url": f"{source_server}/catalog.json?v={version}"}}},
            token,
        )
        assert changed["data"]["updatePipeline"]["errors"] == []

    update_source(2)
    second = run(client, token, created["pipeline"]["id"])
    assert second["job"]["status"] == "SUCCEEDED", second["job"]
    logs = [entry["message"] for entry in second["job"]["logs"]]
    assert any("(1 new, 2 updated; added column(s) stock; 3 rows now)" in m for m in logs), logs
    with sqlite3.connect(database) as connection:
        rows = connection.execute("select sku, size, price, stock from catalog order by sku").fetchall()
        indexes = {row[1]: row[2] for row in connection.execute("pragma index_list(catalog)")}
        primary = [
            row[1] for row in sorted(connection.execute("pragma table_info(catalog)"), key=lambda r: r[5]) if row[5]
        ]
    # b updated, c inserted once with the last of its two rows, a kept (upsert never deletes)
    assert rows == [("a", 1, 1.5, None), ("b", 1, 2.5, 3), ("c", 2, 8.0, 0)]
    assert primary == ["sku", "size"]
    assert {"ix_catalog__price", "ix_catalog__size__price"} <= set(indexes)
    assert second["data"]["totalRows"] == 3

    update_source(3)  # a row without a key: the run fails and the table is as it was
    third = run(client, token, created["pipeline"]["id"])
    assert third["job"]["status"] == "FAILED" and "no value in the key sku, size" in third["lastRun"]["error"]
    with sqlite3.connect(database) as connection:
        assert connection.execute("select count(*) from catalog").fetchone()[0] == 3


def test_sqlite_sink_settings_are_checked(open_client, source_server):
    client = open_client
    token = register(client)["accessToken"]
    source = {"http": {"url": f"{source_server}/catalog.json?v=1"}}
    refusals = [
        ({"table": "t", "mode": "upsert"}, ["sink", "sqlite", "key"]),
        ({"table": "t", "mode": "append", "key": ["sku"]}, ["sink", "sqlite", "key"]),
        ({"table": "t", "mode": "merge"}, ["sink", "sqlite", "mode"]),
        ({"table": "t", "indexes": [["a", "a"]]}, ["sink", "sqlite", "indexes", "0"]),
        ({"table": "t", "indexes": [[]]}, ["sink", "sqlite", "indexes", "0"]),
    ]
    for sqlite_sink, field in refusals:
        refused = create(client, token, name="x", source=source, sink={"sqlite": sqlite_sink})
        assert refused["pipeline"] is None and refused["errors"][0]["field"] == field, (sqlite_sink, refused)
    # a key the output does not have fails the run by name, before anything is written
    unknown = create(
        client, token, name="y", source=source, sink={"sqlite": {"table": "t", "mode": "upsert", "key": ["id"]}}
    )
    result = run(client, token, unknown["pipeline"]["id"])
    assert result["job"]["status"] == "FAILED" and "The output has no column 'id'" in result["lastRun"]["error"]


def test_a_refused_sqlite_write_rolls_back_its_schema_changes(open_client, source_server):
    client = open_client
    token = register(client)["accessToken"]
    user_id = gql(client, "{ me { id } }", token=token)["data"]["me"]["id"]
    from schema.common import raw_id

    database = client.settings.resolved_data_dir / "users" / raw_id(user_id, "User") / "pipelines.sqlite"
    appender = create(
        client,
        token,
        name="a",
        source={"http": {"url": f"{source_server}/catalog.json?v=1"}},
        sink={"sqlite": {"table": "dup", "mode": "append"}},
    )
    for _ in range(2):  # a and b twice each: no key could be unique
        assert run(client, token, appender["pipeline"]["id"])["job"]["status"] == "SUCCEEDED"
    upserter = create(
        client,
        token,
        name="u",
        source={"http": {"url": f"{source_server}/catalog.json?v=2"}},
        sink={"sqlite": {"table": "dup", "mode": "upsert", "key": ["sku"]}},
    )
    result = run(client, token, upserter["pipeline"]["id"])
    assert result["job"]["status"] == "FAILED" and "SQLite refused the write to dup" in result["lastRun"]["error"]
    with sqlite3.connect(database) as connection:  # the stock column it added went with the transaction
        assert [row[1] for row in connection.execute("pragma table_info(dup)")] == ["sku", "size", "price"]
        assert connection.execute("select count(*) from dup").fetchone()[0] == 4


def test_each_run_keeps_its_own_output_readable(open_client, source_server):
    client = open_client
    token = register(client)["accessToken"]
    for sink in ({"parquet": {"name": "catalog"}}, {"dataset": {"name": "catalog"}}):
        created = create(
            client, token, name="catalog", source={"http": {"url": f"{source_server}/catalog.json?v=1"}}, sink=sink
        )
        pipeline_id = created["pipeline"]["id"]
        run(client, token, pipeline_id)
        gql(
            client,
            """mutation($id: ID!, $source: SourceInput!) { updatePipeline(input: {id: $id, source: $source})
            { errors { message } } }""",
            {"id": pipeline_id, "source": {"http": {"url": f"{source_server}/catalog.json?v=2"}}},
            token,
        )
        run(client, token, pipeline_id)
        runs = gql(
            client,
            """query($id: ID!) { pipeline(id: $id) { runs { edges { node { version
            data(limit: 10) { columns rows totalRows } } } } } }""",
            {"id": pipeline_id},
            token,
        )["data"]["pipeline"]["runs"]
        by_version = {edge["node"]["version"]: edge["node"]["data"] for edge in runs["edges"]}
        assert [row[0] for row in by_version[1]["rows"]] == ["a", "b"] and "stock" not in by_version[1]["columns"]
        assert [row[0] for row in by_version[2]["rows"]] == ["b", "c", "c"] and by_version[2]["totalRows"] == 3
    other = register(client, email="other@example.com")["accessToken"]
    assert (
        gql(
            client,
            "query($id: ID!) { pipeline(id: $id) { runs { edges { node { data { rows } } } } } }",
            {"id": pipeline_id},
            other,
        )["data"]["pipeline"]
        is None
    )
