"""The sandbox of `query(sql)`, probed the way an attacker would: files by glob, by a list, by `..` from an allowed
path or from the query's own temp dir, another user's Parquet copy through a nested query(), settings, extensions,
secrets; and answers too large for the server's memory. Each is refused with its code and nothing leaks or is
written (docs/security.md, "SQL written by users")."""

from __future__ import annotations

from pathlib import Path

from schema.common import raw_id
from services.datasets import sql as sql_service
from tests.support.graphql import gql, ingest, register

QUERY = """query($sql: String!, $limit: Int) { query(sql: $sql, limit: $limit) {
  columns { name } rows truncated tables { name datasetId } } }"""
SALES = b"region,amount\nnorth,10.5\nsouth,4\n"


def ask(client, token, sql, limit=None):
    return gql(client, QUERY, {"sql": sql, "limit": limit}, token)


def code_of(answer) -> str:
    assert answer["data"] is None, answer
    return answer["errors"][0]["extensions"]["code"]


def test_no_query_reaches_another_users_files_or_any_file_setting_or_extension(client, token, settings, tmp_path):
    theirs = ingest(client, token, b"secret\nhunter2\n", "private.csv")
    me = register(client)["accessToken"]
    mine = ingest(client, me, SALES, "sales.csv")
    datasets = settings.resolved_data_dir / "datasets"
    their_path = datasets / raw_id(theirs["id"], "Dataset") / "data.parquet"
    my_path = datasets / raw_id(mine["id"], "Dataset") / "data.parquet"
    outside = tmp_path / "written.csv"
    refused = {
        # listing the data dir would reveal every user's dataset ids
        f"SELECT * FROM glob('{datasets}/*')": "FORBIDDEN",
        f"SELECT * FROM read_parquet('{datasets}/*/data.parquet')": "FORBIDDEN",
        f"SELECT * FROM read_parquet(['{my_path}', '{their_path}'])": "FORBIDDEN",
        f"SELECT * FROM read_parquet('{my_path}/../../{their_path.parent.name}/data.parquet')": "FORBIDDEN",
        # the query's own temp dir is readable (DuckDB allows it), but not as a way out
        f"SELECT * FROM read_parquet(current_setting('temp_directory') || '/../../datasets/{their_path.parent.name}"
        "/data.parquet')": "FORBIDDEN",
        f"SELECT * FROM query('SELECT * FROM read_parquet(''{their_path}'')')": "FORBIDDEN",
        f"SELECT * FROM query('COPY (SELECT 1) TO ''{outside}''')": "INVALID_INPUT",
        "SELECT * FROM read_text('/etc/passwd')": "FORBIDDEN",
        "SELECT * FROM read_blob('/etc/hostname')": "FORBIDDEN",
        "SELECT * FROM read_csv('https://example.com/data.csv')": "FORBIDDEN",
        "SELECT * FROM duckdb_secrets()": "FORBIDDEN",
        "SELECT * FROM sqlite_scan('other.db', 't')": "INVALID_INPUT",  # extensions are never loaded
        "LOAD httpfs": "INVALID_INPUT",
        "SET enable_external_access = true": "INVALID_INPUT",
        "RESET lock_configuration": "INVALID_INPUT",
        "PRAGMA enable_profiling": "INVALID_INPUT",
        "EXPLAIN ANALYZE SELECT 1": "INVALID_INPUT",
        f"EXPORT DATABASE '{tmp_path}'": "INVALID_INPUT",
        "INSERT INTO \"sales.csv\" VALUES ('east', 1)": "INVALID_INPUT",
    }
    for sql, code in refused.items():
        assert code_of(ask(client, me, sql)) == code, sql
    assert not outside.exists() and not list(tmp_path.glob("*.parquet"))
    # what the sandbox leaves is the user's own tables, unchanged
    own = ask(client, me, 'SELECT region, amount FROM "sales.csv" ORDER BY region')["data"]["query"]
    assert own["rows"] == [["north", 10.5], ["south", 4.0]]
    assert {t["datasetId"] for t in own["tables"]} == {mine["id"]}
    assert ask(client, token, 'SELECT * FROM "private.csv"')["data"]["query"]["rows"] == [["hunter2"]]


def test_a_dataset_named_like_another_datasets_id_leaves_both_queryable(client, token):
    first = ingest(client, token, SALES, "sales.csv")
    second = ingest(client, token, b"n\n1\n2\n3\n", "numbers.csv", name=first["id"])
    assert second["name"] == first["id"]
    # the id wins its name: it is what a client holds; the second dataset stays reachable by its own id
    by_first = ask(client, token, f'SELECT count(*) FROM "{first["id"]}"')["data"]["query"]
    assert by_first["rows"] == [[2]]
    assert ask(client, token, f'SELECT sum(n) FROM "{second["id"]}"')["data"]["query"]["rows"] == [[6]]


def test_an_answer_heavier_than_the_result_limit_is_refused_not_built(client, token):
    # 20 rows within the row limit, but 20 x 4 MB of text: past MAX_RESULT_MB (64 MB)
    heavy = ask(client, token, "SELECT repeat('x', 4000000) AS big FROM range(20)", limit=100)
    assert code_of(heavy) == "PAYLOAD_TOO_LARGE"
    assert f"{sql_service.MAX_RESULT_MB} MB" in heavy["errors"][0]["message"]
    light = ask(client, token, "SELECT repeat('x', 1000) AS big FROM range(500)", limit=1000)["data"]["query"]
    assert len(light["rows"]) == 500 and light["truncated"] is False


def test_a_query_without_a_scratch_root_spills_to_a_private_dir_it_removes(tmp_path):
    """DuckDB lets a query read its temp dir: never the process's shared default (./.tmp)."""
    limits = sql_service.QueryLimits(max_rows=10, timeout_seconds=5, memory_mb=128)
    found = sql_service.run_query(
        sql="SELECT current_setting('temp_directory')", datasets=[], data_dir=tmp_path, limits=limits
    )
    private = found.rows[0][0]
    assert "/sql-" in private and not private.endswith(".tmp")
    assert not Path(private).exists()
