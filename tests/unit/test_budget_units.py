"""Pure pieces of staying within the job budget: pandas' sample drawn while streaming, pipeline checks on a
Parquet file equal to the same checks on the table, and the need read from DuckDB's out-of-memory message."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from services import dataplane
from services.errors import ErrorCode
from services.pipelines.checks import run_checks
from services.pipelines.config import PipelineCheck


@pytest.fixture
def table() -> pa.Table:
    rng = np.random.default_rng(3)
    rows = 20_000
    frame = pd.DataFrame(
        {
            "id": rng.integers(0, 15_000, rows).astype(float),
            "amount": np.where(rng.random(rows) < 0.05, np.nan, rng.normal(10, 5, rows).round(2)),
            "status": rng.choice(["paid", "lost", "refunded", None], rows),
            "when": pd.date_range("2024-01-01", periods=rows, freq="h"),
            "flag": rng.random(rows) < 0.5,
        }
    )
    frame.loc[::97, "id"] = np.nan
    return pa.Table.from_pandas(frame, preserve_index=False)


@pytest.mark.parametrize(("size", "batch"), [(2000, 3000), (1000, 65_536), (50_000, 777)])
def test_a_streamed_sample_is_the_rows_pandas_would_sample(tmp_path, table, size, batch):
    path = tmp_path / "t.parquet"
    pq.write_table(table, path, row_group_size=4096)
    names = ["id", "status", "when", "flag"]
    expected = table.select(names).to_pandas(date_as_object=False).sample(min(size, table.num_rows), random_state=0)
    pd.testing.assert_frame_equal(dataplane.sampled_frame(path, names, size, seed=0, batch_rows=batch), expected)


CHECKS = [
    {"column": "id", "unique": True, "notNull": True, "onFail": "DROP_ROWS"},
    {"column": "amount", "min": 0, "max": 20, "onFail": "DROP_ROWS"},
    {"column": "status", "allowedValues": ["paid", "refunded"], "onFail": "WARN"},
    {"column": "status", "pattern": "[a-z]+", "maxNullRatio": 0.5, "onFail": "WARN"},
    {"column": "missing", "notNull": True, "onFail": "WARN"},
    {"minRows": 10, "maxRows": 1_000_000},
]


def test_checks_on_a_file_give_what_they_give_on_the_table(tmp_path, table):
    checks = [PipelineCheck.model_validate(c) for c in CHECKS]
    types = {"id": "NUMERIC", "amount": "NUMERIC", "status": "CATEGORICAL"}
    in_memory, expected = run_checks(table, checks, types, lambda *_: None)
    path = tmp_path / "out.parquet"
    pq.write_table(table, path, row_group_size=3000)
    logged: list[str] = []
    kept, results = run_checks(
        path, checks, types, lambda message, level: logged.append(message), scratch_dir=tmp_path / "scratch"
    )
    assert results == expected
    assert {(r["column"], r["rule"]): r["failing_rows"] for r in results}[("id", "unique")] > 0
    assert kept != path and pq.read_table(kept).equals(in_memory)
    assert any("Dropped" in line for line in logged)


def test_the_need_is_read_from_duckdbs_message():
    cause = RuntimeError("Out of Memory Error: failed to allocate data of size 16.0 MiB (48.0 MiB/61.0 MiB used)")
    assert dataplane.engine_need_mb(cause) == 64.0
    error = dataplane.over_budget(100, "Profiling this dataset", cause)
    assert error.code == ErrorCode.OVER_BUDGET and error.details == {"memory_mb": 100, "needed_mb": 107}
    assert "budget of 100 MB (ASSAY_JOB_MEMORY_MB)" in error.message and "about 107 MB" in error.message
    assert dataplane.engine_need_mb(RuntimeError("something else")) is None
