"""The engine path (a column too large for memory, profiled inside DuckDB) gives the in-memory path's exact
figures, and estimates only what it says it estimates. Pure functions on files made here: no server."""

from __future__ import annotations

import math

import pyarrow as pa
import pyarrow.parquet as pq

from services.profiling.profile import profile_parquet
from tests.profiling.test_profiles import real_looking_frame

# QUANTILES in `approximations`: the quartiles, what derives from them (the outlier count, the alerts on it, and
# the Freedman–Diaconis bin count of a number's histogram)
ESTIMATED = {"p5", "q1", "median", "q3", "p95", "iqr", "mad", "outliers", "histogram", "alerts"}
TYPES = {"region": "CATEGORICAL", "tier": "CATEGORICAL", "comment": "TEXT", "when": "DATETIME"}


def same(a, b, path=""):
    if isinstance(a, dict):
        for key in a:
            if key not in ("top_values", "duration_ms", "generated_at", "sampling") and key not in ESTIMATED:
                same(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for index, (x, y) in enumerate(zip(a, b, strict=True)):
            same(x, y, f"{path}[{index}]")
    elif isinstance(a, float) and b is not None:
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9), (path, a, b)
    else:
        assert a == b, (path, a, b)


def test_engine_path_matches_the_in_memory_path_on_every_exact_figure(tmp_path):
    table = pa.Table.from_pandas(real_looking_frame(3000, seed=5), preserve_index=False)
    path = tmp_path / "data.parquet"
    pq.write_table(table, path, row_group_size=700)
    meta = [{"name": name, "semantic_type": TYPES.get(name, "NUMERIC"), "dtype": "x"} for name in table.column_names]
    in_memory = profile_parquet(path, meta, memory_mb=2048, scratch_dir=tmp_path / "a")
    engine = profile_parquet(path, meta, memory_mb=0, scratch_dir=tmp_path / "b")  # no column fits: all in DuckDB
    assert in_memory["sampling"]["approximations"] == [] and engine["sampling"]["in_memory_columns"] == []
    same(in_memory, engine)
    estimated = {(a["figure"], a["column"]) for a in engine["sampling"]["approximations"]}
    assert {("QUANTILES", name) for name in ("income", "spend", "age", "visits")} == estimated
    for column, exact in zip(engine["columns"], in_memory["columns"], strict=True):
        if column["numeric"] and column["numeric"].get("median") is not None:
            assert abs(column["numeric"]["median"] - exact["numeric"]["median"]) <= 0.05 * exact["numeric"]["iqr"]
        assert {v["count"] for v in column["top_values"][:3]} == {v["count"] for v in exact["top_values"][:3]}
        if column["histogram"]:
            assert sum(column["histogram"]["counts"]) == sum(exact["histogram"]["counts"])
    kinds = {(a["kind"], a["column"]) for a in engine["alerts"] if a["kind"] != "OUTLIERS"}
    assert kinds == {(a["kind"], a["column"]) for a in in_memory["alerts"] if a["kind"] != "OUTLIERS"}


def test_engine_path_profiles_an_all_null_column_a_column_named_x_and_an_empty_table(tmp_path):
    table = pa.table(
        {
            "x": pa.array([0.5 * i for i in range(60)]),
            "i": pa.array(list(range(60))),
            "nothing": pa.array([None] * 60, pa.float64()),
            "never": pa.array([None] * 60, pa.timestamp("s")),
            "blank": pa.array([None] * 60, pa.string()),
        }
    )
    meta = [
        {
            "name": name,
            "semantic_type": "DATETIME" if name == "never" else "TEXT" if name == "blank" else "NUMERIC",
            "dtype": "x",
        }
        for name in table.column_names
    ]
    for rows in (60, 0):
        path = tmp_path / f"data_{rows}.parquet"
        pq.write_table(table.slice(0, rows), path)
        in_memory = profile_parquet(path, meta, memory_mb=2048, scratch_dir=tmp_path / f"a{rows}")
        engine = profile_parquet(path, meta, memory_mb=0, scratch_dir=tmp_path / f"b{rows}")
        assert engine["sampling"]["in_memory_columns"] == [] and engine["row_count"] == rows
        same(in_memory, engine)
        assert [c["count"] for c in engine["columns"]] == [rows, rows, 0, 0, 0]
