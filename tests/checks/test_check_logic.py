"""The pure parts: a suite drafted from a profile, and checks evaluated in DuckDB on a small Parquet file."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy import stats

from services import dataplane
from services.checks.evaluate import DRIFT_SAMPLE_ROWS, Reference, evaluate_checks
from services.checks.suggest import suggest_checks
from services.pipelines.config.checks import DriftRule, PipelineCheck

PROFILE = {
    "row_count": 1000,
    "columns": [
        {
            "name": "id",
            "semantic_type": "IDENTIFIER",
            "null_ratio": 0.0,
            "distinct_count": 1000,
            "count": 1000,
            "is_unique": True,
            "top_values": [],
            "numeric": None,
        },
        {
            "name": "price",
            "semantic_type": "NUMERIC",
            "null_ratio": 0.1,
            "distinct_count": 800,
            "count": 900,
            "is_unique": False,
            "top_values": [],
            "numeric": {"min": 2.0, "max": 98.0, "p5": 10.0, "p95": 90.0},
        },
        {
            "name": "delta",
            "semantic_type": "NUMERIC",
            "null_ratio": 0.0,
            "distinct_count": 500,
            "count": 1000,
            "is_unique": False,
            "top_values": [],
            "numeric": {"min": -4.0, "max": 6.0, "p5": -3.0, "p95": 5.0},
        },
        {
            "name": "plan",
            "semantic_type": "CATEGORICAL",
            "null_ratio": 0.0,
            "distinct_count": 2,
            "count": 1000,
            "is_unique": False,
            "top_values": [{"value": "pro", "count": 600}, {"value": "basic", "count": 400}],
        },
        {
            "name": "flag",
            "semantic_type": "BOOLEAN",
            "null_ratio": 0.0,
            "distinct_count": 2,
            "count": 1000,
            "is_unique": False,
            "top_values": [{"value": True, "count": 600}, {"value": False, "count": 400}],
        },
        {
            "name": "blank",
            "semantic_type": "EMPTY",
            "null_ratio": 1.0,
            "distinct_count": 0,
            "count": 0,
            "is_unique": False,
            "top_values": [],
        },
    ],
}


def test_a_draft_holds_on_the_profiled_figures_with_the_stated_margins():
    checks = {check.column: check for check in suggest_checks(PROFILE)}
    assert (checks[None].min_rows, checks[None].max_rows) == (500, 1500)
    assert checks["id"].unique and checks["id"].not_null and checks["id"].drift is None  # an id does not drift
    price = checks["price"]
    assert price.max_null_ratio == 0.15 and price.not_null is None
    assert (price.min, price.max) == (0.0, 106.0)  # 8 = 10% of the p5..p95 spread; a non-negative column stays >= 0
    assert price.drift == DriftRule() and price.semantic_type == "NUMERIC"
    assert (checks["delta"].min, checks["delta"].max) == (-4.8, 6.8)
    assert checks["plan"].allowed_values == ["basic", "pro"]
    assert checks["flag"].allowed_values == ["false", "true"]
    assert checks["blank"].rules == ["semantic_type"]
    estimated = {**PROFILE, "sampling": {"approximations": [{"figure": "IS_UNIQUE", "column": "id"}]}}
    assert {check.column: check for check in suggest_checks(estimated)}["id"].unique is None


@pytest.fixture
def connection(tmp_path):
    connection = dataplane.connect(memory_mb=256, scratch_dir=tmp_path / "scratch")
    yield connection
    connection.close()


def parquet(path, table: pa.Table) -> str:
    pq.write_table(table, path)
    return dataplane.parquet_source(path, row_numbers=True)


def test_each_rule_reports_what_it_observed_and_a_sample_of_failing_rows(tmp_path, connection):
    source = parquet(
        tmp_path / "t.parquet",
        pa.table({"id": [1, 2, 2, 4], "price": [1.5, None, float("nan"), 50.0], "code": ["A1", "B2", "zz", None]}),
    )
    checks = [
        PipelineCheck(column="id", unique=True),
        PipelineCheck(column="price", not_null=True, min=2.0),
        PipelineCheck(column="price", max_null_ratio=0.25, on_fail="WARN"),
        PipelineCheck(column="code", pattern="[A-Z][0-9]", allowed_values=["A1", "B2"]),
        PipelineCheck(min_rows=5),
        PipelineCheck(column="gone", not_null=True),
    ]
    found = evaluate_checks(connection, source, checks, semantic_types={}, row_numbers=True)
    results = {(r.column, r.rule): r for r in found}
    unique = results[("id", "unique")]
    assert (unique.passed, unique.observed, unique.examples) == (False, 1, [2])
    assert sorted(row["_row"] for row in unique.sample) == [1, 2]
    missing = results[("price", "not_null")]
    assert (missing.failing_rows, missing.examples) == (2, [])  # NaN counts as missing, as everywhere in Assay
    low = results[("price", "min")]
    assert (low.passed, low.observed, low.examples, low.sample) == (
        False,
        1.5,
        [1.5],
        [{"_row": 0, "id": 1, "price": 1.5, "code": "A1"}],
    )
    ratio = results[("price", "max_null_ratio")]
    assert (ratio.passed, ratio.observed, ratio.on_fail) == (False, 0.5, "WARN")
    assert results[("code", "pattern")].examples == ["zz"] and results[("code", "pattern")].failing_rows == 1
    assert results[("code", "allowed_values")].examples == ["zz"]
    assert (results[(None, "min_rows")].passed, results[(None, "min_rows")].observed) == (False, 4)
    assert results[("gone", "column_exists")].passed is False


def test_drift_is_scipys_statistic_on_samples_of_a_stated_size(tmp_path, connection):
    import numpy as np

    rng = np.random.default_rng(3)
    before, after = rng.normal(0, 1, 800), rng.normal(0.3, 1, 600)
    reference = Reference(parquet(tmp_path / "ref.parquet", pa.table({"x": before})), {"x": "NUMERIC"})
    source = parquet(tmp_path / "cur.parquet", pa.table({"x": after}))
    [result] = evaluate_checks(
        connection,
        source,
        [PipelineCheck(column="x", drift=DriftRule())],
        semantic_types={"x": "NUMERIC"},
        reference=reference,
    )
    expected = stats.ks_2samp(before, after)
    assert result.drift.method == "KS" and result.drift.p_value == pytest.approx(expected.pvalue, rel=1e-9)
    assert result.drift.statistic == pytest.approx(expected.statistic) and result.passed == bool(
        expected.pvalue >= 0.05
    )
    assert (result.drift.reference_count, result.drift.current_count) == (800, 600)

    large = Reference(
        parquet(tmp_path / "big.parquet", pa.table({"x": rng.normal(0, 1, DRIFT_SAMPLE_ROWS + 5000)})), {"x": "NUMERIC"}
    )
    [sampled] = evaluate_checks(
        connection,
        source,
        [PipelineCheck(column="x", drift=DriftRule(method="WASSERSTEIN"))],
        semantic_types={"x": "NUMERIC"},
        reference=large,
    )
    assert (
        sampled.drift.reference_count == DRIFT_SAMPLE_ROWS and sampled.drift.reference_rows == DRIFT_SAMPLE_ROWS + 5000
    )
