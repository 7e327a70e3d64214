"""Timestamps with a fractional second (a CSV parses them to nanoseconds) are profiled, not a failed job:
through the API, and the same on the engine path."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from services.profiling.profile import profile_parquet
from tests.profiling.test_profiles import run_profile
from tests.support.graphql import ingest


def test_a_csv_with_fractional_seconds_is_profiled_through_the_api(client, token):
    lines = ["at,reading"] + [
        f"2024-03-01 10:00:{second:02d}.{250 * (second % 4):03d},{second}" for second in range(40)
    ]
    dataset = ingest(client, token, "\n".join(lines).encode(), "readings.csv")
    profile = run_profile(client, token, dataset["id"])["profile"]
    at = next(c for c in profile["columns"] if c["name"] == "at")
    assert at["count"] == 40 and at["distinctCount"] == 40 and at["isUnique"]
    assert at["datetime"]["min"] == "2024-03-01T10:00:00+00:00" and at["datetime"]["max"] == "2024-03-01T10:00:39+00:00"
    assert at["datetime"]["rangeSeconds"] == 39 and at["datetime"]["inferredFrequency"] == "s"
    assert profile["timeSeries"]["column"] == "at"


def test_the_engine_path_floors_sub_second_timestamps_as_the_in_memory_path_does(tmp_path):
    stamps = pa.array([1_500, -1_500, 61_250, None, 3_600_999], pa.timestamp("ms"))
    path = tmp_path / "data.parquet"
    pq.write_table(pa.table({"at": stamps}), path)
    meta = [{"name": "at", "semantic_type": "DATETIME", "dtype": "datetime64[ms]"}]
    in_memory = profile_parquet(path, meta, memory_mb=2048, scratch_dir=tmp_path / "a")["columns"][0]
    engine = profile_parquet(path, meta, memory_mb=0, scratch_dir=tmp_path / "b")["columns"][0]
    assert in_memory["datetime"] == engine["datetime"]
    assert (
        in_memory["datetime"]["min"] == "1969-12-31T23:59:58+00:00" and in_memory["datetime"]["range_seconds"] == 3602
    )
    # the engine's histogram takes its bin count from approximate quartiles, and orders tied top values by value
    assert sum(in_memory["histogram"]["counts"]) == sum(engine["histogram"]["counts"]) == 4
    assert sorted(v["value"] for v in in_memory["top_values"]) == sorted(v["value"] for v in engine["top_values"])


def test_integers_beyond_float_precision_are_profiled_through_the_api(client, token):
    """Ids and counters past 2**53 (what a float holds exactly) used to fail the whole profile: Arrow's safe cast
    to float refuses them. The figures are floats (as for every number column); the count and order are kept."""
    big = [2**60 + i for i in range(30)] + [-(2**62), 7]
    lines = ["id,reading"] + [f"{value},{index}" for index, value in enumerate(big)]
    dataset = ingest(client, token, "\n".join(lines).encode(), "counters.csv")
    profile = run_profile(client, token, dataset["id"])["profile"]
    ids = next(c for c in profile["columns"] if c["name"] == "id")
    assert ids["count"] == 32 and ids["distinctCount"] == 32
    assert ids["numeric"]["min"] == float(-(2**62)) and ids["numeric"]["max"] == float(2**60 + 29)


def test_both_paths_count_integers_beyond_float_precision_as_integers(tmp_path):
    path = tmp_path / "data.parquet"
    pq.write_table(pa.table({"id": pa.array([2**60 + i for i in range(30)] + [-(2**62), 7], pa.int64())}), path)
    meta = [{"name": "id", "semantic_type": "NUMERIC", "dtype": "int64"}]
    in_memory = profile_parquet(path, meta, memory_mb=2048, scratch_dir=tmp_path / "a")["columns"][0]
    engine = profile_parquet(path, meta, memory_mb=0, scratch_dir=tmp_path / "b")["columns"][0]
    for profile in (in_memory, engine):
        assert profile["distinct_count"] == 32 and profile["is_unique"]
        assert {v["value"] for v in profile["top_values"]} >= {2**60 + 1, -(2**62), 7}
