"""The batch-by-batch preprocessing engine gives the whole-table output: every step, and chains of them, on
generated data with gaps, repeats and dates, run both ways and compared (floats to rounding)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from services.errors import ServiceError
from services.ingest.parquet import write_parquet
from services.preprocessing.engine import batch_rows
from services.preprocessing.job import preprocess_table

pytestmark = pytest.mark.one_database(reason="the streaming preprocessing engine")

ROWS = 5_000


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    rng = np.random.default_rng(5)
    frame = pd.DataFrame(
        {
            "amount": np.where(rng.random(ROWS) < 0.1, np.nan, rng.gamma(2.0, 50.0, ROWS)),
            "count": rng.integers(0, 40, ROWS),
            "ratio": np.where(rng.random(ROWS) < 0.05, np.nan, rng.normal(0, 1, ROWS)),
            "city": pd.Series(rng.choice([f"city{i:02d}" for i in range(35)] + [None], ROWS), dtype=object),
            "tier": pd.Series(rng.choice(["gold", "silver", "bronze", None], ROWS), dtype=object),
            "when": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 900, ROWS), unit="D"),
            "code": pd.Series(rng.choice(["1", "2", "x", "3.5"], ROWS), dtype=object),
        }
    )
    frame.loc[rng.choice(ROWS, 300, replace=False), "count"] = 0
    frame = pd.concat([frame, frame.iloc[:400]], ignore_index=True)  # exact repeats for dropDuplicates
    path = tmp_path_factory.mktemp("engine") / "source.parquet"
    write_parquet(pa.Table.from_pandas(frame, preserve_index=False), path)
    return path


def both_ways(source, tmp_path, steps):
    whole = preprocess_table(
        source, tmp_path / "whole.parquet", steps, memory_mb=2048, scratch_dir=tmp_path, stream=False
    )
    streamed = preprocess_table(
        source, tmp_path / "streamed.parquet", steps, memory_mb=4, scratch_dir=tmp_path, stream=True
    )
    return whole, streamed, pq.read_table(tmp_path / "whole.parquet"), pq.read_table(tmp_path / "streamed.parquet")


def same_recipe(left, right):
    if isinstance(left, dict):
        assert left.keys() == right.keys()
        for key in left:
            if key != "_state":  # a pickled imputer: compared through its output instead
                same_recipe(left[key], right[key])
    elif isinstance(left, list):
        assert len(left) == len(right)
        for a, b in zip(left, right, strict=True):
            same_recipe(a, b)
    elif isinstance(left, float):
        assert right == pytest.approx(left, rel=1e-9, abs=1e-9)
    else:
        assert left == right


@pytest.mark.parametrize(
    "steps",
    [
        [("impute", {"strategy": "MEAN", "columns": ["amount", "ratio"]})],
        [("impute", {"strategy": "MEDIAN", "columns": ["amount", "ratio"]})],
        [("impute", {"strategy": "MODE", "columns": ["city", "tier", "count"]})],
        [("impute", {"strategy": "CONSTANT", "columns": ["tier"], "value": "none"})],
        [("impute", {"strategy": "KNN", "columns": ["amount", "ratio", "count"]})],
        [("impute", {"strategy": "ITERATIVE", "columns": ["amount", "ratio", "count"]})],
        [("impute", {"strategy": "DROP_ROWS", "columns": ["amount"]})],
        [("encode", {"strategy": "ONE_HOT", "columns": ["city", "tier"]})],
        [
            ("encode", {"strategy": "LABEL", "columns": ["city"]}),
            ("encode", {"strategy": "ORDINAL", "columns": ["tier"]}),
        ],
        [("scale", {"strategy": "STANDARD", "columns": ["amount", "count"]})],
        [("scale", {"strategy": "MINMAX", "columns": ["amount", "ratio"]})],
        [("scale", {"strategy": "ROBUST", "columns": ["amount", "ratio"]})],
        [("clipOutliers", {"columns": ["amount", "ratio"], "factor": 1.5})],
        [("cast", {"column": "code", "to": "NUMERIC", "on_error": "NULL"})],
        [
            ("datetimeFeatures", {"columns": ["when"], "parts": ["year", "month", "weekday"]}),
            ("dropColumns", {"columns": ["when"]}),
            ("renameColumns", {"mapping": {"ratio": "r"}}),
        ],
        [("dropDuplicates", {})],
        # fills in row order: DuckDB over a scratch copy, between streamed steps
        [("impute", {"strategy": "FFILL", "columns": ["amount", "city"]})],
        [("impute", {"strategy": "BFILL", "columns": ["tier"], "order_by": "when"})],
        [
            ("scale", {"strategy": "STANDARD", "columns": ["ratio"]}),
            ("impute", {"strategy": "INTERPOLATE", "columns": ["ratio", "amount"], "order_by": "when"}),
            ("impute", {"strategy": "FFILL", "columns": ["tier"]}),
            ("clipOutliers", {"columns": ["amount"]}),
        ],
        [("dropDuplicates", {"columns": ["tier", "count"]})],
        # the 4-step cleaning, and fits that depend on the steps before them
        [
            ("impute", {"strategy": "MEDIAN", "columns": ["amount"]}),
            ("encode", {"strategy": "ONE_HOT", "columns": ["tier"]}),
            ("scale", {"strategy": "STANDARD", "columns": ["amount"]}),
            ("clipOutliers", {"columns": ["amount"]}),
        ],
        [
            ("impute", {"strategy": "DROP_ROWS", "columns": ["ratio"]}),
            ("dropDuplicates", {"columns": ["city"]}),
            ("impute", {"strategy": "MEAN", "columns": ["amount"]}),
            ("scale", {"strategy": "ROBUST", "columns": ["amount"]}),
        ],
    ],
    ids=lambda steps: "+".join(f"{kind}-{params.get('strategy', '')}" for kind, params in steps),
)
def test_streamed_output_is_the_whole_table_output(source, tmp_path, steps):
    assert batch_rows(source, 4) < ROWS  # several batches, so the streamed path really streams
    whole, streamed, expected, got = both_ways(source, tmp_path, steps)
    assert streamed["row_count"] == whole["row_count"] == expected.num_rows == got.num_rows
    assert got.column_names == expected.column_names
    same_recipe(whole["recipe"], streamed["recipe"])
    assert [(c["name"], c["null_count"]) for c in streamed["columns"]] == [
        (c["name"], c["null_count"]) for c in whole["columns"]
    ]
    left, right = expected.to_pandas(), got.to_pandas()
    for name in left.columns:
        if pd.api.types.is_float_dtype(left[name]) or pd.api.types.is_float_dtype(right[name]):
            np.testing.assert_allclose(
                right[name].astype(float), left[name].astype(float), rtol=1e-9, atol=1e-9, err_msg=name
            )
        else:
            assert right[name].tolist() == left[name].tolist(), name


def test_a_failing_cast_fails_before_anything_is_written(source, tmp_path):
    with pytest.raises(ServiceError) as refused:
        preprocess_table(
            source,
            tmp_path / "out.parquet",
            [("cast", {"column": "code", "to": "NUMERIC"})],
            memory_mb=4,
            scratch_dir=tmp_path,
            stream=True,
        )
    assert "cannot be cast to NUMERIC" in refused.value.message
    assert not list(tmp_path.iterdir())
