"""Peak memory and time of validating a table with a check suite: the VALIDATE job's way (every rule inside DuckDB,
held to the job's budget) next to the anchor, the same checks in pandas on the whole table, in the same run.

Each side is a fresh Python process whose RSS is sampled from outside (psutil on its pid, every 20 ms).

Usage: .venv/bin/python bench/validation.py [ROWS] [BUDGET_MB]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.harness import run_watching_rss

CHECKS = [
    {"min_rows": 1000},
    {"column": "customer", "unique": True, "not_null": True},
    {"column": "amount", "min": 0, "max": 1000},
    {"column": "tier", "allowed_values": ["gold", "silver", "bronze"]},
    {"column": "note", "max_null_ratio": 0.2},
    {"column": "amount", "drift": {}},
]

DUCKDB = """
import json, sys, time
from pathlib import Path
sys.path.insert(0, {root!r})
from services import dataplane
from services.checks.evaluate import Reference, evaluate_checks
from services.pipelines.config.checks import PipelineCheck
began = time.perf_counter()
connection = dataplane.connect(memory_mb={budget}, scratch_dir=Path({scratch!r}))
source = dataplane.parquet_source(Path({path!r}), row_numbers=True)
types = {{"customer": "IDENTIFIER", "amount": "NUMERIC", "tier": "CATEGORICAL", "note": "TEXT"}}
results = evaluate_checks(connection, source, [PipelineCheck.model_validate(c) for c in {checks!r}],
semantic_types=types, row_numbers=True,
                          reference=Reference(dataplane.parquet_source(Path({path!r})), types))
print(json.dumps({{"seconds": time.perf_counter() - began, "failed": sum(not r.passed for r in results)}}))
"""

PANDAS = """
import json, sys, time
import pandas as pd
from scipy import stats
began = time.perf_counter()
frame = pd.read_parquet({path!r})
failed = 0
failed += len(frame) < 1000
failed += bool(frame["customer"].duplicated().any() or frame["customer"].isna().any())
failed += bool(((frame["amount"] < 0) | (frame["amount"] > 1000)).any())
failed += bool((~frame["tier"].isin(["gold", "silver", "bronze"]) & frame["tier"].notna()).any())
failed += bool(frame["note"].isna().mean() > 0.2)
reference = frame["amount"].sample(50_000, random_state=42)
current = frame["amount"].sample(50_000, random_state=42)
failed += bool(stats.wasserstein_distance(reference, current) / reference.std() >= 0.1)
print(json.dumps({{"seconds": time.perf_counter() - began, "failed": failed}}))
"""


def make_table(path: Path, rows: int) -> int:
    rng = np.random.default_rng(1)
    notes = np.where(
        rng.random(rows) < 0.1, None, np.char.add("note on order ", rng.integers(0, 5000, rows).astype(str))
    )
    table = pa.table(
        {
            "customer": pa.array([f"customer-of-the-northern-region-{i:012d}" for i in rng.permutation(rows)]),
            "amount": rng.lognormal(3, 1, rows),
            "tier": rng.choice(["gold", "silver", "bronze"], rows),
            "note": pa.array(notes.tolist()),
        }
    )
    pq.write_table(table, path, row_group_size=128 * 1024)
    return table.nbytes


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    budget = int(sys.argv[2]) if len(sys.argv) > 2 else 128
    from bench.calibrate import machine_line

    print(machine_line())
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "orders.parquet"
        size = make_table(path, rows)
        print(
            f"{rows:,} rows, {size / 2**20:.0f} MB in Arrow, {path.stat().st_size / 2**20:.0f} MB Parquet; "
            f"{len(CHECKS)} checks; DuckDB budget {budget} MB"
        )
        duckdb = DUCKDB.format(
            root=str(ROOT), budget=budget, scratch=str(Path(folder) / "scratch"), path=str(path), checks=CHECKS
        )
        engine, engine_peak = run_watching_rss([sys.executable, "-c", duckdb])
        anchor, anchor_peak = run_watching_rss([sys.executable, "-c", PANDAS.format(path=str(path))])
    print("| way | seconds | peak RSS | failed checks |")
    print("| --- | --- | --- | --- |")
    print(
        f"| VALIDATE (DuckDB, {budget} MB budget) | {engine['seconds']:.2f} | {engine_peak / 2**20:.0f} MB | "
        f"{engine['failed']} |"
    )
    print(
        f"| anchor: pandas, whole table | {anchor['seconds']:.2f} | {anchor_peak / 2**20:.0f} MB | {anchor['failed']} |"
    )
    print(f"memory: {engine_peak / anchor_peak:.2f}x the anchor's; time: {engine['seconds'] / anchor['seconds']:.2f}x")


if __name__ == "__main__":
    main()
