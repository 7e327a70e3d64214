"""Unit tests of the profile's statistics (services.profiling.statistics) against pandas and scipy on small
arrays, and of the stored-profile model the schema reads: no server, no job."""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from services import dataplane
from services.profiling.statistics import (
    average_ranks,
    categorical_correlations,
    cramers_v,
    duplicate_rows,
    kendall_matrix,
    numeric_correlations,
    time_series_hint,
    usual_step,
)
from services.profiling.stored import StoredProfile


def test_average_ranks_match_pandas_and_leave_missing_values_missing():
    values = np.array([3.0, 1.0, np.nan, 3.0, 2.0])
    ranks = average_ranks(values)
    expected = pd.Series(values).rank(method="average").to_numpy()
    assert np.allclose(ranks[~np.isnan(values)], expected[~np.isnan(values)]) and np.isnan(ranks[2])


def test_pearson_spearman_and_kendall_match_pandas_pairwise_complete():
    rng = np.random.default_rng(1)
    a = rng.normal(size=200)
    b = a * 2 + rng.normal(scale=0.5, size=200)
    b[::17] = np.nan
    c = rng.normal(size=200)
    result = numeric_correlations({"a": a, "b": b, "c": c})
    frame = pd.DataFrame({"a": a, "b": b, "c": c})
    for method in ("pearson", "spearman", "kendall"):
        assert np.allclose(np.array(result[method.upper()], dtype=float), frame.corr(method=method).to_numpy())


def test_ranks_given_and_kendall_on_a_pool_give_the_same_matrices_bit_for_bit():
    """The profile ranks each number column while it is in memory and runs Kendall beside Pearson and Spearman:
    the matrices are those of the plain call, with missing values (the re-ranked pairs) and without."""
    rng = np.random.default_rng(2)
    for rows in (300, 60_000):
        values = {name: rng.normal(size=rows) for name in "abcd"}
        values["b"] = values["a"] * 2 + rng.normal(scale=0.5, size=rows)
        values["c"][::7] = np.nan
        values["d"] = np.round(values["d"], 1)  # ties
        some_ranks = {name: average_ranks(values[name]) for name in ("a", "c")}
        with ThreadPoolExecutor(max_workers=2) as pool:
            kendall = pool.submit(kendall_matrix, values)
            assert numeric_correlations(values, ranks=some_ranks, kendall=kendall) == numeric_correlations(values)


def test_one_numeric_column_has_no_correlations():
    assert numeric_correlations({"a": np.arange(10.0)}) == {}


def test_cramers_v_is_one_for_a_perfect_association_and_near_zero_for_none():
    codes = np.repeat(np.arange(3), 50)
    assert math.isclose(cramers_v(codes, 3, codes, 3), 1.0)
    rng = np.random.default_rng(0)
    assert cramers_v(rng.integers(0, 3, 3000), 3, rng.integers(0, 3, 3000), 3) < 0.05
    assert cramers_v(codes, 1, codes, 3) is None  # one level: undefined


def test_categorical_correlations_skip_missing_values():
    city = pa.chunked_array([["a", "b", None, "a", "b", "a"]])
    same = pa.chunked_array([["x", "y", "x", "x", "y", "x"]])
    matrix = categorical_correlations({"city": city, "same": same})
    assert matrix[0][0] == 1.0 and matrix[0][1] == matrix[1][0] and matrix[0][1] > 0.5


def test_a_monotonic_datetime_column_is_a_time_series_with_its_gaps():
    seconds = np.array([0, 60, 120, 180, 600, 660], dtype=float)
    step = usual_step(seconds)
    assert step == 60
    assert time_series_hint("at", seconds, "min", step) == {
        "column": "at",
        "frequency": "min",
        "monotonic": True,
        "gaps": 1,
    }
    assert time_series_hint("at", np.array([0.0, 60.0, 30.0]), None, 30) is None  # not monotonic
    assert usual_step(np.array([5.0, 5.0])) is None


def test_a_stored_profile_keeps_what_the_api_does_not_read_and_refuses_a_wrong_shape():
    stored = {
        "row_count": 2,
        "column_count": 1,
        "missing_cells": 0,
        "missing_cells_ratio": 0.0,
        "duplicate_rows": 0,
        "memory_bytes": 16,
        "generated_at": "2024-01-01T00:00:00+00:00",
        "duration_ms": 1.5,
        "missing_matrix": {"step": 1, "columns": [], "rows": []},
        "columns": [
            {
                "name": "a",
                "semantic_type": "NUMERIC",
                "dtype": "int64",
                "count": 2,
                "null_count": 0,
                "null_ratio": 0.0,
                "distinct_count": 2,
                "is_unique": True,
                "top_values": [],
                "numeric": {"min": 1, "max": 2, "zeros": 0},
            }
        ],
    }
    profile = StoredProfile.model_validate(stored)
    assert profile.columns[0].numeric.max == 2 and profile.alerts == [] and profile.time_series is None
    assert profile.stored() == stored  # written through the model, the file is what it was
    with pytest.raises(ValidationError):
        StoredProfile.model_validate({**stored, "columns": [{"name": "a"}]})


def test_duplicate_rows_by_row_hash_count_what_distinct_counts():
    """NaN equals NaN, null equals null and -0.0 equals 0.0, as DISTINCT says; rows sharing a hash are compared
    whole, so the count is DISTINCT's own."""
    rng = np.random.default_rng(3)
    rows = 4000
    numbers = rng.integers(0, 4, rows).astype(float)
    numbers[rng.random(rows) < 0.1] = np.nan
    numbers[rng.random(rows) < 0.1] = -0.0
    table = pa.table(
        {
            "x": pa.array(numbers, mask=rng.random(rows) < 0.1),
            "word": pa.array(rng.choice(["a", "b", "c", None], rows)),
            "n": rng.integers(0, 20, rows),
        }
    )
    connection = duckdb.connect()
    connection.register("profiled", table)
    distinct = connection.execute("SELECT count(*) FROM (SELECT DISTINCT * FROM profiled)").fetchall()[0][0]
    assert duplicate_rows(connection, table.column_names, rows) == (rows - distinct, True)
    assert rows - distinct > 0
    connection.register("profiled", pa.table({"i": np.arange(rows)}))
    assert duplicate_rows(connection, ["i"], rows) == (0, True)


def test_parquet_batches_return_every_row_in_order_within_the_batch_size(tmp_path):
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"i": np.arange(1000), "s": [str(i) for i in range(1000)]}), path, row_group_size=300)
    batches = list(dataplane.batches(pq.ParquetFile(path), batch_rows=128, columns=["i"]))
    assert max(batch.num_rows for batch in batches) <= 128 and batches[0].schema.names == ["i"]
    assert pa.Table.from_batches(batches).column("i").to_pylist() == list(range(1000))
