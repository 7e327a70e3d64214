"""When DuckDB cannot hold an exact count even on one thread, the profile takes the stated estimate instead of
failing: here the engine may not spill at all and has 24 MB, and 300,000 distinct keys do not fit a hash table."""

from __future__ import annotations

import duckdb
import pyarrow as pa

from services.profiling.large_columns import LargeColumn, on_fewer_threads

ROWS = 300_000


def starved_engine() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    connection.execute("SET temp_directory = ''")  # no spilling
    connection.execute("SET memory_limit = '24MB'")
    connection.execute("SET threads = 2")
    connection.register("profiled", pa.table({"key": [f"customer-{i:030d}" for i in range(ROWS)]}))
    return connection


def test_exact_levels_that_do_not_fit_fall_back_to_hyperloglog_and_say_so():
    connection = starved_engine()
    # the engine's size is overstated, so the profile believes the levels fit and tries the exact count
    large = LargeColumn(connection, "key", pa.string(), ROWS, engine_bytes=2**30)
    found, _ = large.text()
    assert abs(found["distinct"] / ROWS - 1) <= 0.08 and found["count"] == ROWS
    assert [(a["figure"], a["method"]) for a in large.approximations] == [
        ("DISTINCT_COUNT", "HYPERLOGLOG"),
        ("TOP_VALUES", "SAMPLE"),
    ]
    # the query that gave up was retried on one thread, and the connection is back on two
    assert connection.execute("SELECT current_setting('threads')").fetchall()[0][0] == 2


def test_a_query_that_fits_runs_once_on_the_threads_it_has():
    connection = starved_engine()
    assert on_fewer_threads(connection, "SELECT count(*) FROM profiled") == [(ROWS,)]
    assert connection.execute("SELECT current_setting('threads')").fetchall()[0][0] == 2
