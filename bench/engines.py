"""DuckDB against polars' streaming engine on the profile's aggregate work, 1M x 20 mixed columns.

Usage: .venv/bin/python bench/engines.py [rows]   (default 1,000,000)
Each (engine, task) runs in its own process, timed inside (warm: the task runs twice, the second is
kept) with the process's peak RSS sampled from outside with psutil. Both engines get every thread.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from calibrate import machine_line
from datagen import mixed_table
from harness import run_watching_rss

NUMERIC = [f"measure_{i}" for i in range(4)] + [f"count_{i}" for i in range(4)] + ["score"]
QS = [0.05, 0.25, 0.5, 0.75, 0.95]
TASKS = [
    "moments",
    "quantiles_exact",
    "quantiles_approx",
    "distinct_exact",
    "distinct_approx",
    "top_values",
    "duplicates",
]
MB = 1024 * 1024


def duckdb_task(task: str, path: str) -> None:
    import duckdb

    con = duckdb.connect(config={"autoload_known_extensions": False, "autoinstall_known_extensions": False})
    source = f"read_parquet('{path}')"
    columns = list(pq.read_schema(path).names)
    if task == "moments":
        parts = [f"count({c}), count(*) - count({c})" for c in columns]
        parts += [f"min({c}), max({c}), avg({c}), stddev_samp({c}), skewness({c}), kurtosis({c})" for c in NUMERIC]
        con.execute(f"SELECT {', '.join(parts)} FROM {source}").fetchall()
    elif task == "quantiles_exact":
        con.execute(f"SELECT {', '.join(f'quantile_cont({c}, {QS})' for c in NUMERIC)} FROM {source}").fetchall()
    elif task == "quantiles_approx":
        con.execute(f"SELECT {', '.join(f'approx_quantile({c}, {QS})' for c in NUMERIC)} FROM {source}").fetchall()
    elif task == "distinct_exact":
        for c in columns:  # one hash aggregation per column (each spills on its own)
            con.execute(f"SELECT count(DISTINCT {c}) FROM {source}").fetchall()
    elif task == "distinct_approx":
        con.execute(f"SELECT {', '.join(f'approx_count_distinct({c})' for c in columns)} FROM {source}").fetchall()
    elif task == "top_values":
        for c in columns:
            con.execute(
                f"SELECT {c}, count(*) n FROM {source} WHERE {c} IS NOT NULL GROUP BY 1 ORDER BY n DESC LIMIT 50"
            ).fetchall()
    elif task == "duplicates":
        con.execute(f"SELECT count(*) - count(DISTINCT hash({', '.join(columns)})) FROM {source}").fetchall()


def polars_task(task: str, path: str) -> None:
    import polars as pl

    scan = pl.scan_parquet(path)
    columns = scan.collect_schema().names()

    def run(frame: pl.LazyFrame) -> None:
        frame.collect(engine="streaming")

    if task == "moments":
        run(
            scan.select(
                [pl.col(c).count().alias(f"{c}_n") for c in columns]
                + [pl.col(c).null_count().alias(f"{c}_null") for c in columns]
                + [
                    e
                    for c in NUMERIC
                    for e in (
                        pl.col(c).min().alias(f"{c}_min"),
                        pl.col(c).max().alias(f"{c}_max"),
                        pl.col(c).mean().alias(f"{c}_mean"),
                        pl.col(c).std().alias(f"{c}_std"),
                        pl.col(c).skew(bias=False).alias(f"{c}_skew"),
                        pl.col(c).kurtosis(bias=False).alias(f"{c}_k"),
                    )
                ]
            )
        )
    elif task == "quantiles_exact":
        run(scan.select([pl.col(c).quantile(q, "linear").alias(f"{c}_{q}") for c in NUMERIC for q in QS]))
    elif task == "quantiles_approx":
        raise NotImplementedError("polars has no approximate quantile")
    elif task == "distinct_exact":
        for c in columns:
            run(scan.select(pl.col(c).n_unique()))
    elif task == "distinct_approx":
        run(scan.select([pl.col(c).approx_n_unique().alias(c) for c in columns]))
    elif task == "top_values":
        for c in columns:
            run(scan.select(pl.col(c).drop_nulls().value_counts(sort=True).head(50)))
    elif task == "duplicates":
        run(scan.select(pl.len() - pl.struct(pl.all()).hash().n_unique()))


def child(engine: str, task: str, path: str) -> None:
    body = duckdb_task if engine == "duckdb" else polars_task
    try:
        body(task, path)  # warm-up: file cache, imports, thread pools
        began = time.perf_counter()
        body(task, path)
        print(json.dumps({"seconds": time.perf_counter() - began}))
    except NotImplementedError as why:
        print(json.dumps({"seconds": None, "why": str(why)}))


def measure(engine: str, task: str, path: Path) -> dict:
    result, peak = run_watching_rss([sys.executable, __file__, "--child", engine, task, str(path)], interval=0.01)
    return result | {"peak_mb": peak / MB}


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "mixed.parquet"
        pq.write_table(mixed_table(rows), path, row_group_size=128 * 1024, compression="snappy")
        results = {(engine, task): measure(engine, task, path) for task in TASKS for engine in ("duckdb", "polars")}
    print("\n" + machine_line())
    print(f"\n## Engines on the profile's aggregate work: {rows:,} rows x 20 mixed columns (warm, second run)\n")
    print("| task | DuckDB | polars streaming | faster |")
    print("| --- | --- | --- | --- |")
    for task in TASKS:
        cells, times = [], {}
        for engine in ("duckdb", "polars"):
            result = results[(engine, task)]
            times[engine] = result["seconds"]
            cells.append(
                f"{result['seconds']:.3f} s, {result['peak_mb']:,.0f} MB peak RSS"
                if result["seconds"] is not None
                else f"n/a ({result['why']})"
            )
        known = {e: t for e, t in times.items() if t is not None}
        best = min(known, key=known.get) if known else "-"
        print(f"| {task} | {cells[0]} | {cells[1]} | {best} |")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(*sys.argv[2:5])
    else:
        main()
