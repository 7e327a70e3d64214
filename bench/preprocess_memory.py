"""Where a streamed preprocessing's memory goes, pass by pass: the PREPROCESS body of bench/scale.py's four steps
(impute, one-hot, scale, clip) run in this process on a Parquet copy, RSS and unique memory (USS) read after
every fitting pass and write phase, with the peak since the line before (sampled every 30 ms from a thread).

Usage: .venv/bin/python bench/preprocess_memory.py BUDGET_MB [DATA_DIR]   (the table: bench/memory_table.py)
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, as the other benchmarks do
import services.preprocessing.engine as engine
import services.preprocessing.job as job
from bench.memory_probe import mark, summary
from services import files

STEPS = [  # bench/scale.py's steps, as the resolver hands them to the job
    ("impute", {"columns": ["measure_0", "measure_1"], "strategy": "MEDIAN"}),
    ("encode", {"columns": ["category_1"], "strategy": "ONE_HOT"}),
    ("scale", {"columns": ["measure_0", "measure_1"], "strategy": "STANDARD"}),
    ("clipOutliers", {"columns": ["count_0"], "factor": 1.5}),
]

budget = int(sys.argv[1])
data_dir = Path(sys.argv[2] if len(sys.argv) > 2 else "/tmp/mem/data")


for name in ["learn", "_gathered", "_moments", "_counts", "write_streamed"]:
    fn = getattr(engine, name)

    def wrap(fn=fn, name=name):  # type: ignore[no-untyped-def]
        def w(*a, **k):  # type: ignore[no-untyped-def]
            out = fn(*a, **k)
            mark(f"PY {name} {getattr(a[0], 'kind', '') if name == 'learn' else ''}")
            return out

        return w

    setattr(engine, name, wrap())
    if hasattr(job, name):  # imported by name there
        setattr(job, name, getattr(engine, name))
scratch = data_dir / "scratch"
scratch.mkdir(exist_ok=True)
target = data_dir / "preprocessed.parquet"
mark("start")
result = job.preprocess_table(
    files.parquet_path(data_dir, "d1"),
    target,
    STEPS,
    memory_mb=budget,
    scratch_dir=scratch,
    log=lambda line: mark("LOG " + line[:100]),
    stream=True,
)
print(f"{summary()}; {result['row_count']:,} rows written")
target.unlink()
