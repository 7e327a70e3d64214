"""A validation of a table larger than the job's memory budget: every rule runs inside DuckDB (spilling if it
must), drift on samples of a stated size; the counts equal the exact ones computed on the same data."""

from __future__ import annotations

import io

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from services.checks.evaluate import DRIFT_SAMPLE_ROWS
from tests.checks.operations import create_suite, validate
from tests.support.graphql import ingest
from tests.support.settings import make_settings

BUDGET_MB = 64
ROWS = 1_000_000


@pytest.fixture
def settings(tmp_path):
    return make_settings(tmp_path, job_memory_mb=BUDGET_MB)


@pytest.mark.slow  # a memory-budget run over a generated million-row table (docs/testing.md)
def test_a_table_larger_than_the_budget_is_validated_exactly(client, token):
    rng = np.random.default_rng(5)
    customers = np.array(
        [f"customer-of-the-northern-sales-region-{i:012d}" for i in rng.permutation(ROWS)], dtype=object
    )
    customers[ROWS - 1] = customers[0]  # one repeated value among a million
    amount = rng.lognormal(3, 1, ROWS)
    table = pa.table(
        {
            "customer": customers,
            "amount": amount,
            "tier": rng.choice(["gold", "silver", "bronze"], ROWS, p=[0.2, 0.3, 0.5]),
        }
    )
    assert table.nbytes > BUDGET_MB * 1024 * 1024  # the table alone would not fit the job's budget
    buffer = io.BytesIO()
    pq.write_table(table, buffer, row_group_size=128 * 1024)
    dataset = ingest(client, token, buffer.getvalue(), "customers.parquet")
    assert dataset["status"] == "READY", dataset["job"]
    suite = create_suite(
        client,
        token,
        dataset["id"],
        [
            {"column": "customer", "unique": True, "notNull": True},
            {"column": "amount", "max": 1000},
            {"column": "tier", "allowedValues": ["gold", "silver"]},
            {"column": "amount", "drift": {}},
            {"minRows": ROWS},
        ],
    )
    assert suite["errors"] == [], suite
    done = validate(client, token, dataset["id"], suite["suite"]["id"])
    assert done["job_status"] == "SUCCEEDED" and done["status"] == "FAILED", done
    by_rule = {(r["column"], r["rule"]): r for r in done["results"]}
    assert by_rule[("customer", "UNIQUE")]["observed"] == 1 and by_rule[("customer", "UNIQUE")]["examples"] == [
        customers[0]
    ]
    assert by_rule[("customer", "NOT_NULL")]["passed"] is True
    assert by_rule[("amount", "MAX")]["failingRows"] == int((amount > 1000).sum())
    assert by_rule[("amount", "MAX")]["observed"] == pytest.approx(amount.max())
    assert by_rule[("tier", "ALLOWED_VALUES")]["failingRows"] == int(
        (table.column("tier").to_numpy() == "bronze").sum()
    )
    drift = by_rule[("amount", "DRIFT")]["drift"]
    assert (drift["referenceCount"], drift["referenceRows"]) == (DRIFT_SAMPLE_ROWS, ROWS)
    assert drift["method"] == "WASSERSTEIN" and drift["drifted"] is False  # the same data against itself
    assert any(f"memory budget {BUDGET_MB:,} MB" in line for line in done["log"])
