"""The table the memory probes read (bench/profile_memory.py, bench/preprocess_memory.py): the mixed 20-column
CSV of bench/datagen.py in 1M-row blocks, ingested in this process by the INGEST job body as the server would,
into DATA_DIR/datasets/d1/ (data.parquet) with the inferred column types in DATA_DIR/columns.json.

Usage: .venv/bin/python bench/memory_table.py ROWS [BUDGET_MB] [DATA_DIR]   (default /tmp/mem/data)
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, as the other benchmarks do
import pyarrow as pa
import pyarrow.csv as pacsv

from bench.datagen import mixed_table
from services import files
from services.ingest.job import run_ingest
from services.jobs.context import JobContext

BLOCK = 1_000_000


def main() -> None:
    rows = int(sys.argv[1])
    budget = int(sys.argv[2]) if len(sys.argv) > 2 else 2048
    data_dir = Path(sys.argv[3] if len(sys.argv) > 3 else "/tmp/mem/data")
    original = files.original_path(data_dir, "d1")
    original.parent.mkdir(parents=True, exist_ok=True)
    with original.open("wb") as out:  # as bench/ingest_budget.py writes it: ids run on across blocks
        for block, start in enumerate(range(0, rows, BLOCK)):
            table = mixed_table(min(BLOCK, rows - start), seed=block)
            table = table.set_column(0, "id", pa.array(range(start + 1, start + table.num_rows + 1)))
            pacsv.write_csv(table, out, pacsv.WriteOptions(include_header=block == 0))
    scratch = data_dir / "scratch"
    scratch.mkdir(exist_ok=True)
    ctx = JobContext(
        job_id="table",
        params={"dataset_id": "d1", "data_dir": str(data_dir), "max_decompressed_bytes": 2**40},
        send=lambda message: print(*message[:3], flush=True) if message[0] == "log" else None,
        is_cancelled=lambda: False,
        memory_mb=budget,
        scratch_dir=scratch,
    )
    result = run_ingest(ctx)
    original.unlink()  # only the Parquet copy is read afterwards
    (data_dir / "columns.json").write_text(json.dumps(result["columns"]))
    print(f"{result['row_count']:,} rows x {result['column_count']} columns -> {files.parquet_path(data_dir, 'd1')}")


if __name__ == "__main__":
    main()
