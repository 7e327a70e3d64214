"""`query(sql)` (seed 004's SQL query support): a user's own datasets as tables, read-only, limited."""

from __future__ import annotations

import pytest

from schema.common import raw_id
from services.datasets import sql as sql_service
from services.storage.tables import Dataset
from tests.support.graphql import gql, ingest, register

pytestmark = pytest.mark.one_database(reason="SQL over datasets, run by DuckDB")

QUERY = """query($sql: String!, $limit: Int) { query(sql: $sql, limit: $limit) {
  columns { name type } rows truncated elapsedMs tables { name datasetId } } }"""
SALES = b"region,amount,day\nnorth,10.5,2024-01-02\nsouth,4,2024-01-03\nnorth,1.5,2024-01-04\n"


def ask(client, token, sql, limit=None):
    return gql(client, QUERY, {"sql": sql, "limit": limit}, token)


def test_a_user_queries_their_datasets_by_name_with_joins_and_aggregates(client, token):
    sales = ingest(client, token, SALES, "sales 2024.csv")
    ingest(client, token, b"region,manager\nnorth,Ada\nsouth,Grace\n", "regions.csv")
    answer = ask(
        client,
        token,
        'SELECT s.region, r.manager, sum(amount) AS total FROM "sales 2024.csv" s '
        'JOIN "regions.csv" r USING (region) GROUP BY ALL ORDER BY total DESC',
    )
    result = answer["data"]["query"]
    assert [c["name"] for c in result["columns"]] == ["region", "manager", "total"]
    assert result["columns"][2]["type"] == "DOUBLE"
    assert result["rows"] == [["north", "Ada", 12.0], ["south", "Grace", 4.0]]
    assert result["truncated"] is False
    assert {"name": "sales 2024.csv", "datasetId": sales["id"]} in result["tables"]
    by_id = ask(client, token, f'SELECT count(*) AS n, min(day) AS first FROM "{sales["id"]}"')["data"]["query"]
    assert by_id["rows"] == [[3, "2024-01-02"]]  # dates come back as ISO strings


def test_rows_are_limited_and_truncation_said(client, token):
    ingest(client, token, b"n\n" + b"".join(f"{i}\n".encode() for i in range(50)), "numbers.csv")
    result = ask(client, token, 'SELECT n FROM "numbers.csv" ORDER BY n', limit=10)["data"]["query"]
    assert len(result["rows"]) == 10 and result["truncated"] is True
    negative = ask(client, token, "SELECT 1", limit=-1)
    assert negative["errors"][0]["extensions"]["code"] == "INVALID_INPUT"


@pytest.mark.parametrize(
    ("sql", "code"),
    [
        ('DROP VIEW "sales.csv"', "INVALID_INPUT"),
        ("CREATE TABLE t AS SELECT 1", "INVALID_INPUT"),
        ("SELECT 1; SELECT 2", "INVALID_INPUT"),
        ("ATTACH '/tmp/other.db'", "INVALID_INPUT"),
        ("INSTALL httpfs", "INVALID_INPUT"),
        ("SELECT * FROM read_csv('/etc/passwd')", "FORBIDDEN"),
        ("SELECT * FROM '/etc/passwd'", "INVALID_INPUT"),  # no file scans at all: an unknown table
        ("COPY (SELECT 1) TO '/tmp/out.csv'", "INVALID_INPUT"),
        ("SELEC 1", "PARSE_ERROR"),
        ('SELECT nope FROM "sales.csv"', "INVALID_INPUT"),
        ("", "INVALID_INPUT"),
    ],
)
def test_anything_but_one_select_over_the_users_data_is_refused(client, token, sql, code):
    ingest(client, token, SALES, "sales.csv")
    answer = ask(client, token, sql)
    assert answer["data"] is None or answer["data"].get("query") is None
    error = answer["errors"][0]
    assert error["extensions"]["code"] == code, error
    if code == "PARSE_ERROR":
        assert "LINE 1" in error["message"] or "syntax error" in error["message"]


def test_another_users_datasets_are_neither_tables_nor_readable_files(client, token, settings):
    theirs = ingest(client, token, SALES, "private.csv")
    other = register(client)["accessToken"]
    result = ask(client, other, "SELECT 1 AS one")["data"]["query"]
    assert result["tables"] == [] and result["rows"] == [[1]]
    by_name = ask(client, other, 'SELECT * FROM "private.csv"')  # not a table of theirs, and no file scan
    assert by_name["data"] is None and by_name["errors"][0]["extensions"]["code"] in ("INVALID_INPUT", "FORBIDDEN")
    path = settings.resolved_data_dir / "datasets" / raw_id(theirs["id"], "Dataset") / "data.parquet"
    assert path.exists()
    stolen = ask(client, other, f"SELECT * FROM read_parquet('{path}')")
    assert stolen["errors"][0]["extensions"]["code"] == "FORBIDDEN"


def test_a_query_past_the_time_limit_is_stopped(tmp_path):
    limits = sql_service.QueryLimits(max_rows=10, timeout_seconds=0.3, memory_mb=256)
    slow = "SELECT count(*) FROM range(1000000000) a, range(1000) b WHERE a.range % 7 = b.range"
    with pytest.raises(sql_service.ServiceError) as stopped:
        sql_service.run_query(sql=slow, datasets=[], data_dir=tmp_path, limits=limits, scratch_root=tmp_path / "s")
    assert "longer than 0.3 s" in stopped.value.message
    assert not list((tmp_path / "s").glob("*"))  # its spill dir is gone


def test_the_newest_version_of_a_shared_name_gets_the_plain_name():
    older, newer = (
        Dataset(id="a", owner_id="u", name="Sales", file_name="x"),
        Dataset(id="b", owner_id="u", name="sales", file_name="y"),
    )
    tables = sql_service.table_names([newer, older])
    assert [(t.name, t.dataset_id) for t in tables] == [("sales", "b"), ("b", "b"), ("a", "a")]
